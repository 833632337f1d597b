"""Router: decisions follow the data and the registry, and are made in under 5 ms."""

from __future__ import annotations

import time

import numpy as np

from cryptoflow.forecast.router import route
from cryptoflow.forecast.targets import TargetSeries
from tests.forecast.conftest import random_walk_price, seasonal_ar


def test_router_is_fast_on_2000_points() -> None:
    series = [TargetSeries(random_walk_price(2000), "price", "1m"), TargetSeries(seasonal_ar(2000), "funding", "1h")]
    past = {"Theta": {"rmae": 0.97, "p_better": 0.2, "n_origins": 20}}
    for s in series:
        route(s, 12, "accurate", past)
        times = []
        for _ in range(50):
            t0 = time.perf_counter()
            route(s, 12, "accurate", past)
            times.append(time.perf_counter() - t0)
        assert float(np.median(times)) < 0.005, np.median(times)


def test_router_decisions() -> None:
    rw = TargetSeries(random_walk_price(800), "price", "1m")
    d = route(rw, 12, "accurate")
    assert d.model == "Naive" and "random walk" in d.reason
    assert route(TargetSeries(random_walk_price(20), "price", "1m"), 12).model == "Naive"  # too short
    vol = TargetSeries(np.exp(np.random.default_rng(0).normal(-6, 0.3, 500)), "volatility", "5m")
    assert route(vol, 12, "fast").model == "HAR"
    seas = TargetSeries(seasonal_ar(600), "funding", "1h")
    assert (route(seas, 12, "realtime").model, route(seas, 12, "fast").model) == ("SeasonalNaive", "SeasonalNaive")
    d = route(seas, 12, "accurate")
    assert d.model == "MSTL" and d.season_length == 24
    flat = TargetSeries(50 + np.cumsum(np.random.default_rng(1).normal(size=600)) * 0.1, "oi", "1h")
    assert route(flat, 12, "fast").model == "Theta"
    assert route(flat, 12, "accurate").model == "AutoETS"


def test_router_uses_proven_skill_but_not_noise() -> None:
    rw = TargetSeries(random_walk_price(800), "price", "1m")
    noise = {"Theta": {"rmae": 0.96, "p_better": 0.30, "n_origins": 20}}
    assert route(rw, 12, "fast", noise).model == "Naive"
    proven = {"Theta": {"rmae": 0.85, "p_better": 0.005, "n_origins": 20},
              "LightGBM": {"rmae": 0.70, "p_better": 0.001, "n_origins": 20}}
    d = route(rw, 12, "fast", proven)  # LightGBM is too slow for priority=fast
    assert d.model == "Theta" and "registry" in d.reason and "0.850" in d.reason
    assert route(rw, 12, "accurate", proven).model == "LightGBM"
    assert route(rw, 12, "accurate", proven, installed={"Naive", "Theta"}).model == "Theta"
