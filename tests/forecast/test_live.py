"""Live controller with a fake loader: forecasts, a drift alert in the JSONL file, retrain on HIGH."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np

from cryptoflow.forecast.live import LiveForecaster, LiveSettings, StreamSpec
from cryptoflow.forecast.registry import Registry
from cryptoflow.forecast.targets import TargetSeries
from tests.forecast.conftest import MINUTE, T0


class FakeFeed:
    """A price stream that grows by ``step`` bars per load; volatility triples after ``jump_at``."""

    def __init__(self, start: int = 600, step: int = 40, jump_at: int = 680) -> None:
        rng = np.random.default_rng(7)
        sig = np.where(np.arange(2000) < jump_at, 1e-3, 3e-3)
        self.prices = 100 * np.exp(np.cumsum(rng.normal(0, 1, 2000) * sig))
        self.n, self.step = start, step
        self.loads = 0

    async def __call__(self, spec: StreamSpec) -> TargetSeries:
        self.loads += 1
        n = self.n
        self.n = min(len(self.prices), self.n + self.step)
        return TargetSeries(self.prices[:n], "price", "1m", T0 + MINUTE * np.arange(n), key=f"fake:{spec.stream_id}")


async def test_live_forecasts_alerts_and_retrains(tmp_path: Path) -> None:
    feed = FakeFeed()
    settings = LiveSettings(
        forecast_interval_seconds=0.02, drift_check_interval_seconds=0.05, auto_retrain=True,
        retraining_config={"min_interval_seconds": 0.0, "reference_points": 200, "min_recent_points": 30,
                           "backtest_origins": 20},
        stale_after_seconds=None, alert_file=tmp_path / "alerts.jsonl", forecast_file=tmp_path / "forecasts.jsonl")
    with Registry.open(tmp_path) as reg:
        live = LiveForecaster([StreamSpec("btc", "sim", "BTCUSDT", horizon=6)], feed, settings, registry=reg)
        live.start()
        for _ in range(200):
            await asyncio.sleep(0.05)
            if live.state["btc"].retrains >= 1:
                break
        await live.stop()
        latest = live.latest("btc")
        assert latest is not None and latest["model"] == "Naive" and len(latest["point"]) == 6
        assert latest["backtest"]["origins"] >= 20 and latest["retrains"] >= 1
        forecasts = [json.loads(x) for x in (tmp_path / "forecasts.jsonl").read_text().splitlines()]
        assert len(forecasts) >= 2 and {f["refit"] for f in forecasts} >= {True, False}
        alerts = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
        kinds = [(a["kind"], a["severity"]) for a in alerts]
        assert ("drift", "HIGH") in kinds and ("retrain", "HIGH") in kinds, kinds
        assert kinds.index(("drift", "HIGH")) < kinds.index(("retrain", "HIGH"))
        assert live.alerts(10)[-1]["kind"] in ("drift", "retrain")
        assert reg.events("fake:btc", "retrain")
        assert len(reg.list_models("fake:btc")) >= 2  # initial fit + retrain


async def test_live_stale_and_error_alerts(tmp_path: Path) -> None:
    feed = FakeFeed(step=0)

    def broken(spec: StreamSpec) -> TargetSeries:
        raise RuntimeError("collector gone")

    settings = LiveSettings(stale_after_seconds=60.0, alert_file=tmp_path / "a.jsonl")
    live = LiveForecaster([StreamSpec("old"), StreamSpec("bad")],
                          lambda s: broken(s) if s.stream_id == "bad" else feed(s), settings,
                          clock=lambda: T0 / 1e9 + 600 * 60 + 3600)
    assert await live.refresh("old") is not None
    assert await live.refresh("bad") is None
    kinds = {json.loads(x)["kind"]: json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()}
    assert kinds["stale"]["stream_id"] == "old" and kinds["stale"]["age_seconds"] > 3000
    assert "collector gone" in kinds["error"]["message"]
