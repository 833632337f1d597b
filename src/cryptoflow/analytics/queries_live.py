"""Named, parameterized queries the MCP server needs beyond ``store.queries``.

Same rules as ``store/queries.py`` (and meant to move there whole): user values are bound as
``$name`` parameters, never formatted into SQL; table and column names come only from the
allowlists below; every row-returning query is bounded by a time range and a ``limit``.

Times: ``datetime`` values are naive UTC (what the lake's ``ts`` columns hold); ``ts_ns`` is the
exact exchange time in int ns. ``symbols`` / ``venues`` filters are lists or None (= all).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

from cryptoflow.errors import QueryError, StoreError
from cryptoflow.store.lake import Lake
from cryptoflow.store.schema import ALIAS

Row = dict[str, Any]

#: Tables whose latest row per (venue, market, symbol) answers a "now" question.
LATEST_TABLES = frozenset({"bbo", "book_snapshots", "funding_rates", "mark_prices", "open_interest", "tickers_24h"})
#: stream name in tools -> table; the order of ``TIEBREAK`` makes raw pages deterministic.
HISTORY_TABLES: dict[str, str] = {
    "trades": "trades", "funding": "funding_rates", "open_interest": "open_interest",
    "liquidations": "liquidations", "mark_prices": "mark_prices", "book_snapshots": "book_snapshots",
    "bbo": "bbo", "tickers": "tickers_24h", "candles": "candles",
}
_TIEBREAK = {"trades": "trade_id", "candles": "open_time"}
_FILTERS = """($symbols::VARCHAR[] IS NULL OR list_contains($symbols::VARCHAR[], symbol))
  AND ($venues::VARCHAR[] IS NULL OR list_contains($venues::VARCHAR[], venue))
  AND ($market::VARCHAR IS NULL OR market = $market::VARCHAR)"""
# Newest row first: exchange time, then the venue's sequence where the table has one, then arrival
# (venues stamp in ms, so rows share a ts). One key per table, always used whole: a "latest" (or a
# "first") is one row, never columns of several (separate ``arg_max(x, ts_ns)`` calls pick among ties
# independently, and skip a row whose x is NULL for an older row's x).
_NEWEST: dict[str, str] = {
    "bbo": "(ts_ns, coalesce(update_id, -1), ts_recv)",
    "book_snapshots": "(ts_ns, coalesce(seq, -1), ts_recv)",
}
_BY_TIME = "(ts_ns, ts_recv)"


def _newest(table: str) -> str:
    """The ordering key of ``table``'s rows, oldest to newest."""
    return _NEWEST.get(table, _BY_TIME)


def _one_row(agg: str, key: str, cols: dict[str, str] | tuple[str, ...]) -> str:
    """Select items ``expr AS name`` for every column of ``cols`` (name -> expression, or plain column
    names), all taken from the one row that ``agg`` (``arg_max`` / ``arg_min``) picks by ``key``."""
    named = cols if isinstance(cols, dict) else {c: c for c in cols}
    fields = ", ".join(f"'{n}': {e}" for n, e in named.items())
    row = f"{agg}({{{fields}}}, {key})"
    return ", ".join(f"{row}.{n} AS {n}" for n in named)


def _last(table: str, *cols: str) -> str:
    return _one_row("arg_max", _newest(table), cols)

