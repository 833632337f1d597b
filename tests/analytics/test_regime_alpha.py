"""Regime classification and alpha signals on constructed inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cryptoflow.analytics import alpha, regime

S = 1_000_000_000


def _ts(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64) * 60 * S


def test_trend_then_range_and_transition_matrix():
    rng = np.random.default_rng(0)
    up = 100 * np.exp(np.cumsum(0.002 + rng.normal(0, 0.0005, 120)))  # strong drift
    flat = up[-1] * np.exp(rng.normal(0, 0.0005, 120))  # noise around a level
    close = np.concatenate([up, flat])
    labels, conf, _st = regime.classify(close, window=20)
    assert np.mean(labels[20:90] == "TRENDING_UP") > 0.8
    assert np.mean(np.isin(labels[-60:], ["RANGING", "LOW_VOLATILITY", "HIGH_VOLATILITY"])) > 0.8
    assert ((conf >= 0.5) & (conf <= 1.0))[labels != "RANGING"].all()
    tm = regime.transition_matrix(labels)
    for row in tm.values():
        assert sum(row.values()) == pytest.approx(1.0, abs=1e-3)
    assert tm["TRENDING_UP"]["TRENDING_UP"] > 0.8  # regimes persist


def test_breakdown_on_a_sharp_drop_and_market_regime_result():
    rng = np.random.default_rng(1)
    close = 100 * np.exp(rng.normal(0, 0.0005, 80).cumsum())
    close[-3:] = close[-4] * np.array([0.99, 0.985, 0.98])
    r = regime.market_regime(_ts(80), close, window=20)
    assert r.value == "BREAKDOWN"
    assert r.details["confidence"] > 0.5
    assert set(r.details["regime_shares"]) <= set(regime.REGIMES)
    assert "transition_matrix" in r.details and r.window.observations == 80


def test_volatility_regime_high_when_recent_vol_jumps():
    rng = np.random.default_rng(2)
    r_ = np.concatenate([rng.normal(0, 0.0005, 300), rng.normal(0, 0.003, 40)])
    close = 100 * np.exp(np.cumsum(r_))
    r = regime.volatility_regime(_ts(len(close)), close, bar_s=60, window=30)
    assert r.value in ("HIGH", "EXTREME")
    expected = np.std(r_[-30:]) * math.sqrt(365 * 86_400 / 60)
    assert r.details["realised_vol_annual"] == pytest.approx(expected, rel=0.01)


def test_composite_is_the_weighted_mean_of_components():
    parts = alpha.components(order_flow_imbalance=0.5, cvd_over_volume=0.1, institutional=-0.2, absorption=None,
                             short_squeeze=0.6, long_squeeze=0.2, funding_z=2.0)
    assert parts["cvd_trend"] == pytest.approx(0.5)  # 5 x 0.1
    assert parts["squeeze"] == pytest.approx(0.4)
    assert parts["funding_contrarian"] == pytest.approx(-math.tanh(1.0))
    r = alpha.composite(parts)
    w = alpha.COMPOSITE_WEIGHTS
    expected = sum(w[k] * v for k, v in parts.items()) / sum(w[k] for k in parts)
    assert r.value == pytest.approx(expected, abs=1e-4)
    assert -1 <= r.value <= 1
    assert r.details["missing"] == ["absorption"]
    assert sum(r.details["contributions"].values()) == pytest.approx(r.value, abs=1e-3)


def test_squeeze_scores_point_the_right_way():
    crowded_short = alpha.squeeze_probability(funding_z=-3.0, oi_change_pct=2.0, price_move_bps=20, liq_skew=-0.8)
    assert crowded_short.value["short_squeeze"] > 0.9
    assert crowded_short.value["long_squeeze"] < crowded_short.value["short_squeeze"] - 0.5
    neutral = alpha.squeeze_probability(0.0, 0.0, 0.0, 0.0)
    assert neutral.value["short_squeeze"] == neutral.value["long_squeeze"] == pytest.approx(
        1 / (1 + math.exp(-alpha.SQUEEZE_BIAS)), abs=1e-4)
    assert "not a calibrated probability" in crowded_short.reading


def test_institutional_pressure_and_absorption():
    r = alpha.institutional_pressure(whale_buy_notional=3e6, whale_sell_notional=1e6, total_notional=8e6)
    assert r.value == pytest.approx(0.5 * min(1.0, 0.5 / alpha.INSTITUTIONAL_FULL_SHARE))
    small = alpha.institutional_pressure(3e5, 1e5, 8e6)  # whales 5 % of flow: damped
    assert small.value == pytest.approx(0.5 * 0.05 / alpha.INSTITUTIONAL_FULL_SHARE)
    a = alpha.smart_money_absorption(-1.0, absorption_events=1, buckets=60)
    assert a.value == pytest.approx(-1.0 * (1 / 60) / alpha.ABSORPTION_FULL_RATE, abs=1e-4)
