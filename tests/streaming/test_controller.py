"""The streaming controller as the collector daemon: it owns the collector, forecasts from what that
collector stores, and alerts (log + JSONL) when a forecast cannot be made or the venue goes away."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

from aiohttp import web

from cryptoflow.collector.config import load_config
from cryptoflow.sim.runner import Simulator
from cryptoflow.streaming import StreamingController, load_streaming_config, read_state
from cryptoflow.streaming.run import run_streaming
from cryptoflow.venues.base import Endpoints

from ..simrun import wait_for

STREAM = {"symbol": "BTCUSDT", "venue": "okx", "target": "price", "interval": "1m"}


async def _sim() -> tuple[Simulator, dict[str, Endpoints]]:
    sim = Simulator(venues=["okx"], symbols=["BTCUSDT"], seed=9)
    await sim.start()
    return sim, {v: Endpoints(ws=e["ws"], rest=e["rest"]) for v, e in sim.endpoints().items()}


@contextlib.asynccontextmanager
async def webhook() -> AsyncIterator[tuple[str, list[dict]]]:
    """A loopback HTTP endpoint that keeps what is POSTed to it."""
    got: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/hook", got
    finally:
        await runner.cleanup()


async def test_controller_owns_collector_and_alerts_on_short_data_and_lost_venue(tmp_path):
    sim, eps = await _sim()
    ccfg = load_config(None, data_dir=str(tmp_path), endpoints=eps, venues=["okx"], symbols=["BTCUSDT"],
                       markets=["perp"], flush_interval_s=0.2)
    async with webhook() as (url, posted):
        scfg = load_streaming_config(None, forecast_interval_seconds=0.2, drift_check_interval_seconds=0.2,
                                     alerts={"webhook_url": url}, streams=[STREAM])
        ctl = StreamingController(scfg, tmp_path)
        await _daemon_run(ctl, ccfg, sim)
        await wait_for(lambda: len(posted) == len(ctl.alerts(100)), timeout=5)
    assert [(a["kind"], a["message"]) for a in posted] == [(a["kind"], a["message"]) for a in ctl.alerts(100)]


async def _daemon_run(ctl: StreamingController, ccfg, sim: Simulator) -> None:
    try:
        await ctl.start(ccfg)
        rt = ctl.runtime
        assert rt is not None and rt.collector.running

        def errors() -> list[dict]:
            return [a for a in ctl.alerts(100) if a["kind"] == "error"]

        await wait_for(lambda: rt.collector.health.rows_written > 0 and errors()
                       and "too little data" in errors()[-1]["message"], timeout=20)
        msg = errors()[-1]["message"]
        assert "1m bars of okx BTCUSDT perp price; a 12-bar forecast with its backtest needs 61" in msg
        rounds = ctl.rounds
        await wait_for(lambda: ctl.rounds >= rounds + 3)
        assert len(errors()) <= 2  # the same failure is not re-alerted at every refresh
        await sim.stop()  # the venue goes away: connections drop
        await wait_for(lambda: any(a["kind"] == "collector" for a in ctl.alerts(100)), timeout=15)
        down = next(a for a in ctl.alerts(100) if a["kind"] == "collector")
        assert down["severity"] == "HIGH" and "okx" in down["message"] and "connections down" in down["message"]
    finally:
        await ctl.stop()
        await sim.stop()
    assert not rt.collector.running and not ctl.running
    st = read_state(ctl.data_dir)
    assert st is not None and st["running"] is False and st["streams"][0]["stream_id"] == "okx:BTCUSDT:perp:price:1m"
    lines = [json.loads(x) for x in (ctl.data_dir / "forecast" / "alerts.jsonl").read_text().splitlines()]
    assert [a["kind"] for a in lines] == [a["kind"] for a in ctl.alerts(100)]


async def test_run_streaming_returns_health_and_forecast_status(tmp_path):
    sim, eps = await _sim()
    try:
        ccfg = load_config(None, data_dir=str(tmp_path), endpoints=eps, venues=["okx"], symbols=["BTCUSDT"],
                           markets=["perp"], flush_interval_s=0.2)
        rep = await run_streaming(ccfg, load_streaming_config(None, streams=[STREAM]), seconds=1.5)
    finally:
        await sim.stop()
    assert rep["rows_written"] > 0 and rep["elapsed_s"] >= 1.5
    fc = rep["forecasts"]
    assert fc["running"] is False and fc["rounds"] >= 1 and fc["settings"]["forecast_interval_seconds"] == 60.0
    assert [s["stream_id"] for s in fc["streams"]] == ["okx:BTCUSDT:perp:price:1m"]
