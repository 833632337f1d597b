"""One generic websocket transport (picows) for every venue.

A ``WsSession`` owns one ``ConnectionPlan``: it connects, sends the venue's connect and
subscribe messages, sends pings on the venue's schedule (app-level text, or websocket
ping frames where the venue has no app ping), answers the venue's
ping requests (``Control.reply``), watches for silence (a stalled connection that never
closes), reconnects with exponential backoff and full jitter, and rotates the connection
before the venue's maximum lifetime with an overlap so nothing is missed (the new connection
is subscribed and delivering before the old one is closed; duplicates in the overlap are
removed downstream by trade id and sequence number).

Each connection gets its own decoder (decoders keep per-connection state) and hands the
decoded items, tagged with the session, to ``on_items``. Nothing here blocks: the callback
must be quick (it only appends to buffers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import picows

from cryptoflow.feed.capture import CaptureWriter
from cryptoflow.venues.base import ConnectionPlan, Control, DecodeErrorLog, FrameDecoder, Item, Subscription, Venue

log = logging.getLogger(__name__)

OnItems = Callable[["WsSession", list[Item]], None]


@dataclass
class SessionStats:
    connects: int = 0
    reconnects: int = 0
    rotations: int = 0
    frames: int = 0
    bytes: int = 0
    stalls: int = 0
    errors_from_venue: int = 0
    last_frame_mono: float = 0.0
    connected_since_mono: float = 0.0
    last_error: str = ""


_DATA_FRAMES = frozenset((picows.WSMsgType.TEXT, picows.WSMsgType.BINARY, picows.WSMsgType.CONTINUATION))
_CLOSE, _PONG = picows.WSMsgType.CLOSE, picows.WSMsgType.PONG


class _Listener(picows.WSListener):
    """Receives frames of one physical connection and passes them to the session."""

    def __init__(self, conn: _Connection) -> None:
        self.conn = conn
        self._parts: list[bytes] = []

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.conn.transport = transport

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        # once per frame (tens of thousands a second): enum members are module constants here
        t = frame.msg_type
        if t in _DATA_FRAMES:
            if not frame.fin:
                self._parts.append(frame.get_payload_as_bytes())
                return
            data = frame.get_payload_as_bytes()
            if self._parts:
                self._parts.append(data)
                data = b"".join(self._parts)
                self._parts.clear()
            self.conn.on_data(data)
        elif t == _CLOSE:
            self.conn.close_reason = f"closed by venue ({frame.get_close_code()})"
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        elif t == _PONG:
            self.conn.session.stats.last_frame_mono = time.monotonic()

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self.conn.disconnected.set()


class _Connection:
    """One physical websocket with its own decoder."""

    def __init__(self, session: WsSession) -> None:
        self.session = session
        self.decoder: FrameDecoder = session.venue.decoder_for_url(session.plan.url)
        self.decoder.errors = session.decode_errors  # counts survive reconnects
        self.transport: picows.WSTransport | None = None
        self.disconnected = asyncio.Event()
        self.got_data = asyncio.Event()
        self._had_data = False  # got_data is set (a plain bool: checked once per frame)
        self.close_reason = ""
        self.opened_mono = time.monotonic()
        self.active = True  # False while a rotation's new connection waits to take over

    def on_data(self, data: bytes) -> None:
        s = self.session
        stats = s.stats
        now_ns = time.time_ns()
        stats.frames += 1
        stats.bytes += len(data)
        stats.last_frame_mono = time.monotonic()
        if s.capture is not None:
            s.capture.record(now_ns, s.venue.id, "ws", data, url=s.plan.url)
        items = self.decoder.decode(data, now_ns)
        if not items:
            return
        if len(items) == 1 and type(items[0]) is not Control:  # the usual frame: one event, no control
            if not self._had_data:
                self._had_data = True
                self.got_data.set()
            s.on_items(s, items)
            return
        replies = None
        for it in items:
            if type(it) is Control:
                if it.reply is not None:
                    replies = replies or []
                    replies.append(it.reply)
                if it.kind == "error":
                    stats.errors_from_venue += 1
                    log.warning("%s: venue error: %s", s.venue.id, it.detail)
            elif not self._had_data:
                self._had_data = True
                self.got_data.set()
        if replies:
            for r in replies:
                self.send(r)
        s.on_items(s, items)

    def send(self, text: str) -> None:
        if self.transport is not None and not self.transport.is_disconnected:
            self.transport.send(picows.WSMsgType.TEXT, text.encode())
            if self.session.capture is not None:
                self.session.capture.record(time.time_ns(), self.session.venue.id, "sent", text)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_disconnected:
            self.transport.send_close(picows.WSCloseCode.OK)
            self.transport.disconnect()


class WsSession:
    """Keeps one venue connection plan alive until ``stop()``."""

    def __init__(
        self,
        venue: Venue,
        plan: ConnectionPlan,
        on_items: OnItems,
        *,
        stale_after_s: float | None = None,
        max_lifetime_s: float | None = None,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        capture: CaptureWriter | None = None,
        on_connect: Callable[[WsSession], None] | None = None,
    ) -> None:
        self.venue = venue
        self.plan = plan
        self.on_items = on_items
        self.on_connect = on_connect
        self.stale_after_s = stale_after_s if stale_after_s is not None else venue.idle_timeout_s
        self.max_lifetime_s = max_lifetime_s if max_lifetime_s is not None else venue.max_connection_lifetime_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.capture = capture
        self.subscriptions: list[Subscription] = list(plan.subscriptions)
        self.stats = SessionStats()
        self.decode_errors = DecodeErrorLog(venue.id)
        self.conn: _Connection | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self.conn is not None and self.conn.transport is not None and not self.conn.disconnected.is_set()

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name=f"ws:{self.venue.id}:{self.plan.url}")
        return self._task

    async def stop(self) -> None:
        self._stop.set()
        if self.conn is not None:
            self.conn.close()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 5)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()

    def send(self, text: str) -> None:
        """Send on the current connection (resubscribe after a book gap, etc.)."""
        if self.conn is not None:
            self.conn.send(text)

    def resubscribe(self, subs: list[Subscription]) -> None:
        """Unsubscribe and subscribe again: stream-synced venues then send a fresh book snapshot."""
        for m in self.venue.unsubscribe_messages(subs):
            self.send(m)
        for m in self.venue.subscribe_messages(subs):
            self.send(m)

    async def _open(self) -> _Connection:
        conn = _Connection(self)
        await picows.ws_connect(
            lambda: _Listener(conn),
            self.plan.url,
            enable_auto_pong=True,
            websocket_handshake_timeout=10,
            max_frame_size=64 * 1024 * 1024,
        )
        self.stats.connects += 1
        for m in self.venue.connect_messages():
            conn.send(m)
        for m in self.venue.subscribe_messages(self.subscriptions):
            conn.send(m)
        if self.capture is not None:
            self.capture.record(time.time_ns(), self.venue.id, "open", "", url=self.plan.url)
        return conn

    async def run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                self.conn = await self._open()
            except Exception as e:  # task boundary: any failure to connect is retried, never fatal
                self.stats.last_error = f"connect: {e}"
                delay = self._backoff(attempt)
                attempt += 1
                log.warning("%s: connect to %s failed (%s); retry in %.1fs", self.venue.id, self.plan.url, e, delay)
                await self._sleep(delay)
                continue
            self.stats.connected_since_mono = self.stats.last_frame_mono = time.monotonic()
            if self.on_connect is not None:
                self.on_connect(self)
            try:
                reason = await self._supervise()
            except Exception as e:  # task boundary: log with context, drop the connection, reconnect
                log.exception("%s: session error on %s", self.venue.id, self.plan.url)
                reason = f"error: {e}"
                self.conn.close()
            if self._stop.is_set():
                break
            self.stats.reconnects += 1
            attempt = 0 if time.monotonic() - self.stats.connected_since_mono > 30 else attempt + 1
            delay = self._backoff(attempt)
            log.warning("%s: connection lost (%s); reconnecting in %.2fs", self.venue.id, reason, delay)
            await self._sleep(delay)
        if self.conn is not None:
            self.conn.close()

    async def _supervise(self) -> str:
        """Ping, watch for silence and lifetime; return why the connection ended."""
        assert self.conn is not None
        ping = self.venue.ping_message()
        interval = self.venue.ping_interval_s
        tick = min(1.0, self.stale_after_s / 4)
        next_ping = time.monotonic() + (interval or 1e18)
        while not self._stop.is_set():
            conn = self.conn
            try:
                await asyncio.wait_for(conn.disconnected.wait(), tick)
                return conn.close_reason or "disconnected"
            except TimeoutError:
                pass
            now = time.monotonic()
            if now >= next_ping:
                if ping is not None:
                    conn.send(ping)
                elif conn.transport is not None and not conn.transport.is_disconnected:
                    conn.transport.send_ping()  # venues with no app-level ping (Kraken) take a ws ping
                next_ping = now + (interval or 1e18)
            if now - self.stats.last_frame_mono > self.stale_after_s:
                self.stats.stalls += 1
                conn.close()
                return f"no data for {self.stale_after_s:.1f}s"
            if self.max_lifetime_s is not None and now - conn.opened_mono > self.max_lifetime_s:
                await self._rotate()
        return "stopped"

    async def _rotate(self) -> None:
        """Open the replacement first; close the old one once the new one delivers data."""
        old = self.conn
        try:
            new = await self._open()
        except (OSError, picows.WSError, TimeoutError) as e:
            log.warning("%s: rotation connect failed (%s); keeping the old connection", self.venue.id, e)
            assert old is not None
            old.opened_mono = time.monotonic() - (self.max_lifetime_s or 0) + 5  # retry in ~5 s
            return
        try:
            await asyncio.wait_for(new.got_data.wait(), max(5.0, self.stale_after_s))
        except TimeoutError:
            log.warning("%s: rotated connection sent no data yet; switching anyway", self.venue.id)
        self.conn = new
        self.stats.rotations += 1
        self.stats.connected_since_mono = time.monotonic()
        if self.on_connect is not None:
            self.on_connect(self)
        if old is not None:
            old.close()
        log.info("%s: connection rotated before the venue's %ss lifetime", self.venue.id, self.max_lifetime_s)

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.backoff_max_s, self.backoff_base_s * (2**attempt)))

    async def _sleep(self, s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), s)
