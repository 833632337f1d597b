"""How fast the simulator can send: every venue, every stream, the default symbols, consumed by
clients that only count frames (so the client is never the bottleneck being measured).

The simulator runs as ``cryptoflow simulate --workers N`` (its own processes). The rate should be
more than the simulator can compute in real time (the default is): it then sends as fast as it
can, and ``simulator_frames_per_s`` is its capacity on this machine at this moment. Other load
on the machine takes cores from it, so each run also reports CPU figures that do not depend on
that load: ``simulator_frames_per_cpu_s`` (frames per CPU-second of all simulator processes)
and the CPU share of each process. Several worker counts in one call run one after the other,
with ratios to the first, so they are compared under the same conditions.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from typing import Any

import picows

from cryptoflow.symbols import DEFAULT_SYMBOLS, InstrumentRegistry, UnknownSymbolError
from cryptoflow.venues import VENUE_IDS, get_venue
from cryptoflow.venues.base import STREAMS, Endpoints, Subscription

DEFAULT_RATE = 80.0  # ~300k frames/s offered with the default symbols: more than 2 cores send
SETTLE_S = 5.0  # subscriptions, initial snapshots and the workers' start-up backlog pass first


class _Counter(picows.WSListener):
    def __init__(self) -> None:
        self.frames = 0

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == picows.WSMsgType.TEXT:
            self.frames += 1


async def measure(seconds: float = 20.0, rate: float = DEFAULT_RATE, workers: int = 1) -> dict[str, Any]:
    """One run: start the simulator with ``workers`` processes, subscribe to everything, count."""
    with tempfile.TemporaryFile() as log:  # the simulator's stderr (its final stats line)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cryptoflow.cli", "simulate", "--json", "--rate", str(rate),
            "--workers", str(workers), stdout=asyncio.subprocess.PIPE, stderr=log,
        )
        try:
            res = await _measure(proc, seconds)
        finally:
            if proc.returncode is None:  # a failed run must not leave the simulator running
                proc.kill()
                await proc.wait()
        log.seek(0)
        sim_stats = _last_json_line(log.read().decode(errors="replace"))
    res |= {"workers": workers, "rate": rate, "simulator_frames_sent": sim_stats.get("frames_sent"),
            "market_lag_ms": sim_stats.get("market_lag_ms")}
    if "workers" in sim_stats:
        res["venues_per_process"] = [w["venues"] for w in sim_stats["workers"]]
    return res


async def _measure(proc: asyncio.subprocess.Process, seconds: float) -> dict[str, Any]:
    assert proc.stdout is not None
    eps = json.loads(await asyncio.wait_for(proc.stdout.readline(), 90))
    pids = [proc.pid, *_children(proc.pid)]
    reg = InstrumentRegistry.bundled()
    listeners: list[_Counter] = []
    transports = []
    for vid in VENUE_IDS:
        venue = get_venue(vid, registry=reg, endpoints=Endpoints(ws=eps[vid]["ws"], rest=eps[vid]["rest"]))
        subs = []
        for market in venue.markets:
            for sym in DEFAULT_SYMBOLS:
                try:
                    inst = venue.instrument(sym, market)
                except UnknownSymbolError:
                    continue
                subs += [Subscription(s, inst, interval="1m") for s in STREAMS
                         if venue.stream_offered(s, market) and s not in venue.rest_polled]
        for plan in venue.plan_connections(subs):
            lst = _Counter()
            tr, _ = await picows.ws_connect(lambda lst=lst: lst, plan.url, websocket_handshake_timeout=30)
            for m in venue.connect_messages() + list(plan.subscribe):
                tr.send(picows.WSMsgType.TEXT, m.encode())
            listeners.append(lst)
            transports.append(tr)
    await asyncio.sleep(SETTLE_S)
    n0, t0, c0, me0 = sum(x.frames for x in listeners), time.monotonic(), [_cpu_s(p) for p in pids], time.process_time()
    load0 = os.getloadavg()[0]
    await asyncio.sleep(seconds)
    n1, t1, c1, me1 = sum(x.frames for x in listeners), time.monotonic(), [_cpu_s(p) for p in pids], time.process_time()
    for tr in transports:
        tr.disconnect()
    proc.send_signal(signal.SIGTERM)
    await proc.communicate()
    wall = t1 - t0
    cpu = [b - a for a, b in zip(c0, c1, strict=True)]
    frames = n1 - n0
    return {
        "simulator_frames_per_s": round(frames / wall),
        # frames per CPU-second of the simulator's processes: its capacity, whatever else loads the machine
        "simulator_frames_per_cpu_s": round(frames / sum(cpu)) if sum(cpu) > 0 else None,
        "simulator_cpu_share": round(sum(cpu) / wall, 2),  # cores used by all simulator processes
        "process_cpu_share": [round(c / wall, 2) for c in cpu],  # per process, the command's first
        "client_cpu_share": round((me1 - me0) / wall, 2),  # the counting clients (this process)
        "load_avg_1m": round((load0 + os.getloadavg()[0]) / 2, 2),  # of the machine, during the run
        "cores": os.cpu_count(),
        "seconds": round(wall, 1),
        "connections": len(transports),
    }


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (the simulator's worker processes; Linux /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                continue
    return sorted(out)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _last_json_line(text: str) -> dict[str, Any]:
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return {}


def run(seconds: float = 20.0, rate: float = DEFAULT_RATE, workers: list[int] | None = None) -> dict[str, Any]:
    """Measure each worker count in turn (default 1 then 2); ratios are to the first run."""
    from cryptoflow import aio

    runs = [aio.run(measure(seconds, rate, n)) for n in workers or [1, 2]]
    base = runs[0]
    for r in runs[1:]:
        r["frames_per_s_vs_first"] = round(r["simulator_frames_per_s"] / base["simulator_frames_per_s"], 2)
        if r["simulator_frames_per_cpu_s"] and base["simulator_frames_per_cpu_s"]:
            r["frames_per_cpu_s_vs_first"] = round(
                r["simulator_frames_per_cpu_s"] / base["simulator_frames_per_cpu_s"], 2)
    return {"runs": runs, "target_frames_per_s": 200_000}