#: Per stream: the select list of one aggregated bucket (grouped by bucket and venue[, side]).
_AGG: dict[str, tuple[str, str]] = {
    "trades": ("venue", """arg_min(price, ts_ns) AS open, max(price) AS high, min(price) AS low,
        arg_max(price, ts_ns) AS close, sum(qty) AS volume,
        coalesce(sum(qty) FILTER (WHERE side = 'buy'), 0) AS buy_volume,
        coalesce(sum(qty) FILTER (WHERE side = 'sell'), 0) AS sell_volume,
        sum(price * qty) / NULLIF(sum(qty), 0) AS vwap, count(*) AS trades"""),
    "funding": ("venue", _last("funding_rates", "rate", "predicted_rate", "interval_hours")
                + ", count(*) AS samples"),
    "open_interest": ("venue", _last("open_interest", "oi_base", "oi_notional", "oi_contracts")
                      + ", count(*) AS samples"),
    "liquidations": ("venue, side", "count(*) AS events, sum(qty) AS qty, sum(notional) AS notional"),
    "mark_prices": ("venue", _one_row("arg_max", _newest("mark_prices"), {
        "mark_price": "mark_price", "index_price": "index_price",
        "premium_bps": "(mark_price / NULLIF(index_price, 0) - 1) * 1e4"}) + ", count(*) AS samples"),
    "book_snapshots": ("venue", _one_row("arg_max", _newest("book_snapshots"), {
        "mid": "(bid_prices[1] + ask_prices[1]) / 2",
        "imbalance_10": """(coalesce(list_sum(bid_qtys[1:10]), 0) - coalesce(list_sum(ask_qtys[1:10]), 0))
          / NULLIF(coalesce(list_sum(bid_qtys[1:10]), 0) + coalesce(list_sum(ask_qtys[1:10]), 0), 0)"""})
        + """, avg((ask_prices[1] - bid_prices[1]) / NULLIF((bid_prices[1] + ask_prices[1]) / 2, 0) * 1e4)
          AS spread_bps, count(*) AS samples"""),
    "bbo": ("venue", _one_row("arg_max", _newest("bbo"), {"bid": "bid_price", "ask": "ask_price"})
            + """, avg((ask_price - bid_price) / NULLIF((bid_price + ask_price) / 2, 0) * 1e4) AS spread_bps,
        count(*) AS updates"""),
    "tickers": ("venue", _last("tickers_24h", "last", "volume", "quote_volume", "price_change_pct")
                + ", count(*) AS samples"),
}

SQL: dict[str, str] = {
    "recent_trades": f"""
        SELECT ts, ts_ns, venue, market, symbol, price, qty, side, trade_id FROM {ALIAS}.trades
        WHERE ts >= $since AND {_FILTERS} ORDER BY ts_ns DESC LIMIT $limit""",
    "trade_summary": f"""
        SELECT venue, count(*) AS trades,
               coalesce(sum(qty) FILTER (WHERE side = 'buy'), 0) AS buy_volume,
               coalesce(sum(qty) FILTER (WHERE side = 'sell'), 0) AS sell_volume,
               coalesce(sum(price * qty) FILTER (WHERE side = 'buy'), 0) AS buy_notional,
               coalesce(sum(price * qty) FILTER (WHERE side = 'sell'), 0) AS sell_notional,
               sum(price * qty) / NULLIF(sum(qty), 0) AS vwap, min(price) AS low, max(price) AS high,
               arg_min(price, {_BY_TIME}) AS first_price, arg_max(price, {_BY_TIME}) AS last_price,
               min(ts) AS first_ts, max(ts) AS last_ts
        FROM {ALIAS}.trades WHERE ts >= $start AND ts < $end AND {_FILTERS}
        GROUP BY venue ORDER BY venue""",
    "oi_first_since": f"""
        SELECT venue, {_one_row("arg_min", _newest("open_interest"), ("ts", "oi_base", "oi_notional", "oi_contracts"))}
        FROM {ALIAS}.open_interest WHERE ts >= $since AND {_FILTERS} GROUP BY venue""",
    "liquidation_events": f"""
        SELECT ts, ts_ns, venue, market, symbol, side, price, qty, notional FROM {ALIAS}.liquidations
        WHERE ts >= $start AND ts < $end AND notional >= $min_notional AND {_FILTERS}
        ORDER BY ts_ns DESC LIMIT $limit""",
    "liquidation_totals": f"""
        SELECT venue, side, count(*) AS events, sum(qty) AS qty, sum(notional) AS notional,
               max(notional) AS largest_notional
        FROM {ALIAS}.liquidations
        WHERE ts >= $start AND ts < $end AND notional >= $min_notional AND {_FILTERS}
        GROUP BY venue, side ORDER BY venue, side""",
    "price_bars": f"""
        SELECT * FROM (
          SELECT bucket AS ts_ns, make_timestamp(bucket // 1000) AS ts, arg_min(price, ts_ns) AS open,
                 max(price) AS high, min(price) AS low, arg_max(price, ts_ns) AS close, sum(qty) AS volume,
                 count(*) AS trades
          FROM (SELECT ts_ns // $step * $step AS bucket, ts_ns, price, qty FROM {ALIAS}.trades
                WHERE ts >= $start AND ts < $end AND {_FILTERS})
          GROUP BY bucket ORDER BY bucket DESC LIMIT $limit) ORDER BY ts_ns""",
    # the columns a concise bar needs and nothing more (every extra column is read for every row of the
    # range, all venues and symbols: ~20 % faster than store.queries.ohlcv over an interleaved day)
    "ohlcv_lean": f"""
        SELECT * FROM (
          SELECT ts_ns // $step * $step AS ts_ns, arg_min(price, ts_ns) AS open, max(price) AS high,
                 min(price) AS low, arg_max(price, ts_ns) AS close, sum(qty) AS volume
          FROM {ALIAS}.trades
          WHERE venue = $venue AND symbol = $symbol AND market = $market AND ts >= $start AND ts < $end
          GROUP BY 1 ORDER BY 1 DESC LIMIT $limit) ORDER BY ts_ns""",
    "coverage": " UNION ALL ".join(
        f"SELECT '{table}' AS table_name, venue, market, symbol, count(*) AS rows, min(ts) AS first_ts, "
        f"max(ts) AS last_ts FROM {ALIAS}.{table} WHERE ts >= $since GROUP BY ALL"
        for table in dict.fromkeys(HISTORY_TABLES.values())
    ) + " ORDER BY venue, market, symbol, table_name",
}


