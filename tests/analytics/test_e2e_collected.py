"""End to end: simulator -> real collector -> DuckLake -> analytics, with a known leading venue."""

from __future__ import annotations

import asyncio

import pytest

from cryptoflow.analytics import pipelines
from cryptoflow.store.lake import Lake
from tests.simrun import sim_and_collector, wait_for


@pytest.mark.slow
async def test_collected_store_names_binance_leading_hyperliquid(tmp_path):
    # rate 8 = event_rate 400: venues requote every model step, so the 500 ms lag is resolvable
    async with sim_and_collector(tmp_path, venues=["binance_usdm", "hyperliquid"], symbols=["BTCUSDT"],
                                 rate=8) as run:
        await wait_for(lambda: run.rt.collector.health.rows_written > 0, timeout=20)
        await asyncio.sleep(12)
    with Lake.open(tmp_path, read_only=True) as lake:
        rep = pipelines.analyze_cross_exchange(lake, "BTCUSDT", lookback_s=60)
    ll = rep["lead_lag"]
    assert ll.value == "binance_usdm"
    pair = ll.details["pairs"][0]
    assert (pair["leader"], pair["follower"]) == ("binance_usdm", "hyperliquid")
    assert pair["lag_ms"] == pytest.approx(500, abs=100)
    assert pair["strength"] > 0.4
    assert "no spot quotes" in " ".join(rep.notes)
