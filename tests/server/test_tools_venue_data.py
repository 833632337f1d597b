"""get_venue_data and backfill_history through a real MCP client, against the simulator."""

from __future__ import annotations

import asyncio

from mcp import Client

from cryptoflow.collector.config import load_config
from cryptoflow.server import build_server
from cryptoflow.sim.runner import Simulator
from cryptoflow.store import Lake
from cryptoflow.venues.base import Endpoints

from .conftest import call, fails

VENUES = ["binance_usdm", "okx", "deribit"]


async def test_venue_data_and_background_backfill(tmp_path):
    sim = Simulator(venues=VENUES, symbols=["BTCUSDT", "ETHUSDT"], rate=0.2, seed=4)
    await sim.start()
    try:
        eps = {v: Endpoints(ws=e["ws"], rest=e["rest"]) for v, e in sim.endpoints().items()}
        server = build_server(tmp_path, collector_config=load_config(None, data_dir=str(tmp_path), endpoints=eps))
        async with Client(server) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            desc = tools["get_venue_data"].description or ""
            assert "- binance_usdm:" in desc and "long_short_ratio" in desc and "- deribit:" in desc

            out = await call(client, "get_venue_data", venue="binance_usdm", symbol="BTCUSDT",
                             kind="long_short_ratio", period="5m", start="6h", limit=1000)
            metrics = {r["metric"] for r in out["records"]}
            assert {"long_short_ratio", "long_account", "short_account"} <= metrics
            times = sorted({r["ts"] for r in out["records"]})
            assert len(times) == 6 * 12 or len(times) == 6 * 12 - 1  # one 5m period may still be open
            assert all(t.endswith("Z") for t in times)

            out = await call(client, "get_venue_data", venue="okx", symbol="ETHUSDT", kind="ticker")
            assert out["count"] >= 1 and out["records"][0]["symbol"] == "ETHUSDT"
            assert abs(out["records"][0]["last"] / sim.market.fair_price("ETHUSDT") - 1) < 0.05

            msg = await fails(client, "get_venue_data", venue="deribit", symbol="BTCUSDT", kind="long_short_ratio")
            assert "deribit has no 'long_short_ratio'" in msg and "binance_usdm" in msg
            msg = await fails(client, "get_venue_data", venue="binance_usdm", symbol="BTCUSDT", kind="candles",
                              period="7m")
            assert "period '7m' not offered" in msg and "1m" in msg

            job = await call(client, "backfill_history", symbols=["BTCUSDT"], venues=["binance_usdm", "okx"],
                             streams=["candles", "long_short_ratio"], since="3h")
            assert job["state"] == "running"
            for _ in range(300):
                st = await call(client, "streaming_status")
                bfs = {b["job_id"]: b for b in st["backfills"]}
                if bfs[job["job_id"]]["state"] != "running":
                    break
                await asyncio.sleep(0.1)
            done = await call(client, "backfill_history", job_id=job["job_id"])
            assert done["state"] == "done" and done["error"] is None, done
            assert done["rows_new"] > 0 and done["windows_done"] == done["windows_total"]
            assert {(s["venue"], s["stream"]) for s in done["series"]} == {
                ("binance_usdm", "candles"), ("binance_usdm", "long_short_ratio"), ("okx", "candles"),
                ("okx", "long_short_ratio")}
            assert "no backfill job 'bf-999'" in await fails(client, "backfill_history", job_id="bf-999")
        lake = Lake.open(tmp_path, read_only=True)
        try:
            n = lake.cursor().execute("SELECT count(*) FROM lake.candles WHERE source = 'rest'").fetchone()[0]
            m = lake.cursor().execute("SELECT count(DISTINCT metric) FROM lake.venue_metrics").fetchone()[0]
        finally:
            lake.close()
        assert n >= 2 * 179 and m >= 3
    finally:
        await sim.stop()
