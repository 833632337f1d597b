"""``cryptoflow bench tools``: p50/p99 latency of every MCP tool over a store with >= 10M trades.

The store is generated directly in DuckDB (vectorised ``INSERT ... SELECT`` from ``range()`` into the
DuckLake tables, ~10 s for 10M trades), not through the collector: 8 venues x 4 symbols, trades
spread evenly over the last 24 h (so ``get_ohlcv`` 24 h at 1m reads a full day), quotes over the
last 24 h, funding / mark / OI / book snapshots every second for the last hour, liquidations.
Prices are a smooth wave plus hashed noise: realistic sizes and shapes, not a market model.

Each tool is called through the SDK's in-memory ``Client`` (so MCP validation and serialization are
included) ``repeats`` times after two warm-up calls. The live tools are measured twice: answering
from the store (a collector in another process) and from an in-process ``LiveState``.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

VENUES = ("binance_usdm", "bybit", "okx", "kraken_futures", "gateio", "deribit", "hyperliquid", "binance_spot")
SYMBOLS = {"BTCUSDT": 90_000.0, "ETHUSDT": 3_500.0, "SOLUSDT": 200.0, "XRPUSDT": 2.5}
LIVE_TOOLS = ("get_prices", "find_arbitrage", "get_funding")
TARGETS_MS = {"get_prices": 50.0, "find_arbitrage": 50.0, "get_funding": 50.0, "get_ohlcv": 200.0}

_COMBOS = "SELECT * FROM (VALUES {}) c(ci, venue, market, symbol, base)"
_H = "hash(i)"  # deterministic per-row noise


def _combos() -> str:
    rows = [f"({i}, '{v}', '{'spot' if v == 'binance_spot' else 'perp'}', '{s}', {p})"
            for i, (v, (s, p)) in enumerate((v, sp) for v in VENUES for sp in SYMBOLS.items())]
    return _COMBOS.format(", ".join(rows))


def _price(k: str) -> str:
    return f"c.base * (1 + 0.02 * sin({k} / 50000.0) + 0.0004 * (({_H} % 1000) / 1000.0 - 0.5))"


def generate(data_dir: Path, n_trades: int) -> dict[str, int]:
    """Fill a fresh lake in ``data_dir``; returns rows per table."""
    from cryptoflow.store import Lake, create_compat_views

    lake = Lake.open(data_dir)
    n_combo = len(VENUES) * len(SYMBOLS)
    now_ns = time.time_ns()
    day0 = now_ns - 86_400 * 10**9
    hour0 = now_ns - 3_600 * 10**9
    per = -(-n_trades // n_combo)
    step = 86_400 * 10**9 // per
    combos = _combos()
    ts = "make_timestamp(t // 1000)"
    try:
        with lake.write_lock, lake.cursor() as cur:
            cur.execute(f"""INSERT INTO lake.trades BY NAME
                SELECT c.venue, c.market, c.symbol, {ts} AS ts, t AS ts_ns, {ts} AS ts_recv, {_price('k')} AS price,
                       0.001 + ({_H} % 997) / 500.0 AS qty, CASE WHEN {_H} % 2 = 0 THEN 'buy' ELSE 'sell' END AS side,
                       k::VARCHAR AS trade_id, 'ws' AS source
                FROM (SELECT i, i // {n_combo} AS k, i % {n_combo} AS ci,
                             {day0} + (i // {n_combo}) * {step} + (i % {n_combo}) AS t FROM range({n_trades}) r(i))
                JOIN ({combos}) c USING (ci)""")
            n_bbo = 2_000_000
            bstep = 86_400 * 10**9 // (n_bbo // n_combo)
            cur.execute(f"""INSERT INTO lake.bbo BY NAME
                SELECT c.venue, c.market, c.symbol, {ts} AS ts, t AS ts_ns, {ts} AS ts_recv,
                       {_price('k')} - c.base * 0.00001 AS bid_price, 0.1 + ({_H} % 300) / 10.0 AS bid_qty,
                       {_price('k')} + c.base * 0.00001 AS ask_price, 0.1 + ({_H} % 301) / 10.0 AS ask_qty,
                       k AS update_id, 'ws' AS source
                FROM (SELECT i, i // {n_combo} AS k, i % {n_combo} AS ci,
                             {day0} + (i // {n_combo}) * {bstep} + (i % {n_combo}) AS t FROM range({n_bbo}) r(i))
                JOIN ({combos}) c USING (ci)""")
            per_s = f"""FROM (SELECT i, i // {n_combo} AS k, i % {n_combo} AS ci,
                             {hour0} + (i // {n_combo}) * 1000000000 + (i % {n_combo}) AS t
                      FROM range({3600 * n_combo}) r(i)) JOIN ({combos}) c USING (ci)"""
            cur.execute(f"""INSERT INTO lake.funding_rates BY NAME
                SELECT c.venue, c.market, c.symbol, {ts} AS ts, t AS ts_ns, {ts} AS ts_recv,
                       0.0001 * sin(k / 600.0 + ci) AS rate, NULL AS predicted_rate,
                       make_timestamp(({now_ns} // 28800000000000 + 1) * 28800000000) AS next_funding_time,
                       CASE WHEN c.venue IN ('hyperliquid', 'kraken_futures') THEN 1.0 ELSE 8.0 END AS interval_hours,
                       'ws' AS source {per_s} WHERE c.market = 'perp'""")
            cur.execute(f"""INSERT INTO lake.mark_prices BY NAME
                SELECT c.venue, c.market, c.symbol, {ts} AS ts, t AS ts_ns, {ts} AS ts_recv,
                       {_price('k')} AS mark_price, {_price('k')} * 0.9999 AS index_price, 'ws' AS source
                {per_s} WHERE c.market = 'perp'""")
            cur.execute(f"""INSERT INTO lake.open_interest BY NAME
                SELECT c.venue, c.market, c.symbol, {ts} AS ts, t AS ts_ns, {ts} AS ts_recv, NULL AS oi_contracts,
                       1e5 * (1 + 0.01 * sin(k / 300.0)) / c.base * 1000 AS oi_base,
                       1e8 * (1 + 0.01 * sin(k / 300.0)) AS oi_notional, 'rest' AS source {per_s}
                WHERE c.market = 'perp'""")
            levels = "list_transform(range(20), x -> {p} {op} x * c.base * 0.00002)"
            qtys = f"list_transform(range(20), x -> 0.5 + (({_H} + x) % 50) / 10.0)"
            cur.execute(f"""INSERT INTO lake.book_snapshots BY NAME
                SELECT c.venue, c.market, c.symbol, {ts} AS ts, t AS ts_ns, {ts} AS ts_recv,
                       {levels.format(p=_price('k') + ' - c.base * 0.00001', op='-')} AS bid_prices,
                       {qtys} AS bid_qtys,
                       {levels.format(p=_price('k') + ' + c.base * 0.00001', op='+')} AS ask_prices,
                       {qtys} AS ask_qtys, k AS seq, 'ws' AS source {per_s}""")
            cur.execute(f"""INSERT INTO lake.liquidations BY NAME
                SELECT c.venue, c.market, c.symbol, {ts} AS ts, t AS ts_ns, {ts} AS ts_recv,
                       CASE WHEN {_H} % 2 = 0 THEN 'long' ELSE 'short' END AS side, {_price('k')} AS price,
                       0.01 + ({_H} % 100) / 10.0 AS qty, {_price('k')} * (0.01 + ({_H} % 100) / 10.0) AS notional,
                       'ws' AS source
                FROM (SELECT i, i // {n_combo} AS k, i % {n_combo} AS ci, {day0} + i * 8640000000 AS t
                      FROM range(10000) r(i)) JOIN ({combos}) c USING (ci) WHERE c.market = 'perp'""")
        create_compat_views(lake, [(s, v, "spot" if v == "binance_spot" else "perp") for v in VENUES for s in SYMBOLS])
        with lake.cursor() as cur:
            counts = {t: cur.execute(f"SELECT count(*) FROM lake.{t}").fetchone()[0]  # type: ignore[index]
                      for t in ("trades", "bbo", "book_snapshots", "funding_rates", "liquidations")}
    finally:
        lake.close()
    return counts


def live_state(data_dir: Path) -> Any:
    """A LiveState holding the newest quote, book and funding of every market (what a collector has)."""
    from datetime import datetime

    from cryptoflow.analytics import queries_live
    from cryptoflow.collector.live import LiveState
    from cryptoflow.events import BBO, Funding
    from cryptoflow.store import Lake

    live = LiveState()
    now = time.time_ns()
    with Lake.open(data_dir, read_only=True) as lake:
        since = datetime(1970, 1, 1)
        for r in queries_live.latest(lake, "bbo", since):
            live.update(BBO(r["venue"], r["market"], r["symbol"], now, now, r["bid_price"], r["bid_qty"],
                            r["ask_price"], r["ask_qty"]))
        for r in queries_live.latest(lake, "funding_rates", since):
            live.update(Funding(r["venue"], r["market"], r["symbol"], now, now, r["rate"], None, None,
                                r["interval_hours"]))
    return live


def _calls(age_s: float = 60.0) -> list[tuple[str, dict[str, Any]]]:
    """The calls measured; ``age_s`` is the quote freshness window (60 s, or more for a reused store)."""
    return [
        ("get_prices", {"symbols": ["BTCUSDT", "ETHUSDT"], "max_age_s": age_s}),
        ("find_arbitrage", {"max_age_s": age_s}),
        ("get_funding", {"symbols": ["BTCUSDT", "ETHUSDT"], "max_age_s": age_s}),
        ("get_orderbook", {"symbol": "BTCUSDT", "venue": "okx", "max_age_s": age_s}),
        ("get_trades", {"symbol": "BTCUSDT", "since": "15m"}),
        ("get_open_interest", {"symbol": "BTCUSDT", "max_age_s": age_s}),
        ("get_liquidations", {"since": "24h"}),
        ("get_market_snapshot", {"symbol": "BTCUSDT", "max_age_s": age_s}),
        ("list_markets", {}),
        ("get_spread_matrix", {"symbol": "BTCUSDT", "max_age_s": age_s}),
        ("compare_venues", {"symbol": "BTCUSDT", "window": "1h", "max_age_s": age_s}),
        ("funding_arbitrage", {"max_age_s": age_s}),
        ("get_ohlcv", {"symbol": "BTCUSDT", "venue": "okx", "interval": "1m", "start": "24h", "limit": 1440}),
        ("get_history", {"stream": "trades", "symbol": "BTCUSDT", "venues": ["okx"], "start": "1h"}),
        ("get_history", {"stream": "funding", "symbol": "BTCUSDT", "start": "1h", "interval": "5m"}),
        ("get_price_context", {"symbol": "BTCUSDT", "lookback": "24h"}),
        ("database_stats", {}),
        ("run_sql", {"sql": "SELECT venue, count(*) FROM trades WHERE ts > now()::TIMESTAMP - INTERVAL 1 HOUR "
                            "GROUP BY 1"}),
        ("streaming_status", {}),
    ]


def _pcts(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return round(statistics.median(times), 2), round(times[min(len(times) - 1, round(0.99 * (len(times) - 1)))], 2)


async def _timed(fn: Any, repeats: int) -> list[float]:
    times = []
    for n in range(repeats + 2):  # two warm-up calls
        t0 = time.perf_counter()
        r = await fn()
        dt = (time.perf_counter() - t0) * 1e3
        if r.is_error:
            raise RuntimeError(f"call failed: {r.content[0].text}")
        if n >= 2:
            times.append(dt)
    return times


async def _measure(server: Any, calls: list[tuple[str, dict[str, Any]]], repeats: int, source: str
                   ) -> list[dict[str, Any]]:
    """Server latency (``MCPServer.call_tool``: argument validation, the tool, output conversion) and the
    round trip through the SDK's Python client (which also validates the result against the output
    schema with ``jsonschema``, slow for long lists: that is client time, not server time)."""
    from mcp import Client

    out = []
    async with Client(server) as client:
        for name, args in calls:
            p50, p99 = _pcts(await _timed(lambda n=name, a=args: server.call_tool(n, a), repeats))
            c50, c99 = _pcts(await _timed(lambda n=name, a=args: client.call_tool(n, a), max(3, repeats // 3)))
            res = {"name": name, "args": args, "source": source, "p50_ms": p50, "p99_ms": p99,
                   "client_p50_ms": c50, "client_p99_ms": c99}
            if name in TARGETS_MS:
                res["target_p50_ms"] = TARGETS_MS[name]
            out.append(res)
    return out


def _store_age_s(data_dir: Path) -> float:
    from cryptoflow.store import Lake

    with Lake.open(data_dir, read_only=True) as lake, lake.cursor() as cur:
        newest = cur.execute("SELECT max(ts_ns) FROM lake.bbo").fetchone()[0]  # type: ignore[index]
    return (time.time_ns() - newest) / 1e9


def run(n_trades: int = 10_000_000, repeats: int = 30, data_dir: Path | None = None) -> dict[str, Any]:
    """Generate (unless ``data_dir`` already holds a store) and measure; returns the figures."""
    from cryptoflow.server import ServerContext, build_server

    tmp = None
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="cryptoflow-bench-")
        data_dir = Path(tmp.name)
    data_dir = Path(data_dir)
    try:
        t0 = time.perf_counter()
        fresh = not (data_dir / "catalog.sqlite").exists()
        counts = generate(data_dir, n_trades) if fresh else {}
        gen_s = time.perf_counter() - t0
        age = 60.0 if fresh else _store_age_s(data_dir) + 60.0
        ctx = ServerContext(data_dir, keep_open=True)
        store_server = build_server(data_dir, context=ctx)
        rows = asyncio.run(_measure(store_server, _calls(age), repeats, "store"))
        live_ctx = ServerContext(data_dir, keep_open=True, live_override=live_state(data_dir))
        live_server = build_server(data_dir, context=live_ctx)
        rows += asyncio.run(_measure(live_server, [c for c in _calls(age) if c[0] in LIVE_TOOLS], repeats, "live"))
        for c in (ctx, live_ctx):
            asyncio.run(c.aclose())
        if not counts:
            from cryptoflow.store import Lake

            with Lake.open(data_dir, read_only=True) as lake, lake.cursor() as cur:
                counts = {"trades": cur.execute("SELECT count(*) FROM lake.trades").fetchone()[0]}  # type: ignore
        return {"store": counts, "generate_s": round(gen_s, 1), "repeats": repeats, "tools": rows}
    finally:
        if tmp is not None:
            tmp.cleanup()
