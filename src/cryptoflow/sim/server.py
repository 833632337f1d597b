"""Simulator servers: one websocket server (picows) and one REST server (aiohttp) per venue on
127.0.0.1, fed by one synthetic market, with fault injection.

The collector reaches these only through configuration: ``Simulator.endpoints()`` is the JSON
that ``cryptoflow simulate --json`` prints and ``cryptoflow collect --endpoints`` reads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import picows
from aiohttp import web

from cryptoflow.sim.protocol import ClientReply, ConnState, SimVenue

log = logging.getLogger(__name__)

FAULT_KINDS = ("drop", "gap", "malformed", "stall", "refuse", "slow", "lifetime", "throttle")
MAX_CLIENT_BACKLOG = 64 << 20  # bytes queued for one client before it is dropped as too slow


_HEADERS: list[bytes | None] = [bytes((0x81, n)) for n in range(126)] + [None] * (65536 - 126)


def ws_text_header(n: int) -> bytes:
    """Header of one unmasked, unfragmented server->client TEXT frame of ``n`` payload bytes (RFC 6455 5.2).

    Why by hand: ``WSTransport.send`` costs one socket write per frame per connection (~10 us,
    the simulator's top cost); publishing frames each payload once and writes a connection's
    frames of one clock step with a single ``transport.write`` (the bytes on the wire are the
    same as picows would send).
    """
    if n < 65536:
        h = _HEADERS[n]
        if h is None:  # built once per length seen
            h = _HEADERS[n] = b"\x81\x7e" + n.to_bytes(2, "big")
        return h
    return b"\x81\x7f" + n.to_bytes(8, "big")


@dataclass
class FaultState:
    """Armed faults of one venue server and how many were carried out."""

    skip_book_frames: int = 0  # drop this many upcoming book diff frames (sequence gap)
    malformed: int = 0  # send this many truncated frames
    refuse_subscriptions: int = 0  # refuse this many upcoming subscribe requests
    stall_until: float = 0.0  # monotonic time until which nothing is sent (connections stay open)
    slow_burst: int = 0  # slow mode: send this many frames, then pause
    slow_pause_s: float = 0.0
    max_lifetime_s: float | None = None  # close connections older than this (Binance 24 h rule)
    throttle_rest: int = 0  # answer this many upcoming REST requests with the venue's 429
    done: Counter[str] = field(default_factory=Counter)


class SimConnection(picows.WSListener):
    def __init__(self, server: VenueServer, path: str, query: dict[str, list[str]]) -> None:
        self.server = server
        self.state = ConnState(path=path, query=query)
        self.transport: picows.WSTransport | None = None
        self.opened = time.monotonic()
        self.last_client_msg = self.opened
        self._sent_in_burst = 0
        self._paused_until = 0.0
        self._sent = 0
        self._out: list[bytes] = []  # framed bytes queued during one publish, written by flush()

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport
        self.server.conns.add(self)
        self.server.stats["connections"] += 1
        self._apply(self.server.sim.on_open(self.state))

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self.server.conns.discard(self)
        for t in list(self.state.topics):
            self.server.remove(t, self)

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        self.last_client_msg = time.monotonic()
        if frame.msg_type == picows.WSMsgType.TEXT:
            text = frame.get_payload_as_utf8_text()
            self.server.stats["client_messages"] += 1
            faults = self.server.faults
            if faults.refuse_subscriptions > 0 and "sub" in text.lower():
                faults.refuse_subscriptions -= 1
                faults.done["refuse"] += 1
                self.send_text(self.server.sim.subscription_error(text, self.state))
                return
            self._apply(self.server.sim.on_message(text, self.state))
        elif frame.msg_type == picows.WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())  # a ping counts as client activity
        elif frame.msg_type == picows.WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def _apply(self, reply: ClientReply) -> None:
        for f in reply.send:
            self.send_text(f)
        for t in reply.unsubscribe:
            self.state.topics.discard(t)
            self.server.remove(t, self)
        for t in reply.subscribe:
            if t not in self.state.topics:
                self.state.topics.add(t)
                self.server.add(t, self)
            for f in self.server.sim.on_subscribed(t, self.state):
                self.send_text(f)
        if reply.close and self.transport is not None:
            self.transport.disconnect()

    def send_text(self, text: str) -> None:
        self.send(text.encode())

    def send(self, data: bytes) -> None:
        tr = self.transport
        if tr is None or tr.is_disconnected:
            return
        f = self.server.faults
        if f.slow_burst:
            now = time.monotonic()
            if now < self._paused_until:
                return  # a slow venue drops what it cannot send (clients see gaps)
            self._sent_in_burst += 1
            if self._sent_in_burst >= f.slow_burst:
                self._sent_in_burst = 0
                self._paused_until = now + f.slow_pause_s
        tr.send(picows.WSMsgType.TEXT, data)
        self.server.stats["frames_sent"] += 1
        self._sent += 1
        if self._sent & 1023 == 0 and tr.underlying_transport.get_write_buffer_size() > MAX_CLIENT_BACKLOG:
            # like a real venue, drop a consumer that cannot keep up instead of buffering forever
            self.server.stats["slow_consumer_drops"] += 1
            log.warning("%s: client %d MB behind: disconnected", self.server.sim.venue_id, MAX_CLIENT_BACKLOG >> 20)
            tr.disconnect()

    def queue(self, data: bytes) -> bool:
        """Queue one TEXT frame's payload (framed at flush); True if this is the first queued."""
        tr = self.transport
        if tr is None or tr.is_disconnected:
            return False
        f = self.server.faults
        if f.slow_burst:
            now = time.monotonic()
            if now < self._paused_until:
                return False  # a slow venue drops what it cannot send (clients see gaps)
            self._sent_in_burst += 1
            if self._sent_in_burst >= f.slow_burst:
                self._sent_in_burst = 0
                self._paused_until = now + f.slow_pause_s
        out = self._out
        out.append(ws_text_header(len(data)))
        out.append(data)
        return len(out) == 2

    def flush(self) -> None:
        """Write the queued frames (header, payload, header, ...) with one socket write; drop a
        client that is far behind."""
        out, self._out = self._out, []
        tr = self.transport
        if not out or tr is None or tr.is_disconnected:
            return
        utr = tr.underlying_transport
        utr.write(b"".join(out))
        n = len(out) >> 1
        self.server.stats["frames_sent"] += n
        before = self._sent
        self._sent += n
        if (before >> 10) != (self._sent >> 10) and utr.get_write_buffer_size() > MAX_CLIENT_BACKLOG:
            self.server.stats["slow_consumer_drops"] += 1
            log.warning("%s: client %d MB behind: disconnected", self.server.sim.venue_id, MAX_CLIENT_BACKLOG >> 20)
            tr.disconnect()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.disconnect()


class VenueServer:
    """Websocket + REST server of one simulated venue."""

    def __init__(self, sim: SimVenue, host: str = "127.0.0.1") -> None:
        self.sim = sim
        self.host = host
        self.subs: dict[str, set[SimConnection]] = {}
        self.conns: set[SimConnection] = set()
        self.faults = FaultState()
        self.stats: Counter[str] = Counter()
        self.ws_port = 0
        self.rest_port = 0
        # Optional continuous REST budget (requests/s, burst), like the venue's IP limit; None: unlimited.
        self.rest_limit: tuple[float, float] | None = None
        self._rest_tokens = 0.0
        self._rest_t = time.monotonic()
        self._ws_server: asyncio.base_events.Server | None = None
        self._runner: web.AppRunner | None = None

    # ---- subscriptions -------------------------------------------------------------------
    def add(self, topic: str, conn: SimConnection) -> None:
        self.subs.setdefault(topic, set()).add(conn)

    def remove(self, topic: str, conn: SimConnection) -> None:
        s = self.subs.get(topic)
        if s is not None:
            s.discard(conn)
            if not s:
                del self.subs[topic]

    # ---- publishing ----------------------------------------------------------------------------
    def publish(self, items: list[Any]) -> None:
        """Encode the market's items (all of them: encoders keep sequence state) and send each
        frame to the connections subscribed to its topic, one socket write per connection."""
        f = self.faults
        if f.stall_until and time.monotonic() < f.stall_until:
            for item in items:
                self.sim.encode(item)  # the market moves on; nothing reaches the clients
            return
        if f.skip_book_frames or f.malformed or f.slow_burst:
            self._publish_with_faults(items)
            return
        # The hot path (most of the simulator's time is here and in the encoders): each frame is
        # encoded and its header looked up once, then its header and payload are queued on every
        # subscribed connection and joined at the flush.
        subs = self.subs
        encode = self.sim.encode
        headers = _HEADERS
        dirty: list[SimConnection] = []
        published = 0
        for item in items:
            for topic, frame in encode(item):
                conns = subs.get(topic)
                if not conns:
                    continue
                data = frame.encode()
                n = len(data)
                hdr = headers[n] if n < 65536 else None
                if hdr is None:
                    hdr = ws_text_header(n)
                for c in conns:
                    out = c._out
                    if not out:
                        dirty.append(c)
                    out.append(hdr)
                    out.append(data)
                published += 1
        for c in dirty:
            c.flush()
        self.stats["frames_published"] += published

    def _publish_with_faults(self, items: list[Any]) -> None:
        """``publish`` with armed gap / malformed / slow faults (checked per frame)."""
        f = self.faults
        subs = self.subs
        encode = self.sim.encode
        dirty: list[SimConnection] = []
        published = 0
        for item in items:
            for topic, frame in encode(item):
                conns = subs.get(topic)
                if not conns:
                    continue
                if f.skip_book_frames and _is_book(item):
                    f.skip_book_frames -= 1
                    f.done["gap"] += 1
                    continue
                data = frame.encode()
                if f.malformed:
                    f.malformed -= 1
                    f.done["malformed"] += 1
                    data = data[: max(1, len(data) // 2)]
                for c in conns:
                    if c.queue(data):
                        dirty.append(c)
                published += 1
        # one write per connection per clock step; nothing else runs on the loop in between, so
        # replies sent directly (acks, pongs) cannot be reordered with these frames
        for c in dirty:
            c.flush()
        self.stats["frames_published"] += published

    def housekeeping(self) -> None:
        """Server pings, idle-client closes, forced lifetime closes (called ~every 100 ms)."""
        now = time.monotonic()
        idle = self.sim.client_idle_timeout_s
        life = self.faults.max_lifetime_s
        for c in tuple(self.conns):
            reply = self.sim.on_tick(c.state, now)
            if reply is not None:
                c._apply(reply)
            if idle is not None and now - c.last_client_msg > idle:
                self.stats["idle_closes"] += 1
                c.close()
            elif life is not None and now - c.opened > life:
                self.faults.done["lifetime"] += 1
                c.close()

    def ping_all(self) -> None:
        ping = self.sim.server_ping()
        for c in tuple(self.conns):
            if c.transport is None or c.transport.is_disconnected:
                continue
            if ping is None:
                c.transport.send_ping()
            else:
                c.send_text(ping)

    # ---- faults ------------------------------------------------------------------------------
    def inject(self, kind: str, seconds: float = 5.0) -> None:
        f = self.faults
        if kind == "drop":
            for c in tuple(self.conns):
                c.close()
            f.done["drop"] += 1
        elif kind == "gap":
            f.skip_book_frames += 1
        elif kind == "malformed":
            f.malformed += 1
        elif kind == "stall":
            f.stall_until = time.monotonic() + seconds
            f.done["stall"] += 1
        elif kind == "refuse":
            f.refuse_subscriptions += 1
        elif kind == "slow":
            f.slow_burst, f.slow_pause_s = 200, min(seconds, 2.0)
            f.done["slow"] += 1
        elif kind == "lifetime":
            f.max_lifetime_s = seconds
        elif kind == "throttle":
            f.throttle_rest += max(1, round(seconds))  # ``throttle=N``: the next N REST requests
        else:
            raise ValueError(f"unknown fault {kind!r}; faults are: {', '.join(FAULT_KINDS)}")

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self, ws_port: int = 0, rest_port: int = 0) -> None:
        def factory(request: picows.WSUpgradeRequest) -> SimConnection | None:
            target = request.path.decode() if isinstance(request.path, bytes) else str(request.path)
            parts = urlsplit(target)
            if parts.path not in self.sim.ws_paths.values():
                return None  # 404 for an unknown path, as a real server
            return SimConnection(self, parts.path, parse_qs(parts.query))

        # pongs are sent by hand so that client pings count as activity (idle-close rules)
        self._ws_server = await picows.ws_create_server(factory, self.host, ws_port, enable_auto_pong=False)
        self.ws_port = self._ws_server.sockets[0].getsockname()[1]
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, rest_port)
        await site.start()
        self.rest_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def _throttled(self) -> bool:
        """Whether this REST request is over the limit: an armed ``throttle`` fault, or the
        optional continuous budget ``rest_limit`` (requests/s, burst) like a venue's IP limit."""
        f = self.faults
        if f.throttle_rest > 0:
            f.throttle_rest -= 1
            f.done["throttle"] += 1
            return True
        if self.rest_limit is None:
            return False
        rate, burst = self.rest_limit
        now = time.monotonic()
        self._rest_tokens = min(burst, self._rest_tokens + (now - self._rest_t) * rate)
        self._rest_t = now
        if self._rest_tokens >= 1.0:
            self._rest_tokens -= 1.0
            return False
        f.done["throttle"] += 1
        return True

    async def _rest(self, request: web.Request) -> web.Response:
        self.stats["rest_requests"] += 1
        body = await request.read()
        if self._throttled():
            self.stats["rest_throttled"] += 1
            t = self.sim.throttled_response(request.path)
            return web.Response(status=t.status, body=t.body, headers=t.headers, content_type="application/json")
        try:
            resp = self.sim.rest(request.method, request.path, parse_qs(request.query_string), body)
        except Exception:  # a simulator bug must show up as a 500, not kill the server
            log.exception("%s: REST handler failed for %s", self.sim.venue_id, request.path_qs)
            return web.Response(status=500, text='{"error":"internal"}', content_type="application/json")
        if resp is None:
            return web.Response(status=404, text='{"error":"not found"}', content_type="application/json")
        return web.Response(status=resp.status, body=resp.body, headers=resp.headers, content_type="application/json")

    def endpoints(self) -> dict[str, Any]:
        return {
            "ws": {name: f"ws://{self.host}:{self.ws_port}{path}" for name, path in self.sim.ws_paths.items()},
            "rest": f"http://{self.host}:{self.rest_port}",
        }

    async def stop(self) -> None:
        for c in tuple(self.conns):
            c.close()
        if self._ws_server is not None:
            self._ws_server.close()
        if self._runner is not None:
            await self._runner.cleanup()


def _is_book(item: Any) -> bool:
    return type(item).__name__ == "BookUpdate"
