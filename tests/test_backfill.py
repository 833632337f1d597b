"""History backfill from the simulator's REST endpoints into a real lake: complete, idempotent,
resumable, throttling-proof; through the engine, the CLI and the MCP tools."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cryptoflow.collector.backfill import Backfiller, parse_when
from cryptoflow.errors import ConfigError
from cryptoflow.sim.runner import Simulator
from cryptoflow.store import Lake
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import Endpoints

M = 60_000_000_000
H = 60 * M
VENUES = ["binance_usdm", "okx"]
SYMBOLS = ["BTCUSDT", "ETHUSDT"]


def _venues(sim: Simulator) -> dict:
    return {v: get_venue(v, endpoints=Endpoints(ws=e["ws"], rest=e["rest"])) for v, e in sim.endpoints().items()}


async def _sim(venues: list[str] = VENUES) -> Simulator:
    sim = Simulator(venues=venues, symbols=SYMBOLS, rate=0.2, seed=5)
    await sim.start()
    return sim


def _rows(lake: Lake, sql: str, params: list | None = None) -> list[tuple]:
    return lake.cursor().execute(sql, params or []).fetchall()


async def test_backfill_is_complete_correct_and_idempotent(tmp_path: Path) -> None:
    sim = await _sim()
    lake = Lake.open(tmp_path / "data")
    try:
        # end on a 5-minute boundary the simulator closed seconds ago: both runs see the same last minute and
        # the same last 5m open-interest period (ending on a plain minute, a 5m period could close between the
        # two runs and the rerun rightly fetched it: a flaky "nothing new" check)
        now = (time.time_ns() - 3_000_000_000) // (5 * M) * (5 * M)
        since, until = now // H * H - 2 * 24 * H, now
        bf = Backfiller(lake, _venues(sim), commit_rows=2_000)
        tasks, skipped = bf.plan(SYMBOLS, ["candles", "funding", "open_interest"], since, until, markets=["perp"])
        assert skipped == []
        assert {(t.venue, t.symbol, t.stream) for t in tasks} == {
            (v, s, st) for v in VENUES for s in SYMBOLS for st in ("candles", "funding", "open_interest")}
        rep = await bf.run(tasks)
        assert not rep.failed, [s.error for s in rep.failed]
        last_minute = now // M * M
        n_minutes = (last_minute - since) // M
        counts = dict(((v, s), n) for v, s, n in _rows(
            lake, "SELECT venue, symbol, count(*) FROM lake.candles GROUP BY ALL"))
        assert counts == {(v, s): n_minutes for v in VENUES for s in SYMBOLS}
        # values are the simulated market's: compare one venue's bars with its history model
        assert sim.market is not None
        bars = sim.market.history.candles("okx", "perp", "BTCUSDT", M, since, since + 10 * M)
        stored = _rows(lake, "SELECT open, high, low, close, volume FROM lake.candles WHERE venue = 'okx' "
                             "AND symbol = 'BTCUSDT' ORDER BY open_time LIMIT 10")
        assert [r[:4] for r in stored] == [tuple(x) for x in zip(bars.open.tolist(), bars.high.tolist(),
                                                                  bars.low.tolist(), bars.close.tolist(), strict=True)]
        assert stored[0][4] == pytest.approx(bars.volume[0], rel=0.02)  # OKX sends whole contracts
        assert _rows(lake, "SELECT DISTINCT source FROM lake.candles") == [("rest",)]
        funding = _rows(lake, "SELECT venue, count(*), min(rate), max(rate) FROM lake.funding_rates GROUP BY 1")
        assert {f[0] for f in funding} == set(VENUES) and all(f[1] >= 2 * 2 * 3 - 2 for f in funding)
        assert _rows(lake, "SELECT count(*) FROM lake.open_interest WHERE oi_base > 0")[0][0] > 0
        before = _rows(lake, "SELECT 'c', count(*) FROM lake.candles UNION ALL SELECT 'f', count(*) FROM "
                             "lake.funding_rates UNION ALL SELECT 'o', count(*) FROM lake.open_interest ORDER BY 1")

        again = await Backfiller(lake, _venues(sim)).run(tasks)  # resume: everything is covered
        assert again.requests == 0 and again.rows_new == 0, [
            (s.task.label, s.requests, s.rows_fetched) for s in again.statuses if s.requests]
        forced = await Backfiller(lake, _venues(sim), resume=False).run(tasks)  # refetch: keys dedupe
        assert forced.requests > 0 and forced.rows_fetched > 0 and forced.rows_new == 0
        after = _rows(lake, "SELECT 'c', count(*) FROM lake.candles UNION ALL SELECT 'f', count(*) FROM "
                            "lake.funding_rates UNION ALL SELECT 'o', count(*) FROM lake.open_interest ORDER BY 1")
        assert after == before
    finally:
        lake.close()
        await sim.stop()


async def test_interrupted_backfill_resumes_where_it_stopped(tmp_path: Path) -> None:
    sim = await _sim(["binance_usdm"])
    lake = Lake.open(tmp_path / "data")
    try:
        now = (time.time_ns() - 3_000_000_000) // M * M
        since = now // M * M - 7 * 24 * H  # 10,080 minutes: several pages at any venue page size
        venues = _venues(sim)
        bf = Backfiller(lake, venues, commit_rows=1)  # commit every page
        tasks, _ = bf.plan(["BTCUSDT"], ["candles"], since, now)
        from cryptoflow.venues.rest_data import DataKind

        page = bf.api("binance_usdm").kinds[DataKind.CANDLES].max_limit - 1
        full_pages = -(-(now // M * M - since) // (page * M))
        assert full_pages >= 5
        run = asyncio.create_task(bf.run(tasks))
        while bf.statuses == [] or bf.statuses[0].windows_done < 3:
            await asyncio.sleep(0.01)
        run.cancel()  # Ctrl-C in the middle of a download
        with pytest.raises(asyncio.CancelledError):
            await run
        stored_then = _rows(lake, "SELECT count(*) FROM lake.candles")[0][0]
        assert 0 < stored_then < (now // M * M - since) // M
        rep = await Backfiller(lake, venues).run(tasks)
        assert not rep.failed
        assert rep.requests <= full_pages - 2  # the committed pages were not fetched again
        n, distinct = _rows(lake, "SELECT count(*), count(DISTINCT open_time) FROM lake.candles")[0]
        assert n == distinct == (now // M * M - since) // M
    finally:
        lake.close()
        await sim.stop()


async def test_throttled_venue_still_completes(tmp_path: Path) -> None:
    sim = await _sim(["okx"])
    lake = Lake.open(tmp_path / "data")
    try:
        sim.servers["okx"].inject("throttle", 3)
        now = (time.time_ns() - 3_000_000_000) // M * M
        bf = Backfiller(lake, _venues(sim))
        tasks, _ = bf.plan(["BTCUSDT"], ["candles"], now - 6 * H, now, markets=["perp"])
        rep = await bf.run(tasks)
        assert not rep.failed and rep.throttled == 3 and sim.servers["okx"].faults.done["throttle"] == 3
        assert _rows(lake, "SELECT count(*) FROM lake.candles")[0][0] == (now // M * M - (now - 6 * H)) // M
    finally:
        lake.close()
        await sim.stop()


def test_plan_skips_what_a_venue_lacks_and_rejects_bad_input(tmp_path: Path) -> None:
    lake = Lake.open(tmp_path / "data")
    try:
        venues = {v: get_venue(v) for v in ("binance_usdm", "hyperliquid")}
        bf = Backfiller(lake, venues)
        now = time.time_ns()
        tasks, skipped = bf.plan(["BTCUSDT"], ["candles", "long_short_ratio"], now - H, now)
        assert ("binance_usdm", "long_short_ratio") in {(t.venue, t.stream) for t in tasks}
        assert any(s.get("venue") == "hyperliquid" and s.get("stream") == "long_short_ratio" for s in skipped)
        with pytest.raises(ConfigError, match="streams are: candles"):
            bf.plan(["BTCUSDT"], ["orderbook"], now - H, now)
        with pytest.raises(ConfigError, match="age like 7d"):
            parse_when("last tuesday")
        assert parse_when("2d", now_ns=now) == now - 48 * H
    finally:
        lake.close()


async def test_cli_backfill_json_and_rerun(tmp_path: Path) -> None:
    sim = await _sim(["binance_usdm"])
    try:
        eps = tmp_path / "endpoints.json"
        eps.write_text(json.dumps(sim.endpoints()))
        # a fixed end (a minute the simulator closed seconds ago): a later run has nothing new to find;
        # a fixed start 6 h before it (a relative "6h" loses a minute when the run starts in a minute's
        # first seconds: 358 complete minutes instead of 359, a flaky count)
        end = (time.time_ns() - 3_000_000_000) // M * 60
        until = datetime.fromtimestamp(end, UTC).isoformat()
        since = datetime.fromtimestamp(end - 6 * 3600, UTC).isoformat()
        cmd = [sys.executable, "-m", "cryptoflow.cli", "backfill", "--endpoints", str(eps), "--venues",
               "binance_usdm", "--symbols", "BTCUSDT", "ETHUSDT", "--since", since, "--until", until, "--streams",
               "candles", "funding", "--data-dir", str(tmp_path / "data"), "--json"]
        outs = []
        for _ in range(2):
            proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 120)
            assert proc.returncode == 0, err.decode()
            outs.append(json.loads(out))
        first, second = outs
        assert first["tasks"] == 4 and first["failed"] == 0 and first["rows_new"] >= 2 * 360  # every minute
        assert second["requests"] == 0 and second["rows_new"] == 0
    finally:
        await sim.stop()


async def test_collector_backfills_on_start_next_to_live_data(tmp_path: Path) -> None:
    from .simrun import sim_and_collector, wait_for

    t_before = time.time_ns()
    async with sim_and_collector(tmp_path, venues=["binance_usdm", "okx"], symbols=["BTCUSDT"], rate=0.5,
                                 backfill_since="2h", backfill_streams=["candles", "funding"]) as run:
        rt = run.rt
        await wait_for(lambda: rt.backfiller is not None and rt.backfiller.statuses != []
                       and all(s.state in ("done", "failed") for s in rt.backfiller.statuses), timeout=90)
        assert [s.error for s in rt.backfiller.statuses if s.error] == []
        ends = {s.task.end_ns for s in rt.backfiller.statuses}
        rows = await asyncio.to_thread(_rows, rt.lake, "SELECT venue || '/' || market, count(*), count(DISTINCT "
                                       "open_time), epoch_ns(max(open_time)) FROM lake.candles WHERE closed AND "
                                       "source = 'rest' GROUP BY ALL ORDER BY ALL")
    # history ends where live collection began: the websocket delivers that minute and later ones
    assert len(ends) == 1 and ends.pop() >= t_before
    (end,) = {s.task.end_ns for s in rt.backfiller.statuses}
    assert [r[0] for r in rows] == ["binance_usdm/perp", "okx/perp", "okx/spot"]
    for _venue, n, distinct, last_open in rows:
        assert n == distinct >= 118 and last_open + M <= end // M * M  # two hours of minutes, each once