def _run(lake: Lake, name: str, sql: str, params: dict[str, Any]) -> list[Row]:
    with lake.cursor() as cur:
        try:
            cur.execute(sql, params)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        except duckdb.Error as exc:
            raise StoreError(f"query {name} failed: {exc}") from exc


def _filters(symbols: list[str] | None, venues: list[str] | None, market: str | None) -> dict[str, Any]:
    return {"symbols": symbols or None, "venues": venues or None, "market": market}


def latest(
    lake: Lake, table: str, since: datetime, *, symbols: list[str] | None = None,
    venues: list[str] | None = None, market: str | None = None,
) -> list[Row]:
    """The latest row per (venue, market, symbol) of ``table`` since ``since`` (all its columns)."""
    if table not in LATEST_TABLES:
        raise QueryError(f"no latest-row query for {table!r}; tables: {', '.join(sorted(LATEST_TABLES))}")
    # venues stamp in ms, so rows share a ts: the venue's sequence (if any), then arrival, decide the newest
    sql = (f"SELECT * FROM {ALIAS}.{table} WHERE ts >= $since AND {_FILTERS} "
           f"QUALIFY row_number() OVER (PARTITION BY venue, market, symbol ORDER BY {_newest(table)} DESC) = 1 "
           "ORDER BY symbol, venue, market")
    return _run(lake, f"latest_{table}", sql, {"since": since, **_filters(symbols, venues, market)})


def recent_trades(lake: Lake, symbol: str, since: datetime, *, venues: list[str] | None = None,
                  market: str | None = None, limit: int = 50) -> list[Row]:
    """Newest trades first, at most ``limit``."""
    return _run(lake, "recent_trades", SQL["recent_trades"],
                {"since": since, "limit": limit, **_filters([symbol], venues, market)})


def trade_summary(lake: Lake, symbol: str, start: datetime, end: datetime, *, venues: list[str] | None = None,
                  market: str | None = None) -> list[Row]:
    """Per venue: trade count, buy/sell volume and notional, vwap, low/high, first/last price."""
    return _run(lake, "trade_summary", SQL["trade_summary"],
                {"start": start, "end": end, **_filters([symbol], venues, market)})


def oi_first_since(lake: Lake, symbol: str, since: datetime, *, venues: list[str] | None = None) -> list[Row]:
    """Per venue, the first open-interest sample at or after ``since`` (the start of a change window)."""
    return _run(lake, "oi_first_since", SQL["oi_first_since"],
                {"since": since, **_filters([symbol], venues, "perp")})


def liquidation_events(lake: Lake, start: datetime, end: datetime, *, symbol: str | None = None,
                       venues: list[str] | None = None, min_notional: float = 0.0, limit: int = 50) -> list[Row]:
    return _run(lake, "liquidation_events", SQL["liquidation_events"], {
        "start": start, "end": end, "min_notional": min_notional, "limit": limit,
        **_filters([symbol] if symbol else None, venues, None)})


def liquidation_totals(lake: Lake, start: datetime, end: datetime, *, symbol: str | None = None,
                       venues: list[str] | None = None, min_notional: float = 0.0) -> list[Row]:
    return _run(lake, "liquidation_totals", SQL["liquidation_totals"], {
        "start": start, "end": end, "min_notional": min_notional,
        **_filters([symbol] if symbol else None, venues, None)})


