"""What every venue module declares, and the shared decoding machinery.

A venue module is pure protocol: endpoints, subscribe/unsubscribe/heartbeat messages, typed
wire schemas and ``decode(frame) -> items``. It never opens a socket; ``feed/`` does that.

Items a decoder returns for one frame:
- events (``cryptoflow.events``): trades, BBOs, mark prices, ...;
- ``BookUpdate``: a book snapshot or diff in base units with its sequence ids, for the book
  engine (``feed/book.py``) to validate and apply;
- ``Control``: acks, pongs, pings to answer, venue errors, info frames.
"""

from __future__ import annotations

import enum
import logging
import time
from abc import ABC, abstractmethod
from collections import Counter
from typing import ClassVar

import msgspec

from cryptoflow.errors import DecodeError
from cryptoflow.events import Event
from cryptoflow.symbols import Instrument, InstrumentRegistry

log = logging.getLogger(__name__)

# Stream ids are the event kinds: one vocabulary from subscription to storage.
STREAMS: tuple[str, ...] = (
    "trade",
    "bbo",
    "book",
    "mark_price",
    "funding",
    "open_interest",
    "liquidation",
    "ticker",
    "candle",
)
# The stream sets most venues offer: every kind on perps; spot has no mark, funding, OI or liquidations.
ALL_STREAMS: frozenset[str] = frozenset(STREAMS)
SPOT_STREAMS: frozenset[str] = frozenset(("trade", "bbo", "book", "ticker", "candle"))


class SyncMode(enum.IntEnum):
    """How a book stream is kept in sync (DESIGN.md, Venues)."""

    REST_DIFF = 1  # REST snapshot + diffs (Binance spot/USD-M, Gate)
    STREAM_SEQ = 2  # snapshot in-stream, then diffs with sequence numbers (Bybit, OKX, Kraken, Deribit)
    FULL = 3  # every message is a full snapshot (Hyperliquid, Deribit grouped, Binance depth20)


class Link(enum.IntEnum):
    """How a diff proves it follows the previous one."""

    PREV = 1  # diff.prev_seq == last applied seq (Binance USD-M pu, OKX prevSeqId, Deribit prev_change_id)
    NEXT = 2  # diff.first_seq == last applied seq + 1 (Binance spot U, Gate U, Bybit u, Kraken seq)


class BookSyncSpec(msgspec.Struct, frozen=True):
    mode: SyncMode
    link: Link = Link.NEXT
    # REST_DIFF only: the first diff must satisfy first_seq <= lid + offset <= seq, and diffs with
    # seq < lid + offset are dropped. Binance USD-M: 0; Binance spot and Gate: 1.
    rest_offset: int = 1


FULL_SNAPSHOTS = BookSyncSpec(SyncMode.FULL)


class BookUpdate(msgspec.Struct, gc=False):
    """A book snapshot or diff, quantities already in base units (0 = remove the level)."""

    venue: str
    market: str
    symbol: str
    instrument: str  # native id: books are kept per venue instrument
    ts: int
    ts_recv: int
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]
    snapshot: bool
    sync: BookSyncSpec
    seq: int = -1  # last update id this message covers (u, seqId, change_id, seq); -1 if none
    first_seq: int = -1  # first update id covered (Binance/Gate U); == seq when one id per message
    prev_seq: int = -1  # the id of the previous message as the venue states it (pu, prevSeqId, ...)


class Control(msgspec.Struct, frozen=True):
    """A non-data frame: ``kind`` is ack, unsubscribed, pong, ping, error, info, or snapshot_request.

    ``reply`` is a message the session must send back (Deribit test_request, venue app pings).
    """

    kind: str
    detail: str = ""
    reply: str | None = None


Item = Event | BookUpdate | Control


class Subscription(msgspec.Struct, frozen=True):
    """One stream for one instrument (``params``: candle interval, book depth ...)."""

    stream: str
    instrument: Instrument
    interval: str | None = None  # candles
    depth: int | None = None  # books: levels requested where the venue takes a depth


