"""One synthetic market served by several processes: ``cryptoflow simulate --workers N``.

Why: a simulator process spends most of its time turning market events into venue frames, and
one Python process uses one core. The venues are split over ``N`` processes (the one started by
the command serves one share, ``N - 1`` child processes the others), each running the *same*
market: same configuration, seed and start time, ``SyntheticMarket(active_venues=...)`` stepping
only its own venues' books while computing every price and drawing every random number of the
full market. So each process sends exactly the frames a single simulator would send for its
venues, and the cross-venue structure (common fair prices, lead-lag, planted dislocations,
liquidation cascades) holds across processes. What differs: each process keeps its own clock,
so under overload (more than a core of work per process) each lags the wall clock on its own.

Protocol with a child (``python -m cryptoflow.sim.workers SPEC_JSON``): it prints one JSON line
with its venues' endpoints on stdout when it serves, and one JSON line with its ``stats()`` when
it stops (SIGTERM or SIGINT, or its stdin closing: the parent is gone). Logs go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import sys
import time
from typing import Any

from cryptoflow.errors import ConfigError
from cryptoflow.sim.runner import FaultSpec, Simulator
from cryptoflow.symbols import DEFAULT_SYMBOLS, canonical_symbol
from cryptoflow.venues import VENUE_IDS

log = logging.getLogger(__name__)

# Relative CPU per venue for the default symbols (measured in-process at rate 40: market steps of
# its books + encoding + publishing); only used to balance the split.
VENUE_WEIGHTS: dict[str, float] = {
    "binance_usdm": 1.0,
    "binance_spot": 0.8,
    "bybit": 2.0,
    "okx": 2.0,
    "kraken_futures": 0.8,
    "gateio": 0.6,
    "deribit": 0.5,
    "hyperliquid": 0.9,
}
_START_TIMEOUT_S = 60.0


def split_venues(venues: list[str], n: int) -> list[list[str]]:
    """``venues`` in ``n`` non-empty shares of about equal weight (heaviest first to the lightest
    share); each share keeps the order of ``venues``."""
    n = max(1, min(n, len(venues)))
    shares: list[list[str]] = [[] for _ in range(n)]
    load = [0.0] * n
    for v in sorted(venues, key=lambda v: -VENUE_WEIGHTS.get(v, 1.0)):
        i = min(range(n), key=load.__getitem__)
        shares[i].append(v)
        load[i] += VENUE_WEIGHTS.get(v, 1.0)
    order = {v: k for k, v in enumerate(venues)}
    return [sorted(s, key=order.__getitem__) for s in sorted(shares, key=lambda s: order[s[0]])]


class SimulatorPool:
    """``Simulator``'s interface (start, endpoints, stats, stop) over ``workers`` processes."""

    def __init__(
        self,
        workers: int,
        venues: list[str] | None = None,
        symbols: list[str] | None = None,
        seed: int = 7,
        port_base: int = 0,
        rate: float = 1.0,
        faults: list[str] | None = None,
        log_level: str = "WARNING",
    ) -> None:
        self.venue_ids = venues or list(VENUE_IDS)
        bad = [v for v in self.venue_ids if v not in VENUE_IDS]
        if bad:
            raise ConfigError(f"unknown venue(s) {bad}; venues are: {', '.join(VENUE_IDS)}")
        self.symbols = [canonical_symbol(s) for s in (symbols or DEFAULT_SYMBOLS)]
        self.faults = list(faults or [])
        for f in self.faults:
            FaultSpec.parse(f)  # refuse a bad spec here, not in a child
        self.shares = split_venues(self.venue_ids, workers)
        self.seed, self.port_base, self.rate, self.log_level = seed, port_base, rate, log_level
        self.local: Simulator | None = None
        self.start_ns = 0
        self._stopping = False
        self._watchers: list[asyncio.Task[None]] = []
        self.children: list[asyncio.subprocess.Process] = []
        self._child_endpoints: list[dict[str, Any]] = []
        self._child_stats: list[dict[str, Any]] = []

    def _spec(self, share: list[str], start_ns: int) -> dict[str, Any]:
        return {
            "venues": share, "market_venues": self.venue_ids, "symbols": self.symbols, "seed": self.seed,
            "port_base": self.port_base, "rate": self.rate, "start_ns": start_ns, "faults": self.faults,
            "log_level": self.log_level,
        }

    async def start(self) -> None:
        self.start_ns = start_ns = time.time_ns()  # one market: every process starts it at the same instant
        for share in self.shares[1:]:
            self.children.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cryptoflow.sim.workers", json.dumps(self._spec(share, start_ns)),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            ))
        try:
            self.local = _simulator(self._spec(self.shares[0], start_ns))
            await self.local.start()
            for proc in self.children:
                assert proc.stdout is not None
                line = await asyncio.wait_for(proc.stdout.readline(), _START_TIMEOUT_S)
                if not line:
                    raise ConfigError(f"simulator worker {proc.pid} exited before serving (see its log above)")
                self._child_endpoints.append(json.loads(line))
        except BaseException:
            await self.stop()
            raise
        self._watchers = [asyncio.create_task(self._watch(p, share)) for p, share in zip(
            self.children, self.shares[1:], strict=True)]
        log.info("simulator pool up: %s", " | ".join(",".join(s) for s in self.shares))

    async def _watch(self, proc: asyncio.subprocess.Process, share: list[str]) -> None:
        """Say so when a worker dies on its own: its venues stop sending (the others go on)."""
        code = await proc.wait()
        if not self._stopping:
            log.error("simulator worker %d serving %s exited with code %s", proc.pid, ", ".join(share), code)

    def endpoints(self) -> dict[str, dict[str, Any]]:
        """Every venue's endpoints, in the order of ``venues`` (whichever process serves it)."""
        merged: dict[str, dict[str, Any]] = dict(self.local.endpoints()) if self.local is not None else {}
        for eps in self._child_endpoints:
            merged.update(eps)
        return {v: merged[v] for v in self.venue_ids if v in merged}

    @property
    def pids(self) -> list[int]:
        return [os.getpid(), *(p.pid for p in self.children)]

    def stats(self) -> dict[str, Any]:
        """The workers' stats summed (counts) and merged (per venue); after ``stop`` they are final."""
        parts = ([self.local.stats()] if self.local is not None else []) + self._child_stats
        return {
            "items_generated": sum(p.get("items_generated", 0) for p in parts),
            "frames_sent": sum(p.get("frames_sent", 0) for p in parts),
            "by_venue": {v: s for p in parts for v, s in p.get("by_venue", {}).items()},
            "faults": {v: s for p in parts for v, s in p.get("faults", {}).items()},
            "market_lag_ms": max((p.get("market_lag_ms", 0) for p in parts), default=0),
            "workers": [{"pid": pid, "venues": share} for pid, share in zip(self.pids, self.shares, strict=False)],
        }

    async def stop(self) -> None:
        self._stopping = True
        for proc in self.children:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        if self.local is not None:
            await self.local.stop()
        for proc in self.children:
            try:
                out, _ = await asyncio.wait_for(proc.communicate(), 15.0)
            except TimeoutError:
                log.warning("simulator worker %d did not stop: killed", proc.pid)
                proc.kill()
                await proc.wait()
                continue
            lines = out.decode().splitlines()
            if lines and lines[-1].startswith("{"):
                with contextlib.suppress(ValueError):
                    self._child_stats.append(json.loads(lines[-1]))
        await asyncio.gather(*self._watchers, return_exceptions=True)


