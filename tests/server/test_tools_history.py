"""History tools: bars and paged history equal SQL over the store; run_sql and export_data stay inside."""

from __future__ import annotations

import csv
import os
import statistics

import pytest
from mcp import Client

from .conftest import call, fails


async def test_get_ohlcv_equals_bars_from_stored_trades(server, market_store):
    async with Client(server) as client:
        out = await call(client, "get_ohlcv", symbol="BTCUSDT", venue="bybit", interval="1m", start="2h",
                         response_format="detailed")
    rows = market_store.sql(
        "SELECT ts_ns // 60000000000 * 60000000000 AS b, arg_min(price, ts_ns), max(price), min(price), "
        "arg_max(price, ts_ns), sum(qty), count(*) FROM lake.trades WHERE venue = 'bybit' AND symbol = 'BTCUSDT' "
        "AND market = 'perp' GROUP BY b ORDER BY b")
    assert len(out["bars"]) == len(rows) >= 1
    for bar, (_b, o, h, lo, c, v, n) in zip(out["bars"], rows, strict=True):
        assert (bar["open"], bar["high"], bar["low"], bar["close"], bar["trades"]) == (o, h, lo, c, n)
        assert bar["volume"] == pytest.approx(v)
        assert bar["ts"].endswith(":00.000Z")


