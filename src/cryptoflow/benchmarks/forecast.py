"""Forecasting latency: per model on 2,000 points, a 72-series x 1,000-point AutoETS batch, the
router, and end-to-end ``forecast()`` (router + 20-origin backtest + final fit) at priority=fast.

Targets (issue 7): priority=fast auto forecast p50 < 50 ms, statistical auto models < 500 ms,
72-series AutoETS batch < 10 s, router < 5 ms. Figures are medians after one warm-up call (imports
and numba-free JIT caches excluded); models are fitted on their default training cap (the most
recent ``default_max_train`` points: 2,000 instant, 1,000 fast/ML, 500 medium, 300 slow), exactly
as ``forecast()`` fits them; ``fit_points`` shows a model that estimates on fewer of them itself
(AutoARIMA: the last 10 seasons, see ``forecast.models.ARIMA_BUDGET``). On a busy machine compare
``stat_auto_vs_autoets`` (latency / AutoETS latency in the same run) rather than absolute figures.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

MODELS_2000 = ("Naive", "SeasonalNaive", "RandomWalkWithDrift", "WindowAverage", "HAR", "Theta", "AutoTheta",
               "Holt", "MSTL", "GARCH", "ARCH", "AutoETS", "AutoCES", "AutoARIMA", "AutoTBATS", "LightGBM", "Ridge",
               "LinearRegression", "RandomForest")
STAT_AUTO = ("AutoETS", "AutoARIMA", "AutoTheta", "AutoCES")


def _series(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    e = np.zeros(n)
    for i in range(1, n):
        e[i] = 0.6 * e[i - 1] + rng.normal()
    level = 50 + 5 * np.sin(2 * np.pi * np.arange(n) / 24) + e
    price = 30_000 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    return level, price


def _time(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    fn()  # warm-up
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return {"p50_ms": round(1000 * statistics.median(ts), 3), "max_ms": round(1000 * ts[-1], 3), "n": repeats}


def run(repeats: int = 5, quick: bool = False) -> dict[str, Any]:
    from cryptoflow.forecast.backtest import default_max_train
    from cryptoflow.forecast.models import make_model
    from cryptoflow.forecast.router import route
    from cryptoflow.forecast.service import forecast
    from cryptoflow.forecast.targets import TargetSeries
    from cryptoflow.forecast.zoo import get_spec

    level, price = _series(2000)
    rets = np.diff(np.log(price))
    vol = np.abs(rets[-1999:]) * 1e3 + 0.1
    out: dict[str, Any] = {"points": 2000, "horizon": 12, "models": {}}
    for name in MODELS_2000[:6] if quick else MODELS_2000:
        spec = get_spec(name)
        cap = default_max_train(name)
        if name in ("HAR", "GARCH", "ARCH"):
            z, X = np.log(vol[-cap:]), {"ret": rets[-1999:][-cap:]}
        else:
            z, X = level[-cap:], None
        season = 24 if spec.seasonal else 1

        def fit_predict(name: str = name, z: np.ndarray = z, X: Any = X, season: int = season) -> None:
            make_model(name, season, False).fit_predict(z, 12, (80, 95), X)

        reps = 1 if spec.speed == "slow" else repeats
        window = make_model(name, season, False).state().get("fit_window")
        out["models"][name] = {"speed_class": spec.speed, "train_points": len(z),
                               "fit_points": min(len(z), window or len(z)), "season_length": season,
                               **_time(fit_predict, reps)}
    out["stat_auto_ms"] = {n: out["models"][n]["p50_ms"] for n in STAT_AUTO if n in out["models"]}
    if "AutoETS" in out["stat_auto_ms"]:
        ets = out["stat_auto_ms"]["AutoETS"] or 1.0
        out["stat_auto_vs_autoets"] = {n: round(v / ets, 3) for n, v in out["stat_auto_ms"].items()}
    rw = TargetSeries(price, "price", "1m")
    seas = TargetSeries(level, "funding", "1h")
    out["router"] = {"price": _time(lambda: route(rw, 12, "fast"), 200),
                     "seasonal": _time(lambda: route(seas, 12, "accurate"), 200)}
    out["forecast_fast_auto"] = {
        "price_2000": {**_time(lambda: forecast(rw, 12, priority="fast"), 20), "model": forecast(rw, 12).model},
        "seasonal_2000": {**_time(lambda: forecast(seas, 12, priority="fast"), 20),
                          "model": forecast(seas, 12).model}}
    batch = [_series(1000, seed=s)[0] for s in range(72)]

    def ets_batch() -> None:
        for y in batch:
            make_model("AutoETS", 1, False).fit_predict(y, 12, (80, 95))

    t0 = time.perf_counter()
    ets_batch()
    out["batch_72x1000_autoets_s"] = round(time.perf_counter() - t0, 3)
    out["targets"] = {
        "fast_auto_p50_lt_50ms": out["forecast_fast_auto"]["price_2000"]["p50_ms"] < 50,
        "stat_auto_lt_500ms": all(v < 500 for v in out["stat_auto_ms"].values()),
        "batch_72_autoets_lt_10s": out["batch_72x1000_autoets_s"] < 10,
        "router_lt_5ms": max(out["router"]["price"]["p50_ms"], out["router"]["seasonal"]["p50_ms"]) < 5}
    return out
