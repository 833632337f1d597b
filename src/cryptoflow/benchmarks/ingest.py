"""End-to-end ingest: simulator (own process) -> websocket -> decode -> books -> DuckLake.

The simulator runs in a separate process so the collector gets a core of its own, as in
production. Reported:
- ``events_per_s``: rows stored per second (trades, BBOs, book snapshots, ...), the target;
- ``items_per_s``: everything decoded and handled, book diffs included (diffs update books but
  only sampled snapshots are stored);
- ``decode_only_events_per_s``: the same venues' simulated frames decoded with no sockets, no
  books and no store, measured in this run; ``ratio_to_decode`` = items_per_s / that;
- ``rss_mb``: the collector process's peak resident memory;
- ``lost_events``: frames the simulator sent that the collector did not receive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptoflow import aio
from cryptoflow.collector.config import load_config
from cryptoflow.collector.run import CollectorRuntime
from cryptoflow.sim.market import MarketConfig, SyntheticMarket
from cryptoflow.sim.venues import sim_venue_class
from cryptoflow.symbols import DEFAULT_SYMBOLS, InstrumentRegistry
from cryptoflow.venues import VENUE_IDS, get_venue
from cryptoflow.venues.base import Endpoints


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def decode_only_rate(seconds_of_market: float = 2.0, rate: float = 20.0) -> float:
    """Items/s decoding simulated frames of every venue (no sockets, books or store)."""
    reg = InstrumentRegistry.bundled()
    listed = {v: [i for i in reg.instruments(v) if i.symbol in DEFAULT_SYMBOLS] for v in VENUE_IDS}
    market = SyntheticMarket(MarketConfig.for_instruments(
        {v: [(i.market, i.symbol) for i in insts] for v, insts in listed.items()}, seed=1, rate=rate))
    sims = {v: sim_venue_class(v)(listed[v], market) for v in VENUE_IDS}
    frames: dict[str, list[bytes]] = {v: [] for v in VENUE_IDS}
    items = market.advance(market.now_ns + int(seconds_of_market * 1e9))
    for it in items:
        for _topic, f in sims[it.venue].encode(it):
            frames[it.venue].append(f.encode())
    decoders = {v: get_venue(v, registry=reg).new_decoder() for v in VENUE_IDS}
    n_items = n = 0
    t0 = time.perf_counter()
    for v, fs in frames.items():
        d = decoders[v].decode
        for f in fs:
            n_items += len(d(f, 0))
            n += 1
    return n_items / (time.perf_counter() - t0)


async def _run(seconds: float, rate: float, data_dir: Path) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cryptoflow.cli", "simulate", "--json", "--rate", str(rate),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    eps = {v: Endpoints(ws=e["ws"], rest=e["rest"]) for v, e in json.loads(line).items()}
    cfg = load_config(None, data_dir=str(data_dir), endpoints=eps, log_level="WARNING")
    rt = await CollectorRuntime.start(cfg)
    peak = 0.0
    t0 = time.monotonic()
    rows0 = 0
    warm = 5.0  # let connections, snapshots and the first flushes settle before measuring
    frames0 = 0
    while time.monotonic() - t0 < seconds + warm:
        await asyncio.sleep(1.0)
        peak = max(peak, _rss_mb())
        if rows0 == 0 and time.monotonic() - t0 >= warm:
            rows0 = rt.collector.health.rows_written + rt.writer.pending
            frames0 = sum(s.stats.frames for s in rt.collector.sessions)
            t_measure = time.monotonic()
    elapsed = time.monotonic() - t_measure
    rows = rt.collector.health.rows_written + rt.writer.pending - rows0
    frames = sum(s.stats.frames for s in rt.collector.sessions) - frames0
    items = sum(sh.records for sh in rt.collector.health.streams.values())
    proc.send_signal(signal.SIGTERM)
    _, err = await proc.communicate()
    await asyncio.sleep(0.5)
    received = sum(s.stats.frames for s in rt.collector.sessions)
    await rt.stop()
    sim_stats: dict[str, Any] = {}
    for ln in err.decode().splitlines()[::-1]:
        with contextlib.suppress(ValueError):
            sim_stats = json.loads(ln)
            break
    sent = int(sim_stats.get("frames_sent", 0))
    total_elapsed = time.monotonic() - t0
    return {
        "seconds": round(elapsed, 1),
        "events_per_s": round(rows / elapsed),
        "frames_per_s": round(frames / elapsed),
        "items_per_s": round(items / total_elapsed),
        "rows_written": rt.collector.health.rows_written,
        "frames_sent": sent,
        "frames_received": received,
        "lost_events": max(0, sent - received),
        "dropped_backpressure": rt.collector.health.counters.get("dropped_backpressure", 0),
        "rss_mb": round(peak, 1),
        "write_latency_ms_p50": rt.collector.health_report()["write_latency_ms_p50"],
    }


def run(seconds: float = 60.0, rate: float = 40.0) -> dict[str, Any]:
    decode_only = decode_only_rate()
    with tempfile.TemporaryDirectory(prefix="cryptoflow-ingest-") as tmp:
        res = aio.run(_run(seconds, rate, Path(tmp)))
    res["decode_only_events_per_s"] = round(decode_only)
    res["ratio_to_decode"] = round(res["items_per_s"] / decode_only, 3) if decode_only else None
    res["sim_rate"] = rate
    return res
