"""What a simulated venue must provide: the server side of its real protocol, pure (no I/O).

The simulator server (``sim/server.py``) owns sockets, subscriptions and faults; a ``SimVenue``
only turns client messages into replies/subscriptions and market items into wire frames, the
exact inverse of the venue's decoder in ``cryptoflow.venues``. Frames must carry the same
field names and value types as the real captures in ../shared/venue-samples/.

Topics are strings chosen by each venue (Binance ``btcusdt@aggTrade``, Bybit
``publicTrade.BTCUSDT``, ...): a client subscribes to topics, and ``encode`` says which topic
each frame belongs to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from cryptoflow.sim.model_history import MarketHistory
from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import BookUpdate


class FloatText(dict[float, str]):
    """Text of floats, memoised: ``FLOAT_TEXT[x] == repr(x)`` for a float ``x`` (but ``-0.0`` is
    written as ``0.0``: it is one key with ``0.0``).

    Why: writing a float costs ~300 ns and is most of what encoding a frame costs, while a book's
    prices sit on a grid and its sizes are whole lots, so the same few thousand numbers come
    back all the time; a lookup costs ~60 ns. Bounded: cleared when it reaches ``max_size``.
    Only floats are stored (an int would share the entry of the equal float: ``1 == 1.0``).
    """

    __slots__ = ("fmt", "max_size")

    def __init__(self, fmt: Callable[[float], str] = repr, max_size: int = 1 << 17) -> None:
        """``fmt``: how a venue writes a float (default ``repr``; e.g. never in exponent form)."""
        super().__init__()
        self.fmt = fmt
        self.max_size = max_size
        self[0.0] = fmt(0.0)

    def __missing__(self, x: float) -> str:
        s = self.fmt(x)
        if type(x) is float:
            if len(self) >= self.max_size:
                self.clear()
                self[0.0] = self.fmt(0.0)
            self[x] = s
        return s


FLOAT_TEXT = FloatText()  # shared by the encoders of one process


class MarketView(Protocol):
    """What a simulated venue may ask of the market (book snapshots for REST and subscribe)."""

    def book_snapshot(self, venue: str, market: str, symbol: str, depth: int) -> BookUpdate: ...

    @property
    def now_ns(self) -> int: ...

    @property
    def history(self) -> MarketHistory:
        """Deterministic past + closed live candles (``sim/model_history.py``): REST history."""
        ...

    def open_interest(self, venue: str, market: str, symbol: str) -> float: ...

    def fair_price(self, symbol: str) -> float: ...


@dataclass
class ConnState:
    """Per-connection state a protocol may keep (the server creates one per connection)."""

    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    topics: set[str] = field(default_factory=set)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClientReply:
    """The protocol's answer to one client message."""

    send: list[str] = field(default_factory=list)  # frames to send back now (acks, errors, pongs)
    subscribe: list[str] = field(default_factory=list)  # topics to add, in order
    unsubscribe: list[str] = field(default_factory=list)
    close: bool = False  # the venue would drop the connection (e.g. invalid request)


@dataclass
class RestResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class SimVenue(ABC):
    """Server side of one venue's protocol."""

    venue_id: ClassVar[str]
    # ws path per endpoint name; names match the venue's ``default_endpoints.ws`` keys
    ws_paths: ClassVar[dict[str, str]]
    # the venue closes connections that send nothing for this long (None: never)
    client_idle_timeout_s: ClassVar[float | None] = None
    # the server's own pings: websocket-level (Binance) or app-level text
    server_ping_interval_s: ClassVar[float | None] = None

    def __init__(self, instruments: list[Instrument], market: MarketView) -> None:
        self.instruments = {i.native: i for i in instruments}
        self.by_symbol = {(i.market, i.symbol): i for i in instruments}
        self.market = market

    # ---- connection lifecycle ------------------------------------------------------------
    def on_open(self, conn: ConnState) -> ClientReply:
        """Frames to send on connect (welcome/info) and topics implied by the URL."""
        return ClientReply()

    @abstractmethod
    def on_message(self, text: str, conn: ConnState) -> ClientReply:
        """A client text frame: subscribe, unsubscribe, ping, or junk (answer as the venue does)."""

    def on_subscribed(self, topic: str, conn: ConnState) -> list[str]:
        """Frames sent right after a subscription starts (initial book snapshot, full ticker)."""
        return []

    def server_ping(self) -> str | None:
        """App-level ping text the server sends every ``server_ping_interval_s`` (None: ws ping)."""
        return None

    def on_tick(self, conn: ConnState, now: float) -> ClientReply | None:
        """Per-connection timers (~every 100 ms; ``now`` is monotonic): e.g. Deribit's heartbeat
        test_request after set_heartbeat, and the close when it goes unanswered."""
        return None

    # ---- market data ---------------------------------------------------------------------
    @abstractmethod
    def encode(self, item: Any) -> list[tuple[str, str]]:
        """A market item (event or BookUpdate diff, base units) -> (topic, frame) pairs."""

    def subscription_error(self, text: str, conn: ConnState) -> str:
        """The venue's error frame refusing the subscription request ``text`` (fault injection)."""
        return '{"error":"subscription refused"}'

    # ---- REST ------------------------------------------------------------------------------
    def rest(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> RestResponse | None:
        """Answer a REST request (depth snapshots, instruments, open interest); None: 404."""
        return None

    def throttled_response(self, path: str) -> RestResponse:
        """The venue's answer to a request over its rate limit (HTTP 429 with its headers and
        body; venues override with their real ones)."""
        return RestResponse(429, b'{"error":"Too many requests"}', {"Retry-After": "1"})

    # ---- helpers ---------------------------------------------------------------------------
    def instrument_for(self, market: str, symbol: str) -> Instrument | None:
        return self.by_symbol.get((market, symbol))
