"""Keeping the lake small and fast: compaction, retention, export.

A collector flushing every second writes one Parquet file per busy table per second, and every
flush is a snapshot. Left alone that is ~80k files and snapshots a day. ``compact`` (run it every
few minutes from the writer process) follows DuckLake's recommended maintenance:

1. ``ducklake_flush_inlined_data``: small flushes (< 10 rows per table, the default inlining
   limit) live inside the catalog; move them to Parquet.
2. ``ducklake_merge_adjacent_files``: merge small files of the same table and day partition.
3. ``ducklake_rewrite_data_files``: rewrite files carrying many deletes (after retention).
4. ``ducklake_expire_snapshots`` older than ``expire_older_than``: ends time travel past that
   point and lets the files only old snapshots reference be scheduled for deletion.
5. ``ducklake_cleanup_old_files`` scheduled more than ``delete_files_older_than`` ago: the delay
   protects readers still scanning a replaced file.

``apply_retention`` deletes rows older than an age per stream; tables are day-partitioned, so a
whole old day goes away as whole files. ``export`` writes a filtered stream with DuckDB ``COPY``
from a parameterized query; the caller (CLI/MCP layer) decides which output paths are allowed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import duckdb

from cryptoflow.errors import QueryError, StoreError
from cryptoflow.store.lake import Lake
from cryptoflow.store.queries import TimeLike, to_utc_naive
from cryptoflow.store.schema import ALIAS, HEALTH_TABLE, table_for
from cryptoflow.store.views import check_market, check_symbol, check_venue

log = logging.getLogger(__name__)

ExportFormat = Literal["csv", "parquet"]
_FORMATS: dict[str, str] = {"csv": "FORMAT csv, HEADER true", "parquet": "FORMAT parquet, COMPRESSION zstd"}


@dataclass(frozen=True, slots=True)
class CompactionReport:
    """Live data files before/after and what each maintenance step did."""

    files_before: int
    files_after: int
    inlined_rows_flushed: int
    merge_groups: int
    rewritten_files: int
    expired_snapshots: int
    deleted_files: int
    elapsed_ms: float


@dataclass(frozen=True, slots=True)
class ExportReport:
    path: Path
    rows: int
    bytes: int


def file_count(lake: Lake) -> int:
    """Live Parquet data files across all tables (what queries have to open)."""
    with lake.cursor() as cur:
        row = cur.execute(f"SELECT coalesce(sum(file_count), 0) FROM ducklake_table_info('{ALIAS}')").fetchone()
    return int(row[0]) if row else 0


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def compact(
    lake: Lake,
    *,
    expire_older_than: timedelta = timedelta(hours=1),
    delete_files_older_than: timedelta = timedelta(minutes=10),
) -> CompactionReport:
    """Run the maintenance sequence above; safe while readers query (see the delays)."""
    if lake.read_only:
        raise StoreError("compaction needs a lake opened with read_only=False")
    t0 = time.perf_counter()
    now = _utc_now()
    before = file_count(lake)
    with lake.write_lock, lake.cursor() as cur:
        try:
            flushed = cur.execute(f"CALL ducklake_flush_inlined_data('{ALIAS}')").fetchall()
            merged = cur.execute(f"CALL ducklake_merge_adjacent_files('{ALIAS}')").fetchall()
            rewritten = cur.execute(f"CALL ducklake_rewrite_data_files('{ALIAS}')").fetchall()
            # fetchall(), never fetchone(): a result left unconsumed is discarded by the next
            # execute() and its auto-commit transaction rolled back (the expiry silently undone).
            expired = cur.execute(
                f"SELECT count(*) FROM ducklake_expire_snapshots('{ALIAS}', older_than => $t::TIMESTAMPTZ)",
                {"t": now - expire_older_than},
            ).fetchall()
            # Files scheduled by the steps above count from now, not from the start of this run.
            deleted = cur.execute(
                f"SELECT count(*) FROM ducklake_cleanup_old_files('{ALIAS}', older_than => $t::TIMESTAMPTZ)",
                {"t": _utc_now() - delete_files_older_than},
            ).fetchall()
        except duckdb.Error as exc:
            raise StoreError(f"compaction failed: {exc}") from exc
    report = CompactionReport(
        files_before=before,
        files_after=file_count(lake),
        inlined_rows_flushed=int(sum(r[2] for r in flushed)),
        merge_groups=len(merged),
        rewritten_files=int(sum(r[2] for r in rewritten)),
        expired_snapshots=int(expired[0][0]),
        deleted_files=int(deleted[0][0]),
        elapsed_ms=(time.perf_counter() - t0) * 1e3,
    )
    log.info("compaction: %s", report)
    return report


def _age(value: timedelta | float | int) -> timedelta:
    if isinstance(value, timedelta):
        age = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        age = timedelta(days=value)
    else:
        raise QueryError(f"retention age {value!r} not understood: give a timedelta or a number of days")
    if age <= timedelta(0):
        raise QueryError(f"retention age must be positive, got {age}")
    return age


def apply_retention(
    lake: Lake, max_age: Mapping[str, timedelta | float], *, now: datetime | None = None
) -> dict[str, int]:
    """Delete rows older than ``max_age[stream]`` (timedelta, or days) in one transaction.

    Streams are kinds (``trade``) or table names (``trades``, ``health``). Returns rows deleted
    per table. Files are reclaimed by the next ``compact``.
    """
    if lake.read_only:
        raise StoreError("retention needs a lake opened with read_only=False")
    now = to_utc_naive(now, _utc_now())
    cutoffs = {table_for(stream): now - _age(age) for stream, age in max_age.items()}
    deleted: dict[str, int] = {}
    with lake.write_lock, lake.cursor() as cur:
        try:
            cur.execute("BEGIN TRANSACTION")
            for table, cutoff in cutoffs.items():
                rows = cur.execute(f"DELETE FROM {ALIAS}.{table} WHERE ts < $cutoff", {"cutoff": cutoff}).fetchall()
                deleted[table] = int(rows[0][0]) if rows else 0
            cur.execute("COMMIT")
        except duckdb.Error as exc:
            try:
                cur.execute("ROLLBACK")
            except duckdb.Error:
                log.debug("rollback after failed retention also failed", exc_info=True)
            raise StoreError(f"retention failed: {exc}") from exc
    log.info("retention deleted %s", deleted)
    return deleted


def export(
    lake: Lake,
    stream: str,
    out_path: Path | str,
    *,
    fmt: ExportFormat = "parquet",
    symbol: str | None = None,
    venue: str | None = None,
    market: str | None = None,
    since: TimeLike = None,
    until: TimeLike = None,
) -> ExportReport:
    """Write one stream's rows (optionally filtered) to ``out_path`` as CSV or Parquet.

    ``out_path`` must already be validated by the caller (allowed directory); it is bound as a
    parameter, never spliced into SQL. Rows are ordered by ``ts``.
    """
    table = table_for(stream)
    if fmt not in _FORMATS:
        raise QueryError(f"unknown export format {fmt!r}; formats are: {', '.join(_FORMATS)}")
    path = Path(out_path).expanduser().resolve()
    if not path.parent.is_dir():
        raise QueryError(f"export directory {path.parent} does not exist")
    if path.is_dir():
        raise QueryError(f"export path {path} is a directory: give a file name")
    params: dict[str, object] = {
        "venue": None if venue is None else check_venue(venue),
        "start": to_utc_naive(since, datetime(1970, 1, 1)),
        "end": to_utc_naive(until, datetime(2262, 1, 1)),
        "path": str(path),
    }
    where = "($venue IS NULL OR venue = $venue) AND ts >= $start AND ts < $end"
    if table == HEALTH_TABLE:
        if symbol is not None or market is not None:
            raise QueryError("the health stream has no symbol or market; filter by venue and time only")
    else:
        params["symbol"] = None if symbol is None else check_symbol(symbol)
        params["market"] = None if market is None else check_market(market)
        where += " AND ($symbol IS NULL OR symbol = $symbol) AND ($market IS NULL OR market = $market)"
    sql = f"COPY (SELECT * FROM {ALIAS}.{table} WHERE {where} ORDER BY ts) TO $path ({_FORMATS[fmt]})"
    with lake.cursor() as cur:
        try:
            result = cur.execute(sql, params).fetchall()
        except duckdb.Error as exc:
            raise StoreError(f"export of {table} to {path} failed: {exc}") from exc
    rows = int(result[0][0]) if result else 0
    return ExportReport(path=path, rows=rows, bytes=path.stat().st_size if path.exists() else 0)