class ConnectionPlan(msgspec.Struct, frozen=True):
    """One websocket connection: where to connect and what to send once it is open."""

    url: str
    subscriptions: tuple[Subscription, ...]
    subscribe: tuple[str, ...] = ()


class Endpoints(msgspec.Struct, frozen=True):
    """Base URLs; the simulator and testnets are reached by swapping these, nothing else."""

    ws: dict[str, str]  # named ws bases (e.g. {"public": ..., "market": ...})
    rest: str = ""


class DecodeErrorLog:
    """Counts decode failures by reason and logs each reason at most once a minute.

    A frame that fails is dropped and counted; it never stops the stream.
    """

    LOG_EVERY_S = 60.0

    def __init__(self, venue: str) -> None:
        self.venue = venue
        self.counts: Counter[str] = Counter()
        self._last_logged: dict[str, float] = {}

    def record(self, reason: str, detail: str, frame: bytes | str) -> None:
        self.counts[reason] += 1
        now = time.monotonic()
        last = self._last_logged.get(reason)
        if last is None or now - last >= self.LOG_EVERY_S:
            self._last_logged[reason] = now
            sample = frame[:200] if isinstance(frame, str) else frame[:200].decode("utf-8", "replace")
            log.warning(
                "%s: undecodable frame (%s, %d so far): %s | %s",
                self.venue,
                reason,
                self.counts[reason],
                detail,
                sample,
            )

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class FrameDecoder(ABC):
    """Decodes one venue connection's frames. Holds per-connection state where the protocol
    needs it (e.g. Bybit ticker deltas merged into the last full ticker)."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.venue_id = venue.id
        self.errors = DecodeErrorLog(venue.id)
        self.unknown_frames = 0

    def decode(self, frame: bytes | str, ts_recv: int) -> list[Item]:
        """Frame -> items. Never raises: failures are counted by reason and logged."""
        try:
            return self._decode(frame, ts_recv)
        except DecodeError as e:
            self.errors.record(e.reason, e.detail, frame)
        except msgspec.ValidationError as e:
            self.errors.record("schema", str(e), frame)
        except msgspec.DecodeError as e:
            self.errors.record("malformed", str(e), frame)
        except (ValueError, KeyError, IndexError, TypeError, ZeroDivisionError) as e:
            self.errors.record("bad_value", f"{type(e).__name__}: {e}", frame)
        return []

    def unknown(self) -> list[Item]:
        """Count a well-formed frame we have no use for (not an error)."""
        self.unknown_frames += 1
        return []

    @abstractmethod
    def _decode(self, frame: bytes | str, ts_recv: int) -> list[Item]: ...


class Venue(ABC):
    """Declarative description of one venue's public market-data protocol.

    Subclasses set the class attributes and implement the message builders and the decoder.
    Instances bind an instrument registry (contract sizes) and endpoints.
    """

    id: ClassVar[str]
    exchange: ClassVar[str]  # exchange name in the original design's view names (binance, gate, ...)
    markets: ClassVar[tuple[str, ...]] = ("perp",)
    # Streams offered per market (WS, or REST poll where marked in rest_polled).
    streams: ClassVar[dict[str, frozenset[str]]]
    rest_polled: ClassVar[frozenset[str]] = frozenset()  # streams fetched by REST polling
    default_endpoints: ClassVar[Endpoints]
    max_subscriptions_per_connection: ClassVar[int] = 100
    max_connection_lifetime_s: ClassVar[float | None] = None
    ping_interval_s: ClassVar[float | None] = None  # app-level client ping period (None: server pings)
    idle_timeout_s: ClassVar[float] = 60.0  # the venue closes or we consider it dead after this quiet
    book_sync: ClassVar[BookSyncSpec]
    book_depth: ClassVar[int] = 20  # levels stored in book snapshots
    candle_intervals: ClassVar[tuple[str, ...]] = ("1m",)

    def __init__(self, registry: InstrumentRegistry | None = None, endpoints: Endpoints | None = None) -> None:
        self.registry = registry if registry is not None else InstrumentRegistry.bundled()
        self.endpoints = endpoints if endpoints is not None else self.default_endpoints
        self._lookup_cache: dict[str, Instrument] = {}  # native id as sent -> instrument (hot path)

    # ---- instruments -------------------------------------------------------------------
    def instrument(self, symbol: str, market: str = "perp") -> Instrument:
        """Canonical symbol -> this venue's instrument (UnknownSymbolError names close ones)."""
        return self.registry.resolve(self.id, symbol, market)

    def lookup(self, native: str) -> Instrument:
        """Native id from a frame -> instrument; raises DecodeError('unknown_instrument')."""
        inst = self._lookup_cache.get(native)
        if inst is not None:
            return inst
        inst = self.registry.get(self.id, native, self.markets[0] if len(self.markets) == 1 else None)
        if inst is None:
            inst = self.infer_instrument(native)
            if inst is None:
                raise DecodeError("unknown_instrument", native)
            self.registry.add((inst,))
        self._lookup_cache[native] = inst
        return inst

    def instruments_changed(self) -> None:
        """Call after adding instruments to the registry (e.g. a REST refresh): drops cached lookups."""
        self._lookup_cache.clear()

    def infer_instrument(self, native: str) -> Instrument | None:
        """Instrument for an id missing from the registry, where the venue's naming rules make
        it certain (e.g. Binance quantities are always base units). None when they do not."""
        return None

    # ---- connections -------------------------------------------------------------------
    def plan_connections(self, subs: list[Subscription]) -> list[ConnectionPlan]:
        """Shard subscriptions over connections (up to the venue's per-connection limit)."""
        plans: list[ConnectionPlan] = []
        by_url: dict[str, list[Subscription]] = {}
        for s in subs:
            by_url.setdefault(self.ws_url(s), []).append(s)
        n = self.max_subscriptions_per_connection
        for url, group in by_url.items():
            for i in range(0, len(group), n):
                chunk = tuple(group[i : i + n])
                plans.append(
                    ConnectionPlan(url=url, subscriptions=chunk, subscribe=tuple(self.subscribe_messages(list(chunk))))
                )
        return plans

    @abstractmethod
    def ws_url(self, sub: Subscription) -> str:
        """The websocket URL a subscription must use (venues route streams to different paths)."""

    @abstractmethod
    def subscribe_messages(self, subs: list[Subscription]) -> list[str]: ...

    @abstractmethod
    def unsubscribe_messages(self, subs: list[Subscription]) -> list[str]: ...

    def ping_message(self) -> str | None:
        """The app-level ping to send every ``ping_interval_s`` (None: transport-level only)."""
        return None

    def connect_messages(self) -> list[str]:
        """Messages to send right after connecting, before subscribing (e.g. Deribit set_heartbeat)."""
        return []

    @abstractmethod
    def new_decoder(self) -> FrameDecoder: ...

    def decoder_for_url(self, url: str | None) -> FrameDecoder:
        """A decoder for the connection at ``url`` (venues whose market depends on the URL
        override this; a replay without URLs passes None)."""
        return self.new_decoder()

    # ---- REST --------------------------------------------------------------------------
    def book_snapshot_url(self, inst: Instrument) -> str | None:
        """REST depth snapshot URL for REST_DIFF venues."""
        return None

    def open_interest_url(self, inst: Instrument) -> str | None:
        """REST open-interest URL where the venue has no OI stream (polled)."""
        return None

    def instruments_urls(self) -> list[str]:
        return []

    def rest_request(self, url: str) -> tuple[str, object | None]:
        """HTTP method and JSON body for a REST URL of this venue (Hyperliquid's /info is a POST)."""
        return ("GET", None)

    def parse_rest(self, url: str, body: bytes, ts_recv: int) -> list[Item]:
        """Parse a REST body that feeds the stream pipeline (book snapshot, polled OI)."""
        return []

    def parse_instruments(self, url: str, body: bytes) -> list[Instrument]:
        return []

    def stream_offered(self, stream: str, market: str) -> bool:
        return stream in self.streams.get(market, frozenset())


def ms_to_ns(ms: int | float) -> int:
    return int(ms) * 1_000_000


def s_to_ns(s: float) -> int:
    return round(s * 1e9)