async def test_get_history_raw_pages_return_every_trade_once(server, market_store):
    stored = market_store.sql("SELECT trade_id, price FROM lake.trades WHERE venue = 'okx' AND symbol = 'ETHUSDT' "
                              "AND market = 'perp' ORDER BY ts_ns, trade_id")  # the tool's order
    seen, cursor, pages = [], None, 0
    async with Client(server) as client:
        while True:
            args = {"stream": "trades", "symbol": "ETHUSDT", "venues": ["okx"], "start": "2h", "limit": 25,
                    "response_format": "detailed", **({"cursor": cursor} if cursor else {})}
            out = await call(client, "get_history", **args)
            cols = out["columns"]
            seen += [(r[cols.index("trade_id")], r[cols.index("price")]) for r in out["rows"]]
            pages += 1
            cursor = out["next_cursor"]
            if cursor is None:
                break
    assert pages == -(-len(stored) // 25) and seen == [tuple(r) for r in stored]


async def test_get_history_aggregates_per_venue(server, market_store):
    async with Client(server) as client:
        trades = await call(client, "get_history", stream="trades", symbol="BTCUSDT", start="2h", interval="1h")
        liq = await call(client, "get_history", stream="liquidations", symbol="BTCUSDT", start="2h", interval="1d")
        book = await call(client, "get_history", stream="book_snapshots", symbol="BTCUSDT", venues=["okx"],
                          start="2h", limit=1)
    vols = dict(market_store.sql("SELECT venue, sum(qty) FROM lake.trades WHERE symbol='BTCUSDT' AND market='perp' "
                                 "GROUP BY 1"))
    c = trades["columns"]
    agg: dict[str, float] = {}
    for r in trades["rows"]:
        agg[r[c.index("venue")]] = agg.get(r[c.index("venue")], 0.0) + r[c.index("volume")]
    assert agg == pytest.approx(vols)
    c = liq["columns"]
    stored = {(v, s): n for v, s, n in market_store.sql(
        "SELECT venue, side, count(*) FROM lake.liquidations WHERE symbol='BTCUSDT' GROUP BY ALL")}
    assert {(r[c.index("venue")], r[c.index("side")]): r[c.index("events")] for r in liq["rows"]} == stored
    c = book["columns"]
    assert len(book["rows"][0][c.index("bid_prices")]) == 5 and "ts_recv" not in c  # concise: 5 levels


async def test_get_price_context_against_pooled_bars(server, market_store):
    async with Client(server) as client:
        out = await call(client, "get_price_context", symbol="ETHUSDT", lookback="1h")
    closes = [r[0] for r in market_store.sql(
        "SELECT arg_max(price, ts_ns) FROM lake.trades WHERE symbol='ETHUSDT' AND market='perp' "
        "GROUP BY ts_ns // 60000000000 ORDER BY ts_ns // 60000000000")]
    ctx = out["context"]
    assert ctx["bars"] == len(closes) and ctx["mean"] == pytest.approx(statistics.fmean(closes))
    assert ctx["percentile"] == pytest.approx(100 * sum(c <= ctx["now"] for c in closes) / len(closes))
    assert out["now_source"] in ("quote_mid", "last_trade")


async def test_database_stats_counts(server, market_store):
    async with Client(server) as client:
        out = await call(client, "database_stats", response_format="detailed")
    tables = {t["table"]: t for t in out["tables"]}
    for table in ("trades", "bbo", "funding_rates", "liquidations"):
        (n,), = market_store.sql(f"SELECT count(*) FROM lake.{table}")
        assert tables[table]["rows"] == n > 0
    assert out["total_rows"] == sum(t["rows"] for t in out["tables"]) and out["catalog"].startswith("ducklake:")


async def test_run_sql_reads(server, market_store):
    async with Client(server) as client:
        out = await call(client, "run_sql", sql="SELECT venue, count(*) AS n, max(ts) AS last FROM trades "
                                                "GROUP BY 1 ORDER BY 1")
        small = await call(client, "run_sql", sql="SELECT * FROM range(100)", limit=7)
        view = await call(client, "run_sql", sql="SELECT count(*) FROM ethusdt_okx_futures_prices")
    assert dict((r[0], r[1]) for r in out["rows"]) == dict(market_store.sql(
        "SELECT venue, count(*) FROM lake.trades GROUP BY 1"))
    assert out["rows"][0][2].endswith("Z")  # timestamps as ISO 8601 UTC
    assert small["row_count"] == 7 and small["truncated"] is True
    (n,), = market_store.sql("SELECT count(*) FROM lake.bbo WHERE venue='okx' AND symbol='ETHUSDT' "
                             "AND market='perp'")
    assert view["rows"] == [[n]]


@pytest.mark.parametrize("sql, refused", [
    ("INSERT INTO trades SELECT * FROM trades", "INSERT"),
    ("DELETE FROM trades", "DELETE"),
    ("DROP TABLE trades", "DROP"),
    ("CREATE TABLE x AS SELECT 1", "CREATE"),
    ("ATTACH '/tmp/evil.db' AS evil", "ATTACH"),
    ("COPY trades TO '/tmp/out.csv'", "COPY"),
    ("COPY (SELECT 1) TO '/tmp/out.parquet' (FORMAT parquet)", "COPY"),
    ("SELECT * FROM read_parquet('/etc/passwd')", "read_parquet"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "read_csv_auto"),
    ("SELECT * FROM '/etc/passwd'", "file paths"),
    ("SELECT * FROM glob('/*')", "glob"),
    ("SELECT getenv('HOME')", "getenv"),
    ("SET enable_external_access = true", "SET"),
    ("INSTALL httpfs", "statements"),
    ("SELECT 1; DROP TABLE trades", "2 statements"),
    ("CALL ducklake_expire_snapshots('lake')", "CALL"),
])
async def test_run_sql_refuses_writes_and_escapes(server, market_store, sql, refused):
    async with Client(server) as client:
        msg = await fails(client, "run_sql", sql=sql)
    assert "refused" in msg and refused in msg and "Accepted" in msg and "get_history" in msg
    (n,), = market_store.sql("SELECT count(*) FROM lake.trades")
    assert n > 0


async def test_export_data_writes_under_the_data_dir(server, market_store):
    async with Client(server) as client:
        out = await call(client, "export_data", stream="trades", path="q1/okx_eth", format="csv", symbol="ETHUSDT",
                         venue="okx", overwrite=True)
        again = await fails(client, "export_data", stream="trades", path="q1/okx_eth.csv", format="csv")
        pq = await call(client, "export_data", stream="funding", path="funding.parquet", overwrite=True)
    path = market_store.data_dir / "exports" / "q1" / "okx_eth.csv"
    assert out["path"] == str(path) and out["relative_path"] == "exports/q1/okx_eth.csv"
    with path.open() as f:
        rows = list(csv.DictReader(f))
    (n,), = market_store.sql("SELECT count(*) FROM lake.trades WHERE venue='okx' AND symbol='ETHUSDT'")
    assert len(rows) == out["rows"] == n and {r["venue"] for r in rows} == {"okx"}
    assert "exists" in again and "overwrite" in again
    (nf,), = market_store.sql("SELECT count(*) FROM lake.funding_rates")
    assert pq["rows"] == nf and pq["path"].endswith("exports/funding.parquet")


@pytest.mark.parametrize("path", ["../escape.csv", "/tmp/escape.csv", "~/escape.csv", "a/../../escape.csv",
                                  "a/../../../etc/escape.csv", "link/escape.csv", "x.parquet"])
async def test_export_data_refuses_paths_outside_exports(server, market_store, tmp_path, path):
    exports = market_store.data_dir / "exports"
    exports.mkdir(exist_ok=True)
    link = exports / "link"
    if not link.exists():
        os.symlink(tmp_path, link)  # a symlink inside exports/ that leads outside the data directory
    async with Client(server) as client:
        msg = await fails(client, "export_data", stream="trades", path=path, format="csv")
    assert f"path={path!r}" in msg
    assert not (tmp_path / "escape.csv").exists() and not (market_store.data_dir.parent / "escape.csv").exists()
