"""Known-answer series for the forecasting tests (seeded, so every run sees the same data)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

from cryptoflow.forecast.targets import TargetSeries

T0 = 1_700_006_400_000_000_000  # an hour boundary
HOUR = 3_600_000_000_000
MINUTE = 60_000_000_000


def seasonal_ar(n: int = 600, seed: int = 0, amp: float = 5.0, phi: float = 0.6) -> np.ndarray:
    """Daily cycle on hourly bars plus AR(1) noise: real structure that naive cannot see."""
    rng = np.random.default_rng(seed)
    e = np.zeros(n)
    for i in range(1, n):
        e[i] = phi * e[i - 1] + rng.normal()
    return 50 + amp * np.sin(2 * np.pi * np.arange(n) / 24) + e


def random_walk_price(n: int = 1500, seed: int = 0, sigma: float = 0.001) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 30_000 * np.exp(np.cumsum(rng.normal(0, sigma, n)))


@pytest.fixture
def seasonal_series() -> TargetSeries:
    y = seasonal_ar()
    return TargetSeries(y, "funding", "1h", T0 + HOUR * np.arange(len(y)), key="sim:X:perp:funding:1h")


@pytest.fixture
def rw_series() -> TargetSeries:
    p = random_walk_price()
    return TargetSeries(p, "price", "1m", T0 + MINUTE * np.arange(len(p)), key="sim:BTCUSDT:perp:price:1m")
