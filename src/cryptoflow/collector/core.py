"""The collector: venues -> websocket sessions -> decode -> books -> store + live state.

Design points (DESIGN.md, Performance facts):
- the frame callback only decodes and appends to columnar buffers; writes happen in a worker
  thread once per flush interval, so the event loop never blocks long enough to miss a ping;
- one buffer per stream kind (not per symbol) and one Arrow append per table per flush;
- books: REST-synced venues get a REST snapshot once diffs are flowing (after connect and after
  a gap); stream-synced venues are resubscribed after a gap to get a fresh snapshot;
- bounded memory: past ``max_buffered_events`` rows or ``max_buffered_mb`` of buffered data new
  events are dropped, counted and logged (a book whose updates were dropped gets a reset row in
  ``book_deltas`` when storing resumes, so a replay knows it must wait for the next whole book);
- duplicates from an overlapping connection rotation are removed (trades by id; book diffs by
  sequence in the book engine).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from pathlib import Path
from typing import Any, Protocol

from cryptoflow.collector.config import CollectorConfig
from cryptoflow.collector.health import Health, health_records, write_health
from cryptoflow.collector.live import LiveState
from cryptoflow.errors import CryptoflowError, UnknownSymbolError
from cryptoflow.events import Trade, kind_of
from cryptoflow.feed.book import Applied, BookEngine, book_reset
from cryptoflow.feed.capture import CaptureWriter
from cryptoflow.feed.rest import RestClient
from cryptoflow.feed.session import WsSession
from cryptoflow.symbols import Instrument, InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import BookUpdate, Control, Subscription, SyncMode, Venue

log = logging.getLogger(__name__)


class FlushResult(Protocol):
    rows: int


class EventSink(Protocol):
    """Where events go: the store's ``BatchWriter`` (or a test double)."""

    def add(self, event: Any, source: str = "ws") -> None: ...

    @property
    def pending(self) -> int: ...

    async def flush_async(self) -> FlushResult: ...


class _TradeDedup:
    """Recent trade ids per (venue, market, symbol): a rotation overlap must not store a trade twice."""

    def __init__(self, keep: int = 4096) -> None:
        self.keep = keep
        self.seen: dict[tuple[str, str, str], tuple[set[str], deque[str]]] = {}

    def duplicate(self, t: Trade) -> bool:
        key = (t.venue, t.market, t.symbol)
        entry = self.seen.get(key)
        if entry is None:
            entry = self.seen[key] = (set(), deque())
        ids, order = entry
        if t.trade_id in ids:
            return True
        ids.add(t.trade_id)
        order.append(t.trade_id)
        if len(order) > self.keep:
            ids.discard(order.popleft())
        return False


