"""Streaming tools against the simulator: an in-process collector is started, answers live, is
reconfigured and stopped; a collector in "another process" is observed but never controlled."""

from __future__ import annotations

import asyncio
import os

import pytest
from mcp import Client

from cryptoflow.collector.config import load_config
from cryptoflow.server import build_server
from cryptoflow.sim.runner import Simulator
from cryptoflow.venues.base import Endpoints

from ..simrun import sim_and_collector, wait_for
from .conftest import call, fails

VENUES = ["binance_usdm", "okx", "bybit"]


async def _until(client: Client, tool: str, ok, timeout: float = 20.0, **args):
    """Call ``tool`` until ``ok(result)``; returns the last structured result."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        r = await client.call_tool(tool, args)
        out = r.structured_content if not r.is_error else None
        if out is not None and ok(out):
            return out
        if loop.time() > deadline:
            raise AssertionError(f"{tool} never satisfied the condition: {r.content[0].text[:300]}")
        await asyncio.sleep(0.3)


async def test_in_process_collector_lifecycle(tmp_path):
    sim = Simulator(venues=VENUES, symbols=["BTCUSDT", "ETHUSDT"], rate=2.0, seed=3)
    await sim.start()
    try:
        eps = {v: Endpoints(ws=e["ws"], rest=e["rest"]) for v, e in sim.endpoints().items()}
        base = load_config(None, data_dir=str(tmp_path), endpoints=eps, oi_poll_interval_s=1.0)
        server = build_server(tmp_path, collector_config=base)
        ctx = server.cryptoflow_context
        async with Client(server) as client:
            st = await call(client, "streaming_status")
            assert st["state"] == "never_started" and st["controllable"] is True
            msg = await fails(client, "get_prices", symbols=["BTCUSDT"])
            assert "no store" in msg and "start_streaming" in msg

            out = await call(client, "start_streaming", symbols=["BTCUSDT"], venues=VENUES, markets=["perp"],
                             book_deltas=True)
            assert out["status"]["state"] == "running_in_process" and "3 venues" in out["message"]
            assert "book updates included" in out["message"]
            assert "already runs in this process" in await fails(client, "start_streaming", symbols=["BTCUSDT"])

            await _until(client, "get_prices", lambda o: len(o["quotes"]) == 3, symbols=["BTCUSDT"])
            sim.frozen = True  # hold the market still so live state and simulator can be compared exactly
            await asyncio.sleep(0.5)
            prices = await call(client, "get_prices", symbols=["BTCUSDT"])
            assert prices["source"] == "live"
            live = ctx.runtime.collector.live
            for q in prices["quotes"]:
                ev = live.get("bbo", q["venue"], "perp", "BTCUSDT")
                top = sim.market.bbo(q["venue"], "perp", "BTCUSDT")
                assert (q["bid"], q["ask"]) == (ev.bid_price, ev.ask_price) == (top.bid_price, top.ask_price)
            sim.frozen = False
            sim.market.plant_dislocation("bybit", "perp", "BTCUSDT", 80.0, 60.0)
            arb = await _until(client, "find_arbitrage",
                               lambda o: bool(o["opportunities"]) and o["opportunities"][0]["sell_venue"] == "bybit",
                               symbols=["BTCUSDT"])
            assert arb["source"] == "live" and arb["opportunities"][0]["gross_bps"] > 50

            out = await call(client, "configure_streaming", flush_interval_s=0.5)
            assert "applied live" in out["message"] and ctx.runtime.config.flush_interval_s == 0.5
            out = await call(client, "configure_streaming", symbols=["BTCUSDT", "ETHUSDT"])
            assert "restarted" in out["message"] and out["status"]["config"]["symbols"] == ["BTCUSDT", "ETHUSDT"]
            assert out["status"]["config"]["flush_interval_s"] == 0.5  # kept across the restart
            await _until(client, "get_prices", lambda o: len(o["quotes"]) == 3, symbols=["ETHUSDT"])
            st = await _until(client, "streaming_status", lambda o: any(s["records"] > 0 for s in o["streams"]))
            assert {v["venue"] for v in st["venues"]} == set(VENUES)

            out = await call(client, "stop_streaming")
            assert "buffers flushed" in out["message"] and out["status"]["state"] == "stopped"
            written = int(out["message"].split("; ")[1].split(" rows")[0].replace(",", ""))
            stats = await call(client, "database_stats")
            assert written > 0 and stats["total_rows"] >= written  # the restart wrote rows before too
            after = await call(client, "get_prices", symbols=["BTCUSDT"], max_age_s=600)
            assert after["source"] == "store" and len(after["quotes"]) == 3
            past = await call(client, "get_orderbook", symbol="BTCUSDT", venue="okx", at="1s")  # from book deltas
            assert past["source"] == "store" and past["levels_available"] > 20
            assert "no collector runs" in await fails(client, "stop_streaming")
    finally:
        await sim.stop()


async def test_collector_in_another_process_is_observed_not_controlled(tmp_path):
    async with sim_and_collector(tmp_path, venues=["okx", "bybit"], symbols=["BTCUSDT"], tap=False) as run:
        await wait_for(lambda: run.rt.collector.health.rows_written > 0 and (tmp_path / "health.json").exists(),
                       timeout=20)
        server = build_server(tmp_path)  # no runtime attached: the collector is someone else's
        async with Client(server) as client:
            st = await call(client, "streaming_status")
            assert st["state"] == "running_other_process" and st["controllable"] is False
            assert st["pid"] == os.getpid() and "another process" in st["note"]
            assert {v["venue"] for v in st["venues"]} == {"okx", "bybit"}
            msg = await fails(client, "start_streaming", symbols=["ETHUSDT"])
            assert f"pid {os.getpid()}" in msg and "only a collector inside this server" in msg
            msg = await fails(client, "stop_streaming")
            assert "separate process" in msg and "kill -TERM" in msg
            prices = await call(client, "get_prices", symbols=["BTCUSDT"])
            assert prices["source"] == "store"  # it reads what the other collector writes, while it writes


@pytest.mark.parametrize("toolsets, expected", [("market", 8), ("arbitrage,streaming", 8), ("history", 8)])
async def test_toolsets_select_tools(tmp_path, toolsets, expected):
    server = build_server(tmp_path, toolsets)
    assert len(await server.list_tools()) == expected
