"""Batch writer: events in, one Arrow append per table per flush out.

Why it looks like this (DESIGN.md, Performance facts): row-by-row INSERT manages ~1k rows/s and
an ``executemany`` flush blocked the event loop for seconds; one Arrow append per table per
flush reaches 500k+ rows/s, and one buffer per stream kind (not per symbol) keeps files few.

- ``add()`` / ``add_many()`` append the (immutable) event to its kind's buffer; when a buffer
  reaches ``chunk_rows`` (4,096) it is *sealed*: converted to Arrow at once, on the adding thread,
  while its rows are still in the CPU's cache. Converting a whole flush interval later in the
  flush thread cost more (the rows had left the cache: 2.1 us/row against ~0.1 at flush time plus
  the sealing, whole pipeline -7% CPU measured) and kept every row as Python objects until the
  flush (~1 KB per book update: the collector's RSS grew by hundreds of MB whenever the store fell
  behind). A flush converts only the short remainder and appends the sealed tables.
- ``flush_async()`` swaps the buffers on the caller's thread (adds continue into fresh ones) and
  does conversion + INSERTs + COMMIT in the writer's own single worker thread. The INSERTs run
  in DuckDB with the GIL released. One thread, not the default executor's pool: every thread
  that allocates gets its own glibc heap arena, and rotating flushes over several threads grew
  the collector's RSS by 200-300 MB of freed-but-kept memory (measured); after each flush the
  freed heap is handed back to the OS (``malloc_trim``).
- All tables of one flush are written in one transaction: one DuckLake snapshot per flush, so a
  reader sees a flush entirely or not at all, and the catalog grows by one snapshot, not nine.
- A failed flush puts its rows back, as Arrow, in front of what was sealed since (unless that
  would exceed ``max_pending_rows``: then they are dropped and counted) and raises ``StoreError``;
  rows that cannot be converted (a malformed event) are dropped, counted and reported.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import attrgetter

import duckdb
import pyarrow as pa

from cryptoflow.errors import StoreError
from cryptoflow.events import Event
from cryptoflow.store.book_deltas import SPEC as DELTA_SPEC
from cryptoflow.store.book_deltas import DeltaBuffer
from cryptoflow.store.lake import Lake
from cryptoflow.store.schema import SOURCES, SPEC_BY_TYPE, HealthRecord, TableSpec
from cryptoflow.venues.base import BookUpdate

log = logging.getLogger(__name__)

_Key = tuple[type, str]
_Batch = dict[_Key, list]


@dataclass(slots=True)
class _Taken:
    """What one flush writes: events not converted yet, book updates (numbered from
    ``first_seq``) and tables sealed since the last flush."""

    raw: _Batch
    deltas: DeltaBuffer | None
    first_seq: int
    sealed: dict[TableSpec, list[pa.Table]]
    sealed_rows: int

    @property
    def rows(self) -> int:
        return sum(len(v) for v in self.raw.values()) + (len(self.deltas) if self.deltas else 0) + self.sealed_rows


@dataclass(frozen=True, slots=True)
class FlushStats:
    """What one flush did; ``write_ms`` is the commit latency a reader waits for."""

    rows: int
    rows_by_table: dict[str, int] = field(default_factory=dict)
    convert_ms: float = 0.0  # Python objects -> Arrow (holds the GIL)
    write_ms: float = 0.0  # INSERT ... SELECT per table + COMMIT (GIL released)
    total_ms: float = 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rows / (self.total_ms / 1e3) if self.total_ms > 0 else 0.0


def _glibc_function(name: str) -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):  # not glibc (musl...): nothing to trim
        return None


_malloc_trim = _glibc_function("malloc_trim")
_mallopt = _glibc_function("mallopt")
_M_ARENA_MAX = -8


def limit_heap_arenas(n: int = 2) -> None:
    """Cap glibc's per-thread heap arenas for this process (the collector daemon).

    Python + DuckDB + Arrow threads each get an arena by default (up to 8 per core); memory
    freed in one arena is not reused by another, which kept the collector's RSS 200+ MB above
    what it holds. Applies to arenas created from now on; a no-op off glibc."""
    if _mallopt is not None:
        _mallopt(_M_ARENA_MAX, n)


def trim_heap() -> None:
    """Return freed native heap to the OS (glibc); a no-op elsewhere."""
    if _malloc_trim is not None:
        _malloc_trim(0)


_GETTERS: dict[type, list[tuple[str, attrgetter, pa.DataType]]] = {
    spec.struct: [(f.name, attrgetter(f.name), f.type) for f in spec.arrow_schema() if f.name != "source"]
    for spec in SPEC_BY_TYPE.values()
}


def to_arrow(spec: TableSpec, parts: list[tuple[str, list]]) -> pa.Table:
    """Events of one table, grouped by source, as the Arrow buffer ``spec.insert_sql`` reads."""
    schema = spec.arrow_schema()
    getters = _GETTERS[spec.struct]
    tables = []
    for source, events in parts:
        arrays = [pa.array(list(map(get, events)), type=typ) for _, get, typ in getters]
        if spec.has_source:
            arrays.append(pa.array([source] * len(events), type=pa.string()))
        tables.append(pa.Table.from_arrays(arrays, schema=schema))
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


class BatchWriter:
    """Buffers events per stream kind and appends them to the lake in batches.

    ``add`` is thread-safe and cheap; call ``await flush_async()`` periodically (e.g. every
    second) from the event loop, or ``flush()`` from any thread.
    """

    def __init__(self, lake: Lake, *, max_pending_rows: int = 5_000_000) -> None:
        if lake.read_only:
            raise StoreError("BatchWriter needs a lake opened with read_only=False")
        self._lake = lake
        self._cursor = lake.cursor()
        self._max_pending = max_pending_rows
        self._lock = threading.Lock()
        self._bufs: _Batch = self._fresh()
        self._deltas = DeltaBuffer()  # book updates (store_book_deltas), one list in arrival order
        # Buffers that reach chunk_rows are converted to Arrow at once, on the adding thread (see _seal)
        self.chunk_rows = 4096
        self._sealed: dict[TableSpec, list[pa.Table]] = {}
        self._sealed_rows = 0
        self._stash: list[tuple[_Key, list]] = []  # chunks that failed to seal (see _seal)
        # book_deltas.recv_seq: arrival order; starting at the clock keeps it increasing across restarts
        self._recv_seq = time.time_ns()
        self.rows_written = 0
        self.rows_by_table: Counter[str] = Counter()  # rows written per table since start
        self.flushes = 0
        self.failed_flushes = 0
        self.dropped_rows = 0
        self.last: FlushStats | None = None
        self._executor: ThreadPoolExecutor | None = None  # the one flush thread, made on first use

    @staticmethod
    def _fresh() -> _Batch:
        return {(t, s): [] for t in SPEC_BY_TYPE for s in SOURCES}

    def add(self, event: Event | HealthRecord, source: str = "ws") -> None:
        """Buffer one event (or health record); ``source`` is ``'ws'`` or ``'rest'``."""
        with self._lock:
            try:
                self._bufs[(type(event), source)].append(event)
            except KeyError:
                raise self._bad_input(event, source) from None

    def add_many(self, events: Iterable[Event | HealthRecord], source: str = "ws") -> None:
        """Buffer many events at once (one lock round-trip)."""
        with self._lock:
            bufs = self._bufs
            for event in events:
                key = (type(event), source)
                try:
                    buf = bufs[key]
                except KeyError:
                    raise self._bad_input(event, source) from None
                buf.append(event)
                if len(buf) >= self.chunk_rows:
                    self._seal(key, buf)

    def add_book(self, update: BookUpdate, source: str = "ws") -> None:
        """Buffer a book update (or ``BookReset``) for ``book_deltas``, in arrival order."""
        with self._lock:
            d = self._deltas
            d.add(update, source)
            if len(d.items) >= self.chunk_rows:
                self._seal_deltas(d)

    # ---- sealing: full buffers become Arrow while their rows are still in the CPU's cache ----------------
    def _seal(self, key: _Key, buf: list) -> None:
        """Convert one full buffer now (caller holds the lock). A flush then only appends Arrow."""
        spec = SPEC_BY_TYPE[key[0]]
        try:
            table = to_arrow(spec, [(key[1], buf)])
        except (TypeError, ValueError, pa.ArrowException):
            # a malformed event: set the chunk aside as events; the flush fails on it, drops and reports it
            self._stash.append((key, buf))
        else:
            self._sealed.setdefault(spec, []).append(table)
            self._sealed_rows += len(buf)
        self._bufs[key] = []

    def _seal_deltas(self, d: DeltaBuffer) -> None:
        table = d.to_arrow(self._recv_seq)  # recv_seq numbers are taken in arrival order, at sealing
        self._recv_seq += len(d)
        self._sealed.setdefault(DELTA_SPEC, []).append(table)
        self._sealed_rows += len(d)
        self._deltas = DeltaBuffer()

    def add_health(self, record: HealthRecord) -> None:
        """Buffer a health sample (written to the ``health`` table on the next flush)."""
        self.add(record)

    @staticmethod
    def _bad_input(event: object, source: str) -> StoreError:
        if source not in SOURCES:
            return StoreError(f"source {source!r} is not one of {', '.join(SOURCES)}")
        return StoreError(f"cannot store {type(event).__name__}: expected a cryptoflow.events event or HealthRecord")

    @property
    def pending(self) -> int:
        """Rows buffered and not yet flushed."""
        stashed = sum(len(b) for _, b in self._stash)
        return sum(len(b) for b in self._bufs.values()) + len(self._deltas) + self._sealed_rows + stashed

    # bytes per buffered row not sealed yet (Python objects; a book update with its level lists is
    # the largest): an estimate, so the collector's limit holds before the rows become Arrow
    RAW_ROW_BYTES = 400
    RAW_DELTA_BYTES = 1_000

    @property
    def pending_bytes(self) -> int:
        """Memory the buffered rows hold, about: sealed tables exactly, unsealed rows estimated."""
        sealed = sum(t.nbytes for ts in self._sealed.values() for t in ts)
        raw = sum(len(b) for b in self._bufs.values()) + sum(len(b) for _, b in self._stash)
        return sealed + raw * self.RAW_ROW_BYTES + len(self._deltas) * self.RAW_DELTA_BYTES

    def _take(self) -> _Taken:
        with self._lock:
            bufs, self._bufs = self._bufs, self._fresh()
            deltas, self._deltas = self._deltas, DeltaBuffer()
            sealed, self._sealed = self._sealed, {}
            sealed_rows, self._sealed_rows = self._sealed_rows, 0
            stash, self._stash = self._stash, []
            first_seq = self._recv_seq  # numbered here, under the lock: later seals get later numbers
            self._recv_seq += len(deltas)
        raw = {k: v for k, v in bufs.items() if v}
        for key, events in stash:
            raw[key] = events + raw.get(key, [])
        return _Taken(raw, deltas if deltas.items else None, first_seq, sealed, sealed_rows)

    def flush(self) -> FlushStats:
        """Write everything buffered so far; blocks the calling thread (not the event loop's)."""
        return self._write(self._take())

    async def flush_async(self) -> FlushStats:
        """Swap buffers now, write them in a worker thread; the event loop keeps running."""
        taken = self._take()
        if not taken.rows:
            return FlushStats(rows=0)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cryptoflow-flush")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._write_and_trim, [taken])

    def _write_and_trim(self, holder: list[_Taken]) -> FlushStats:
        # the batch comes in a holder we empty: the executor's work item keeps its arguments alive
        # until the next task, and the point is to free the rows before trimming
        taken = holder.pop()
        try:
            return self._write(taken)
        finally:
            del taken  # the events and their Arrow copies are garbage now: give the pages back
            trim_heap()

    def _convert(self, spec: TableSpec, parts: list[tuple[str, list]]) -> pa.Table:
        return to_arrow(spec, parts)

    def _write(self, taken: _Taken) -> FlushStats:
        rows = taken.rows
        if not rows:
            return FlushStats(rows=0)
        t0 = time.perf_counter()
        by_spec: dict[TableSpec, list[tuple[str, list]]] = {}
        for (struct, source), events in taken.raw.items():
            by_spec.setdefault(SPEC_BY_TYPE[struct], []).append((source, events))
        tables: dict[TableSpec, list[pa.Table]] = {spec: list(ts) for spec, ts in taken.sealed.items()}
        try:
            for spec, parts in by_spec.items():
                tables.setdefault(spec, []).append(self._convert(spec, parts))
            if taken.deltas is not None:
                tables.setdefault(DELTA_SPEC, []).append(taken.deltas.to_arrow(taken.first_seq))
        except (TypeError, ValueError, pa.ArrowException) as exc:
            # A malformed event (wrong field type) would fail every retry: drop, count, report.
            raw = rows - taken.sealed_rows
            self.failed_flushes += 1
            self.dropped_rows += raw
            self._requeue(taken.sealed, taken.sealed_rows)
            raise StoreError(f"could not convert {raw} buffered rows to Arrow (dropped): {exc}") from exc
        t1 = time.perf_counter()
        cur = self._cursor
        with self._lake.write_lock:
            try:
                cur.execute("BEGIN TRANSACTION")
                for spec, parts in tables.items():
                    table = parts[0] if len(parts) == 1 else pa.concat_tables(parts)
                    name = f"_cf_buf_{spec.name}"
                    cur.register(name, table)
                    try:
                        cur.execute(spec.insert_sql(name))
                    finally:
                        cur.unregister(name)
                cur.execute("COMMIT")
            except duckdb.Error as exc:
                try:
                    cur.execute("ROLLBACK")
                except duckdb.Error:
                    log.debug("rollback after failed flush also failed", exc_info=True)
                self.failed_flushes += 1
                self._requeue(tables, rows)
                raise StoreError(f"flush of {rows} rows failed: {exc}") from exc
        t2 = time.perf_counter()
        stats = FlushStats(
            rows=rows,
            rows_by_table={spec.name: sum(t.num_rows for t in ts) for spec, ts in tables.items()},
            convert_ms=(t1 - t0) * 1e3,
            write_ms=(t2 - t1) * 1e3,
            total_ms=(t2 - t0) * 1e3,
        )
        self.rows_written += rows
        self.rows_by_table.update(stats.rows_by_table)
        self.flushes += 1
        self.last = stats
        log.debug("flushed %d rows in %.1f ms (convert %.1f, write %.1f)", rows, stats.total_ms,
                  stats.convert_ms, stats.write_ms)
        return stats

    def _requeue(self, tables: dict[TableSpec, list[pa.Table]], rows: int) -> None:
        """A failed flush's rows, already Arrow, go back in front of what was sealed since."""
        with self._lock:
            if self.pending + rows > self._max_pending:
                self.dropped_rows += rows
                log.error("dropping %d rows of a failed flush: %d already pending", rows, self.pending)
                return
            for spec, ts in tables.items():
                self._sealed.setdefault(spec, [])[:0] = ts
            self._sealed_rows += rows

    def close(self) -> FlushStats:
        """Flush what is left and release the writer's cursor."""
        stats = self.flush()
        self._cursor.close()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        return stats
