"""Leverage analytics: hand-made OI/funding/liquidation data, and a simulated cascade."""

from __future__ import annotations

import numpy as np
import pytest

from cryptoflow.analytics import leverage as lv
from cryptoflow.events import Liquidation, Trade
from cryptoflow.sim.market import MarketConfig, SyntheticMarket

S = 1_000_000_000


def test_oi_flow_quadrants():
    t = np.arange(5, dtype=np.int64) * 60 * S
    oi = np.array([1000.0, 1010.0, 1020.0, 1015.0, 1005.0])
    price = np.array([100.0, 101.0, 100.0, 101.0, 100.0])
    r = lv.oi_flow(t, oi, t, price)
    by = r.details["by_category"]
    # up/up, down/up, up/down, down/down: one interval each
    assert [by[c]["intervals"] for c in lv.OI_CATEGORIES] == [1, 1, 1, 1, 0]
    assert by["long_build_up"]["oi_change"] == 10.0
    assert by["long_liquidation"]["oi_change"] == -10.0
    assert r.value == "long_build_up"  # over the window: price flat (>= 0), OI +5
    assert r.details["latest"] == "long_liquidation"


def test_funding_stress_flags_a_spike_and_dispersion():
    t = np.arange(50, dtype=np.int64) * 60 * S
    calm = 1e-4 + 1e-6 * np.sin(np.arange(50))
    spiking = calm.copy()
    spiking[-1] = 6e-4
    r = lv.funding_stress({"okx": (t, calm), "bybit": (t, spiking)})
    z_bybit = (6e-4 - spiking.mean()) / spiking.std()
    z_okx = (calm[-1] - calm.mean()) / calm.std()
    assert r.details["by_venue"]["bybit"]["z"] == pytest.approx(z_bybit, abs=1e-3)
    assert r.value == pytest.approx((z_bybit + z_okx) / 2, abs=1e-3)  # pooled = mean of venue z-scores
    assert r.details["label"] == ("extreme" if abs(r.value) >= lv.FUNDING_Z_EXTREME else "elevated")
    assert r.details["max_venue"] == "bybit"
    assert r.details["dispersion_range_bps"] == pytest.approx((6e-4 - calm[-1]) * 1e4, abs=1e-4)
    assert r.details["annualised_pct"] == pytest.approx((calm[-1] + 6e-4) / 2 * 1095 * 100, abs=1e-3)


def test_skew_and_heatmap_by_hand():
    price = np.array([100.0, 100.4, 101.2, 101.9])
    notional = np.array([1000.0, 3000.0, 500.0, 500.0])
    long = np.array([True, True, False, True])
    skew = lv.long_short_skew(notional, long)
    assert skew.value == pytest.approx((4500 - 500) / 5000)
    heat = lv.liquidation_heatmap(price, notional, long, bucket_size=1.0)
    assert heat.value == [
        {"price_low": 100.0, "price_high": 101.0, "long_notional": 4000.0, "short_notional": 0.0, "count": 2},
        {"price_low": 101.0, "price_high": 102.0, "long_notional": 500.0, "short_notional": 500.0, "count": 2}]


def test_simulated_cascade_detected_with_its_start():
    m = SyntheticMarket(MarketConfig(seed=11, symbols=("BTCUSDT",), venues=("binance_usdm", "bybit", "okx"),
                                     event_rate=10))
    t0 = m.now_ns
    events = m.advance(t0 + 40 * S)
    jump_at = t0 + 40 * S
    m.plant_jump("BTCUSDT", -300.0, at_ns=jump_at)
    events += m.advance(t0 + 70 * S)
    liq = [e for e in events if type(e) is Liquidation]
    trades = [e for e in events if type(e) is Trade and e.venue == "binance_usdm"]
    r = lv.liquidation_cascades(np.array([e.ts for e in liq]), np.array([e.notional for e in liq]),
                                np.array([e.side == "long" for e in liq]), np.array([e.price for e in liq]),
                                np.array([e.ts for e in trades]), np.array([e.price for e in trades]))
    assert r.value == 1
    c = r.details["cascades"][0]
    assert jump_at <= c["start_ns"] <= jump_at + 2 * S  # starts right after the planted jump
    assert c["side"] == "longs liquidated" and c["long_share"] > 0.7
    assert c["move_bps"] < -200  # the -300 bps jump (plus impact) is in the reported move
    assert c["events"] >= 20


def test_no_cascade_in_sparse_liquidations():
    ts = np.arange(10, dtype=np.int64) * 60 * S
    r = lv.liquidation_cascades(ts, np.full(10, 1e4), np.ones(10, bool), np.full(10, 100.0))
    assert r.value == 0 and r.details["clusters"] == 10
