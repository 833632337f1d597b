"""End-to-end ingest: simulator (own process) -> websocket -> decode -> books -> DuckLake.

The simulator runs in a separate process so the collector gets a core of its own, as in
production; on a 2-core machine the two still compete, so CPU is reported per process and the
collector's figure is also given per CPU-second it used. Reported:
- ``events_per_s``: rows stored per second (trades, BBOs, book snapshots, ... and, with
  ``book_deltas`` on (the default here), every book update: ``book_delta_rows_per_s`` of them);
- ``events_per_collector_cpu_s``: the same rows per CPU-second the collector process used
  (event loop, flush thread and DuckDB's threads): the figure that does not depend on how much
  of the machine the simulator or anything else took;
- ``collector_cpu_share`` / ``sim_cpu_share`` / ``machine_cpu_share``: cores busy (1.0 = one
  core) in the collector, in the simulator process tree, and in the whole machine;
- ``items_per_s``: everything decoded and handled, book diffs included (without book deltas,
  diffs update books and only sampled snapshots are stored);
- ``sustained``: the collector kept up with what the simulator offered for the whole run (under
  0.1% of frames left unread, write latency p50 within two flush intervals, store not behind at
  the end); ``not_sustained_because`` says which failed. A saturated run's figures are the
  collector's ceiling, not a rate it can hold;
- ``decode_only_events_per_s``: the same venues' simulated frames decoded with no sockets, no
  books and no store, measured in this run in a child process (so its frames do not count in
  the collector's memory); ``ratio_to_decode`` = items_per_s / that, and
  ``ratio_to_decode_per_cpu`` = items per collector CPU-second / that (decode-only runs on one
  core, so this compares like with like when the collector gets less than a core);
- ``rss_mb``: the collector process's peak resident memory;
- ``lost_events``: frames the simulator sent that the collector did not receive;
- ``queued_at_stop``: frames the simulator had sent but the collector had not read yet when the
  measurement ended (the collector falling behind shows here; they are received before stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptoflow import aio
from cryptoflow.collector.config import load_config
from cryptoflow.collector.run import CollectorRuntime
from cryptoflow.venues.base import Endpoints

_TICK = os.sysconf("SC_CLK_TCK")


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _self_cpu_s() -> float:
    """CPU seconds of this process, all threads (the collector's loop, flush thread, DuckDB)."""
    t = os.times()
    return t.user + t.system


def _tree_cpu_s(root: int) -> float:
    """CPU seconds of ``root`` and its live descendants (a simulator may run worker processes)."""
    stats: dict[int, tuple[int, float]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{d}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            stats[int(d)] = (int(rest[1]), (int(rest[11]) + int(rest[12])) / _TICK)  # ppid, utime+stime
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _) in stats.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(stats[p][1] for p in tree if p in stats)


def _machine_busy_s() -> float:
    """Busy CPU seconds of the whole machine since boot (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / _TICK  # minus idle and iowait


_DECODE_ONLY_CODE = (
    "import sys\n"
    "from cryptoflow.benchmarks.ingest import decode_only_rate\n"
    "sys.stdout.write(repr(decode_only_rate()) + '\\n')\n"
)


def decode_only_rate(seconds_of_market: float = 2.0, rate: float = 20.0) -> float:
    """Items/s decoding simulated frames of every venue (no sockets, books or store), one core."""
    from cryptoflow.sim.market import MarketConfig, SyntheticMarket
    from cryptoflow.sim.venues import sim_venue_class
    from cryptoflow.symbols import DEFAULT_SYMBOLS, InstrumentRegistry
    from cryptoflow.venues import VENUE_IDS, get_venue

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


def decode_only_rate_in_child() -> float:
    """``decode_only_rate`` in a child process: its frames must not inflate the collector's RSS."""
    out = subprocess.run([sys.executable, "-c", _DECODE_ONLY_CODE], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


class _Window:
    """Counters at the start of the measured window."""

    def __init__(self, rt: CollectorRuntime, sim_pid: int) -> None:
        self.t = time.monotonic()
        self.rows = rt.collector.health.rows_written + rt.writer.pending
        self.delta_rows = rt.writer.rows_by_table["book_deltas"]
        self.frames = sum(s.stats.frames for s in rt.collector.sessions)
        self.items = sum(sh.records for sh in rt.collector.health.streams.values())
        self.cpu = _self_cpu_s()
        self.sim_cpu = _tree_cpu_s(sim_pid)
        self.machine = _machine_busy_s()


async def _drained(rt: CollectorRuntime, quiet_s: float = 1.0, limit_s: float = 60.0) -> int:
    """Frames received once the collector has read what the simulator left in the sockets.

    A collector that fell behind still has frames queued after the simulator exits; a fixed
    short wait counted those as lost."""
    received, quiet, t0 = -1, 0.0, time.monotonic()
    while quiet < quiet_s and time.monotonic() - t0 < limit_s:
        await asyncio.sleep(0.25)
        now = sum(s.stats.frames for s in rt.collector.sessions)
        quiet = quiet + 0.25 if now == received else 0.0
        received = now
    return received


async def _run(seconds: float, rate: float, data_dir: Path, book_deltas: bool) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cryptoflow.cli", "simulate", "--json", "--rate", str(rate),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    eps = {v: Endpoints(ws=e["ws"], rest=e["rest"]) for v, e in json.loads(line).items()}
    cfg = load_config(None, data_dir=str(data_dir), endpoints=eps, log_level="WARNING", store_book_deltas=book_deltas)
    rt = await CollectorRuntime.start(cfg)
    peak = 0.0
    t0 = time.monotonic()
    warm = 5.0  # let connections, snapshots and the first flushes settle before measuring
    w0: _Window | None = None
    while w0 is None or time.monotonic() - w0.t < seconds:
        await asyncio.sleep(1.0)
        peak = max(peak, _rss_mb())
        if w0 is None and time.monotonic() - t0 >= warm:
            w0 = _Window(rt, proc.pid)
    w1 = _Window(rt, proc.pid)
    elapsed = w1.t - w0.t
    rows, items = w1.rows - w0.rows, w1.items - w0.items
    delta_rows = w1.delta_rows - w0.delta_rows
    store_state = rt.collector.health_report()["store"]
    cpu, sim_cpu = w1.cpu - w0.cpu, w1.sim_cpu - w0.sim_cpu
    proc.send_signal(signal.SIGTERM)
    _, err = await proc.communicate()
    received = await _drained(rt)
    await rt.stop()
    peak = max(peak, _rss_mb())
    sim_stats: dict[str, Any] = {}
    for ln in err.decode().splitlines()[::-1]:
        with contextlib.suppress(ValueError):
            sim_stats = json.loads(ln)
            break
    sent = int(sim_stats.get("frames_sent", 0))
    lat = rt.collector.health_report()
    lost = max(0, sent - received)
    why_not = [w for w, bad in (
        (f"{lost:,} frames never read (the simulator sent more than the collector took)", lost > 0.001 * max(sent, 1)),
        (f"write latency p50 {lat['write_latency_ms_p50']} ms > 2 flush intervals",
         (lat["write_latency_ms_p50"] or 0) > 2000 * cfg.flush_interval_s),
        (f"store behind at the end: {store_state['reason']}", store_state["behind"]),
    ) if bad]
    return {
        "seconds": round(elapsed, 1),
        "events_per_s": round(rows / elapsed),
        "book_deltas": book_deltas,
        "book_delta_rows_per_s": round(delta_rows / elapsed),
        "sustained": not why_not,
        "not_sustained_because": why_not,
        "events_per_collector_cpu_s": round(rows / cpu) if cpu > 0 else None,
        "collector_cpu_share": round(cpu / elapsed, 2),
        "sim_cpu_share": round(sim_cpu / elapsed, 2),
        "machine_cpu_share": round((w1.machine - w0.machine) / elapsed, 2),
        "cores": os.cpu_count(),
        "frames_per_s": round((w1.frames - w0.frames) / elapsed),
        "items_per_s": round(items / elapsed),
        "items_per_collector_cpu_s": round(items / cpu) if cpu > 0 else None,
        "rows_written": rt.collector.health.rows_written,
        "frames_sent": sent,
        "frames_received": received,
        "queued_at_stop": max(0, sent - w1.frames) if sent else None,
        "lost_events": lost,
        "dropped_backpressure": rt.collector.health.counters.get("dropped_backpressure", 0),
        "rss_mb": round(peak, 1),
        "write_latency_ms_p50": lat["write_latency_ms_p50"],
        "write_latency_ms_max": lat["write_latency_ms_max"],
    }


def run(seconds: float = 60.0, rate: float = 40.0, book_deltas: bool = True) -> dict[str, Any]:
    decode_only = decode_only_rate_in_child()
    with tempfile.TemporaryDirectory(prefix="cryptoflow-ingest-") as tmp:
        res = aio.run(_run(seconds, rate, Path(tmp), book_deltas))
    res["decode_only_events_per_s"] = round(decode_only)
    res["ratio_to_decode"] = round(res["items_per_s"] / decode_only, 3) if decode_only else None
    per_cpu = res["items_per_collector_cpu_s"]
    res["ratio_to_decode_per_cpu"] = round(per_cpu / decode_only, 3) if decode_only and per_cpu else None
    res["sim_rate"] = rate
    return res
