"""Cross-venue analytics on the synthetic market (known lags and planted dislocations) and by hand."""

from __future__ import annotations

import numpy as np
import pytest

from cryptoflow.analytics import lead_lag, spreads
from cryptoflow.events import BBO
from cryptoflow.sim.market import MarketConfig, PriceParams, SyntheticMarket

S = 1_000_000_000
STEP = 50_000_000  # 50 ms grid


def mids_by_venue(events: list, step_ns: int = STEP) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Last BBO mid per venue per grid bucket, stamped at the bucket end (as data.load_mids does)."""
    out = {}
    for v in sorted({e.venue for e in events if type(e) is BBO}):
        q = [e for e in events if type(e) is BBO and e.venue == v]
        t = np.array([e.ts for e in q], dtype=np.int64)
        mid = np.array([(e.bid_price + e.ask_price) / 2 for e in q])
        b = (t // step_ns + 1) * step_ns
        last = np.flatnonzero(np.concatenate([b[1:] != b[:-1], [True]]))
        out[v] = (b[last], mid[last])
    return out


@pytest.fixture(scope="module")
def leader_run():
    # event_rate 400: requotes every 10 ms step, so lags show at their true resolution
    m = SyntheticMarket(MarketConfig(seed=3, symbols=("BTCUSDT",), venues=("binance_usdm", "hyperliquid"),
                                     event_rate=400))
    grid, mids = lead_lag.on_grid(mids_by_venue(m.advance(m.now_ns + 45 * S)), STEP)
    return grid, mids


def test_lead_lag_names_binance_leading_hyperliquid_by_500ms(leader_run):
    grid, mids = leader_run
    r = lead_lag.lead_lag(grid, mids, step_ms=50, max_lag_ms=2000)
    assert r.value == "binance_usdm"
    pair = r.details["pairs"][0]
    assert (pair["leader"], pair["follower"]) == ("binance_usdm", "hyperliquid")
    assert pair["lag_ms"] == pytest.approx(500, abs=50)  # the simulator's configured lag
    assert pair["strength"] > 0.5 > abs(pair["corr_at_zero"])
    assert "binance_usdm leads" in r.reading


def test_price_discovery_share_goes_to_the_leader(leader_run):
    grid, mids = leader_run
    r = lead_lag.price_discovery(grid, mids, step_ms=50, lag_ms=1000)
    pair = r.details["pairs"]["binance_usdm/hyperliquid"]
    assert pair["information_share"]["binance_usdm"] > 0.9
    assert pair["component_share"]["binance_usdm"] > 0.9
    lo, hi = pair["information_share_bounds"]["binance_usdm"]
    assert lo <= pair["information_share"]["binance_usdm"] <= hi


def test_planted_dislocation_found_with_start_and_duration():
    cfg = MarketConfig(seed=5, symbols=("BTCUSDT",), venues=("binance_usdm", "bybit", "okx"), event_rate=100,
                       price=PriceParams(dislocations_per_hour=0.0, jump_rate_scale=0.0))
    m = SyntheticMarket(cfg)
    at = m.now_ns + 15 * S
    m.plant_dislocation("okx", "perp", "BTCUSDT", 40.0, 5.0, at_ns=at)
    grid, mids = lead_lag.on_grid(mids_by_venue(m.advance(m.now_ns + 30 * S)), STEP)
    r = spreads.dislocations(grid, mids, step_ms=50, threshold_bps=20, min_duration_s=2)
    okx = [e for e in r.details["episodes"] if e["venue"] == "okx"]
    assert len(okx) == 1 and r.value == 1
    ep = okx[0]
    assert abs(ep["start_ns"] - at) <= 0.5 * S  # okx lags 120 ms, grid 50 ms
    assert ep["duration_s"] == pytest.approx(5.0, abs=0.5)
    assert ep["peak_bps"] == pytest.approx(40.0, abs=8.0)


def test_spreads_and_basis_by_hand():
    grid = np.arange(4, dtype=np.int64) * STEP
    mids = {"a": np.array([100.0, 100.0, 100.0, 100.2]), "b": np.array([100.0, 100.0, 100.0, 100.0])}
    r = spreads.venue_spreads(grid, mids)
    assert r.value == {"a/b": pytest.approx(20.0, abs=1e-3)}
    assert r.details["pairs"]["a/b"]["mean_bps"] == pytest.approx(5.0, abs=1e-3)
    b = spreads.basis(grid, mids["a"], mids["b"], funding_interval_h=8)
    assert b.value == pytest.approx(20.0, abs=1e-3)
    assert b.details["annualised_if_held_per_interval_pct"] == pytest.approx(20 / 1e4 * 1095 * 100, abs=1e-2)


def test_lead_lag_refuses_a_single_venue():
    r = lead_lag.lead_lag(np.arange(100, dtype=np.int64), {"a": np.linspace(1, 2, 100)})
    assert r.value is None and "two venues" in r.reading
