"""How fast the simulator can send: every venue, every stream, the default symbols, consumed by
clients that only count frames (so the client is never the bottleneck being measured)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from typing import Any

import picows

from cryptoflow.symbols import DEFAULT_SYMBOLS, InstrumentRegistry, UnknownSymbolError
from cryptoflow.venues import VENUE_IDS, get_venue
from cryptoflow.venues.base import STREAMS, Endpoints, Subscription


class _Counter(picows.WSListener):
    def __init__(self) -> None:
        self.frames = 0

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == picows.WSMsgType.TEXT:
            self.frames += 1


async def measure(seconds: float = 20.0, rate: float = 40.0) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cryptoflow.cli", "simulate", "--json", "--rate", str(rate),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        return await _measure(proc, seconds, rate)
    finally:
        if proc.returncode is None:  # a failed run must not leave the simulator running
            proc.kill()
            await proc.wait()


async def _measure(proc: asyncio.subprocess.Process, seconds: float, rate: float) -> dict[str, Any]:
    assert proc.stdout is not None
    eps = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
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
            tr, _ = await picows.ws_connect(lambda lst=lst: lst, plan.url)
            for m in venue.connect_messages() + list(plan.subscribe):
                tr.send(picows.WSMsgType.TEXT, m.encode())
            listeners.append(lst)
            transports.append(tr)
    await asyncio.sleep(3.0)  # subscriptions settle, initial snapshots pass
    n0, t0, c0 = sum(x.frames for x in listeners), time.monotonic(), _cpu_s(proc.pid)
    await asyncio.sleep(seconds)
    n1, t1, c1 = sum(x.frames for x in listeners), time.monotonic(), _cpu_s(proc.pid)
    for tr in transports:
        tr.disconnect()
    proc.send_signal(signal.SIGTERM)
    await proc.communicate()
    cpu = c1 - c0
    return {
        "simulator_frames_per_s": round((n1 - n0) / (t1 - t0)),
        # frames per CPU-second of the simulator process: its capacity, whatever else loads the machine
        "simulator_frames_per_cpu_s": round((n1 - n0) / cpu) if cpu > 0 else None,
        "simulator_cpu_share": round(cpu / (t1 - t0), 2),
        "connections": len(transports),
        "rate": rate,
    }


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def run(seconds: float = 20.0, rate: float = 40.0) -> dict[str, Any]:
    from cryptoflow import aio

    return aio.run(measure(seconds, rate))
