"""Backtests: CV strategies never leak, skill against naive is reported honestly, intervals cover."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cryptoflow.forecast.backtest import STRATEGIES, backtest, make_origins
from cryptoflow.forecast.metrics import diebold_mariano, grade
from cryptoflow.forecast.service import backtest_forecast, cross_validate, forecast
from cryptoflow.forecast.targets import TargetSeries
from tests.forecast.conftest import seasonal_ar


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_origins_never_leak(strategy: str) -> None:
    n, h, purge, embargo = 700, 12, 12, 7
    origins = make_origins(n, h, strategy, n_origins=20, min_train=50, window=200, folds=4, purge=purge,
                           embargo=embargo, retrain_every=5)
    assert len(origins) >= 20
    for o in origins:
        assert 0 <= o.train_start < o.train_end <= o.origin  # train indices < test indices
        assert o.origin + h <= n
        if strategy == "purged" and o.refit:
            assert o.origin - o.train_end >= purge
    assert origins[-1].origin + h == n  # the last test window ends with the data
    if strategy == "purged":
        folds: dict[int, list[int]] = {}
        for o in origins:
            folds.setdefault(o.fold, []).append(o.origin)
        keys = sorted(folds)
        for a, b in itertools.pairwise(keys):
            last_test = max(folds[a]) + h - 1
            assert min(folds[b]) - last_test - 1 >= embargo
    if strategy == "walkforward":
        assert sum(o.refit for o in origins) == 4  # 20 origins, retrain every 5
    if strategy == "sliding":
        assert all(o.train_end - o.train_start <= 200 for o in origins)


@pytest.mark.parametrize("strategy", ["expanding", "purged", "walkforward"])
def test_backtest_has_no_look_ahead(strategy: str) -> None:
    """Changing data after an origin's last visible point never changes that origin's forecast."""
    y = seasonal_ar(500, seed=3)
    base = backtest(TargetSeries(y, "level", "1h"), "Theta", 6, strategy, 20, season_length=24)
    cut = int(base.origins[10])
    y2 = y.copy()
    y2[cut:] += 50.0
    moved = backtest(TargetSeries(y2, "level", "1h"), "Theta", 6, strategy, 20, season_length=24)
    np.testing.assert_array_equal(base.origins, moved.origins)
    np.testing.assert_allclose(moved.pred[:11], base.pred[:11])
    assert not np.allclose(moved.pred[11:], base.pred[11:])


def test_router_pick_beats_naive_on_seasonal_ar(seasonal_series: TargetSeries) -> None:
    res = forecast(seasonal_series, 12, priority="fast")
    bt = res.backtest
    assert res.model == "SeasonalNaive" and "seasonality every 24 bars" in res.reason
    assert bt["origins"] >= 20 and bt["refits"] == bt["origins"]
    assert bt["rmae"] < 0.8 and bt["mae"] < bt["mae_naive"] and bt["mase"] > 0
    assert bt["dm"]["p_better"] < 0.01  # the improvement is significant
    assert bt["grade"] in ("S", "A", "B")
    assert len(res.point) == 12 and set(res.intervals) == {"80", "95"}
    assert all(lo < p < hi for lo, p, hi in zip(res.intervals["95"]["lower"], res.point,
                                                  res.intervals["95"]["upper"], strict=True))


def test_accurate_priority_uses_mstl_and_beats_naive(seasonal_series: TargetSeries) -> None:
    res = backtest_forecast(seasonal_series, "auto", 12, priority="accurate", n_origins=20)
    assert res["model"] == "MSTL"
    assert res["rmae"] < 0.8 and res["dm"]["p_better"] < 0.01


def test_random_walk_skill_is_about_one_and_grade_says_so(rw_series: TargetSeries) -> None:
    res = forecast(rw_series, 12, priority="fast")
    assert res.model == "Naive"
    assert res.backtest["rmae"] == pytest.approx(1.0) and res.backtest["grade"] == "C"
    assert "naive" in res.skill.lower()
    for model in ("Theta", "RandomWalkWithDrift", "Ridge"):
        bt = backtest_forecast(rw_series, model, 12, n_origins=20)
        assert 0.9 <= bt["rmae"] <= 1.15, (model, bt["rmae"])
        assert bt["grade"] not in ("S", "A"), (model, bt["verdict"])
        assert bt["dm"]["p_better"] > 0.01


def test_price_forecast_reconstructs_prices(rw_series: TargetSeries) -> None:
    res = forecast(rw_series, 5, model="RandomWalkWithDrift")
    last = rw_series.values[-1]
    assert all(abs(p / last - 1) < 0.01 for p in res.point)
    lo80, hi80 = res.intervals["80"]["lower"], res.intervals["80"]["upper"]
    widths = np.array(hi80) - np.array(lo80)
    assert np.all(np.diff(widths) > 0)  # random-walk intervals widen with the horizon
    assert res.ts_ns is not None and res.ts_ns[0] == int(rw_series.ts_ns[-1]) + 60_000_000_000


def _pooled_coverage(model: str, make, n_series: int = 12) -> dict[int, float]:
    hits: dict[int, list[np.ndarray]] = {80: [], 95: []}
    for seed in range(n_series):
        bt = backtest(make(seed), model, 4, "expanding", 40, step=4)
        for lv in hits:
            ok = np.isfinite(bt.lo[lv])
            hits[lv].append(((bt.actual >= bt.lo[lv]) & (bt.actual <= bt.hi[lv]))[ok])
    return {lv: float(np.concatenate(v).mean()) for lv, v in hits.items()}


def test_native_interval_coverage_on_gaussian_random_walk() -> None:
    def make(seed: int) -> TargetSeries:
        return TargetSeries(100 + np.cumsum(np.random.default_rng(100 + seed).normal(size=400)), "level")

    cov = _pooled_coverage("Naive", make)
    assert abs(cov[80] - 0.80) <= 0.05 and abs(cov[95] - 0.95) <= 0.05, cov


def test_conformal_interval_coverage_on_gaussian_noise() -> None:
    def make(seed: int) -> TargetSeries:
        return TargetSeries(10 + np.random.default_rng(200 + seed).normal(size=400), "level")

    cov = _pooled_coverage("WindowAverage", make)  # no native intervals: sequential conformal
    assert abs(cov[80] - 0.80) <= 0.05 and abs(cov[95] - 0.95) <= 0.05, cov


def test_dm_and_grade_rules() -> None:
    rng = np.random.default_rng(0)
    same = rng.random(30)
    assert diebold_mariano(same, same)["p_better"] == 1.0
    better = diebold_mariano(same * 0.5, same)
    assert better["p_better"] < 0.001 and better["p_worse"] > 0.99
    dm_sig = {"p_better": 0.001, "p_worse": 0.999}
    assert grade(0.6, dm_sig, 3.0, 20)[0] == "S"
    assert grade(0.6, dm_sig, 15.0, 20)[0] == "B"  # calibration caps the letter
    assert grade(0.6, dm_sig, None, 20)[0] == "B"  # unchecked coverage caps the letter
    assert grade(0.6, {"p_better": 0.3, "p_worse": 0.7}, 3.0, 20)[0] == "C"  # not significant: no skill
    assert grade(1.1, {"p_better": 0.9, "p_worse": 0.1}, 3.0, 20)[0] == "D"
    assert grade(1.4, {"p_better": 0.99, "p_worse": 0.01}, 3.0, 20)[0] == "F"


def test_cross_validate_leaderboard(seasonal_series: TargetSeries) -> None:
    out = cross_validate(seasonal_series, ["Naive", "SeasonalNaive", "Theta"], 12,
                         strategies=("blocked", "purged"), n_origins=20, purge=12, embargo=6)
    assert out["season_length"] == 24
    by = {(r["strategy"], r["model"]): r for r in out["results"]}
    assert len(by) == 6
    for strat in ("blocked", "purged"):
        assert by[(strat, "Naive")]["rmae"] == pytest.approx(1.0)
        assert by[(strat, "SeasonalNaive")]["rmae"] < 0.8
        assert by[(strat, "SeasonalNaive")]["refits"] == 4  # one fit per block
