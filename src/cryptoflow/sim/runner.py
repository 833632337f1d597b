"""The simulator: one synthetic market, one protocol server per venue, a clock, and faults.

The market is advanced on the wall clock (simulated time = real time), so the collector's
``ts`` (exchange time) and ``ts_recv`` (local time) relate as with a real venue.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from cryptoflow.errors import ConfigError
from cryptoflow.sim.market import MarketConfig, SyntheticMarket
from cryptoflow.sim.server import FAULT_KINDS, VenueServer
from cryptoflow.sim.venues import sim_venue_class
from cryptoflow.symbols import DEFAULT_SYMBOLS, InstrumentRegistry, canonical_symbol
from cryptoflow.venues import VENUE_IDS

log = logging.getLogger(__name__)

# When the machine cannot keep up with the configured rate, the clock computes at most this much
# simulated time per turn of the event loop, so connections, pings and REST stay served (the
# market then lags the wall clock; ``stats()["market_lag_ms"]`` says by how much).
MAX_CATCH_UP_NS = 100_000_000


@dataclass(frozen=True)
class FaultSpec:
    """``kind[:venue][@every_s][=seconds]``: e.g. ``drop@30``, ``gap:okx@10``, ``stall@60=5``."""

    kind: str
    venue: str | None
    every_s: float
    seconds: float

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        body, _, dur = text.partition("=")
        body, _, every = body.partition("@")
        kind, _, venue = body.partition(":")
        if kind not in FAULT_KINDS:
            raise ConfigError(f"fault {text!r}: kind must be one of {', '.join(FAULT_KINDS)}")
        if venue and venue not in VENUE_IDS:
            raise ConfigError(f"fault {text!r}: unknown venue {venue!r}; venues are: {', '.join(VENUE_IDS)}")
        try:
            return cls(kind, venue or None, float(every or 30.0), float(dur or 5.0))
        except ValueError:
            raise ConfigError(f"fault {text!r}: expected kind[:venue][@every_seconds][=seconds]") from None


class Simulator:
    """Runs the market and every venue server until ``stop()``.

    ``market_venues`` (default: ``venues``) are the venues of the market; this simulator serves
    ``venues`` among them. With the same seed, symbols, rate and ``start_ns``, simulators serving
    different venues of one market send exactly what a single simulator of all of them would
    (``cryptoflow simulate --workers``, ``sim/workers.py``). Ports with ``port_base`` follow the
    venue's position in ``market_venues``, so they do not depend on how venues are split.
    """

    def __init__(
        self,
        venues: list[str] | None = None,
        symbols: list[str] | None = None,
        seed: int = 7,
        port_base: int = 0,
        rate: float = 1.0,
        faults: list[FaultSpec] | None = None,
        step_ms: float = 20.0,
        registry: InstrumentRegistry | None = None,
        market_venues: list[str] | None = None,
        start_ns: int | None = None,
    ) -> None:
        self.venue_ids = venues or list(VENUE_IDS)
        self.market_venues = market_venues or list(self.venue_ids)
        bad = [v for v in (*self.venue_ids, *self.market_venues) if v not in VENUE_IDS]
        if bad:
            raise ConfigError(f"unknown venue(s) {bad}; venues are: {', '.join(VENUE_IDS)}")
        if not set(self.venue_ids) <= set(self.market_venues):
            raise ConfigError(f"served venues {self.venue_ids} must be among the market's {self.market_venues}")
        self.start_ns = start_ns
        self.market_lag_ns = 0  # how far the market lagged the wall clock at the last clock step
        self.symbols = [canonical_symbol(s) for s in (symbols or DEFAULT_SYMBOLS)]
        self.seed = seed
        self.port_base = port_base
        self.rate = rate
        self.faults = faults or []
        self.step_s = step_ms / 1000.0
        self.registry = registry if registry is not None else InstrumentRegistry.bundled()
        self.market: SyntheticMarket | None = None
        self.servers: dict[str, VenueServer] = {}
        self.items_generated = 0
        self.items_by_venue: Counter[str] = Counter()
        self._tasks: list[asyncio.Task[Any]] = []
        self._stop = asyncio.Event()
        self.frozen = False  # when set, the market stops moving (servers stay up)
        self.t0_ns = 0

    def _listed(self, venue_id: str) -> list[Any]:
        return [i for i in self.registry.instruments(venue_id) if i.symbol in self.symbols]

    def market_config(self, start_ns: int) -> MarketConfig:
        """The market every simulator of ``market_venues`` with this seed and rate runs."""
        return MarketConfig.for_instruments(
            {v: [(i.market, i.symbol) for i in self._listed(v)] for v in self.market_venues},
            seed=self.seed, rate=self.rate, start_ns=start_ns,
        )

    async def start(self) -> None:
        self.t0_ns = self.start_ns if self.start_ns is not None else time.time_ns()
        listed = {v: self._listed(v) for v in self.market_venues}
        self.market = SyntheticMarket(  # a venue listing none of the symbols has no books (its server is idle)
            self.market_config(self.t0_ns), active_venues=[v for v in self.venue_ids if listed[v]]
        )
        for vid in self.venue_ids:
            srv = VenueServer(sim_venue_class(vid)(listed[vid], self.market))
            n = self.market_venues.index(vid)
            ws_port = self.port_base + 2 * n if self.port_base else 0
            await srv.start(ws_port, ws_port + 1 if self.port_base else 0)
            self.servers[vid] = srv
        self._tasks = [asyncio.create_task(self._clock(), name="sim-clock"),
                       asyncio.create_task(self._housekeeping(), name="sim-housekeeping")]
        for f in self.faults:
            self._tasks.append(asyncio.create_task(self._fault_loop(f), name=f"fault-{f.kind}"))
        log.info("simulator up: %d venues, %d symbols", len(self.servers), len(self.symbols))

    def endpoints(self) -> dict[str, dict[str, Any]]:
        return {vid: srv.endpoints() for vid, srv in self.servers.items()}

    def step(self, to_ns: int) -> int:
        """Advance the market to ``to_ns`` and publish what happened; returns items published."""
        assert self.market is not None
        # Encoding and publishing create no reference cycles either (see SyntheticMarket.advance):
        # the cyclic collector would only walk the millions of short-lived frames and tuples.
        paused = gc.isenabled()
        if paused:
            gc.disable()
        try:
            n = 0
            for vid, its in self.market.advance_by_venue(to_ns).items():
                if not its:
                    continue
                srv = self.servers.get(vid)
                if srv is not None:
                    srv.publish(its)
                    self.items_by_venue[vid] += len(its)
                n += len(its)
        finally:
            if paused:
                gc.enable()
        self.items_generated += n
        return n

    async def _clock(self) -> None:
        assert self.market is not None
        warned = False
        while not self._stop.is_set():
            wait = self.step_s
            if not self.frozen:
                now = time.time_ns()
                self.step(min(now, self.market.now_ns + MAX_CATCH_UP_NS))
                lag = self.market_lag_ns = now - self.market.now_ns
                if lag > MAX_CATCH_UP_NS:  # behind: go on at once, after the loop's other work
                    wait = 0.0
                    if lag > 5_000_000_000 and not warned:
                        warned = True
                        log.warning("the market runs behind the wall clock (rate %s is more than this machine "
                                    "computes in real time): event times lag", self.rate)
            if wait:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), wait)
            else:
                await asyncio.sleep(0)

    async def _housekeeping(self) -> None:
        last_ping: dict[str, float] = {}
        while not self._stop.is_set():
            now = time.monotonic()
            for vid, srv in self.servers.items():
                srv.housekeeping()
                every = srv.sim.server_ping_interval_s
                if every is not None and now - last_ping.get(vid, now) >= every:
                    srv.ping_all()
                    last_ping[vid] = now
                last_ping.setdefault(vid, now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.1)

    async def _fault_loop(self, f: FaultSpec) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), f.every_s)
                return
            except TimeoutError:
                pass
            for vid, srv in self.servers.items():
                if f.venue is None or f.venue == vid:
                    srv.inject(f.kind, f.seconds)

    def fault_counts(self) -> dict[str, dict[str, int]]:
        return {vid: dict(srv.faults.done) for vid, srv in self.servers.items()}

    def stats(self) -> dict[str, Any]:
        return {
            "items_generated": self.items_generated,
            "frames_sent": sum(s.stats["frames_sent"] for s in self.servers.values()),
            "by_venue": {v: dict(s.stats) for v, s in self.servers.items()},
            "faults": self.fault_counts(),
            "market_lag_ms": round(self.market_lag_ns / 1e6),
        }

    async def stop(self) -> None:
        self._stop.set()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for srv in self.servers.values():
            await srv.stop()
