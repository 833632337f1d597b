"""Registry: survives a reopen, answers the router's question, keeps artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cryptoflow.forecast.registry import Registry
from cryptoflow.forecast.service import forecast
from cryptoflow.forecast.targets import TargetSeries
from cryptoflow.forecast.zoo import ForecastError


def test_registry_persists_across_reopen(tmp_path: Path, seasonal_series: TargetSeries) -> None:
    with Registry.open(tmp_path) as reg:
        res = forecast(seasonal_series, 12, model="SeasonalNaive", registry=reg, save_artifact=True)
        forecast(seasonal_series, 12, model="Naive", registry=reg)
        assert res.model_id is not None
    with Registry.open(tmp_path) as reg:
        models = reg.list_models(seasonal_series.key)
        assert {m["model"] for m in models} == {"SeasonalNaive", "Naive"}
        sn = next(m for m in models if m["model"] == "SeasonalNaive")
        assert sn["params"]["season_length"] == 24 and sn["n_train"] == len(seasonal_series)
        assert sn["train_end_ns"] == int(seasonal_series.ts_ns[-1])
        hist = reg.performance_history(seasonal_series.key, "SeasonalNaive")
        assert len(hist) == 1 and hist[0]["rmae"] == pytest.approx(res.backtest["rmae"]) and hist[0]["n_origins"] >= 20
        skill = reg.skill(seasonal_series.key, 12)
        assert skill["Naive"]["rmae"] == pytest.approx(1.0) and skill["SeasonalNaive"]["p_better"] < 0.01
        model = reg.load_artifact(sn["id"])
        fc = model.predict(3, (80,))
        assert np.allclose(fc.mean, seasonal_series.values[-24:-21])
        reg.record_event(seasonal_series.key, "drift", "HIGH", {"why": "test"})
    with Registry.open(tmp_path, read_only=True) as ro:
        assert ro.events(seasonal_series.key)[0]["payload"] == {"why": "test"}
        with pytest.raises(ForecastError):
            ro.record_event(None, "x")
    with Registry.open(tmp_path) as reg:  # the router now prefers the proven model for this key
        res2 = forecast(seasonal_series, 12, priority="fast", registry=reg)
        assert res2.model == "SeasonalNaive" and res2.reason.startswith("registry:")


def test_read_only_registry_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ForecastError, match="no forecast registry"):
        Registry.open(tmp_path / "nothing", read_only=True)
