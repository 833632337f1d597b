"""Order flow on small hand-computed data."""

from __future__ import annotations

import numpy as np
import pytest

from cryptoflow.analytics import order_flow as of

S = 1_000_000_000
# six trades: seconds, price, qty, aggressor sign
TS = np.array([0, 10, 30, 65, 70, 130], dtype=np.int64) * S
PX = np.array([100.0, 101.0, 102.0, 101.0, 100.0, 103.0])
QTY = np.array([1.0, 2.0, 1.0, 3.0, 1.0, 2.0])
SIGN = np.array([1, -1, 1, 1, -1, 1], dtype=np.int8)


def test_cvd_by_hand():
    r = of.cvd(TS, PX, QTY, SIGN, bucket_s=60)
    # buckets [0,60): +1-2+1 = 0; [60,120): +3-1 = 2; [120,180): +2
    assert r.details["delta"] == [0.0, 2.0, 2.0]
    assert r.details["cvd"] == [0.0, 2.0, 4.0]
    assert r.value == 4.0
    assert r.details["close"] == [102.0, 100.0, 103.0]
    assert r.details["cvd_over_volume"] == pytest.approx(0.4)
    assert "cvd" in r.formula and r.window.observations == 6


def test_vwap_by_hand():
    r = of.vwap_deviation(PX, QTY)
    assert r.value == pytest.approx(1013.0 / 10.0)  # sum(p*q) / sum(q)
    assert r.details["deviation_bps"] == pytest.approx((103.0 / 101.3 - 1) * 1e4, abs=1e-3)
    sigma = np.sqrt(np.sum(QTY * (PX - 101.3) ** 2) / 10)
    assert r.details["sigma"] == pytest.approx(sigma)
    assert r.details["upper_band_2sigma"] == pytest.approx(101.3 + 2 * sigma)


def test_volume_profile_by_hand():
    r = of.volume_profile(PX, QTY, bin_size=1.0)
    # bins: [100,101): 2, [101,102): 5, [102,103): 1, [103,104): 2 ; POC = 101.5
    assert r.value == pytest.approx(101.5)
    # value area from POC (5): neighbours 1 (above) vs 2 (below) -> add below: 7 of 10 = 70 %
    assert r.details["value_area_low"] == pytest.approx(100.0)
    assert r.details["value_area_high"] == pytest.approx(102.0)
    assert r.details["value_area_volume_share"] == pytest.approx(0.7)
    assert r.details["top_bins"][0] == {"price": 101.5, "volume": 5.0}


def test_trade_imbalance_windows():
    r = of.trade_imbalance(TS, QTY, SIGN, windows_s=(60, 300))
    assert r.value["60s"] == 1.0  # only the trade at 130 s is in (70, 130]
    assert r.value["300s"] == pytest.approx((7 - 3) / 10)
    assert r.details["300s"] == {"buy_qty": 7.0, "sell_qty": 3.0, "trades": 6}


def test_whales_found_by_percentile():
    rng = np.random.default_rng(1)
    n = 200
    qty = rng.uniform(0.1, 1.0, n)
    big = [20, 80, 150]
    qty[big] = [50.0, 60.0, 70.0]
    sign = np.ones(n, dtype=np.int8)
    sign[150] = -1
    r = of.whales(np.arange(n, dtype=np.int64) * S, np.full(n, 100.0), qty, sign, percentile=98.5)
    assert r.details["count"] == 3
    assert {w["qty"] for w in r.details["largest"]} == {50.0, 60.0, 70.0}
    assert r.value == pytest.approx((5000 + 6000 - 7000) / 18000, abs=1e-4)


def test_book_imbalance_depths():
    bq = np.array([[1.0, 1.0, 1.0], [3.0, 1.0, np.nan]])
    aq = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, np.nan]])
    r = of.book_imbalance(bq, aq, depths=(1, 2, 3))
    assert r.value == {"1": 0.5, "2": pytest.approx(1 / 3, abs=1e-4), "3": pytest.approx(1 / 3, abs=1e-4)}
    assert r.details["mean_over_window"]["1"] == 0.25


def test_walls_hold_pull_consume():
    n = 6
    ts = np.arange(n, dtype=np.int64) * S
    bid_px = np.tile([100.0, 99.5, 99.0, 98.5, 98.0], (n, 1))
    ask_px = np.tile([100.5, 101.0, 101.5, 102.0, 102.5], (n, 1))
    bq, aq = np.ones((n, 5)), np.ones((n, 5))
    bq[:, 2] = 50.0  # bid wall at 99.0 in every snapshot: holding
    aq[:3, 2] = 40.0  # ask wall at 101.5 for 3 snapshots, then gone with price far below: pulled
    bq[:3, 4] = 30.0  # bid wall at 98.0 for 3 snapshots ...
    bid_px[4:, 0] = 97.5  # ... then the best bid trades below it: consumed
    r = of.walls(ts, bid_px, bq, ask_px, aq)
    by = {(w["side"], w["price"]): w["status"] for w in r.details["walls"]}
    assert by == {("bid", 99.0): "holding", ("ask", 101.5): "pulled", ("bid", 98.0): "consumed"}
    assert r.value == 1


def test_absorption_flags_heavy_flow_without_move():
    rng = np.random.default_rng(2)
    ts, px, qty, sign = [], [], [], []
    price = 100.0
    for b in range(40):
        heavy = b == 30
        for i in range(20):
            ts.append(b * 60 * S + i * S)
            move = 0.0 if heavy else rng.normal(0, 0.05)
            price += move
            px.append(price)
            qty.append(10.0 if heavy else 1.0)
            sign.append(1 if heavy or i % 2 else -1)  # other buckets: balanced flow
    r = of.absorption(np.array(ts), np.array(px), np.array(qty), np.array(sign, dtype=np.int8), bucket_s=60)
    events = r.details["events"]
    assert [e["bucket_start_ns"] for e in events] == [30 * 60 * S]
    assert events[0]["absorbed"] == "buying"
    assert r.value == -1.0  # absorbed buying: passive sellers, bearish


def test_empty_inputs_explain_themselves():
    e = np.array([], dtype=np.int64)
    f = np.array([])
    assert of.cvd(e, f, f, e).value is None
    assert of.vwap_deviation(f, f).reading == "no volume in the window"
    assert of.volume_profile(f, f).value is None
