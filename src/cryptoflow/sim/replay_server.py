"""Serve a capture file through each venue's protocol server, like a market replay.

Recorded websocket frames are sent as they were recorded, at the recorded pace (or ``speed``
times faster), to the clients connected to the same path (all of the venue's clients when
the recording's path is not one the simulator serves). Client messages are answered by the
venue's simulated protocol (acks, pongs). REST requests get the recorded response for the
same path and symbol: the first one recorded at or after the replay clock, so a client that
buffers diffs and then asks for a snapshot can bridge it exactly as it did live.

Playback starts when the first client has sent its subscriptions, so a collector started after
the replay server sees the recording from its beginning. Every connection on the recorded path
gets the recorded frames (the recording already holds exactly what was subscribed).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from cryptoflow.errors import ConfigError
from cryptoflow.feed.capture import CaptureRecord, read_capture
from cryptoflow.sim.server import VenueServer
from cryptoflow.sim.venues import sim_venue_class
from cryptoflow.symbols import InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import BookUpdate

log = logging.getLogger(__name__)


class _NoMarket:
    def book_snapshot(self, venue: str, market: str, symbol: str, depth: int) -> BookUpdate:
        raise ConfigError("a replayed venue serves recorded snapshots only")


def _rest_key(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    q = parse_qs(parts.query)
    ident = (q.get("symbol") or q.get("contract") or q.get("instId") or [""])[0].upper()
    return parts.path, ident


class ReplayVenueServer(VenueServer):
    """A venue server whose data comes from a recording instead of the market."""

    def __init__(self, sim: Any) -> None:
        super().__init__(sim)
        self.rest_records: dict[tuple[str, str], list[tuple[int, bytes]]] = defaultdict(list)
        self.clock_t = 0  # recorded time the replay has reached

    def broadcast(self, path: str, data: bytes) -> None:
        conns = [c for c in self.conns if c.state.path == path]
        if not conns and self.conns:  # recorded on a path we do not serve: one connection gets it all
            conns = [min(self.conns, key=lambda c: c.opened)]
        for c in conns:
            c.send(data)
        self.stats["frames_published"] += 1

    async def _rest(self, request: web.Request) -> web.Response:
        self.stats["rest_requests"] += 1
        path = request.path
        q = parse_qs(request.query_string)
        ident = (q.get("symbol") or q.get("contract") or q.get("instId") or [""])[0].upper()
        recs = self.rest_records.get((path, ident)) or next(
            (v for (p, _i), v in self.rest_records.items() if p.endswith(path) or path.endswith(p)), None
        )
        if not recs:
            return web.Response(status=404, text='{"error":"not in the recording"}', content_type="application/json")
        i = bisect.bisect_left([t for t, _ in recs], self.clock_t)
        _, body = recs[min(i, len(recs) - 1)]
        return web.Response(status=200, body=body, content_type="application/json")


class ReplaySimulator:
    """Replays a capture for every venue in it; same interface as ``Simulator``."""

    def __init__(self, path: str | Path, speed: float = 1.0, port_base: int = 0) -> None:
        if speed <= 0:
            raise ConfigError(f"--speed must be > 0 (got {speed})")
        self.path = Path(path)
        self.speed = speed
        self.port_base = port_base
        self.records: list[CaptureRecord] = [r for r in read_capture(self.path) if r.kind in ("ws", "rest")]
        if not self.records:
            raise ConfigError(f"{self.path}: no ws or rest records to replay")
        self.servers: dict[str, ReplayVenueServer] = {}
        self.frames_replayed = 0
        self.finished = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None
        self._stop = asyncio.Event()

    async def start(self) -> None:
        reg = InstrumentRegistry.bundled()
        venues = list(dict.fromkeys(r.venue for r in self.records))
        for n, vid in enumerate(venues):
            srv = ReplayVenueServer(sim_venue_class(vid)(reg.instruments(vid), _NoMarket()))
            ws_port = self.port_base + 2 * n if self.port_base else 0
            await srv.start(ws_port, ws_port + 1 if self.port_base else 0)
            self.servers[vid] = srv
        for r in self.records:
            if r.kind == "rest":
                srv = self.servers[r.venue]
                srv.rest_records[_rest_key(r.url)].append((r.t, r.data.encode()))
                # instruments in the recording become known to the venue's protocol (subscriptions)
                for inst in get_venue(r.venue, registry=reg).parse_instruments(r.url, r.data.encode()):
                    srv.sim.instruments.setdefault(inst.native, inst)
                    srv.sim.by_symbol.setdefault((inst.market, inst.symbol), inst)
        self._task = asyncio.create_task(self._play(), name="replay")

    def endpoints(self) -> dict[str, dict[str, Any]]:
        return {vid: srv.endpoints() for vid, srv in self.servers.items()}

    async def _play(self) -> None:
        while not any(s.stats["client_messages"] for s in self.servers.values()):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # the rest of the subscriptions
        t_rec0 = self.records[0].t
        t_wall0 = time.monotonic()
        for rec in self.records:
            due = (rec.t - t_rec0) / 1e9 / self.speed
            wait = due - (time.monotonic() - t_wall0)
            if wait > 0.001:
                await asyncio.sleep(wait)
            if self._stop.is_set():
                return
            srv = self.servers[rec.venue]
            srv.clock_t = rec.t
            if rec.kind == "ws":
                srv.broadcast(urlsplit(rec.url).path if rec.url else "", rec.data.encode())
                self.frames_replayed += 1
        self.finished.set()
        log.info("replay finished: %d frames", self.frames_replayed)

    def stats(self) -> dict[str, Any]:
        return {
            "frames_replayed": self.frames_replayed,
            "finished": self.finished.is_set(),
            "frames_sent": sum(s.stats["frames_sent"] for s in self.servers.values()),
        }

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for srv in self.servers.values():
            await srv.stop()
