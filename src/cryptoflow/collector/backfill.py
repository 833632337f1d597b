"""History backfill: fill the lake from venues' REST history so analytics and forecasts have data
from the first minute.

How it stays correct when run twice, interrupted, or next to a live collector:

- Every committed page is recorded in ``backfill_log`` *in the same transaction* as its rows
  (``store/idempotent.py``). A rerun computes the parts of the requested range no committed page
  covers and downloads only those: resuming after an interruption costs nothing already stored.
- Rows are inserted only if their key is not stored yet (anti-join), so overlap with websocket
  data, with an older backfill of another range, or a rerun with ``resume=False`` never
  duplicates a row. Rows are marked ``source = 'rest'``.
- Pages hold only finished periods (``feed/venue_data.fetch_range`` cuts the range at the last
  complete period), so a committed range never needs revisiting.
- Commits are batched (``commit_rows`` rows or ``commit_interval_s``, whichever first): one
  DuckLake snapshot per batch rather than per page keeps the catalog and file count small.

Streams (``--streams``) map to venue data kinds: candles, funding (settled funding rates),
open_interest (history), long_short_ratio, taker_volume, basis, premium_index,
volatility_index. A (venue, symbol, stream) the venue does not offer is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptoflow.errors import ConfigError, CryptoflowError
from cryptoflow.events import Candle, Event
from cryptoflow.feed.rest import RestClient
from cryptoflow.feed.venue_data import fetch_range, step_ns
from cryptoflow.store.idempotent import covered_ranges, insert_missing, missing_ranges
from cryptoflow.store.lake import Lake
from cryptoflow.store.schema import BackfillRecord
from cryptoflow.venues.base import Venue
from cryptoflow.venues.rest_data import DataKind, DataQuery, VenueRestData, rest_data_for

log = logging.getLogger(__name__)

#: backfill stream name -> venue data kind
STREAM_KINDS: dict[str, DataKind] = {
    "candles": DataKind.CANDLES,
    "funding": DataKind.FUNDING_HISTORY,
    "open_interest": DataKind.OPEN_INTEREST_HISTORY,
    "long_short_ratio": DataKind.LONG_SHORT_RATIO,
    "taker_volume": DataKind.TAKER_VOLUME,
    "basis": DataKind.BASIS,
    "premium_index": DataKind.PREMIUM_INDEX,
    "volatility_index": DataKind.VOLATILITY_INDEX,
}
DEFAULT_STREAMS: tuple[str, ...] = ("candles", "funding", "open_interest")


@dataclass(frozen=True, slots=True)
class BackfillTask:
    """One series to fill: [start_ns, end_ns) of ``stream`` for a venue's instrument."""

    venue: str
    market: str
    symbol: str
    stream: str
    period: str | None
    start_ns: int
    end_ns: int

    @property
    def label(self) -> str:
        return f"{self.venue} {self.symbol} {self.stream}" + (f" {self.period}" if self.period else "")


@dataclass
class TaskStatus:
    """Progress of one task (mutated while it runs; read by progress displays and MCP status)."""

    task: BackfillTask
    state: str = "pending"  # pending | running | done | failed
    windows_total: int = 0
    windows_done: int = 0
    rows_fetched: int = 0
    rows_new: int = 0
    requests: int = 0
    skipped_ranges: int = 0  # ranges already covered by earlier commits (resume)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        t = self.task
        return {
            "venue": t.venue, "market": t.market, "symbol": t.symbol, "stream": t.stream, "period": t.period,
            "state": self.state, "windows_done": self.windows_done, "windows_total": self.windows_total,
            "rows_fetched": self.rows_fetched, "rows_new": self.rows_new, "requests": self.requests,
            "error": self.error,
        }