def price_bars(lake: Lake, symbol: str, start: datetime, end: datetime, step_ns: int, *,
               venues: list[str] | None = None, market: str | None = "perp", limit: int = 10_000) -> list[Row]:
    """Trade bars of one symbol, one venue or pooled across venues (the newest ``limit``)."""
    return _run(lake, "price_bars", SQL["price_bars"], {
        "start": start, "end": end, "step": step_ns, "limit": limit, **_filters([symbol], venues, market)})


def ohlcv_lean(lake: Lake, venue: str, symbol: str, market: str, step_ns: int, start: datetime, end: datetime,
               limit: int) -> list[Row]:
    """The newest ``limit`` bars (ts_ns, open, high, low, close, volume) of one venue's trades."""
    return _run(lake, "ohlcv_lean", SQL["ohlcv_lean"], {"venue": venue, "symbol": symbol, "market": market,
                                                        "step": step_ns, "start": start, "end": end, "limit": limit})


def coverage(lake: Lake, since: datetime) -> list[Row]:
    """Per table, venue, market and symbol: rows, first and last time since ``since``."""
    return _run(lake, "coverage", SQL["coverage"], {"since": since})


def data_range(lake: Lake, stream: str, symbol: str | None, venues: list[str] | None,
               market: str | None) -> Row:
    """Rows and first/last time of a stream for a symbol (all time): for "no data in range" errors."""
    table = _history_table(stream)
    sql = f"SELECT count(*) AS rows, min(ts) AS first_ts, max(ts) AS last_ts FROM {ALIAS}.{table} WHERE {_FILTERS}"
    return _run(lake, "data_range", sql, _filters([symbol] if symbol else None, venues, market))[0]


def _history_table(stream: str) -> str:
    try:
        return HISTORY_TABLES[stream]
    except KeyError:
        raise QueryError(f"unknown stream {stream!r}; streams are: {', '.join(HISTORY_TABLES)}") from None


def history_raw(
    lake: Lake, stream: str, start: datetime, end: datetime, *, symbol: str | None, venues: list[str] | None,
    market: str | None, after_ns: int, skip: int, limit: int,
) -> list[Row]:
    """Stored rows in time order from ``after_ns`` (skipping the first ``skip`` rows at exactly that
    time, which an earlier page returned), at most ``limit``."""
    table = _history_table(stream)
    order = ", ".join(["ts_ns", "venue", "market", "symbol", _TIEBREAK.get(stream, "ts_recv")])
    sql = (f"SELECT * EXCLUDE (source) FROM {ALIAS}.{table} WHERE ts >= $start AND ts < $end "
           f"AND ts_ns >= $after AND {_FILTERS} ORDER BY {order} LIMIT $limit OFFSET $skip")
    return _run(lake, f"history_{stream}", sql, {
        "start": start, "end": end, "after": after_ns, "skip": skip, "limit": limit,
        **_filters([symbol] if symbol else None, venues, market)})


def history_agg(
    lake: Lake, stream: str, start: datetime, end: datetime, step_ns: int, *, symbol: str | None,
    venues: list[str] | None, market: str | None, after_ns: int, skip: int, limit: int,
) -> list[Row]:
    """Buckets of ``step_ns`` per venue (and side for liquidations), oldest first, paged like
    ``history_raw`` (``after_ns`` is a bucket start)."""
    if stream not in _AGG:
        raise QueryError(f"stream {stream!r} cannot be aggregated; aggregated streams: {', '.join(_AGG)}")
    keys, select = _AGG[stream]
    table = HISTORY_TABLES[stream]
    sql = f"""
        SELECT bucket AS ts_ns, make_timestamp(bucket // 1000) AS ts, {keys}, {select}
        FROM (SELECT *, ts_ns // $step * $step AS bucket FROM {ALIAS}.{table}
              WHERE ts >= $start AND ts < $end AND ts_ns >= $after AND {_FILTERS})
        GROUP BY bucket, {keys} ORDER BY bucket, {keys} LIMIT $limit OFFSET $skip"""
    return _run(lake, f"history_agg_{stream}", sql, {
        "start": start, "end": end, "step": step_ns, "after": after_ns, "skip": skip, "limit": limit,
        **_filters([symbol] if symbol else None, venues, market)})
