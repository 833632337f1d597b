"""Several simulator processes serving one market (``cryptoflow simulate --workers``): a process
that steps only some venues' books sends exactly what the single-process simulator sends for
them, so fair prices, lead-lag, dislocations and liquidation cascades agree across processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter

import msgspec
import pytest

from cryptoflow.errors import ConfigError
from cryptoflow.events import Trade
from cryptoflow.feed.session import WsSession
from cryptoflow.sim.market import MarketConfig, PlannedDislocation, PriceParams, SyntheticMarket
from cryptoflow.sim.workers import VENUE_WEIGHTS, SimulatorPool, split_venues
from cryptoflow.venues import VENUE_IDS, get_venue
from cryptoflow.venues.base import Endpoints, Subscription

S = 1_000_000_000
_enc = msgspec.json.Encoder()


def _advance(market: SyntheticMarket, end: int, chunk_ns: int) -> dict[str, list]:
    got: dict[str, list] = {v: [] for v in market.active_venues}
    fair: list[float] = []
    while market.now_ns < end:
        for v, evs in market.advance_by_venue(min(end, market.now_ns + chunk_ns)).items():
            got[v] += evs
        fair.append(market.fair_price("WIFUSDT"))
    return got | {"_fair": fair}


def test_a_venue_subset_steps_exactly_the_full_markets_events() -> None:
    cfg = MarketConfig(
        seed=5,
        symbols=("BTCUSDT", "WIFUSDT"),
        event_rate=25,
        price=PriceParams(jump_rate_scale=0.0, dislocations_per_hour=0.0),
        dislocations=(PlannedDislocation(at_s=4.0, symbol="BTCUSDT", venue="okx", size_bps=30.0, duration_s=5.0),),
    )
    full = SyntheticMarket(cfg)
    end = full.now_ns + 65 * S  # past a minute: closed candles and the 24 h window roll too
    # a crash: liquidations on every publishing venue push the fair price further (a cascade)
    full.plant_jump("WIFUSDT", -400.0, at_ns=full.now_ns + 8 * S)
    want = _advance(full, end, 100_000_000)
    liqs = Counter(e.venue for evs in want.values() if isinstance(evs, list) for e in evs
                   if type(e).__name__ == "Liquidation")
    assert len(liqs) >= 4, liqs  # the cascade reached several venues: their impact is in the fair price

    # hyperliquid publishes no liquidations and leads nobody: its fair path still carries the others'
    for venues in (["hyperliquid"], ["okx", "deribit"]):
        sub = SyntheticMarket(cfg, active_venues=venues)
        sub.plant_jump("WIFUSDT", -400.0, at_ns=sub.now_ns + 8 * S)
        got = _advance(sub, end, 37_000_000)  # sliced differently: the output does not depend on it
        assert got["_fair"][-1] == want["_fair"][-1]
        assert sub.planted_dislocations == full.planted_dislocations and sub.price_jumps == full.price_jumps
        for v in venues:
            assert len(want[v]) > 3_000 and any(type(e).__name__ == "Candle" and e.closed for e in want[v])
            assert [_enc.encode(e) for e in got[v]] == [_enc.encode(e) for e in want[v]], v
            assert sub.book_snapshot(v, "perp", "BTCUSDT") == full.book_snapshot(v, "perp", "BTCUSDT")
        with pytest.raises(ConfigError, match="not stepped"):
            sub.book_snapshot("binance_usdm", "perp", "BTCUSDT")
    okx_btc = [e for e in want["okx"] if type(e).__name__ == "MarkPrice" and e.symbol == "BTCUSDT"]
    mid = full.planted_dislocations[0].start_ns + 2 * S
    assert any(e.ts >= mid and e.mark_price / e.index_price - 1 > 20e-4 for e in okx_btc)  # planted: 30 bps rich

    with pytest.raises(ConfigError, match="not in the market"):
        SyntheticMarket(cfg, active_venues=["nope"])


def test_split_venues_balances_and_keeps_every_venue_once() -> None:
    shares = split_venues(list(VENUE_IDS), 2)
    assert sorted(v for s in shares for v in s) == sorted(VENUE_IDS) and all(shares)
    loads = [sum(VENUE_WEIGHTS[v] for v in s) for s in shares]
    assert max(loads) / min(loads) < 1.2
    for s in shares:  # each share in the order asked for
        assert s == [v for v in VENUE_IDS if v in s]
    assert split_venues(["okx", "bybit"], 5) == [["okx"], ["bybit"]]
    assert split_venues(list(VENUE_IDS), 1) == [list(VENUE_IDS)]


async def test_pool_processes_send_the_same_market(tmp_path) -> None:
    venues = ["binance_usdm", "binance_spot", "bybit"]
    pool = SimulatorPool(2, venues=venues, symbols=["BTCUSDT", "ETHUSDT"], seed=3, rate=2.0,
                         faults=["malformed@1"])
    await pool.start()
    sessions: list[WsSession] = []
    got: list = []
    try:
        eps = pool.endpoints()
        assert list(eps) == venues
        assert len(pool.pids) == 2 and pool.pids[1] != os.getpid()
        served_by = {v: i for i, share in enumerate(pool.shares) for v in share}
        assert set(served_by.values()) == {0, 1}  # venues in this process and in the child
        for vid in venues:
            venue = get_venue(vid, endpoints=Endpoints(ws=eps[vid]["ws"], rest=eps[vid]["rest"]))
            subs = [Subscription("trade", venue.instrument(sym, m)) for m in venue.markets for sym in ("BTCUSDT",)]
            for plan in venue.plan_connections(subs):
                s = WsSession(venue, plan, lambda _s, items: got.extend(i for i in items if type(i) is Trade))
                s.start()
                sessions.append(s)
        for _ in range(100):
            if {t.venue for t in got} == set(venues) and len(got) > 60:
                break
            await asyncio.sleep(0.1)
    finally:
        for s in sessions:
            await s.stop()
        await pool.stop()
    stats = pool.stats()
    assert [w["venues"] for w in stats["workers"]] == pool.shares
    assert all(stats["faults"][v].get("malformed", 0) >= 1 for v in venues)  # faults run in both processes
    assert stats["frames_sent"] > 0 and set(stats["by_venue"]) == set(venues)

    # the same market computed here, all venues in one process, from the pool's start time
    assert pool.local is not None
    market = SyntheticMarket(pool.local.market_config(pool.start_ns))
    end = max(t.ts for t in got) + S
    offline = {(t.venue, t.market, t.ts // 1_000_000, t.price, t.qty) for t in market.advance(end) if type(t) is Trade}
    received = Counter((t.venue, t.market, t.ts // 1_000_000, t.price, t.qty) for t in got)
    assert {k[0] for k in received} == set(venues)
    missing = [k for k in received if k not in offline]
    assert not missing, missing[:5]


def test_cli_simulate_workers_lists_every_venue(tmp_path) -> None:
    venues = ["okx", "bybit", "kraken_futures"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cryptoflow.cli", "simulate", "--workers", "2", "--json", "--seconds", "3",
         "--venues", *venues, "--symbols", "BTCUSDT", "--rate", "0.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err[-2000:]
    eps = json.loads(out.splitlines()[0])
    assert list(eps) == venues and all(e["ws"] and e["rest"].startswith("http://127.0.0.1:") for e in eps.values())
    stats = json.loads(err.strip().splitlines()[-1])
    assert sorted(v for w in stats["workers"] for v in w["venues"]) == sorted(venues)
    assert len({w["pid"] for w in stats["workers"]}) == 2 and stats["items_generated"] > 0


def test_replay_stays_single_process(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cryptoflow.cli", "simulate", "--workers", "2", "--replay", str(tmp_path / "x.jsonl")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2 and "--replay runs in one process" in proc.stderr