@dataclass
class BackfillReport:
    statuses: list[TaskStatus]
    skipped: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    throttled: int = 0
    retried: int = 0

    @property
    def rows_fetched(self) -> int:
        return sum(s.rows_fetched for s in self.statuses)

    @property
    def rows_new(self) -> int:
        return sum(s.rows_new for s in self.statuses)

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.statuses)

    @property
    def failed(self) -> list[TaskStatus]:
        return [s for s in self.statuses if s.state == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tasks": len(self.statuses), "failed": len(self.failed), "rows_fetched": self.rows_fetched,
            "rows_new": self.rows_new, "requests": self.requests, "throttled": self.throttled,
            "retried": self.retried, "seconds": round(self.seconds, 3),
            "rows_per_s": round(self.rows_fetched / self.seconds, 1) if self.seconds > 0 else None,
            "skipped": self.skipped, "series": [s.to_dict() for s in self.statuses],
        }


def parse_streams(streams: Iterable[str] | None) -> list[str]:
    names = list(dict.fromkeys(streams or DEFAULT_STREAMS))
    bad = [s for s in names if s not in STREAM_KINDS]
    if bad:
        raise ConfigError(f"unknown backfill stream(s) {bad}; streams are: {', '.join(STREAM_KINDS)}")
    return names


