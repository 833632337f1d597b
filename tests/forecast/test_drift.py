"""Drift: a planted change is caught within a bounded delay; a stationary stream never reaches HIGH."""

from __future__ import annotations

import numpy as np

from cryptoflow.forecast.drift import assess, ddm_detections, ks, model_drift, psi, stream_detections
from cryptoflow.forecast.targets import TargetSeries


def test_planted_error_drift_detected_within_bounded_delay() -> None:
    bound = {"adwin": 150, "page_hinkley": 100}  # ADWIN checks every 32 points (clock), so its delay steps by 32
    for seed in range(5):
        rng = np.random.default_rng(seed)
        x = np.r_[np.abs(rng.standard_t(5, 600)), 2 * np.abs(rng.standard_t(5, 300))]
        hits = stream_detections(x, ("adwin", "page_hinkley"))
        for name, idx in hits.items():
            assert not [i for i in idx if i < 600], (seed, name, idx)  # no alarm before the change
            after = [i - 600 for i in idx if i >= 600]
            assert after and after[0] <= bound[name], (seed, name, after)


def test_stationary_stream_never_high() -> None:
    for seed in range(8):
        rng = np.random.default_rng(seed)
        rep = assess(rng.standard_t(5, 300), rng.standard_t(5, 150), rng.normal(size=300), rng.normal(size=150))
        assert rep.severity != "HIGH", (seed, rep.reasons)
        assert rep.error_ratio < 1.4


def test_planted_drift_is_high_with_retrain_recommendation() -> None:
    rng = np.random.default_rng(0)
    rep = assess(rng.normal(size=300), 2.5 * rng.normal(size=150))
    assert rep.severity == "HIGH" and "retrain" in rep.recommendation
    assert rep.error_ratio > 2.0 and rep.detectors["adwin"]["detected"]


def test_model_drift_on_price_volatility_jump() -> None:
    rng = np.random.default_rng(0)
    calm = TargetSeries(100 * np.exp(np.cumsum(rng.normal(0, 1e-3, 1000))), "price", "1m")
    assert model_drift(calm, "Naive")["severity"] != "HIGH"
    r = np.r_[rng.normal(0, 1e-3, 900), rng.normal(0, 3e-3, 100)]
    out = model_drift(TargetSeries(100 * np.exp(np.cumsum(r)), "price", "1m"), "Naive")
    assert out["severity"] == "HIGH"
    assert out["detectors"]["ddm_interval_misses"]["detected"]  # DDM on the 0/1 interval-miss stream
    assert out["tests"]["input_ks_p"] < 0.01


def test_psi_ks_ddm_basics() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=5000), rng.normal(size=5000)
    assert psi(a, b) < 0.01 and psi(a, b + 1.0) > 0.25
    assert ks(a, b)[1] > 0.01 and ks(a, b + 0.5)[1] < 1e-6
    misses = np.r_[rng.random(400) < 0.2, rng.random(200) < 0.6].astype(int)
    hits = ddm_detections(misses)
    assert hits and 400 <= hits[0] <= 500
