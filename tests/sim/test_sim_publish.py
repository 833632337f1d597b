"""The simulator's publishing hot path: frames built by hand are valid RFC 6455 text frames, the
fast path sends the same bytes as the per-frame fault path, and memoised float text is repr."""

from __future__ import annotations

import math
import random

from cryptoflow.sim.market import MarketConfig, SyntheticMarket
from cryptoflow.sim.protocol import FloatText
from cryptoflow.sim.server import SimConnection, VenueServer, ws_text_header
from cryptoflow.sim.venues import sim_venue_class
from cryptoflow.symbols import InstrumentRegistry


class _Socket:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, b: bytes) -> None:
        self.data += b

    def get_write_buffer_size(self) -> int:
        return 0


class _Transport:
    is_disconnected = False

    def __init__(self) -> None:
        self.underlying_transport = _Socket()


def _frames(data: bytes) -> list[bytes]:
    """Payloads of a stream of unmasked server frames (parsed as a client would)."""
    out, i = [], 0
    while i < len(data):
        assert data[i] == 0x81  # FIN + text
        n, i = data[i + 1], i + 2
        assert n < 0x80  # a server never masks
        if n == 126:
            n, i = int.from_bytes(data[i:i + 2], "big"), i + 2
        elif n == 127:
            n, i = int.from_bytes(data[i:i + 8], "big"), i + 8
        out.append(bytes(data[i:i + n]))
        i += n
    return out


def test_headers_for_every_length_class() -> None:
    for n in (0, 1, 125, 126, 127, 65535, 65536, 70000):
        payload = b"x" * n
        assert _frames(ws_text_header(n) + payload) == [payload]
    assert ws_text_header(300) is ws_text_header(300)  # built once


def _serve(venue: str, items: list, force_fault_path: bool) -> dict[str, bytes]:
    reg = InstrumentRegistry.bundled()
    insts = [i for i in reg.instruments(venue) if i.symbol in ("BTCUSDT", "ETHUSDT")]
    market = SyntheticMarket(MarketConfig.for_instruments({venue: insts}, seed=4, rate=4.0))
    srv = VenueServer(sim_venue_class(venue)(insts, market))
    conns = {}
    for topic in ("btcusdt@depth@100ms", "btcusdt@aggTrade", "ethusdt@bookTicker", "btcusdt@bookTicker"):
        c = SimConnection(srv, "/public/stream", {})
        c.transport = _Transport()  # type: ignore[assignment]
        srv.add(topic, c)
        conns[topic] = c
    both = SimConnection(srv, "/public/stream", {})  # one connection on two topics: frames interleave
    both.transport = _Transport()  # type: ignore[assignment]
    srv.add("btcusdt@aggTrade", both)
    srv.add("btcusdt@depth@100ms", both)
    conns["both"] = both
    if force_fault_path:
        srv.faults.slow_burst, srv.faults.slow_pause_s = 10**9, 0.0  # armed, never pauses
    for chunk in items:
        srv.publish(chunk)
    assert srv.stats["frames_sent"] == sum(len(_frames(c.transport.underlying_transport.data)) for c in conns.values())
    return {t: bytes(c.transport.underlying_transport.data) for t, c in conns.items()}


def test_fast_path_sends_what_the_fault_path_sends() -> None:
    venue = "binance_usdm"
    market = SyntheticMarket(MarketConfig.for_instruments({venue: [("perp", "BTCUSDT"), ("perp", "ETHUSDT")]},
                                                          seed=4, rate=4.0))
    items = [market.advance(market.now_ns + 20_000_000) for _ in range(100)]
    fast = _serve(venue, items, force_fault_path=False)
    slow = _serve(venue, items, force_fault_path=True)
    assert fast == slow
    depth = _frames(fast["btcusdt@depth@100ms"])
    assert len(depth) > 100 and all(f.startswith(b'{"stream":"btcusdt@depth@100ms"') for f in depth)
    both = _frames(fast["both"])
    assert sorted(both) == sorted(depth + _frames(fast["btcusdt@aggTrade"]))


def test_float_text_is_repr_and_bounded() -> None:
    text = FloatText(max_size=1000)
    rnd = random.Random(1)
    xs = [rnd.uniform(0, 1e5) for _ in range(3000)] + [1e-7, 1e22, 0.1, 95000.1, math.pi, -2.5]
    for x in xs * 2:
        assert text[x] == repr(x)
    assert len(text) <= 1000
    assert text[-0.0] == "0.0" and text[0.0] == "0.0"
    assert text[3] == "3" and 3 not in text  # ints are written, not stored (3 == 3.0)
    plain = FloatText(lambda x: format(x, "f"))
    assert plain[1e-7] == "0.000000"
