"""Idempotent appends for history that may already be stored (REST backfill).

Live data is append-only (the collector never sees the same event twice, trade ids are
deduplicated in memory). History is different: a backfill can be rerun, can overlap what the
websocket already stored, and can be interrupted between pages. ``insert_missing`` therefore
inserts only rows whose *key* is not in the table yet, in one transaction with the
``backfill_log`` rows that record which ranges are now complete, so a crash leaves either both
or neither and a rerun resumes exactly where the last commit ended.

Keys (per table) name what makes a row the same observation:

- candles: venue, market, symbol, interval, open_time, among *closed* candles (a websocket's
  in-progress candle rows do not stand in for the finished bar);
- venue_metrics: venue, market, symbol, metric, period, ts;
- trades: venue, market, symbol, trade_id;
- every other table: venue, market, symbol, ts (exact ns).

The existence check is an anti-join restricted to the batch's time range, so DuckLake prunes to
the files of those days; measured cost is in ``cryptoflow bench backfill``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Sequence

import duckdb

from cryptoflow.errors import StoreError
from cryptoflow.events import Event
from cryptoflow.store.lake import Lake
from cryptoflow.store.schema import ALIAS, BACKFILL_TABLE, SPEC_BY_TYPE, TABLES, BackfillRecord, TableSpec
from cryptoflow.store.writer import to_arrow

log = logging.getLogger(__name__)

#: table -> (key columns compared as stored, extra condition on the existing row)
KEYS: dict[str, tuple[tuple[str, ...], str]] = {
    "candles": (("venue", "market", "symbol", "interval", "open_time"), "x.closed"),
    "venue_metrics": (("venue", "market", "symbol", "metric", "period", "ts_ns"), ""),
    "trades": (("venue", "market", "symbol", "trade_id"), ""),
}
_DEFAULT_KEY = (("venue", "market", "symbol", "ts_ns"), "")
_MARGIN_NS = 600_000_000_000
_RETRIES = 8  # commits that lose a catalog race (another writer process) are retried


def _key_sql(spec: TableSpec, lo_ns: int, hi_ns: int) -> str:
    cols, extra = KEYS.get(spec.name, _DEFAULT_KEY)
    by_name = {c.name: c for c in spec.columns}
    conds = []
    for name in cols:
        col = by_name[name]
        if name == "ts_ns":
            b = "b.ts"
        elif col.sql_type == "TIMESTAMP":
            b = f'make_timestamp(b."{col.field}" // 1000)'
        else:
            b = f'b."{col.field}"'
        conds.append(f'x."{name}" IS NOT DISTINCT FROM {b}' if col.nullable else f'x."{name}" = {b}')
    # integers we computed (never user text): the range lets DuckLake prune files by ts. The margin
    # covers the same observation stamped slightly differently by the websocket (a closed candle's
    # event time is a moment after its close time).
    lo_us, hi_us = (lo_ns - _MARGIN_NS) // 1000, (hi_ns + _MARGIN_NS) // 1000 + 1
    conds.append(f"x.ts BETWEEN make_timestamp({lo_us}) AND make_timestamp({hi_us})")
    if extra:
        conds.append(extra)
    return " AND ".join(conds)


def insert_missing(
    lake: Lake, events: Sequence[Event], log_records: Iterable[BackfillRecord] = (), *, source: str = "rest"
) -> dict[str, int]:
    """Insert the events whose key is not stored yet, plus ``log_records``, in one transaction.

    Returns rows inserted per table. Safe to call concurrently with a ``BatchWriter`` of the same
    lake (serialised by ``lake.write_lock``) and with writers in other processes (a lost commit
    race is retried)."""
    if lake.read_only:
        raise StoreError("insert_missing needs a lake opened with read_only=False")
    by_spec: dict[TableSpec, list[Event]] = {}
    for ev in events:
        spec = SPEC_BY_TYPE.get(type(ev))
        if spec is None or spec.kind is None:
            raise StoreError(f"cannot store {type(ev).__name__}: expected a cryptoflow.events event")
        by_spec.setdefault(spec, []).append(ev)
    logs = list(log_records)
    plan = []
    for spec, evs in by_spec.items():
        lo = min(e.ts for e in evs)
        hi = max(e.ts for e in evs)
        table = to_arrow(spec, [(source, evs)])
        exists = f"SELECT 1 FROM {ALIAS}.{spec.name} x WHERE {_key_sql(spec, lo, hi)}"
        dedup = f"SELECT * FROM _cf_new b WHERE NOT EXISTS ({exists})"
        plan.append((spec, table, spec.insert_sql(f"({dedup})")))
    log_table = to_arrow(TABLES[BACKFILL_TABLE], [("", logs)]) if logs else None

    for attempt in range(_RETRIES):
        cur = lake.cursor()
        try:
            with lake.write_lock:
                return _commit(cur, plan, log_table)
        except duckdb.Error as exc:
            text = str(exc).lower()
            if attempt + 1 < _RETRIES and ("locked" in text or "conflict" in text or "busy" in text):
                delay = 0.05 * 2**attempt
                log.info("backfill commit lost a race with another writer (%s); retry in %.2fs", exc, delay)
                time.sleep(delay)
                continue
            raise StoreError(f"backfill insert failed: {exc}") from exc
        finally:
            cur.close()
    raise AssertionError("unreachable")


def _commit(cur: duckdb.DuckDBPyConnection, plan: list, log_table: object | None) -> dict[str, int]:
    inserted: dict[str, int] = {}
    cur.execute("BEGIN TRANSACTION")
    try:
        for spec, table, sql in plan:
            cur.register("_cf_new", table)
            try:
                row = cur.execute(sql).fetchone()
            finally:
                cur.unregister("_cf_new")
            inserted[spec.name] = int(row[0]) if row else 0
        if log_table is not None:
            spec = TABLES[BACKFILL_TABLE]
            cur.register("_cf_log", log_table)
            try:
                cur.execute(spec.insert_sql("_cf_log"))
            finally:
                cur.unregister("_cf_log")
        cur.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            cur.execute("ROLLBACK")
        raise
    return inserted


def covered_ranges(
    lake: Lake, venue: str, market: str, symbol: str, stream: str, period: str | None
) -> list[tuple[int, int]]:
    """Merged [start, end) ns ranges a backfill already committed for this series."""
    cur = lake.cursor()
    try:
        rows = cur.execute(
            f"SELECT epoch_us(range_start) * 1000, epoch_us(range_end) * 1000 FROM {ALIAS}.{BACKFILL_TABLE} "
            "WHERE venue = ? AND market = ? AND symbol = ? AND stream = ? AND period IS NOT DISTINCT FROM ? "
            "ORDER BY 1",
            [venue, market, symbol, stream, period],
        ).fetchall()
    finally:
        cur.close()
    merged: list[tuple[int, int]] = []
    for a, b in rows:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def missing_ranges(start: int, end: int, covered: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Parts of [start, end) not inside any covered range."""
    out: list[tuple[int, int]] = []
    cursor = start
    for a, b in covered:
        if b <= cursor:
            continue
        if a >= end:
            break
        if a > cursor:
            out.append((cursor, min(a, end)))
        cursor = max(cursor, b)
    if cursor < end:
        out.append((cursor, end))
    return out