class Collector:
    def __init__(self, config: CollectorConfig, sink: EventSink, registry: InstrumentRegistry | None = None) -> None:
        self.config = config
        self.sink = sink
        self.registry = registry if registry is not None else InstrumentRegistry.bundled()
        self.engine = BookEngine()
        self.live = LiveState()
        self.health = Health()
        self.rest = RestClient()
        self.venues: dict[str, Venue] = {}
        self.sessions: list[WsSession] = []
        self.book_subs: dict[tuple[str, str, str], tuple[WsSession, Subscription]] = {}  # book key ->
        self.unsupported: list[str] = []
        self.capture = CaptureWriter(config.capture) if config.capture else None
        self.data_dir = Path(config.data_dir)
        self._dedup = _TradeDedup()
        self._need_snapshot: set[tuple[str, str, str]] = set()
        self._fetching: set[tuple[str, str, str]] = set()
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping = asyncio.Event()
        self._calls = 0
        self._flush_task: asyncio.Task[None] | None = None
        self._full = False  # the sink holds max_buffered_events: new events are dropped (counted)
        self._pending_bytes = getattr(sink, "pending_bytes", None) is not None
        self._deltas_dropped: set[tuple[str, str, str]] = set()  # books with updates dropped while full
        self._last_write_ms: float | None = None
        self._behind_since: float | None = None  # monotonic time the store started falling behind
        add_many = getattr(sink, "add_many", None)  # resolved once: _on_items runs per frame
        if add_many is not None:
            self._sink_many = add_many  # type: ignore[method-assign]
        # store_book_deltas: every book update goes to the sink too, in arrival order (book_deltas)
        self._add_book = getattr(sink, "add_book", None) if config.store_book_deltas else None
        if config.store_book_deltas and self._add_book is None:
            raise CryptoflowError(f"store_book_deltas needs a sink with add_book(); {type(sink).__name__} has none")
        self.running = False

    # ---- set-up ------------------------------------------------------------------------
    async def _load_instruments(self, venue: Venue) -> None:
        if not self.config.fetch_instruments:
            return
        for url in venue.instruments_urls():
            try:
                method, payload = venue.rest_request(url)
                body = await self.rest.request(venue.id, url, method=method, json_body=payload)
                self.registry.add(venue.parse_instruments(url, body))
                venue.instruments_changed()
            except (CryptoflowError, ValueError) as e:
                log.warning("%s: instruments from %s unavailable (%s); using the bundled table", venue.id, url, e)

    def _subscriptions(self, venue: Venue) -> list[Subscription]:
        subs: list[Subscription] = []
        for market in venue.markets:
            if market not in self.config.markets:
                continue
            for symbol in self.config.symbols:
                try:
                    inst = venue.instrument(symbol, market)
                except UnknownSymbolError as e:
                    self.unsupported.append(str(e))
                    log.info("%s", e)
                    continue
                for stream in self.config.streams:
                    if not venue.stream_offered(stream, market):
                        continue
                    interval = self.config.candle_interval if stream == "candle" else None
                    subs.append(Subscription(stream, inst, interval=interval, depth=venue.book_depth))
        return subs

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        eps = self.config.endpoints or {}
        for vid in self.config.venues:
            venue = get_venue(vid, registry=self.registry, endpoints=eps.get(vid))
            self.venues[vid] = venue
            await self._load_instruments(venue)
            subs = self._subscriptions(venue)
            ws_subs = [s for s in subs if s.stream not in venue.rest_polled]
            for plan in venue.plan_connections(ws_subs):
                session = WsSession(
                    venue,
                    plan,
                    self._on_items,
                    stale_after_s=self.config.stale_after_s,
                    max_lifetime_s=self.config.max_lifetime_s,
                    capture=self.capture,
                    on_connect=self._on_connect,
                )
                self.sessions.append(session)
                for s in plan.subscriptions:
                    if s.stream == "book":
                        self.book_subs[(vid, s.instrument.market, s.instrument.native)] = (session, s)
            polled = [s.instrument for s in subs if s.stream in venue.rest_polled]
            if polled:
                self._tasks.append(asyncio.create_task(self._poll_open_interest(venue, polled)))
        for s in self.sessions:
            s.start()
        self._flush_task = asyncio.create_task(self._flush_loop(), name="flush")
        self._tasks += [
            asyncio.create_task(self._book_sampler(), name="books"),
            asyncio.create_task(self._health_loop(), name="health"),
        ]
        self.running = True
        log.info(
            "collecting %d symbols from %d venues over %d connections",
            len(self.config.symbols),
            len(self.venues),
            len(self.sessions),
        )

    # ---- hot path ----------------------------------------------------------------------------
    def _on_items(self, session: WsSession, items: list[Any]) -> None:
        # Per frame, not per event: one sink call (one lock round-trip) and one health update per
        # (venue, kind) run; the frames of a venue carry one kind each almost always. Frames come
        # at tens of thousands a second, so lookups are hoisted into locals and dict probes inlined.
        self._calls += 1
        if self._calls & 1023 == 0:  # counting buffered rows is not free: check every 1024 frames
            self._full = self._sink_full()
        full = self._full
        keep: list[Any] = []
        streams = self.health.streams
        latest = self.live.latest
        sh = None
        sh_key: tuple[str, type] | None = None
        for item in items:
            t = type(item)
            if t is BookUpdate:
                self._on_book(item)
                continue
            if t is Control:
                continue
            if full:
                self.health.counters["dropped_backpressure"] += 1
                continue
            if t is Trade and self._dedup.duplicate(item):
                self.health.counters["duplicates_dropped"] += 1
                continue
            keep.append(item)
            kind = t.__struct_config__.tag
            venue = item.venue
            latest[(kind, venue, item.market, item.symbol)] = item  # = LiveState.update, inlined
            if sh is None or sh_key != (venue, t):
                sh_key = (venue, t)
                sh = streams.get((venue, kind)) or self.health.stream(venue, kind)
            sh.records += 1
            sh.last_event_ns = item.ts_recv
        if keep:
            self._sink_many(keep)
        if full and not self._warned_full():
            log.error("store is not keeping up: %d events buffered; dropping new events", self.sink.pending)

    def _sink_full(self) -> bool:
        cfg = self.config
        if self.sink.pending >= cfg.max_buffered_events:
            return True
        return self._pending_bytes and self.sink.pending_bytes >= cfg.max_buffered_mb * 1e6  # type: ignore[attr-defined]

    def _sink_many(self, events: list[Any]) -> None:
        """Hand a frame's events to the sink: ``add_many`` when it has one (BatchWriter), else ``add``."""
        for e in events:
            self.sink.add(e)

    _last_full_warning = 0.0

    def _warned_full(self) -> bool:
        now = time.monotonic()
        if now - self._last_full_warning < 60:
            return True
        self._last_full_warning = now
        return False

    def _on_book(self, upd: BookUpdate) -> None:
        if self._add_book is not None:
            self._store_delta(upd)
        result = self.engine.apply(upd)
        if result is Applied.APPLIED:
            sh = self.health.streams.get((upd.venue, "book_update")) or self.health.stream(upd.venue, "book_update")
            sh.records += 1
            sh.last_event_ns = upd.ts_recv
            return
        key = (upd.venue, upd.market, upd.instrument)
        if result == Applied.GAP:
            self.health.counters["book_gaps"] += 1
            self._resync(key, upd.sync.mode)
        elif result == Applied.BUFFERED and key in self._need_snapshot:
            self._need_snapshot.discard(key)
            self._fetch_snapshot(key)

    def _store_delta(self, upd: BookUpdate) -> None:
        if self._full:  # memory bound reached: drop (counted); a reset row marks the hole later
            self.health.counters["dropped_backpressure"] += 1
            self._deltas_dropped.add((upd.venue, upd.market, upd.instrument))
            return
        if self._deltas_dropped:
            key = (upd.venue, upd.market, upd.instrument)
            if key in self._deltas_dropped:
                self._deltas_dropped.discard(key)
                self._add_book(book_reset(key, upd.symbol, upd.sync, upd.ts_recv))  # type: ignore[misc]
        self._add_book(upd)  # type: ignore[misc]

    def _resync(self, key: tuple[str, str, str], mode: SyncMode) -> None:
        if mode == SyncMode.REST_DIFF:
            self._fetch_snapshot(key)
        elif mode == SyncMode.STREAM_SEQ:
            entry = self.book_subs.get(key)
            if entry is not None:
                session, sub = entry
                session.resubscribe([sub])

    def _fetch_snapshot(self, key: tuple[str, str, str]) -> None:
        if key in self._fetching:
            return
        self._fetching.add(key)
        self._tasks.append(asyncio.create_task(self._snapshot_task(key)))

    async def _snapshot_task(self, key: tuple[str, str, str]) -> None:
        vid, market, native = key
        venue = self.venues[vid]
        try:
            await asyncio.sleep(0.05)  # let a few diffs buffer so the snapshot can be bridged
            inst = self.registry.get(vid, native, market)
            url = venue.book_snapshot_url(inst) if inst is not None else None
            if url is None:
                return
            body = await self.rest.get(vid, url, weight=10)
            ts = time.time_ns()
            if self.capture is not None:
                self.capture.record(ts, vid, "rest", body, url=url)
            for item in venue.parse_rest(url, body, ts):
                if isinstance(item, BookUpdate):
                    if self._add_book is not None:
                        self._add_book(item, "rest")
                    self.engine.apply(item)
        except CryptoflowError as e:
            log.warning("%s %s: book snapshot failed (%s); will retry on the next diff", vid, native, e)
            self._need_snapshot.add(key)
        finally:
            self._fetching.discard(key)

    def _on_connect(self, session: WsSession) -> None:
        """A (re)connected session: its books start afresh from a new snapshot."""
        for sub in session.subscriptions:
            if sub.stream != "book":
                continue
            key = (session.venue.id, sub.instrument.market, sub.instrument.native)
            self.engine.reset(key[0], key[2], key[1])
            if self._add_book is not None:  # a replay must start this book afresh here too
                self._add_book(book_reset(key, sub.instrument.symbol, session.venue.book_sync, time.time_ns()))
            if session.venue.book_sync.mode == SyncMode.REST_DIFF:
                self._need_snapshot.add(key)

    # ---- periodic tasks ---------------------------------------------------------------------------
    async def _poll_open_interest(self, venue: Venue, instruments: list[Instrument]) -> None:
        while not self._stopping.is_set():
            for inst in instruments:
                url = venue.open_interest_url(inst)
                if url is None:
                    continue
                try:
                    body = await self.rest.get(venue.id, url)
                    self._on_items_rest(venue.parse_rest(url, body, time.time_ns()))
                except CryptoflowError as e:
                    log.warning("%s: open interest poll failed: %s", venue.id, e)
                    self.health.counters["rest_errors"] += 1
            await self._wait(self.config.oi_poll_interval_s)

    def _on_items_rest(self, items: list[Any]) -> None:
        for item in items:
            if not isinstance(item, BookUpdate | Control):
                self.sink.add(item, "rest")
                self.live.update(item)
                sh = self.health.stream(item.venue, kind_of(item))
                sh.records += 1
                sh.last_event_ns = item.ts_recv

    async def _flush_loop(self) -> None:
        while not self._stopping.is_set():
            await self._wait(self.config.flush_interval_s)
            try:
                await self.flush()
            except CryptoflowError as e:  # the writer kept the rows: count, log, retry next interval
                self.health.counters["flush_errors"] += 1
                log.error("flush failed (%s); rows kept for the next attempt", e)

    async def flush(self) -> int:
        t0 = time.perf_counter()
        n = (await self.sink.flush_async()).rows
        self._full = self._sink_full()
        if n:
            self._last_write_ms = round((time.perf_counter() - t0) * 1000, 2)
            self.health.write_latency_ms.append(self._last_write_ms)
            self.health.rows_written += n
        if self.capture is not None:
            self.capture.flush()
        return n

    async def _book_sampler(self) -> None:
        depth = self.config.book_depth
        checkpoint_every = self.config.book_checkpoint_interval_s
        last_checkpoint = time.monotonic()
        while not self._stopping.is_set():
            await self._wait(self.config.book_sample_interval_s)
            now = time.time_ns()
            if self._add_book is not None and time.monotonic() - last_checkpoint >= checkpoint_every:
                last_checkpoint = time.monotonic()
                self._checkpoint_books(now)
            for book in list(self.engine.books.values()):
                if book.valid and book.bids and book.asks:
                    snap = book.snapshot_event(now, depth)
                    self.sink.add(snap)
                    self.live.update(snap)
                    sh = self.health.stream(book.venue, "book")
                    sh.records += 1
                    sh.last_event_ns = now
                    if not any(s.stream == "bbo" for s in self._subs_of(book.venue, book.market, book.instrument)):
                        bbo = book.bbo_event(now)
                        if bbo is not None:
                            self.live.update(bbo)

    def _checkpoint_books(self, now: int) -> None:
        """Every synced book, whole, into book_deltas: replays start from the latest checkpoint."""
        for book in list(self.engine.books.values()):
            cp = book.checkpoint(now)
            if cp is not None:
                self._add_book(cp)  # type: ignore[misc]  # only called with book deltas on

    def _subs_of(self, venue: str, market: str, native: str) -> list[Subscription]:
        entry = self.book_subs.get((venue, market, native))
        if entry is None:
            return []
        return [s for s in entry[0].subscriptions if s.instrument.native == native]

    async def _health_loop(self) -> None:
        last_store = time.monotonic()
        while not self._stopping.is_set():
            await self._wait(2.0)
            self.health.tick()
            report = self.health_report()
            write_health(self.data_dir, report)
            if time.monotonic() - last_store >= self.config.health_interval_s:
                last_store = time.monotonic()
                for rec in health_records(report):
                    self.sink.add(rec)

    def health_report(self) -> dict[str, Any]:
        venues: dict[str, dict[str, Any]] = {}
        for vid in self.venues:
            sess = [s for s in self.sessions if s.venue.id == vid]
            books = [b for (v, _m, _i), b in self.engine.books.items() if v == vid]
            errors: dict[str, int] = {}
            for s in sess:
                for k, n in s.decode_errors.counts.items():
                    errors[k] = errors.get(k, 0) + n
            venues[vid] = {
                "connections": len(sess),
                "connected": sum(1 for s in sess if s.connected),
                "reconnects": sum(s.stats.reconnects for s in sess),
                "rotations": sum(s.stats.rotations for s in sess),
                "stalls": sum(s.stats.stalls for s in sess),
                "frames": sum(s.stats.frames for s in sess),
                "venue_errors": sum(s.stats.errors_from_venue for s in sess),
                "decode_errors": errors,
                "books": len(books),
                "books_valid": sum(1 for b in books if b.valid),
                "gaps": sum(b.gaps for b in books),
                "resyncs": sum(b.resyncs for b in books),
            }
        rep = self.health.report(venues, self.sink.pending)
        rep["store"] = self._store_state(rep["queue_depth"])
        rep["unsupported"] = self.unsupported
        rep["running"] = self.running
        rep["config"] = {
            "symbols": self.config.symbols,
            "venues": self.config.venues,
            "streams": self.config.streams,
            "flush_interval_s": self.config.flush_interval_s,
        }
        return rep

    def _store_state(self, pending: int) -> dict[str, Any]:
        """Is the store keeping up? Behind when a write took over two flush intervals (rows are then
        visible later than promised) or the buffers hold half of ``max_buffered_events`` (new events
        get dropped at the limit). Logged when it starts; ``cryptoflow status`` and the MCP
        ``streaming_status`` alerts show it."""
        cfg = self.config
        lat = self._last_write_ms
        reasons = []
        if lat is not None and lat > 2000 * cfg.flush_interval_s:
            reasons.append(f"the last write took {lat / 1000:.1f} s (flush interval {cfg.flush_interval_s:g} s)")
        if pending >= cfg.max_buffered_events // 2:
            reasons.append(f"{pending:,} rows buffered (new events are dropped at {cfg.max_buffered_events:,})")
        held = self.sink.pending_bytes / 1e6 if self._pending_bytes else 0.0  # type: ignore[attr-defined]
        if held >= cfg.max_buffered_mb / 2:
            reasons.append(f"{held:,.0f} MB buffered (new events are dropped at {cfg.max_buffered_mb:,.0f} MB)")
        now = time.monotonic()
        if reasons and self._behind_since is None:
            self._behind_since = now
            log.warning("the store is falling behind: %s", "; ".join(reasons))
        elif not reasons:
            self._behind_since = None
        return {
            "behind": bool(reasons),
            "reason": "; ".join(reasons) or None,
            "behind_for_s": round(now - self._behind_since, 1) if self._behind_since is not None else None,
            "pending_rows": pending,
            "pending_limit": cfg.max_buffered_events,
            "last_write_ms": lat,
        }

    async def _wait(self, s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), s)

    # ---- shutdown ---------------------------------------------------------------------------------
    async def stop(self) -> None:
        """Close connections, then flush everything received: nothing received is lost."""
        if not self.running:
            return
        self._stopping.set()
        await asyncio.gather(*(s.stop() for s in self.sessions), return_exceptions=True)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # the flush loop is never cancelled mid-write (the rows would be stored but not counted):
        # it sees the stop flag and ends after its current flush
        if self._flush_task is not None:
            await self._flush_task
        while self.sink.pending:
            await self.flush()
        await self.flush()
        self.running = False  # other processes reading health.json see a clean stop at once
        write_health(self.data_dir, self.health_report())
        await self.rest.close()
        if self.capture is not None:
            self.capture.close()
        log.info("collector stopped; %d rows written", self.health.rows_written)
