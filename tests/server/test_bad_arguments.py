"""Every tool refuses bad arguments with a message the model can act on: the argument, what is
accepted, and which tool or value to use instead."""

from __future__ import annotations

import pytest
from mcp import Client

from .conftest import call, fails

AGE = 3600.0
CASES: list[tuple[str, dict, list[str]]] = [
    ("get_prices", {"symbols": ["BTCUSDT"], "venues": ["binance_spot"]},
     ["venues", "binance_spot offer no perp bbo", "venues with perp bbo: binance_usdm"]),
    ("get_prices", {"symbols": ["NOPE"], "max_age_s": AGE},
     ["unknown symbol NOPEUSDT", "BTCUSDT, ETHUSDT", "list_markets", "start_streaming"]),
    ("get_prices", {"symbols": ["BTC/USDT!"]}, ["symbols", "BTCUSDT", "list_markets"]),
    ("get_prices", {"symbols": []}, ["symbols", "at least 1"]),
    ("get_prices", {"symbols": ["BTCUSDT"], "venues": ["ftx"]}, ["venues", "'binance_usdm'"]),
    ("get_prices", {"symbols": ["BTCUSDT"], "max_age_s": 0.001}, ["newer than max_age_s=0.001", "spans",
                                                                   "Widen max_age_s", "streaming_status"]),
    ("get_orderbook", {"symbol": "BTCUSDT", "venue": "binance_spot"}, ["venue", "no perp book", "binance_usdm"]),
    ("get_orderbook", {"symbol": "NOPE", "venue": "okx", "max_age_s": AGE}, ["unknown symbol NOPEUSDT"]),
    ("get_orderbook", {"symbol": "BTCUSDT", "venue": "okx", "depth": 0}, ["depth", "greater than or equal to 1"]),
    ("get_orderbook", {"symbol": "BTCUSDT", "venue": "okx", "bands_bps": [0]}, ["bands_bps", "(0, 5000]"]),
    ("get_trades", {"symbol": "BTCUSDT", "since": "yesterday"}, ["since='yesterday' is not a time", "ISO 8601",
                                                                 "4h"]),
    ("get_trades", {"symbol": "NOPE"}, ["unknown symbol NOPEUSDT", "start_streaming"]),
    ("get_funding", {"symbols": ["BTCUSDT"], "venues": ["binance_spot"]}, ["no perp funding", "hyperliquid"]),
    ("get_open_interest", {"symbol": "BTCUSDT", "windows": ["2h"]}, ["windows", "'4h'"]),
    ("get_liquidations", {"venues": ["hyperliquid"]}, ["hyperliquid offer no perp liquidation",
                                                       "venues with perp liquidation: binance_usdm"]),
    ("get_liquidations", {"since": "1h", "until": "2h"}, ["since", "must be before until"]),
    ("get_market_snapshot", {"symbol": "NOPE", "max_age_s": AGE}, ["unknown symbol NOPEUSDT", "list_markets"]),
    ("list_markets", {"cursor": "garbage"}, ["cursor", "not a cursor", "next_cursor"]),
    ("list_markets", {"venue": "kraken"}, ["venue", "'kraken_futures'"]),
    ("find_arbitrage", {"symbols": ["NOPE"], "max_age_s": AGE}, ["needs quotes from >= 2 venues",
                                                                 "unknown symbol NOPEUSDT"]),
    ("find_arbitrage", {"taker_fees_bps": {"okx": -1}}, ["taker_fees_bps", "greater than or equal to 0"]),
    ("get_spread_matrix", {"symbol": "BTCUSDT", "venues": ["okx"], "max_age_s": AGE},
     [">= 2 venues", "only okx quoted"]),
    ("compare_venues", {"symbol": "BTCUSDT", "window": "forever"}, ["window='forever' is not a duration", "15m"]),
    ("funding_arbitrage", {"venues": ["okx"], "max_age_s": AGE}, [">= 2 venues", "only okx"]),
    ("funding_arbitrage", {"holding_days": 0}, ["holding_days", "greater than 0"]),
    ("get_ohlcv", {"symbol": "BTCUSDT", "venue": "okx", "interval": "2m"}, ["interval", "'1m'", "'1d'"]),
    ("get_ohlcv", {"symbol": "BTCUSDT", "venue": "okx", "start": "2001-01-01T00:00:00Z", "end": "2001-01-02"},
     ["no perp trade for BTCUSDT on okx between 2001-01-01", "spans", "Choose start/end"]),
    ("get_ohlcv", {"symbol": "BTCUSDT", "venue": "okx", "start": "1h", "end": "2h"}, ["start", "must be before"]),
    ("get_ohlcv", {"symbol": "BTCUSDT", "venue": "binance_spot", "market": "perp"}, ["no perp trade", "okx"]),
    ("get_history", {"stream": "candles", "symbol": "BTCUSDT", "interval": "1m"}, ["already bars", "get_ohlcv"]),
    ("get_history", {"stream": "funding", "symbol": "BTCUSDT", "market": "spot"}, ["stream='funding'", "'perp'"]),
    ("get_history", {"stream": "orders", "symbol": "BTCUSDT"}, ["stream", "'trades'"]),
    ("get_history", {"stream": "trades", "symbol": "BTCUSDT", "cursor": "eyJxIjoib3RoZXIifQ"},
     ["cursor", "not a cursor"]),
    ("get_price_context", {"symbol": "BTCUSDT", "lookback": "2y"}, ["lookback", "'30d'"]),
    ("get_price_context", {"symbol": "NOPE"}, ["unknown symbol NOPEUSDT"]),
    ("database_stats", {"response_format": "verbose"}, ["response_format", "'concise'"]),
    ("run_sql", {"sql": "SELECT 1", "limit": 0}, ["limit", "greater than or equal to 1"]),
    ("run_sql", {"sql": "SELEC 1"}, ["sql", "does not parse", "Accepted"]),
    ("get_venue_data", {"venue": "deribit", "symbol": "BTCUSDT", "kind": "long_short_ratio"},
     ["deribit has no 'long_short_ratio'", "venues with it: binance_usdm", "deribit offers: instruments"]),
    ("get_venue_data", {"venue": "okx", "symbol": "BTCUSDT", "kind": "candles", "period": "7m"},
     ["period '7m' not offered", "1m"]),
    ("get_venue_data", {"venue": "okx", "kind": "candles"}, ["candles needs a symbol"]),
    ("backfill_history", {"since": "last tuesday"}, ["since='last tuesday'", "age like 7d"]),
    ("backfill_history", {"streams": ["orderbook"]}, ["streams", "'candles'"]),
    ("backfill_history", {"job_id": "bf-77"}, ["no backfill job 'bf-77'"]),
    ("export_data", {"stream": "trades", "path": "x", "format": "xlsx"}, ["format", "'csv'", "'parquet'"]),
    ("export_data", {"stream": "trades", "path": "x.csv", "format": "parquet"}, ["suffix must match", ".parquet"]),
    ("start_streaming", {"symbols": []}, ["symbols", "at least 1"]),
    ("start_streaming", {"symbols": ["BTCUSDT"], "streams": ["orders"]}, ["streams", "'trade'"]),
    ("stop_streaming", {}, ["no collector runs in this server process", "start_streaming"]),
    ("streaming_status", {"max_streams": 0}, ["max_streams", "greater than or equal to 1"]),
    ("configure_streaming", {"flush_interval_s": 2.0}, ["no collector runs in this server process",
                                                        "start_streaming"]),
]


def test_every_tool_has_a_bad_argument_case(tmp_path):
    import asyncio

    from cryptoflow.server import build_server

    # the toolsets covered here; analytics (and later ones) keep their own cases next to their tests
    server = build_server(tmp_path, "market,arbitrage,history,streaming")
    names = {t.name for t in asyncio.run(server.list_tools())}
    assert names == {c[0] for c in CASES}


@pytest.mark.parametrize(("tool", "args", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
async def test_bad_argument_message(server, market_store, tool, args, expected):
    async with Client(server) as client:
        msg = await fails(client, tool, **args)
    missing = [e for e in expected if e not in msg]
    assert not missing, f"{tool}: {missing} not in: {msg}"


async def test_unknown_tool_and_good_call_after_errors(server, market_store):
    async with Client(server) as client:
        r = await client.call_tool("get_price", {"symbols": ["BTCUSDT"]})
        assert r.is_error and "get_price" in r.content[0].text
        out = await call(client, "get_prices", symbols=["BTCUSDT"], max_age_s=AGE)
    assert out["quotes"]
