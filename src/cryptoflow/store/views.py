"""Compatibility views ``{symbol}_{exchange}_{market_type}_{stream}`` over the long tables.

The original design had one table per symbol/exchange/stream (``btcusdt_binance_futures_prices``);
queries written against those names keep working through these views, while the data lives in
one table per stream kind. Views are stored in the DuckLake catalog, so every reader (MCP
server, ``duckdb`` CLI) sees them. They reference tables unqualified, so they resolve whatever
name the lake is attached under.

Streams: ``prices`` (from bbo: bid, ask, mid, spread, spread_bps), ``orderbooks`` (wide top-10
columns ``bid_1_price, bid_1_qty, ... ask_10_qty`` plus ``total_bid_qty``, ``total_ask_qty`` and
``imbalance = (tb - ta) / (tb + ta)``, all over the top 10 levels), ``trades``, ``mark_prices``,
``funding_rates``, ``open_interest``, ``ticker_24h``, ``candles``, ``liquidations``. Spot markets
get only the streams spot has (prices, orderbooks, trades, ticker_24h, candles).

Identifiers and the literals baked into view SQL come only from the allowlists below and a
validated symbol pattern, never from raw input.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable

import duckdb

from cryptoflow.errors import QueryError, StoreError
from cryptoflow.store.lake import Lake, sql_literal
from cryptoflow.store.schema import ALIAS, MARKETS, TABLES, quote_ident

#: venue id -> exchange name used in view names.
EXCHANGES: dict[str, str] = {
    "binance_usdm": "binance",
    "binance_spot": "binance",
    "bybit": "bybit",
    "okx": "okx",
    "kraken_futures": "kraken",
    "gateio": "gate",
    "deribit": "deribit",
    "hyperliquid": "hyperliquid",
}
VENUE_IDS: tuple[str, ...] = tuple(EXCHANGES)
MARKET_TYPES: dict[str, str] = {"perp": "futures", "spot": "spot"}

#: view stream -> table it reads.
STREAM_TABLES: dict[str, str] = {
    "prices": "bbo",
    "orderbooks": "book_snapshots",
    "trades": "trades",
    "mark_prices": "mark_prices",
    "funding_rates": "funding_rates",
    "open_interest": "open_interest",
    "ticker_24h": "tickers_24h",
    "candles": "candles",
    "liquidations": "liquidations",
}
SPOT_STREAMS: tuple[str, ...] = ("prices", "orderbooks", "trades", "ticker_24h", "candles")
ORDERBOOK_LEVELS = 10
SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,32}$")

_KEYS = ("ts", "ts_ns", "ts_recv", "symbol")


def check_venue(venue: str) -> str:
    if venue not in EXCHANGES:
        raise QueryError(f"unknown venue {venue!r}; venues are: {', '.join(VENUE_IDS)}")
    return venue


def check_market(market: str) -> str:
    if market not in MARKETS:
        raise QueryError(f"unknown market {market!r}; markets are: {', '.join(MARKETS)}")
    return market


def check_symbol(symbol: str) -> str:
    """Canonical symbol (``BTCUSDT``): upper-case letters and digits only."""
    s = symbol.strip().upper()
    if not SYMBOL_RE.match(s):
        raise QueryError(f"symbol {symbol!r} is not canonical: use e.g. BTCUSDT (letters and digits)")
    return s


def streams_for(market: str) -> tuple[str, ...]:
    return SPOT_STREAMS if check_market(market) == "spot" else tuple(STREAM_TABLES)


def view_name(symbol: str, venue: str, market: str, stream: str) -> str:
    """``btcusdt_binance_futures_prices`` for (BTCUSDT, binance_usdm, perp, prices)."""
    if stream not in STREAM_TABLES:
        raise QueryError(f"unknown view stream {stream!r}; streams are: {', '.join(STREAM_TABLES)}")
    exchange = EXCHANGES[check_venue(venue)]
    return f"{check_symbol(symbol).lower()}_{exchange}_{MARKET_TYPES[check_market(market)]}_{stream}"


def _select_list(stream: str) -> str:
    if stream == "prices":
        return (
            "ts, ts_ns, ts_recv, symbol, bid_price AS bid, bid_qty, ask_price AS ask, ask_qty, "
            "(bid_price + ask_price) / 2 AS mid, ask_price - bid_price AS spread, "
            "(ask_price - bid_price) / NULLIF((bid_price + ask_price) / 2, 0) * 1e4 AS spread_bps, source"
        )
    if stream == "orderbooks":
        n = ORDERBOOK_LEVELS
        cols = ["ts", "ts_ns", "ts_recv", "symbol"]
        for side in ("bid", "ask"):
            for i in range(1, n + 1):
                cols.append(f"{side}_prices[{i}] AS {side}_{i}_price")
                cols.append(f"{side}_qtys[{i}] AS {side}_{i}_qty")
        tb = f"coalesce(list_sum(bid_qtys[1:{n}]), 0)"
        ta = f"coalesce(list_sum(ask_qtys[1:{n}]), 0)"
        cols += [f"{tb} AS total_bid_qty", f"{ta} AS total_ask_qty",
                 f"({tb} - {ta}) / NULLIF({tb} + {ta}, 0) AS imbalance", "seq", "source"]
        return ", ".join(cols)
    spec = TABLES[STREAM_TABLES[stream]]
    rest = [c for c in spec.column_names if c not in (*_KEYS, "venue", "market")]
    return ", ".join([*_KEYS, *(quote_ident(c) for c in rest)])


def view_sql(symbol: str, venue: str, market: str, stream: str) -> str:
    """``CREATE OR REPLACE VIEW`` statement for one compatibility view."""
    name = view_name(symbol, venue, market, stream)
    table = STREAM_TABLES[stream]
    where = (f"venue = {sql_literal(venue)} AND market = {sql_literal(market)} "
             f"AND symbol = {sql_literal(check_symbol(symbol))}")
    return f"CREATE OR REPLACE VIEW {ALIAS}.{name} AS SELECT {_select_list(stream)} FROM {table} WHERE {where}"


def create_compat_views(lake: Lake, combos: Iterable[tuple[str, str, str]]) -> list[str]:
    """Create the views for each (symbol, venue_id, market); returns the view names.

    One catalog transaction for all of them. Needs a writable lake.
    """
    if lake.read_only:
        raise StoreError("creating views needs a lake opened with read_only=False")
    statements: dict[str, str] = {}
    for symbol, venue, market in combos:
        for stream in streams_for(market):
            statements[view_name(symbol, venue, market, stream)] = view_sql(symbol, venue, market, stream)
    if not statements:
        return []
    with lake.write_lock, lake.cursor() as cur:
        cur.execute("BEGIN TRANSACTION")
        try:
            for sql in statements.values():
                cur.execute(sql)
            cur.execute("COMMIT")
        except Exception:
            with contextlib.suppress(duckdb.Error):  # a failed COMMIT already ended the transaction
                cur.execute("ROLLBACK")
            raise
    return list(statements)
