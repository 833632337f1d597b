"""Gate.io USDT-margined perpetual futures (venue id ``gateio``, view-name exchange ``gate``).

One websocket endpoint, wss://fx-ws.gateio.ws/v4/ws/usdt. Channels: futures.trades,
futures.book_ticker, futures.order_book_update, futures.tickers (mark/index price, funding,
open interest ``total_size``, 24h stats), futures.candlesticks, futures.public_liquidates.

Book sync (REST_DIFF, Link.NEXT, offset 1): REST ``/futures/usdt/order_book?with_id=true``
gives ``id``; diffs with ``u < id + 1`` are dropped, the first applied one has
``U <= id + 1 <= u``, then every diff has ``U == previous u + 1``.

All sizes are contracts: base units = contracts * ``quanto_multiplier`` (the instrument's
``contract_size``), e.g. BTC_USDT 0.0001 BTC per contract.
"""

from __future__ import annotations

from typing import ClassVar

from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import ALL_STREAMS, BookSyncSpec, Endpoints, Item, Link, Subscription, SyncMode, Venue
from cryptoflow.venues.gateio import parse, subscribe
from cryptoflow.venues.gateio.parse import GateioDecoder


class GateioFutures(Venue):
    id = "gateio"
    exchange = "gate"
    markets = ("perp",)
    streams: ClassVar[dict[str, frozenset[str]]] = {
        "perp": ALL_STREAMS
    }
    default_endpoints = Endpoints(
        ws={"public": "wss://fx-ws.gateio.ws/v4/ws/usdt"}, rest="https://api.gateio.ws/api/v4"
    )
    max_subscriptions_per_connection = 100
    ping_interval_s = 15.0  # futures.ping; the server also sends protocol-level pings
    idle_timeout_s = 60.0
    book_sync = BookSyncSpec(SyncMode.REST_DIFF, Link.NEXT, rest_offset=1)
    book_depth = 20
    book_snapshot_limit: ClassVar[int] = 100  # REST levels, matches the order_book_update level
    # Gate offers 10s 1m 5m 15m 30m 1h 4h 8h 1d 7d; these are the ones our store knows.
    candle_intervals = ("1m", "5m", "15m", "30m", "1h", "4h", "1d")

    def ws_url(self, sub: Subscription) -> str:
        return self.endpoints.ws["public"]

    def subscribe_messages(self, subs: list[Subscription]) -> list[str]:
        return subscribe.messages("subscribe", subs)

    def unsubscribe_messages(self, subs: list[Subscription]) -> list[str]:
        return subscribe.messages("unsubscribe", subs)

    def ping_message(self) -> str:
        return subscribe.ping()

    def new_decoder(self) -> GateioDecoder:
        return GateioDecoder(self)

    # Contract sizes differ per contract and are not implied by the name: no inference.
    def infer_instrument(self, native: str) -> Instrument | None:
        return None

    # ---- REST ----------------------------------------------------------------------------------
    def book_snapshot_url(self, inst: Instrument) -> str:
        query = f"contract={inst.native}&limit={self.book_snapshot_limit}&with_id=true"
        return f"{self.endpoints.rest}{parse.BOOK_PATH}?{query}"

    def instruments_urls(self) -> list[str]:
        return [f"{self.endpoints.rest}{parse.CONTRACTS_PATH}"]

    def parse_rest(self, url: str, body: bytes, ts_recv: int) -> list[Item]:
        if parse.is_book_url(url):
            return parse.rest_book(self, url, body, ts_recv)
        return []

    def parse_instruments(self, url: str, body: bytes) -> list[Instrument]:
        if not parse.is_contracts_url(url):
            return []
        return parse.contracts(self.id, body)


VENUE = GateioFutures

__all__ = ["VENUE", "GateioFutures"]
