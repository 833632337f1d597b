"""Deribit (JSON-RPC 2.0 over wss://www.deribit.com/ws/api/v2): perpetuals, inverse and linear.

One websocket URL for everything. Right after connecting we send ``public/set_heartbeat``; the
server then sends ``{"method":"heartbeat","params":{"type":"test_request"}}`` at that interval,
which must be answered with ``public/test`` (the decoder returns that reply on a ``ping``
Control) or the server closes the connection; ``type: "heartbeat"`` needs no answer.

Streams and channels (anonymous connections must use ``.100ms``; ``.raw`` needs auth):
trade + liquidation -> ``trades.X.100ms``; bbo -> ``quote.X``; book -> ``book.X.100ms``
(snapshot, then changes chained by ``prev_change_id``) or, with a depth, the grouped
``book.X.none.{1|10|20}.100ms`` (full snapshots); mark_price, funding, open_interest, ticker ->
``ticker.X.100ms``; candle -> ``chart.trades.X.{resolution}``. Decoding decisions: ``parse``;
symbols and units: ``instruments``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import ALL_STREAMS, BookSyncSpec, Endpoints, Item, Link, Subscription, SyncMode, Venue
from cryptoflow.venues.deribit import instruments, subscribe
from cryptoflow.venues.deribit.parse import DeribitDecoder


class Deribit(Venue):
    id = "deribit"
    exchange = "deribit"
    markets = ("perp",)
    streams = {
        "perp": ALL_STREAMS
    }
    default_endpoints = Endpoints(
        ws={"public": "wss://www.deribit.com/ws/api/v2"}, rest="https://www.deribit.com/api/v2"
    )
    # No documented per-connection channel cap; 32 connections per IP. Keep connections moderate.
    max_subscriptions_per_connection = 500
    max_connection_lifetime_s = None
    ping_interval_s = None  # the server drives the heartbeat (test_request -> public/test)
    idle_timeout_s = 2.0 * subscribe.HEARTBEAT_INTERVAL_S  # a heartbeat arrives every interval
    book_sync = BookSyncSpec(SyncMode.STREAM_SEQ, Link.PREV)
    book_depth = 20
    candle_intervals = tuple(subscribe.RESOLUTIONS)

    def infer_instrument(self, native: str) -> Instrument | None:
        return instruments.infer(native)

    def ws_url(self, sub: Subscription) -> str:
        return self.endpoints.ws["public"]

    def connect_messages(self) -> list[str]:
        return [subscribe.SET_HEARTBEAT]

    def subscribe_messages(self, subs: list[Subscription]) -> list[str]:
        return subscribe.subscribe_messages(subs)

    def unsubscribe_messages(self, subs: list[Subscription]) -> list[str]:
        return subscribe.unsubscribe_messages(subs)

    def new_decoder(self) -> DeribitDecoder:
        return DeribitDecoder(self)

    def instruments_urls(self) -> list[str]:
        return [f"{self.endpoints.rest}{instruments.INSTRUMENTS_PATH}?currency=any&kind=future"]

    def parse_instruments(self, url: str, body: bytes) -> list[Instrument]:
        if not urlsplit(url).path.endswith(instruments.INSTRUMENTS_PATH):
            return []
        return instruments.parse(body)

    def parse_rest(self, url: str, body: bytes, ts_recv: int) -> list[Item]:
        return []  # books sync in-stream; open interest comes with the ticker


VENUE = Deribit

__all__ = ["VENUE", "Deribit"]
