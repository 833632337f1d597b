"""The remaining simulator faults, each detected by the collector as a real venue's would be:
a refused subscription is counted and retried, a slow venue's dropped frames become book gaps
that resync, and a server-enforced connection lifetime is survived by reconnecting."""

from __future__ import annotations

import asyncio

from .simrun import sim_and_collector, wait_for


def _venue(run, vid="binance_usdm"):
    return run.rt.collector.health_report()["venues"][vid]


async def test_refused_subscription_is_counted_and_retried(tmp_path):
    async with sim_and_collector(tmp_path, venues=["binance_usdm"], symbols=["BTCUSDT"], stale_after_s=1.5,
                                 tap=False) as run:
        srv = run.sim.servers["binance_usdm"]
        await wait_for(lambda: _venue(run)["books_valid"] == 1)
        srv.inject("refuse")
        srv.inject("refuse")
        srv.inject("drop")  # reconnect: both connections' subscriptions are refused once
        await wait_for(lambda: _venue(run)["venue_errors"] >= 2, timeout=20)
        # with nothing subscribed the connections go quiet: the watchdog reconnects and resubscribes
        await wait_for(lambda: _venue(run)["stalls"] >= 1 and _venue(run)["books_valid"] == 1, timeout=30)
        rows = run.rt.collector.health.rows_written
        await asyncio.sleep(2.5)
        assert run.rt.collector.health.rows_written > rows
    assert srv.faults.done["refuse"] == 2


async def test_slow_venue_gaps_resync(tmp_path):
    async with sim_and_collector(tmp_path, venues=["okx"], symbols=["BTCUSDT", "ETHUSDT"], rate=3.0,
                                 tap=False) as run:
        srv = run.sim.servers["okx"]
        await wait_for(lambda: _venue(run, "okx")["books_valid"] == _venue(run, "okx")["books"] > 0)
        srv.inject("slow", 0.5)  # bursts of 200 frames, then 0.5 s pauses that drop frames
        await wait_for(lambda: _venue(run, "okx")["gaps"] >= 1, timeout=20)
        srv.faults.slow_burst = 0  # the venue recovers
        await wait_for(lambda: _venue(run, "okx")["books_valid"] == _venue(run, "okx")["books"], timeout=20)
        assert _venue(run, "okx")["resyncs"] >= 1


async def test_server_enforced_lifetime_is_survived(tmp_path):
    async with sim_and_collector(tmp_path, venues=["bybit"], symbols=["BTCUSDT"], tap=False) as run:
        srv = run.sim.servers["bybit"]
        await wait_for(lambda: _venue(run, "bybit")["books_valid"] == _venue(run, "bybit")["books"] > 0)
        srv.inject("lifetime", 1.5)
        await wait_for(lambda: _venue(run, "bybit")["reconnects"] >= 3, timeout=30)
        srv.faults.max_lifetime_s = None
        await wait_for(lambda: _venue(run, "bybit")["books_valid"] == _venue(run, "bybit")["books"], timeout=20)
        assert srv.faults.done["lifetime"] >= 3
