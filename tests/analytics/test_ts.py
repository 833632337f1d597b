"""Time-series engine on series with planted answers."""

from __future__ import annotations

import numpy as np
import pytest

from cryptoflow.analytics.ts import anomalies, changepoints, features, seasonality

RECALL_MIN = 0.9
PRECISION_MIN = 0.8


@pytest.mark.parametrize("method", ["cusum", "binseg", "pelt"])
def test_planted_change_point_found_within_tolerance(method):
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(0.0, 1.0, 700), rng.normal(1.5, 1.0, 500)])
    r = changepoints.detect(x, method=method)
    found = r.details["by_method"][method]
    assert len(found) == 1, found
    assert abs(found[0] - 700) <= 15
    p = r.details["points"][0]
    assert p["shift"] == pytest.approx(1.5, abs=0.25)


def test_two_change_points_and_all_methods():
    rng = np.random.default_rng(8)
    x = np.concatenate([rng.normal(0, 1, 400), rng.normal(-2, 1, 300), rng.normal(1, 1, 300)])
    r = changepoints.detect(x, method="all")
    for m, pts in r.details["by_method"].items():
        assert len(pts) == 2, (m, pts)
        assert abs(pts[0] - 400) <= 15 and abs(pts[1] - 700) <= 15


def test_no_change_point_in_pure_noise():
    x = np.random.default_rng(9).normal(0, 1, 1500)
    assert changepoints.detect(x, method="pelt").value == 0


def test_planted_anomalies_recall_and_precision():
    rng = np.random.default_rng(0)
    n, k = 3000, 30
    x = rng.normal(0, 1, n)
    planted = np.sort(rng.choice(np.arange(50, n), k, replace=False))
    x[planted] += rng.choice([-1, 1], k) * rng.uniform(6, 10, k)
    r = anomalies.detect(x, np.arange(n, dtype=np.int64))
    found = set(r.details["ensemble_indices"])
    tp = len(found & set(planted.tolist()))
    recall, precision = tp / k, tp / max(len(found), 1)
    print(f"ensemble recall {recall:.2f} precision {precision:.2f}; by method {r.details['by_method']}")
    assert recall >= RECALL_MIN
    assert precision >= PRECISION_MIN
    # each single method catches most spikes too; the vote is what keeps precision up
    assert r.details["by_method"]["zscore"] >= 0.9 * k


def test_anomaly_method_validation():
    with pytest.raises(ValueError, match="unknown method"):
        anomalies.detect(np.zeros(50), methods=("nope",))


def test_planted_period_found_by_fft():
    rng = np.random.default_rng(1)
    t = np.arange(2880)
    x = 2.0 * np.sin(2 * np.pi * t / 96) + rng.normal(0, 1.0, len(t)) + 0.001 * t
    r = seasonality.fft_periods(x, step_s=60)
    assert r.details["periods"][0]["period_samples"] == pytest.approx(96, rel=0.02)
    assert r.value == pytest.approx(96 * 60, rel=0.02)
    assert r.details["significant"] and r.details["p_value"] < 1e-6


def test_white_noise_has_no_significant_period():
    r = seasonality.fft_periods(np.random.default_rng(2).normal(0, 1, 2000))
    assert not r.details["significant"]


def test_stl_strengths():
    rng = np.random.default_rng(3)
    t = np.arange(24 * 30)
    seasonal = np.sin(2 * np.pi * t / 24) * 3
    r = seasonality.stl(seasonal + rng.normal(0, 0.5, len(t)), period=24)
    assert r.value > 0.8
    assert r.details["peak_phase"] in (5, 6, 7)  # sin peaks at a quarter period
    noise = seasonality.stl(rng.normal(0, 1, len(t)), period=24)
    assert noise.value < 0.3


def test_features_forty_plus_and_known_values():
    rng = np.random.default_rng(4)
    walk = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, 3000)))
    r = features.extract(walk)
    flat = {k: v for g in r.details.values() for k, v in g.items()}
    assert r.value >= 40 and len(flat) == r.value
    assert set(r.details) == set(features.GROUPS)
    assert flat["count"] == 3000 and flat["max"] == pytest.approx(walk.max())
    assert flat["dfa_alpha"] == pytest.approx(0.5, abs=0.1)  # uncorrelated returns
    assert flat["hurst_exponent"] == pytest.approx(0.55, abs=0.1)  # R/S reads ~0.55 on white noise
    assert abs(flat["acf_lag1"]) < 0.1
    assert flat["permutation_entropy"] > 0.95


def test_entropy_and_hurst_separate_structure_from_noise():
    rng = np.random.default_rng(5)
    noise = rng.normal(0, 1, 1500)
    sine = np.sin(np.arange(1500) / 5.0)
    assert features.sample_entropy(np.diff(sine)) < features.sample_entropy(noise)
    persistent = np.convolve(noise, np.ones(30) / 30, mode="valid")  # smoothed: trending increments
    assert features.hurst_rs(persistent) > 0.8