def _simulator(spec: dict[str, Any]) -> Simulator:
    return Simulator(
        venues=spec["venues"], market_venues=spec["market_venues"], symbols=spec["symbols"], seed=spec["seed"],
        port_base=spec["port_base"], rate=spec["rate"], start_ns=spec["start_ns"],
        faults=[FaultSpec.parse(f) for f in spec["faults"]],
    )


async def _serve_child(spec: dict[str, Any]) -> None:
    sim = _simulator(spec)
    await sim.start()
    gc.freeze()  # the market's long-lived state: out of every later collection
    sys.stdout.write(json.dumps(sim.endpoints()) + "\n")
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    parent_gone = asyncio.ensure_future(reader.read())  # EOF: the parent exited without stopping us
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({parent_gone, stopped}, return_when=asyncio.FIRST_COMPLETED)
    parent_gone.cancel()
    stopped.cancel()
    await sim.stop()
    sys.stdout.write(json.dumps(sim.stats()) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> None:
    """Entry of a child process: ``python -m cryptoflow.sim.workers SPEC_JSON``."""
    spec = json.loads(argv[0])
    logging.basicConfig(level=getattr(logging, str(spec.get("log_level", "WARNING")).upper(), logging.WARNING),
                        stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s[worker]: %(message)s")
    from cryptoflow import aio

    aio.run(_serve_child(spec))


if __name__ == "__main__":
    main(sys.argv[1:])