class Backfiller:
    """Plans and runs backfill tasks into a writable lake (module docstring)."""

    def __init__(
        self,
        lake: Lake,
        venues: Mapping[str, Venue],
        *,
        client: RestClient | None = None,
        concurrency: int = 4,
        commit_rows: int = 50_000,
        commit_interval_s: float = 2.0,
        resume: bool = True,
    ) -> None:
        self.lake = lake
        self.venues = dict(venues)
        self.client = client or RestClient()
        self._own_client = client is None
        self.concurrency = max(1, concurrency)
        self.commit_rows = commit_rows
        self.commit_interval_s = commit_interval_s
        self.resume = resume
        self.statuses: list[TaskStatus] = []
        self._apis: dict[str, VenueRestData] = {}
        self._commit_lock = asyncio.Lock()

    def api(self, venue_id: str) -> VenueRestData:
        api = self._apis.get(venue_id)
        if api is None:
            api = self._apis[venue_id] = rest_data_for(self.venues[venue_id])
        return api

    # ---- planning ------------------------------------------------------------------------------
    def plan(
        self,
        symbols: Iterable[str],
        streams: Iterable[str] | None,
        since_ns: int,
        until_ns: int | None = None,
        *,
        interval: str = "1m",
        period: str | None = None,
        markets: Iterable[str] = ("perp", "spot"),
    ) -> tuple[list[BackfillTask], list[dict[str, str]]]:
        """Tasks for every (venue, market, symbol, stream) offered; the rest come back as skipped
        with the reason (the venue lacks the stream, the symbol is not listed, ...)."""
        until = until_ns if until_ns is not None else time.time_ns()
        if since_ns >= until:
            raise ConfigError("backfill: since must be before until")
        names = parse_streams(streams)
        tasks: list[BackfillTask] = []
        skipped: list[dict[str, str]] = []
        want_markets = set(markets)
        for vid, venue in self.venues.items():
            try:
                api = self.api(vid)
            except ConfigError as e:
                skipped.append({"venue": vid, "reason": str(e)})
                continue
            for market in venue.markets:
                if market not in want_markets:
                    continue
                for sym in symbols:
                    try:
                        inst = venue.instrument(sym, market)
                    except CryptoflowError as e:
                        skipped.append({"venue": vid, "market": market, "symbol": sym, "reason": str(e)})
                        continue
                    for name in names:
                        kind = STREAM_KINDS[name]
                        spec = api.kinds.get(kind)
                        if spec is None or market not in spec.markets:
                            skipped.append({"venue": vid, "market": market, "symbol": sym, "stream": name,
                                            "reason": f"{vid} has no {market} {kind.value} history"})
                            continue
                        per = interval if kind is DataKind.CANDLES else period
                        try:
                            q = api.check(DataQuery(kind, inst, per))
                        except ConfigError as e:
                            skipped.append({"venue": vid, "market": market, "symbol": sym, "stream": name,
                                            "reason": str(e)})
                            continue
                        tasks.append(BackfillTask(vid, market, inst.symbol, name, q.period, since_ns, until))
        return tasks, skipped

    # ---- running -------------------------------------------------------------------------------
    async def run(
        self, tasks: list[BackfillTask], on_progress: Callable[[TaskStatus], None] | None = None
    ) -> BackfillReport:
        """Run tasks (``concurrency`` at a time; each venue's rate limit applies across them)."""
        t0 = time.perf_counter()
        throttled0, retried0 = self.client.throttled, self.client.retried
        self.statuses = statuses = [TaskStatus(t) for t in tasks]
        sem = asyncio.Semaphore(self.concurrency)

        async def one(st: TaskStatus) -> None:
            async with sem:
                try:
                    await self._run_task(st, on_progress)
                except Exception as e:  # one series failing must not stop the others
                    st.state, st.error = "failed", f"{type(e).__name__}: {e}"
                    log.warning("backfill %s failed: %s", st.task.label, st.error)
                if on_progress:
                    on_progress(st)

        try:
            await asyncio.gather(*(one(s) for s in statuses))
        finally:
            if self._own_client:
                await self.client.close()
        return BackfillReport(
            statuses, seconds=time.perf_counter() - t0,
            throttled=self.client.throttled - throttled0, retried=self.client.retried - retried0,
        )

    async def _run_task(self, st: TaskStatus, on_progress: Callable[[TaskStatus], None] | None) -> None:
        t = st.task
        st.state = "running"
        venue = self.venues[t.venue]
        api = self.api(t.venue)
        inst = venue.instrument(t.symbol, t.market)
        kind = STREAM_KINDS[t.stream]
        q = api.check(DataQuery(kind, inst, t.period))
        covered = (
            await asyncio.to_thread(covered_ranges, self.lake, t.venue, t.market, t.symbol, t.stream, t.period)
            if self.resume else []
        )
        todo = missing_ranges(t.start_ns, t.end_ns, covered)
        st.skipped_ranges = len(covered)
        window = step_ns(api, q) * max(1, api.kinds[kind].max_limit - 1)
        st.windows_total = sum(-(-(b - a) // window) for a, b in todo)
        pending: list[Event] = []
        logs: list[BackfillRecord] = []
        last_commit = time.monotonic()
        for a, b in todo:
            async for page in fetch_range(self.client, api, DataQuery(kind, inst, q.period, a, b)):
                rows = [r for r in page.records if _storable(r)]
                st.requests += page.requests
                st.windows_done += 1
                st.rows_fetched += len(rows)
                pending += rows
                logs.append(BackfillRecord(t.venue, t.market, t.symbol, t.stream, t.period,
                                           page.start_ns, page.end_ns, len(rows), time.time_ns()))
                if len(pending) >= self.commit_rows or time.monotonic() - last_commit >= self.commit_interval_s:
                    st.rows_new += await self._commit(pending, logs)
                    pending, logs, last_commit = [], [], time.monotonic()
                if on_progress:
                    on_progress(st)
        if logs:
            st.rows_new += await self._commit(pending, logs)
        st.state = "done"

    async def _commit(self, rows: list[Event], logs: list[BackfillRecord]) -> int:
        async with self._commit_lock:
            inserted = await asyncio.to_thread(insert_missing, self.lake, rows, logs)
        return sum(inserted.values())


def _storable(r: object) -> bool:
    """Only finished observations are stored (an open candle would be replaced by its final one)."""
    if type(r) is Candle:
        return r.closed
    return isinstance(r, Event)


_UNITS_NS = {"s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000, "d": 86_400_000_000_000,
             "w": 604_800_000_000_000}


def parse_when(text: str, arg: str = "since", now_ns: int | None = None) -> int:
    """``7d`` / ``12h`` / ``30m`` (that long ago), ``now``, or an ISO 8601 time (naive = UTC) -> int ns."""
    from datetime import UTC, datetime

    now = now_ns if now_ns is not None else time.time_ns()
    t = text.strip().lower()
    if t == "now":
        return now
    if len(t) > 1 and t[-1] in _UNITS_NS and t[:-1].replace(".", "", 1).isdigit():
        return now - int(float(t[:-1]) * _UNITS_NS[t[-1]])
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{arg}={text!r}: give an age like 7d, 12h, 30m or an ISO 8601 UTC time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1_000_000) * 1000
