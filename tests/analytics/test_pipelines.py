"""Loading from a lake and the tool-level pipelines, on a small synthetic lake with planted facts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cryptoflow.analytics import data, pipelines
from cryptoflow.analytics.ts import pipelines as tsp
from cryptoflow.errors import QueryError

S = 1_000_000_000
V, SYM = "binance_usdm", "BTCUSDT"


def test_loaders_return_time_ordered_arrays(small_lake):
    lake, facts = small_lake
    tr = data.load_trades(lake, V, SYM)
    assert len(tr) == facts["trades"] and not tr.truncated
    assert np.all(np.diff(tr.ts_ns) >= 0) and set(np.unique(tr.sign)) == {-1, 1}
    cut = data.load_trades(lake, V, SYM, max_rows=1000)
    assert cut.truncated and len(cut) == 1000 and cut.ts_ns[-1] == tr.ts_ns[-1]  # the most recent rows
    half = facts["start_ns"] + (facts["end_ns"] - facts["start_ns"]) // 2
    part = data.load_trades(lake, V, SYM, start=half)
    assert part.ts_ns.min() >= half and len(part) == int(np.sum(tr.ts_ns >= half))
    bk = data.load_books(lake, V, SYM, depth=5)
    assert bk.bid_px.shape == (facts["book_rows"], 5) and np.all(bk.bid_px[:, 0] > bk.bid_px[:, 1])
    mids = data.load_mids(lake, [V, "okx"], SYM, step_ns=100_000_000)
    assert set(mids) == {V, "okx"} and np.all(mids[V][0] % 100_000_000 == 0)
    assert data.venues_with(lake, "bbo", SYM, "spot") == ["binance_spot"]
    assert data.latest_ts(lake, "trades", SYM, V) == tr.ts_ns[-1]


def test_loaders_refuse_bad_input(small_lake):
    lake, _ = small_lake
    with pytest.raises(QueryError):
        data.load_trades(lake, "nasdaq", SYM)
    with pytest.raises(QueryError, match="empty time range"):
        data.load_trades(lake, V, SYM, start=10, end=5)
    with pytest.raises(QueryError, match="unknown series"):
        data.load_series(lake, "vibes", V, SYM)
    with pytest.raises(QueryError, match="no trades stored"):
        data.resolve_window(lake, "trades", "ETHUSDT", V, "perp", None, None, 60)


def test_order_flow_report(small_lake):
    lake, _facts = small_lake
    rep = pipelines.analyze_order_flow(lake, V, SYM, lookback_s=7200)  # the whole lake
    assert {"trade_imbalance", "cvd", "volume_profile", "vwap", "whales", "absorption", "book_imbalance",
            "walls"} <= set(rep.metrics)
    tr = data.load_trades(lake, V, SYM)
    assert rep["vwap"].value == pytest.approx(np.dot(tr.price, tr.qty) / tr.qty.sum())
    assert rep["cvd"].value == pytest.approx(float(np.sum(tr.sign * tr.qty)))
    assert rep.window.end_ns == int(tr.ts_ns[-1]) + 1  # the window ends just after the newest trade
    json.dumps(rep.to_dict())  # JSON-able all the way down


def test_leverage_report_finds_the_planted_cascade(small_lake):
    lake, facts = small_lake
    rep = pipelines.analyze_leverage(lake, SYM, lookback_s=3600)
    casc = rep["liquidation_cascades"]
    assert casc.value == 1
    c = casc.details["cascades"][0]
    assert c["start_ns"] == facts["cascade_start_ns"]
    assert c["side"] == "longs liquidated" and c["move_bps"] < -100  # the planted -150 bps jump
    assert rep["long_short_skew"].value > 0.5
    assert set(rep["funding_stress"].details["by_venue"]) == {V, "okx"}
    assert rep["funding_stress"].details["max_venue"] == "okx"  # okx funding planted 0.2 bp higher
    assert rep["oi_flow"].value in ("long_liquidation", "short_covering")  # OI cut 3 % at the cascade


def test_cross_exchange_report_names_the_leader(small_lake):
    lake, _facts = small_lake
    rep = pipelines.analyze_cross_exchange(lake, SYM, lookback_s=600)
    ll = rep["lead_lag"]
    assert ll.value == V
    pair = ll.details["pairs"][0]
    assert (pair["leader"], pair["follower"]) == (V, "okx") and pair["lag_ms"] == pytest.approx(200, abs=50)
    assert rep["basis"].value == pytest.approx(2.0, abs=0.5)  # spot planted 2 bps below
    assert rep["price_discovery"].value[f"{V}/okx"][V] > 0.8
    json.dumps(rep.to_dict())


def test_regime_alpha_heatmap_reports(small_lake):
    lake, _ = small_lake
    reg = pipelines.detect_market_regime(lake, V, SYM, lookback_s=3600, bar_s=30)
    assert reg["market_regime"].value in ("TRENDING_UP", "TRENDING_DOWN", "RANGING", "HIGH_VOLATILITY",
                                          "LOW_VOLATILITY", "BREAKOUT", "BREAKDOWN")
    al = pipelines.compute_alpha_signals(lake, V, SYM, lookback_s=3600)
    comp = al["composite"]
    assert -1 <= comp.value <= 1 and comp.details["components"]
    hm = pipelines.liquidation_heatmap(lake, SYM, lookback_s=7200)
    assert sum(r["count"] for r in hm["liquidation_heatmap"].value) == len(data.load_liquidations(lake, SYM))
    for rep in (reg, al, hm):
        json.dumps(rep.to_dict())


def test_time_series_pipelines(small_lake):
    lake, facts = small_lake
    an = tsp.detect_anomalies(lake, V, SYM, "price", lookback_s=3600, interval_s=10)
    jump_hits = [p for p in an["anomalies"].details["points"] if abs(p["ts_ns"] - facts["jump_ns"]) <= 10 * S]
    assert jump_hits, "the planted -150 bps jump is an anomaly of 10 s returns"
    cp = tsp.detect_change_points(lake, V, SYM, "open_interest", lookback_s=3600, interval_s=60, method="pelt")
    assert any(abs(p["ts_ns"] - facts["jump_ns"]) <= 120 * S for p in cp["change_points"].details["points"])
    se = tsp.analyze_seasonality(lake, V, SYM, "trade_count", lookback_s=3600, interval_s=10, period_s=600)
    assert se["stl"].inputs["period_samples"] == 60
    fe = tsp.extract_features(lake, V, SYM, "price", lookback_s=3600, interval_s=10)
    assert fe["features"].value >= 40
    with pytest.raises(QueryError, match="perps only"):
        tsp.detect_anomalies(lake, "binance_spot", SYM, "funding", market="spot")
