"""Named, parameterized queries: every piece of SQL the rest of cryptoflow runs against the lake.

Rules: user values are bound as parameters (``$name``), never formatted into SQL; identifiers
(tables) come from the allowlists in ``schema``; every query takes bounds and a ``limit``.

Conventions for callers (the MCP layer, analytics):

- Each function returns ``list[dict]`` (column -> value) or one ``dict``: easy to turn into
  pydantic models or numpy arrays. Timestamps are naive ``datetime`` in UTC; every time row
  also carries ``ts_ns`` (int ns) for exact arithmetic.
- Times in (``start``, ``end``, ``since``) are ``datetime`` (naive = UTC) or int ns since the
  epoch; ``None`` means unbounded. Ranges are half-open ``[start, end)``.
- Row-returning queries give at most ``limit`` rows: the most recent ones, in ascending time.
- Bucketed queries use ``interval`` in ``INTERVALS`` (1m, 5m, 15m, 1h, 4h, 1d), epoch-aligned.
- "latest value per bucket" uses ``arg_max(x, ts_ns)``, which skips NULLs: the latest known value.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from cryptoflow.errors import QueryError, StoreError
from cryptoflow.events import INTERVALS_NS
from cryptoflow.store.book_deltas import ReplayedBook, replay_rows
from cryptoflow.store.lake import Lake
from cryptoflow.store.schema import ALIAS, TABLES
from cryptoflow.store.sqlguard import SqlResult, run_readonly_sql
from cryptoflow.store.views import check_market, check_symbol, check_venue

Row = dict[str, Any]
TimeLike = datetime | int | None

INTERVALS: dict[str, int] = {k: INTERVALS_NS[k] for k in ("1m", "5m", "15m", "1h", "4h", "1d")}
MAX_LIMIT = 100_000
_MIN_TS = datetime(1970, 1, 1)
_MAX_TS = datetime(2262, 1, 1)

_RANGE = "ts >= $start AND ts < $end"
_VENUE_OPT = "($venue IS NULL OR venue = $venue)"
_BUCKET = "ts_ns // $step * $step AS bucket"
_BUCKET_TS = "make_timestamp(bucket // 1000) AS ts, bucket AS ts_ns"
_LATEST = "SELECT * FROM ({inner} ORDER BY {order} DESC LIMIT $limit) ORDER BY {order}"

# Newest quote first by exchange time, then the venue's update id, then arrival: venues stamp quotes in
# ms, so several share a ts; bid and ask must come from the same (newest) row, never from two.
_NEWEST_QUOTE = "(ts_ns, coalesce(update_id, -1), ts_recv)"

SQL: dict[str, str] = {
    # where a replay of one book must start: its last snapshot, reset or checkpoint at or before $at
    "book_replay_start": f"""
        SELECT ts_recv AS start, action FROM {ALIAS}.book_deltas
        WHERE venue = $venue AND market = $market AND symbol = $symbol
          AND action IN ('snapshot', 'reset', 'checkpoint') AND ts_recv <= $at
        ORDER BY recv_seq DESC LIMIT 1""",
    "book_replay_rows": f"""
        SELECT instrument, action, ts_ns, epoch_us(ts_recv) * 1000 AS ts_recv_ns, seq, first_seq, prev_seq, sync,
               bid_prices, bid_qtys, ask_prices, ask_qtys
        FROM {ALIAS}.book_deltas
        WHERE venue = $venue AND market = $market AND symbol = $symbol AND ts_recv >= $start AND ts_recv <= $at
        ORDER BY recv_seq""",
    "ohlcv": _LATEST.format(order="ts_ns", inner=f"""
        SELECT {_BUCKET_TS},
               arg_min(price, ts_ns) AS open, max(price) AS high, min(price) AS low,
               arg_max(price, ts_ns) AS close, sum(qty) AS volume, sum(price * qty) AS quote_volume,
               sum(price * qty) / NULLIF(sum(qty), 0) AS vwap, count(*) AS trades,
               coalesce(sum(qty) FILTER (WHERE side = 'buy'), 0) AS buy_volume
        FROM (SELECT {_BUCKET}, ts_ns, price, qty, side FROM {ALIAS}.trades
              WHERE venue = $venue AND symbol = $symbol AND market = $market AND {_RANGE})
        GROUP BY bucket"""),
    "vwap": f"""
        SELECT sum(price * qty) / NULLIF(sum(qty), 0) AS vwap, coalesce(sum(qty), 0) AS volume,
               coalesce(sum(price * qty), 0) AS quote_volume, count(*) AS trades,
               min(ts) AS first_ts, max(ts) AS last_ts, count(DISTINCT venue) AS venues
        FROM {ALIAS}.trades
        WHERE symbol = $symbol AND market = $market AND {_VENUE_OPT} AND {_RANGE}""",
    "trade_flow": _LATEST.format(order="ts_ns", inner=f"""
        SELECT *, sum(delta) OVER (ORDER BY ts_ns ROWS UNBOUNDED PRECEDING) AS cvd FROM (
          SELECT {_BUCKET_TS},
                 coalesce(sum(qty) FILTER (WHERE side = 'buy'), 0) AS buy_volume,
                 coalesce(sum(qty) FILTER (WHERE side = 'sell'), 0) AS sell_volume,
                 coalesce(sum(qty) FILTER (WHERE side = 'buy'), 0)
                   - coalesce(sum(qty) FILTER (WHERE side = 'sell'), 0) AS delta,
                 coalesce(sum(price * qty) FILTER (WHERE side = 'buy'), 0) AS buy_notional,
                 coalesce(sum(price * qty) FILTER (WHERE side = 'sell'), 0) AS sell_notional,
                 count(*) FILTER (WHERE side = 'buy') AS buy_trades,
                 count(*) FILTER (WHERE side = 'sell') AS sell_trades
          FROM (SELECT {_BUCKET}, ts_ns, price, qty, side FROM {ALIAS}.trades
                WHERE symbol = $symbol AND market = $market AND {_VENUE_OPT} AND {_RANGE})
          GROUP BY bucket)"""),
    "funding_history": _LATEST.format(order="ts_ns, venue", inner=f"""
        SELECT {_BUCKET_TS}, venue,
               arg_max(rate, ts_ns) AS rate, arg_max(predicted_rate, ts_ns) AS predicted_rate,
               arg_max(next_funding_time, ts_ns) AS next_funding_time,
               arg_max(interval_hours, ts_ns) AS interval_hours, count(*) AS samples
        FROM (SELECT {_BUCKET}, ts_ns, venue, rate, predicted_rate, next_funding_time, interval_hours
              FROM {ALIAS}.funding_rates
              WHERE symbol = $symbol AND market = 'perp' AND {_VENUE_OPT} AND {_RANGE})
        GROUP BY bucket, venue"""),
    "oi_history": _LATEST.format(order="ts_ns, venue", inner=f"""
        SELECT {_BUCKET_TS}, venue,
               arg_max(oi_contracts, ts_ns) AS oi_contracts, arg_max(oi_base, ts_ns) AS oi_base,
               arg_max(oi_notional, ts_ns) AS oi_notional, count(*) AS samples
        FROM (SELECT {_BUCKET}, ts_ns, venue, oi_contracts, oi_base, oi_notional FROM {ALIAS}.open_interest
              WHERE symbol = $symbol AND market = 'perp' AND {_VENUE_OPT} AND {_RANGE})
        GROUP BY bucket, venue"""),
    "liquidations": _LATEST.format(order="ts_ns", inner=f"""
        SELECT ts, ts_ns, venue, market, symbol, side, price, qty, notional, source
        FROM {ALIAS}.liquidations
        WHERE ($symbol IS NULL OR symbol = $symbol) AND {_VENUE_OPT} AND {_RANGE}
          AND notional >= $min_notional"""),
    "book_snapshots": _LATEST.format(order="ts_ns", inner=f"""
        SELECT ts, ts_ns, ts_recv, venue, market, symbol,
               bid_prices[1:$depth] AS bid_prices, bid_qtys[1:$depth] AS bid_qtys,
               ask_prices[1:$depth] AS ask_prices, ask_qtys[1:$depth] AS ask_qtys, seq, source
        FROM {ALIAS}.book_snapshots
        WHERE venue = $venue AND symbol = $symbol AND market = $market AND {_RANGE}"""),
    "latest_bbo": f"""
        SELECT *, (bid_price + ask_price) / 2 AS mid,
               (ask_price - bid_price) / NULLIF((bid_price + ask_price) / 2, 0) * 1e4 AS spread_bps
        FROM (SELECT venue, market, symbol, max(ts) AS ts, max(ts_ns) AS ts_ns,
                     arg_max(bid_price, {_NEWEST_QUOTE}) AS bid_price, arg_max(bid_qty, {_NEWEST_QUOTE}) AS bid_qty,
                     arg_max(ask_price, {_NEWEST_QUOTE}) AS ask_price, arg_max(ask_qty, {_NEWEST_QUOTE}) AS ask_qty
              FROM {ALIAS}.bbo
              WHERE symbol = $symbol AND market = $market AND ts >= $start
              GROUP BY venue, market, symbol)
        ORDER BY venue""",
    "table_counts": " UNION ALL ".join(
        f"SELECT '{name}' AS table_name, count(*) AS rows, min(ts) AS first_ts, max(ts) AS last_ts "
        f"FROM {ALIAS}.{name}"
        for name in TABLES
    ),
    "table_files": f"""
        SELECT table_name, file_count AS files, file_size_bytes AS bytes,
               delete_file_count AS delete_files, delete_file_size_bytes AS delete_bytes
        FROM ducklake_table_info('{ALIAS}')""",
    "snapshots": f"SELECT count(*) AS snapshots, max(snapshot_id) AS current FROM ducklake_snapshots('{ALIAS}')",
}


def to_utc_naive(t: TimeLike, default: datetime) -> datetime:
    """``datetime`` (aware or naive-UTC) or int ns -> naive UTC ``datetime`` for binding."""
    if t is None:
        return default
    if isinstance(t, datetime):
        return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t
    if isinstance(t, int) and not isinstance(t, bool):
        return datetime(1970, 1, 1) + timedelta(microseconds=t // 1000)
    raise QueryError(f"time {t!r} not understood: give a datetime or int nanoseconds since the epoch")


def _range(start: TimeLike, end: TimeLike) -> dict[str, datetime]:
    s, e = to_utc_naive(start, _MIN_TS), to_utc_naive(end, _MAX_TS)
    if s >= e:
        raise QueryError(f"empty time range: start {s.isoformat()} is not before end {e.isoformat()}")
    return {"start": s, "end": e}


def _step(interval: str) -> int:
    if interval not in INTERVALS:
        raise QueryError(f"unknown interval {interval!r}; intervals are: {', '.join(INTERVALS)}")
    return INTERVALS[interval]


def _limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    return limit


def _venue_opt(venue: str | None) -> str | None:
    return None if venue is None else check_venue(venue)


def run_named(lake: Lake, name: str, params: dict[str, Any]) -> list[Row]:
    """Run one query from ``SQL`` on a fresh cursor and return rows as dicts."""
    sql = SQL[name]
    with lake.cursor() as cur:
        try:
            cur.execute(sql, params)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        except duckdb.Error as exc:
            raise StoreError(f"query {name} failed: {exc}") from exc


def ohlcv(
    lake: Lake, venue: str, symbol: str, market: str = "perp", interval: str = "1m",
    start: TimeLike = None, end: TimeLike = None, limit: int = 1000,
) -> list[Row]:
    """OHLCV bars from trades: ts, ts_ns, open, high, low, close, volume, quote_volume, vwap,
    trades, buy_volume. Buckets without trades are absent (no invented bars)."""
    return run_named(lake, "ohlcv", {
        "venue": check_venue(venue), "symbol": check_symbol(symbol), "market": check_market(market),
        "step": _step(interval), "limit": _limit(limit), **_range(start, end)})


def vwap(
    lake: Lake, symbol: str, start: TimeLike = None, end: TimeLike = None,
    venue: str | None = None, market: str = "perp",
) -> Row:
    """Volume-weighted average price over a range, one venue or all (``venue=None``):
    vwap (None without trades), volume, quote_volume, trades, first_ts, last_ts, venues."""
    rows = run_named(lake, "vwap", {
        "symbol": check_symbol(symbol), "market": check_market(market), "venue": _venue_opt(venue),
        **_range(start, end)})
    return rows[0]


def trade_flow(
    lake: Lake, symbol: str, interval: str = "1m", start: TimeLike = None, end: TimeLike = None,
    venue: str | None = None, market: str = "perp", limit: int = 1000,
) -> list[Row]:
    """Aggressor flow per bucket: buy/sell volume and notional, trade counts, delta (buy - sell)
    and cvd (running delta from the first bucket of the range, before ``limit`` is applied)."""
    return run_named(lake, "trade_flow", {
        "symbol": check_symbol(symbol), "market": check_market(market), "venue": _venue_opt(venue),
        "step": _step(interval), "limit": _limit(limit), **_range(start, end)})


def funding_history(
    lake: Lake, symbol: str, venue: str | None = None, start: TimeLike = None, end: TimeLike = None,
    interval: str = "1h", limit: int = 1000,
) -> list[Row]:
    """Funding per venue and bucket (latest value in each): rate, predicted_rate,
    next_funding_time, interval_hours, samples. Perps only."""
    return run_named(lake, "funding_history", {
        "symbol": check_symbol(symbol), "venue": _venue_opt(venue), "step": _step(interval),
        "limit": _limit(limit), **_range(start, end)})


def oi_history(
    lake: Lake, symbol: str, venue: str | None = None, start: TimeLike = None, end: TimeLike = None,
    interval: str = "5m", limit: int = 1000,
) -> list[Row]:
    """Open interest per venue and bucket (latest value in each): oi_contracts, oi_base,
    oi_notional, samples. Perps only."""
    return run_named(lake, "oi_history", {
        "symbol": check_symbol(symbol), "venue": _venue_opt(venue), "step": _step(interval),
        "limit": _limit(limit), **_range(start, end)})


def liquidations(
    lake: Lake, symbol: str | None = None, venue: str | None = None, start: TimeLike = None,
    end: TimeLike = None, min_notional: float = 0.0, limit: int = 1000,
) -> list[Row]:
    """Liquidation events (side = liquidated position: long/short), newest ``limit`` in range."""
    return run_named(lake, "liquidations", {
        "symbol": None if symbol is None else check_symbol(symbol), "venue": _venue_opt(venue),
        "min_notional": float(min_notional), "limit": _limit(limit), **_range(start, end)})


def book_snapshots(
    lake: Lake, venue: str, symbol: str, market: str = "perp", start: TimeLike = None,
    end: TimeLike = None, depth: int = 10, limit: int = 100,
) -> list[Row]:
    """Stored top-of-book snapshots, lists cut to ``depth`` levels (best first)."""
    if not isinstance(depth, int) or not 1 <= depth <= 1000:
        raise QueryError(f"depth must be an integer from 1 to 1000, got {depth!r}")
    return run_named(lake, "book_snapshots", {
        "venue": check_venue(venue), "symbol": check_symbol(symbol), "market": check_market(market),
        "depth": depth, "limit": _limit(limit), **_range(start, end)})


def book_at(lake: Lake, venue: str, symbol: str, at: TimeLike, market: str = "perp",
            lookback_s: float = 60.0) -> ReplayedBook:
    """The full book of (venue, market, symbol) as the collector held it at receive time ``at``,
    rebuilt from ``book_deltas`` (collected with ``store_book_deltas``).

    Replays from the book's last checkpoint (the collector's whole book, written every
    ``book_checkpoint_interval_s``), snapshot or reset at or before ``at``; from a snapshot or reset
    it starts ``lookback_s`` earlier so diffs buffered while a REST snapshot was on its way bridge
    it as they did live.
    ``ts_recv`` is stored in microseconds: rows of the same microsecond as ``at`` count as before it."""
    params = {"venue": check_venue(venue), "symbol": check_symbol(symbol), "market": check_market(market),
              "at": to_utc_naive(at, _MAX_TS)}
    found = run_named(lake, "book_replay_start", params)
    if not found:
        return ReplayedBook(None, 0, None, None)
    start = found[0]["start"]
    if found[0]["action"] != "checkpoint":  # a checkpoint is the whole synced book: nothing before it matters
        start -= timedelta(seconds=lookback_s)
    rows = run_named(lake, "book_replay_rows", {**params, "start": start})
    return replay_rows(params["venue"], params["market"], params["symbol"], rows)


def latest_bbo(lake: Lake, symbol: str, market: str = "perp", since: TimeLike = None) -> list[Row]:
    """Latest stored best bid/ask per venue (with mid and spread_bps). Pass ``since`` (e.g. now -
    5 min) so the scan touches only recent files and stale venues drop out."""
    return run_named(lake, "latest_bbo", {
        "symbol": check_symbol(symbol), "market": check_market(market),
        "start": to_utc_naive(since, _MIN_TS)})


def _dir_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_size
            except OSError:
                continue  # removed by a concurrent cleanup
    return total


def db_stats(lake: Lake) -> dict[str, Any]:
    """Tables with row counts, time ranges, Parquet files and bytes; snapshot count; bytes on
    disk of the catalog and data path (when local)."""
    counts = run_named(lake, "table_counts", {})
    files = {r["table_name"]: r for r in run_named(lake, "table_files", {})}
    snaps = run_named(lake, "snapshots", {})[0]
    tables = []
    for r in counts:
        f = files.get(r["table_name"], {})
        tables.append({**r, "files": f.get("files", 0), "bytes": f.get("bytes", 0),
                       "delete_files": f.get("delete_files", 0)})
    out: dict[str, Any] = {
        "catalog": lake.catalog.url,
        "data_path": lake.data_path,
        "tables": tables,
        "total_rows": sum(t["rows"] for t in tables),
        "total_parquet_bytes": sum(t["bytes"] or 0 for t in tables),
        "snapshots": snaps["snapshots"],
        "current_snapshot": snaps["current"],
    }
    if lake.catalog.is_local_file:
        cat = Path(lake.catalog.target)
        out["catalog_bytes"] = sum(p.stat().st_size for p in (cat, cat.with_name(cat.name + "-wal")) if p.exists())
    data = Path(lake.data_path) if lake.data_path and "://" not in lake.data_path else lake.data_dir / "lake"
    if data.is_dir():
        out["data_bytes_on_disk"] = _dir_bytes(data)
    return out


__all__ = [
    "INTERVALS", "MAX_LIMIT", "SQL", "Row", "SqlResult", "TimeLike", "book_snapshots", "db_stats",
    "funding_history", "latest_bbo", "liquidations", "ohlcv", "oi_history", "run_named",
    "run_readonly_sql", "to_utc_naive", "trade_flow", "vwap",
]
