"""Run the simulator and the real collector together (loopback only), for end-to-end tests.

``SimRun`` taps every item the simulator publishes, so tests can compare what was sent with
what was stored.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptoflow.collector.config import load_config
from cryptoflow.collector.run import CollectorRuntime
from cryptoflow.events import Trade
from cryptoflow.sim.runner import FaultSpec, Simulator
from cryptoflow.venues.base import Endpoints


@dataclass
class SimRun:
    sim: Simulator
    rt: CollectorRuntime
    published: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))

    def trades_sent(self, venue: str) -> list[Trade]:
        return [i for i in self.published[venue] if type(i) is Trade]


@contextlib.asynccontextmanager
async def sim_and_collector(
    data_dir: Path,
    venues: list[str] | None = None,
    symbols: list[str] | None = None,
    faults: list[str] | None = None,
    rate: float = 1.0,
    seed: int = 7,
    tap: bool = True,
    **config: Any,
) -> AsyncIterator[SimRun]:
    sim = Simulator(
        venues=venues, symbols=symbols, seed=seed, rate=rate, faults=[FaultSpec.parse(f) for f in faults or []]
    )
    await sim.start()
    run = SimRun(sim, None)  # type: ignore[arg-type]
    if tap:
        for vid, srv in sim.servers.items():
            orig = srv.publish

            def publish(items: list[Any], _orig=orig, _vid=vid) -> None:
                run.published[_vid].extend(items)
                _orig(items)

            srv.publish = publish  # type: ignore[method-assign]
    eps = {v: Endpoints(ws=e["ws"], rest=e["rest"]) for v, e in sim.endpoints().items()}
    cfg = load_config(None, data_dir=str(data_dir), venues=sim.venue_ids, symbols=sim.symbols, endpoints=eps, **config)
    run.rt = await CollectorRuntime.start(cfg)
    try:
        yield run
    finally:
        sim.frozen = True  # nothing more is published ...
        await _drained(run.rt)  # ... and frames in flight reach the collector (slow on a loaded machine)
        await run.rt.stop()
        await sim.stop()


async def _drained(rt: CollectorRuntime, quiet_s: float = 0.5, timeout: float = 15.0) -> None:
    """Wait until the collector has received nothing new for ``quiet_s`` (frames in flight read)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last, since = -1, loop.time()
    while loop.time() < deadline:
        n = sum(s.stats.frames for s in rt.collector.sessions)
        if n != last:
            last, since = n, loop.time()
        elif loop.time() - since >= quiet_s:
            return
        await asyncio.sleep(0.05)


async def wait_for(cond: Any, timeout: float = 20.0, every: float = 0.05) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(every)
