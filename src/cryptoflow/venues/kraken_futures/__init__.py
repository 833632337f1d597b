"""Kraken Futures (ex Crypto Facilities): websocket v1 public feeds and REST v3 instruments.

One endpoint, ``wss://futures.kraken.com/ws/v1``. Feeds used: ``book`` (``book_snapshot`` then one
message per changed price level, ``seq`` +1 per product: STREAM_SEQ with Link.NEXT), ``trade``
(``trade_snapshot`` then trades; liquidations are trades of type ``liquidation``) and ``ticker``
(mark/index price, funding, open interest, 24h stats and top of book, at most once a second).
There are no websocket candles. ``ticker_lite`` frames are recognised but not used (no last price,
no sizes).

Keep-alive: Kraken closes a connection that has not pinged for 60 s. It documents no
application-level ping message (clients such as ccxt and nautilus send websocket ping frames),
so ``ping_message()`` is None and ``ping_interval_s`` asks the transport for protocol pings every
30 s. On connect we also subscribe the ``heartbeat`` feed, so quiet products still produce
traffic for the idle watchdog.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from cryptoflow.errors import VenueError
from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import BookSyncSpec, Endpoints, Link, Subscription, SyncMode, Venue
from cryptoflow.venues.kraken_futures import instruments as _instruments
from cryptoflow.venues.kraken_futures import subscribe as _subscribe
from cryptoflow.venues.kraken_futures.parse import KrakenFuturesDecoder
from cryptoflow.venues.kraken_futures.schemas import INSTRUMENTS

INSTRUMENTS_PATH = "/instruments"


class KrakenFutures(Venue):
    id = "kraken_futures"
    exchange = "kraken"
    markets = ("perp",)
    streams = {
        "perp": frozenset(("trade", "bbo", "book", "mark_price", "funding", "open_interest", "liquidation", "ticker"))
    }
    default_endpoints = Endpoints(
        ws={"public": "wss://futures.kraken.com/ws/v1"},
        rest="https://futures.kraken.com/derivatives/api/v3",
    )
    max_subscriptions_per_connection = 200
    max_connection_lifetime_s = None
    ping_interval_s = 30.0  # transport-level ping frames; Kraken drops a connection silent for 60 s
    idle_timeout_s = 60.0  # ticker (1/s) and the heartbeat feed keep a live connection talking
    book_sync = BookSyncSpec(SyncMode.STREAM_SEQ, Link.NEXT)
    book_depth = 20
    candle_intervals = ()

    # ---- instruments -------------------------------------------------------------------
    def infer_instrument(self, native: str) -> Instrument | None:
        return _instruments.infer(native)

    def instruments_urls(self) -> list[str]:
        return [f"{self.endpoints.rest}{INSTRUMENTS_PATH}"]

    def parse_instruments(self, url: str, body: bytes) -> list[Instrument]:
        if not urlsplit(url).path.endswith(INSTRUMENTS_PATH):
            return []
        doc = INSTRUMENTS.decode(body)
        if doc.result != "success":
            raise VenueError(f"kraken_futures instruments request failed: {doc.error or doc.result}")
        found = (_instruments.from_rest(r) for r in doc.instruments)
        return [i for i in found if i is not None]

    # ---- connections -------------------------------------------------------------------
    def ws_url(self, sub: Subscription) -> str:
        return self.endpoints.ws["public"]

    def subscribe_messages(self, subs: list[Subscription]) -> list[str]:
        return _subscribe.messages("subscribe", subs)

    def unsubscribe_messages(self, subs: list[Subscription]) -> list[str]:
        return _subscribe.messages("unsubscribe", subs)

    def connect_messages(self) -> list[str]:
        return [_subscribe.HEARTBEAT_SUBSCRIBE]

    def ping_message(self) -> str | None:
        return None  # websocket protocol pings (see module docstring)

    def new_decoder(self) -> KrakenFuturesDecoder:
        return KrakenFuturesDecoder(self)


VENUE = KrakenFutures

__all__ = ["VENUE", "KrakenFutures", "KrakenFuturesDecoder"]
