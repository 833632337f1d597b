"""Loading what analytics needs from the lake, as numpy arrays (the one module that runs SQL here).

Why numpy and not ``list[dict]``: a day of one symbol on one venue is >= 1M trades; row dicts
would cost seconds, DuckDB's ``fetchnumpy`` costs tens of milliseconds. Every query is
parameterized (``$name``); venue/market/symbol are checked against the store's allowlists, tables
are fixed strings here. Times: ``start``/``end`` are ``datetime`` (naive = UTC) or int ns;
the range is half-open ``[start, end)``; ``ts`` (TIMESTAMP) is filtered so DuckLake prunes day
partitions, and exact int-ns times come back as ``ts_ns``.

Row caps (``max_rows``) keep the most recent rows; ``truncated`` says when that happened.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import duckdb
import numpy as np

from cryptoflow.analytics.frames import Bars, Books, Liquidations, Quotes, Trades, VenueSeries
from cryptoflow.errors import QueryError, StoreError
from cryptoflow.store.lake import Lake
from cryptoflow.store.queries import TimeLike, to_utc_naive
from cryptoflow.store.schema import ALIAS
from cryptoflow.store.views import check_market, check_symbol, check_venue

#: Default cap on rows loaded by one call (most recent kept): ~3 days of a busy perp's trades.
MAX_ROWS = 5_000_000
_MIN_TS = datetime(1970, 1, 1)
_MAX_TS = datetime(2262, 1, 1)
_MAX_NS = 2**63 - 1
_RANGE = "ts >= $start AND ts < $end AND ts_ns >= $start_ns AND ts_ns < $end_ns"
_BOOK = "venue = $venue AND symbol = $symbol AND market = $market"

SeriesKind = Literal["price", "volume", "trade_count", "delta", "spread_bps", "funding", "open_interest",
                     "liquidations"]
#: What each series is, for tool descriptions and explanations.
SERIES_KINDS: dict[str, str] = {
    "price": "last trade price per bucket",
    "volume": "traded base quantity per bucket",
    "trade_count": "number of trades per bucket",
    "delta": "aggressive buy minus sell quantity per bucket",
    "spread_bps": "mean quoted spread (ask - bid) / mid in bps per bucket",
    "funding": "latest funding rate per bucket (fraction per interval)",
    "open_interest": "latest open interest (base units) per bucket",
    "liquidations": "liquidated notional per bucket (buckets without liquidations are 0)",
}

#: The table each series is computed from (for ``resolve_window``).
SERIES_TABLES: dict[str, str] = {
    "price": "trades", "volume": "trades", "trade_count": "trades", "delta": "trades", "spread_bps": "bbo",
    "funding": "funding_rates", "open_interest": "open_interest", "liquidations": "liquidations",
}


def bounds(start: TimeLike, end: TimeLike) -> dict[str, Any]:
    """Half-open ``[start, end)`` for binding: exact int ns (``ts_ns`` filter) plus the enclosing
    microsecond ``TIMESTAMP`` range (``ts`` filter, which lets DuckLake prune day partitions).
    The newest row of a window ending at ``newest + 1 ns`` must not fall to microsecond rounding."""
    s_ns = 0 if start is None else _to_ns(start)
    e_ns = _MAX_NS if end is None else _to_ns(end)
    if s_ns >= e_ns:
        raise QueryError(f"empty time range: start {s_ns} ns is not before end {e_ns} ns")
    return {"start": to_utc_naive(s_ns, _MIN_TS), "end": to_utc_naive(-(-e_ns // 1000) * 1000, _MAX_TS)
            if end is not None else _MAX_TS, "start_ns": s_ns, "end_ns": e_ns}


def _fetch(lake: Lake, sql: str, params: dict[str, Any]) -> dict[str, np.ndarray]:
    with lake.cursor() as cur:
        try:
            out = cur.execute(sql, params).fetchnumpy()
        except duckdb.Error as exc:
            raise StoreError(f"analytics query failed: {exc}") from exc
    return {k: _unmask(v) for k, v in out.items()}


def _unmask(v: Any) -> np.ndarray:
    """NULLs -> NaN (numbers; integers become float), False (booleans), None (anything else)."""
    if not np.ma.isMaskedArray(v):
        return np.asarray(v)
    kind = v.dtype.kind
    if kind in "iuf":
        return v.astype(float).filled(np.nan)
    if kind == "b":
        return v.filled(False)
    return v.astype(object).filled(None)


def _book_params(venue: str, symbol: str, market: str, start: TimeLike, end: TimeLike) -> dict[str, Any]:
    return {"venue": check_venue(venue), "symbol": check_symbol(symbol), "market": check_market(market),
            **bounds(start, end)}


def _latest_first(sql_inner: str) -> str:
    """Most recent ``$limit`` rows, returned ascending."""
    return f"SELECT * FROM ({sql_inner} ORDER BY ts_ns DESC LIMIT $limit) ORDER BY ts_ns"


def _count(lake: Lake, table: str, where: str, params: dict[str, Any]) -> int:
    d = _fetch(lake, f"SELECT count(*) AS n FROM {ALIAS}.{table} WHERE {where}", params)
    return int(d["n"][0])


def _rows(lake: Lake, table: str, cols: str, where: str, params: dict[str, Any], max_rows: int
          ) -> tuple[dict[str, np.ndarray], bool]:
    """Rows in time order; above ``max_rows`` only the most recent (a top-N sort, slower).

    Without ``ORDER BY`` DuckDB returns rows in insertion order, which for a collector's lake is
    time order already; checking that and sorting in numpy only when needed was ~1.5x faster
    than sorting in SQL on a day of trades."""
    n = _count(lake, table, where, params)
    if n <= max_rows:
        d = _fetch(lake, f"SELECT {cols} FROM {ALIAS}.{table} WHERE {where}", params)
        t = d["ts_ns"]
        if len(t) > 1 and not bool(np.all(t[1:] >= t[:-1])):
            order = np.argsort(t, kind="stable")
            d = {k: v[order] for k, v in d.items()}
        return d, False
    sql = _latest_first(f"SELECT {cols} FROM {ALIAS}.{table} WHERE {where}")
    return _fetch(lake, sql, {**params, "limit": max_rows}), True


def load_trades(lake: Lake, venue: str, symbol: str, market: str = "perp", start: TimeLike = None,
                end: TimeLike = None, max_rows: int = MAX_ROWS) -> Trades:
    """Trades of one book: ts_ns, price, qty (base), sign (+1 buy aggressor / -1 sell)."""
    d, cut = _rows(lake, "trades", "ts_ns, price, qty, CAST(CASE side WHEN 'buy' THEN 1 WHEN 'sell' THEN -1 "
                   "ELSE 0 END AS TINYINT) AS sign", f"{_BOOK} AND {_RANGE}",
                   _book_params(venue, symbol, market, start, end), max_rows)
    return Trades(d["ts_ns"].astype(np.int64), d["price"].astype(float), d["qty"].astype(float),
                  d["sign"].astype(np.int8), truncated=cut)


def load_quotes(lake: Lake, venue: str, symbol: str, market: str = "perp", start: TimeLike = None,
                end: TimeLike = None, max_rows: int = MAX_ROWS) -> Quotes:
    """Best bid/ask updates of one book."""
    d, cut = _rows(lake, "bbo", "ts_ns, bid_price, ask_price, bid_qty, ask_qty", f"{_BOOK} AND {_RANGE}",
                   _book_params(venue, symbol, market, start, end), max_rows)
    return Quotes(d["ts_ns"].astype(np.int64), d["bid_price"], d["ask_price"], d["bid_qty"], d["ask_qty"],
                  truncated=cut)


def load_mids(lake: Lake, venues: list[str], symbol: str, market: str = "perp", start: TimeLike = None,
              end: TimeLike = None, step_ns: int = 50_000_000) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Last mid per venue in each ``step_ns`` bucket: ``{venue: (bucket_end_ns, mid)}``.

    The bucket's last quote is stamped at the bucket's *end*, so "the mid at grid time t" is the
    last quote before t for every venue alike (what lead-lag on a common grid needs). Bucketing
    runs in numpy on the time-ordered quotes: a GROUP BY over ~1M tiny groups was 5x slower.
    """
    if step_ns < 1_000_000:
        raise QueryError(f"grid step must be at least 1 ms, got {step_ns} ns")
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for v in dict.fromkeys(check_venue(x) for x in venues):
        d = _fetch(lake, f"SELECT ts_ns, (bid_price + ask_price) / 2 AS mid FROM {ALIAS}.bbo WHERE {_BOOK} "
                         f"AND {_RANGE} ORDER BY ts_ns", _book_params(v, symbol, market, start, end))
        t, mid = d["ts_ns"].astype(np.int64), d["mid"].astype(float)
        if not len(t):
            continue
        b = (t // step_ns + 1) * step_ns
        last = np.flatnonzero(np.concatenate([b[1:] != b[:-1], [True]]))
        out[v] = (b[last], mid[last])
    return out


def _list_matrix(col: Any, n: int, depth: int) -> np.ndarray:
    """An Arrow list column -> (n, depth) float matrix, NaN-padded (vectorised, no Python loop)."""
    import pyarrow as pa

    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    mat = np.full((n, depth), np.nan)
    if n == 0:
        return mat
    offs = arr.offsets.to_numpy()
    offs = offs - offs[0]
    vals = arr.values.slice(int(arr.offsets[0].as_py()), int(offs[-1])).to_numpy(zero_copy_only=False)
    lens = np.minimum(np.diff(offs), depth)
    rows = np.repeat(np.arange(n), lens)
    starts = np.repeat(offs[:-1], lens)
    pos = np.arange(len(rows)) - np.repeat(np.cumsum(lens) - lens, lens)
    mat[rows, pos] = vals[starts + pos]
    return mat


def load_books(lake: Lake, venue: str, symbol: str, market: str = "perp", start: TimeLike = None,
               end: TimeLike = None, depth: int = 20, max_rows: int = 100_000) -> Books:
    """Stored book snapshots cut to ``depth`` levels, as NaN-padded (n, depth) matrices."""
    if not 1 <= depth <= 1000:
        raise QueryError(f"depth must be from 1 to 1000, got {depth}")
    # Whole lists come back and are cut to ``depth`` in numpy: slicing in SQL was slower.
    sql = _latest_first(f"""SELECT ts_ns, bid_prices AS bp, bid_qtys AS bq, ask_prices AS ap, ask_qtys AS aq
        FROM {ALIAS}.book_snapshots WHERE {_BOOK} AND {_RANGE}""")
    params = {**_book_params(venue, symbol, market, start, end), "limit": max_rows + 1}
    with lake.cursor() as cur:
        try:
            tbl = cur.execute(sql, params).to_arrow_table()
        except duckdb.Error as exc:
            raise StoreError(f"analytics query failed: {exc}") from exc
    cut = tbl.num_rows > max_rows
    if cut:
        tbl = tbl.slice(1)
    n = tbl.num_rows
    ts = tbl.column("ts_ns").to_numpy().astype(np.int64)
    mats = [_list_matrix(tbl.column(c), n, depth) for c in ("bp", "bq", "ap", "aq")]
    return Books(ts, mats[0], mats[1], mats[2], mats[3], truncated=cut)


def load_funding(lake: Lake, symbol: str, venues: list[str] | None = None, start: TimeLike = None,
                 end: TimeLike = None, step_ns: int = 60_000_000_000) -> VenueSeries:
    """Latest funding rate per venue per ``step_ns`` bucket, normalised to an 8-hour rate.

    ``extra[venue]["interval_hours"]`` keeps the venue's interval; rates are fraction per 8 h
    (``rate * 8 / interval_hours``) so venues with 1 h and 8 h funding compare directly.
    """
    sql = f"""SELECT venue, (ts_ns // $step) * $step AS t, arg_max(rate, ts_ns) AS rate,
        arg_max(coalesce(interval_hours, 8.0), ts_ns) AS ih
        FROM {ALIAS}.funding_rates WHERE symbol = $symbol AND market = 'perp'
          AND ($venues IS NULL OR list_contains($venues, venue)) AND {_RANGE}
        GROUP BY venue, t ORDER BY venue, t"""
    d = _fetch(lake, sql, {"symbol": check_symbol(symbol), "step": int(step_ns),
                           "venues": None if venues is None else [check_venue(v) for v in venues],
                           **bounds(start, end)})
    by, extra = {}, {}
    for v in dict.fromkeys(d["venue"].tolist()):
        m = d["venue"] == v
        ih = d["ih"][m].astype(float)
        by[v] = (d["t"][m].astype(np.int64), d["rate"][m].astype(float) * 8.0 / np.where(ih > 0, ih, 8.0))
        extra[v] = {"interval_hours": ih}
    return VenueSeries(by, extra)


def load_open_interest(lake: Lake, symbol: str, venues: list[str] | None = None, start: TimeLike = None,
                       end: TimeLike = None, step_ns: int = 60_000_000_000) -> VenueSeries:
    """Latest open interest per venue per bucket: values in base units, ``extra[v]["notional"]``."""
    sql = f"""SELECT venue, (ts_ns // $step) * $step AS t, arg_max(oi_base, ts_ns) AS oi,
        arg_max(oi_notional, ts_ns) AS notional
        FROM {ALIAS}.open_interest WHERE symbol = $symbol AND market = 'perp'
          AND ($venues IS NULL OR list_contains($venues, venue)) AND {_RANGE}
        GROUP BY venue, t ORDER BY venue, t"""
    d = _fetch(lake, sql, {"symbol": check_symbol(symbol), "step": int(step_ns),
                           "venues": None if venues is None else [check_venue(v) for v in venues],
                           **bounds(start, end)})
    by, extra = {}, {}
    for v in dict.fromkeys(d["venue"].tolist()):
        m = d["venue"] == v
        by[v] = (d["t"][m].astype(np.int64), d["oi"][m].astype(float))
        extra[v] = {"notional": d["notional"][m].astype(float)}
    return VenueSeries(by, extra)


def load_liquidations(lake: Lake, symbol: str, venues: list[str] | None = None, start: TimeLike = None,
                      end: TimeLike = None, max_rows: int = 1_000_000) -> Liquidations:
    """Liquidations of a symbol (perps), all venues or some."""
    sql = _latest_first(f"""SELECT ts_ns, venue, side = 'long' AS is_long, price, qty, notional
        FROM {ALIAS}.liquidations WHERE symbol = $symbol
          AND ($venues IS NULL OR list_contains($venues, venue)) AND {_RANGE}""")
    d = _fetch(lake, sql, {"symbol": check_symbol(symbol), "limit": max_rows,
                           "venues": None if venues is None else [check_venue(v) for v in venues],
                           **bounds(start, end)})
    return Liquidations(d["ts_ns"].astype(np.int64), d["venue"].astype(str), d["is_long"].astype(bool),
                        d["price"].astype(float), d["qty"].astype(float), d["notional"].astype(float))


def load_bars(lake: Lake, venue: str, symbol: str, market: str = "perp", start: TimeLike = None,
              end: TimeLike = None, step_ns: int = 60_000_000_000, max_bars: int = 200_000) -> Bars:
    """OHLCV bars of any width (>= 1 ms) from trades, most recent ``max_bars``."""
    if step_ns < 1_000_000:
        raise QueryError(f"bar width must be at least 1 ms, got {step_ns} ns")
    sql = f"""SELECT * FROM (SELECT (ts_ns // $step) * $step AS t, arg_min(price, ts_ns) AS o, max(price) AS h,
        min(price) AS l, arg_max(price, ts_ns) AS c, sum(qty) AS v,
        coalesce(sum(qty) FILTER (WHERE side = 'buy'), 0) AS bv
        FROM {ALIAS}.trades WHERE {_BOOK} AND {_RANGE} GROUP BY t ORDER BY t DESC LIMIT $limit) ORDER BY t"""
    d = _fetch(lake, sql, {**_book_params(venue, symbol, market, start, end), "step": int(step_ns),
                           "limit": max_bars})
    return Bars(d["t"].astype(np.int64), *(d[k].astype(float) for k in ("o", "h", "l", "c", "v", "bv")))


def venues_with(lake: Lake, table: str, symbol: str, market: str | None = None, start: TimeLike = None,
                end: TimeLike = None) -> list[str]:
    """Venues that stored rows of ``table`` for the symbol in the range (sorted)."""
    if table not in _LATEST_TABLES:
        raise QueryError(f"unknown table {table!r}")
    sql = (f"SELECT DISTINCT venue FROM {ALIAS}.{table} WHERE symbol = $symbol "
           f"AND ($market IS NULL OR market = $market) AND {_RANGE} ORDER BY venue")
    d = _fetch(lake, sql, {"symbol": check_symbol(symbol), "market": None if market is None else check_market(market),
                           **bounds(start, end)})
    return [str(v) for v in d["venue"].tolist()]


_SERIES_SQL: dict[str, str] = {
    "price": f"SELECT (ts_ns // $step) * $step AS t, arg_max(price, ts_ns) AS v FROM {ALIAS}.trades "
             f"WHERE {_BOOK} AND {_RANGE} GROUP BY t",
    "volume": f"SELECT (ts_ns // $step) * $step AS t, sum(qty) AS v FROM {ALIAS}.trades "
              f"WHERE {_BOOK} AND {_RANGE} GROUP BY t",
    "trade_count": f"SELECT (ts_ns // $step) * $step AS t, count(*)::DOUBLE AS v FROM {ALIAS}.trades "
                   f"WHERE {_BOOK} AND {_RANGE} GROUP BY t",
    "delta": f"SELECT (ts_ns // $step) * $step AS t, sum(CASE side WHEN 'buy' THEN qty WHEN 'sell' THEN -qty "
             f"ELSE 0 END) AS v FROM {ALIAS}.trades WHERE {_BOOK} AND {_RANGE} GROUP BY t",
    "spread_bps": f"SELECT (ts_ns // $step) * $step AS t, avg((ask_price - bid_price) / "
                  f"nullif((ask_price + bid_price) / 2, 0)) * 1e4 AS v FROM {ALIAS}.bbo "
                  f"WHERE {_BOOK} AND {_RANGE} GROUP BY t",
    "funding": f"SELECT (ts_ns // $step) * $step AS t, arg_max(rate, ts_ns) AS v FROM {ALIAS}.funding_rates "
               f"WHERE {_BOOK} AND {_RANGE} GROUP BY t",
    "open_interest": f"SELECT (ts_ns // $step) * $step AS t, arg_max(oi_base, ts_ns) AS v "
                     f"FROM {ALIAS}.open_interest WHERE {_BOOK} AND {_RANGE} GROUP BY t",
    "liquidations": f"SELECT (ts_ns // $step) * $step AS t, sum(notional) AS v FROM {ALIAS}.liquidations "
                    f"WHERE {_BOOK} AND {_RANGE} GROUP BY t",
}


def load_series(lake: Lake, kind: str, venue: str, symbol: str, market: str = "perp", start: TimeLike = None,
                end: TimeLike = None, step_ns: int = 60_000_000_000,
                max_points: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """One stored series bucketed by ``step_ns``: (bucket_start_ns, value), time order.

    Buckets without data are absent, except ``liquidations``, ``volume``, ``trade_count`` and
    ``delta``, where an empty bucket truly is 0 and is filled in (between the first and last bucket).
    """
    if kind not in _SERIES_SQL:
        raise QueryError(f"unknown series {kind!r}; series are: {', '.join(_SERIES_SQL)}")
    if step_ns < 1_000_000:
        raise QueryError(f"bucket must be at least 1 ms, got {step_ns} ns")
    sql = f"SELECT * FROM ({_SERIES_SQL[kind]} ORDER BY t DESC LIMIT $limit) ORDER BY t"
    d = _fetch(lake, sql, {**_book_params(venue, symbol, market, start, end), "step": int(step_ns),
                           "limit": max_points})
    t, v = d["t"].astype(np.int64), d["v"].astype(float)
    if kind in ("liquidations", "volume", "trade_count", "delta") and len(t) > 1:
        full = np.arange(t[0], t[-1] + 1, step_ns, dtype=np.int64)
        vals = np.zeros(len(full))
        vals[(t - t[0]) // step_ns] = v
        t, v = full, vals
    return t, v


_LATEST_TABLES = {"trades", "bbo", "book_snapshots", "funding_rates", "open_interest", "liquidations",
                  "mark_prices"}


def latest_ts(lake: Lake, table: str, symbol: str, venue: str | None = None, market: str | None = None) -> int | None:
    """Newest ``ts_ns`` stored for a symbol (optionally one venue/market), or None.

    Why: "the last hour" should mean the last hour of *stored* data, so a store filled yesterday
    (or by the simulator at a fixed date) still answers instead of returning nothing.
    """
    if table not in _LATEST_TABLES:
        raise QueryError(f"unknown table {table!r}")
    sql = (f"SELECT max(ts_ns) AS t FROM {ALIAS}.{table} WHERE symbol = $symbol "
           "AND ($venue IS NULL OR venue = $venue) AND ($market IS NULL OR market = $market)")
    d = _fetch(lake, sql, {"symbol": check_symbol(symbol), "venue": None if venue is None else check_venue(venue),
                           "market": None if market is None else check_market(market)})
    t = d["t"]
    return None if len(t) == 0 or not np.isfinite(t[0]) else int(t[0])


def resolve_window(lake: Lake, table: str, symbol: str, venue: str | None, market: str | None,
                   start: TimeLike, end: TimeLike, lookback_s: float) -> tuple[int, int]:
    """(start_ns, end_ns) for a query: explicit bounds win; otherwise ``end`` = just after the newest
    stored row and ``start`` = ``end - lookback_s``. Raises ``QueryError`` when nothing is stored."""
    if end is None:
        newest = latest_ts(lake, table, symbol, venue, market)
        if newest is None:
            where = f"{venue or 'any venue'} {market or ''} {symbol}".replace("  ", " ")
            raise QueryError(f"no {table} stored for {where}: is the collector running for it?")
        end_ns = newest + 1
    else:
        end_ns = _to_ns(end)
    start_ns = _to_ns(start) if start is not None else end_ns - int(lookback_s * 1e9)
    if start_ns >= end_ns:
        raise QueryError("empty time range: start is not before end")
    return start_ns, end_ns


def _to_ns(t: TimeLike) -> int:
    if isinstance(t, int) and not isinstance(t, bool):
        return t
    td = to_utc_naive(t, _MIN_TS) - _MIN_TS
    return (td.days * 86_400 + td.seconds) * 1_000_000_000 + td.microseconds * 1000


__all__ = [
    "MAX_ROWS",
    "SERIES_KINDS",
    "SERIES_TABLES",
    "Bars",
    "Books",
    "Liquidations",
    "Quotes",
    "SeriesKind",
    "Trades",
    "VenueSeries",
    "bounds",
    "latest_ts",
    "load_bars",
    "load_books",
    "load_funding",
    "load_liquidations",
    "load_mids",
    "load_open_interest",
    "load_quotes",
    "load_series",
    "load_trades",
    "resolve_window",
    "venues_with",
]
