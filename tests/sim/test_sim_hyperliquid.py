"""Simulated Hyperliquid: frames decode to the same values, have the real captures' shapes,
client messages are answered as the venue does, and a real session works over loopback."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.feed.book import BookEngine
from cryptoflow.feed.rest import RestClient
from cryptoflow.feed.session import WsSession
from cryptoflow.sim.protocol import ConnState
from cryptoflow.sim.server import VenueServer
from cryptoflow.sim.venues import sim_venue_class
from cryptoflow.sim.venues.hyperliquid import HyperliquidSim
from cryptoflow.symbols import InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import BookSyncSpec, BookUpdate, Control, Endpoints, Link, Subscription, SyncMode
from cryptoflow.venues.hyperliquid import next_funding_ns

HL = "hyperliquid"
MS = 1_000_000
T0 = 1_767_225_600_000_000_000  # ms-aligned, so times survive the ms wire unchanged
SEQ_SYNC = BookSyncSpec(SyncMode.STREAM_SEQ, Link.PREV)  # how the market's own diffs chain
FIXTURES = Path(__file__).parents[1] / "fixtures" / "hyperliquid"
TOPICS = {"trades:BTC", "l2Book:BTC", "bbo:BTC", "activeAssetCtx:BTC", "candle:BTC:1m"}


# ---- a small market: one BTC book on a grid, random diffs ----------------------------------------
class FakeMarket:
    """Books by symbol; ``book_snapshot`` answers from them (as SyntheticMarket does)."""

    def __init__(self) -> None:
        self.books: dict[str, BookUpdate] = {}
        self.calls = 0

    def book_snapshot(self, venue: str, market: str, symbol: str, depth: int) -> BookUpdate:
        self.calls += 1
        b = self.books[symbol]
        return BookUpdate(b.venue, b.market, b.symbol, b.instrument, b.ts, b.ts, b.bids[:depth], b.asks[:depth],
                          True, SEQ_SYNC, b.seq, b.seq, -1)


class BookWalk:
    """A reference book (30 levels a side around 95000) and random diffs with seq chaining by 1."""

    def __init__(self, seed: int = 1, seq: int = 100, symbol: str = "BTCUSDT", coin: str = "BTC") -> None:
        self.rng = random.Random(seed)
        self.symbol, self.coin = symbol, coin
        self.bids = {95_000.0 - 0.5 * i: self._qty() for i in range(30)}
        self.asks = {95_000.5 + 0.5 * i: self._qty() for i in range(30)}
        self.seq = seq
        self.ts = T0

    def _qty(self) -> float:
        return round(self.rng.uniform(0.001, 3.0), 3)

    def snapshot(self) -> BookUpdate:
        return BookUpdate(HL, "perp", self.symbol, self.coin, self.ts, self.ts, sorted(self.bids.items(), reverse=True),
                          sorted(self.asks.items()), True, SEQ_SYNC, self.seq, self.seq, -1)

    def diff(self) -> BookUpdate:
        """1-4 changes: new sizes, deletions (also inside the top 20), insertions (also new tops)."""
        rng = self.rng
        changes: dict[str, dict[float, float]] = {"b": {}, "a": {}}
        for _ in range(rng.randint(1, 4)):
            side = rng.choice("ba")
            book = self.bids if side == "b" else self.asks
            op = rng.random()
            if op < 0.4 and len(book) > 22:
                p = rng.choice(sorted(book, reverse=side == "b")[:25])
                del book[p]
                changes[side][p] = 0.0
            elif op < 0.7:
                # a free grid price on this side (a new best up to the 94999.5/95001 boundary, or deeper)
                base = 95_000.0 if side == "b" else 95_000.5
                for _ in range(10):
                    p = base - 0.5 * rng.randint(0, 40) if side == "b" else base + 0.5 * rng.randint(0, 40)
                    if p not in book:
                        book[p] = changes[side][p] = self._qty()
                        break
            else:
                p = rng.choice(sorted(book, reverse=side == "b")[:30])
                book[p] = changes[side][p] = self._qty()
        self.seq += 1
        self.ts += MS
        return BookUpdate(HL, "perp", self.symbol, self.coin, self.ts, self.ts, list(changes["b"].items()),
                          list(changes["a"].items()), False, SEQ_SYNC, self.seq, self.seq, self.seq - 1)


def _instruments():
    return InstrumentRegistry.bundled().instruments(HL)


def _sim(walk: BookWalk | None = None) -> tuple[HyperliquidSim, FakeMarket]:
    market = FakeMarket()
    if walk is not None:
        market.books[walk.symbol] = walk.snapshot()
    return HyperliquidSim(_instruments(), market), market


def _ts(i: int) -> int:
    return T0 + i * MS


def _events() -> list[Any]:
    """One of each non-book item the market emits for BTC."""
    return [
        Trade(HL, "perp", "BTCUSDT", _ts(1), _ts(1), 95001.0, 0.015, "buy", "7001"),
        Trade(HL, "perp", "BTCUSDT", _ts(2), _ts(2), 95000.0, 1.25, "sell", "7002"),
        BBO(HL, "perp", "BTCUSDT", _ts(3), _ts(3), 95000.0, 2.5, 95000.5, 0.75, 101),
        Ticker24h(HL, "perp", "BTCUSDT", _ts(4), _ts(4), 95001.0, 94000.0, 96000.0, 93000.0, 12345.678, 1.1728e9,
                  1001.0, 1.0649),
        Candle(HL, "perp", "BTCUSDT", _ts(4), _ts(4), "1m", T0, 94990.0, 95010.5, 94980.0, 95001.0, 6.392, 607240.0,
               125, False),
        MarkPrice(HL, "perp", "BTCUSDT", _ts(4), _ts(4), 95000.5, 94980.0),
        Funding(HL, "perp", "BTCUSDT", _ts(4), _ts(4), 0.0000125, 0.0000125, _ts(4) + 3_600_000 * MS, 1.0),
        OpenInterest(HL, "perp", "BTCUSDT", _ts(4), _ts(4), None, 38485.06546, 38485.06546 * 95000.5),
    ]


def _decode_all(frames: list[str], ts_recv: int = 42) -> tuple[list[Any], Any]:
    dec = get_venue(HL, registry=InstrumentRegistry.bundled()).new_decoder()
    out: list[Any] = []
    for f in frames:
        out.extend(dec.decode(f, ts_recv))
    return out, dec


# ---- 1. round trip ---------------------------------------------------------------------------
def test_events_round_trip_through_the_real_decoder():
    sim, _ = _sim()
    pairs = [p for ev in _events() for p in sim.encode(ev)]
    topics = [t for t, _ in pairs]
    # the ctx frame goes out once mark, funding, OI and ticker are all known (at the OI here)
    assert topics == ["trades:BTC", "trades:BTC", "bbo:BTC", "candle:BTC:1m", "activeAssetCtx:BTC"]
    items, dec = _decode_all([f for _, f in pairs])
    assert dec.errors.total == 0 and dec.unknown_frames == 0
    t1, t2, bbo, candle, mark, funding, oi, tick = items
    assert t1 == Trade(HL, "perp", "BTCUSDT", _ts(1), 42, 95001.0, 0.015, "buy", "7001")
    assert t2 == Trade(HL, "perp", "BTCUSDT", _ts(2), 42, 95000.0, 1.25, "sell", "7002")
    assert bbo == BBO(HL, "perp", "BTCUSDT", _ts(3), 42, 95000.0, 2.5, 95000.5, 0.75)
    assert (candle.open_time, candle.interval, candle.trades) == (T0, "1m", 125)
    assert (candle.open, candle.high, candle.low, candle.close, candle.volume) == (
        94990.0, 95010.5, 94980.0, 95001.0, 6.392)
    assert mark == MarkPrice(HL, "perp", "BTCUSDT", 42, 42, 95000.5, 94980.0)
    assert funding == Funding(HL, "perp", "BTCUSDT", 42, 42, 0.0000125, None, next_funding_ns(42), 1.0)
    assert (oi.oi_contracts, oi.oi_base) == (38485.06546, 38485.06546)
    assert (tick.last, tick.open, tick.volume, tick.quote_volume) == (95001.0, 94000.0, 12345.678, 1.1728e9)
    assert tick.price_change == pytest.approx(1001.0)
    # after that every change of one of the four sends the whole context again
    (pair,) = sim.encode(MarkPrice(HL, "perp", "BTCUSDT", _ts(5), _ts(5), 95003.0, 94990.0))
    mark2, funding2, _, _ = _decode_all([pair[1]])[0]
    assert (mark2.mark_price, mark2.index_price, funding2.rate) == (95003.0, 94990.0, 0.0000125)
    ctx = json.loads(pair[1])["data"]["ctx"]
    assert ctx["impactPxs"] == ["95000.0", "95000.5"]  # the latest best bid/ask
    assert ctx["premium"] == repr(round(95003.0 / 94990.0 - 1, 10))
    # an item that changes nothing on the wire sends nothing
    assert sim.encode(Funding(HL, "perp", "BTCUSDT", _ts(6), _ts(6), 0.0000125, None, None, 1.0)) == []


def test_no_liquidations_and_unknown_symbols_are_silent():
    sim, _ = _sim()
    assert sim.encode(Liquidation(HL, "perp", "BTCUSDT", T0, T0, "long", 95000.0, 1.0, 95000.0)) == []
    assert sim.encode(Trade(HL, "perp", "DOGEUSDT", T0, T0, 0.1, 10.0, "buy", "1")) == []
    assert sim.encode(Trade(HL, "spot", "BTCUSDT", T0, T0, 0.1, 10.0, "buy", "1")) == []


def test_numbers_never_use_exponent_notation_and_funding_is_hourly():
    sim, _ = _sim()
    ((_, frame),) = sim.encode(Trade(HL, "perp", "BRETTUSDT", T0, T0, 0.00001234, 0.00001, "sell", "9"))
    trade = json.loads(frame)["data"][0]
    assert (trade["px"], trade["sz"], trade["side"], trade["tid"]) == ("0.00001234", "0.00001", "A", "9")
    (t,), _ = _decode_all([frame])
    assert (t.price, t.qty, t.side) == (0.00001234, 0.00001, "sell")
    for ev in _events()[3:]:
        sim.encode(ev)
    # an 8-hour rate is sent as the venue's 1-hour rate
    ((_, frame),) = sim.encode(Funding(HL, "perp", "BTCUSDT", _ts(9), _ts(9), 0.0002, None, None, 8.0))
    assert json.loads(frame)["data"]["ctx"]["funding"] == "0.000025"


def test_book_diffs_become_full_20_level_snapshots_that_track_the_market():
    walk = BookWalk(seed=3)
    sim, market = _sim(walk)
    ref = BookEngine()  # the market's own book, from its snapshot and diffs
    ref.apply(walk.snapshot())
    got = BookEngine()  # the collector's book, from the decoded frames
    dec = get_venue(HL, registry=InstrumentRegistry.bundled()).new_decoder()
    for i in range(400):
        d = walk.diff()
        assert ref.apply(d).name == "APPLIED"
        ((topic, frame),) = sim.encode(d)
        assert topic == "l2Book:BTC"
        (snap,) = dec.decode(frame, 7)
        assert snap.snapshot and snap.ts == d.ts and len(snap.bids) == len(snap.asks) == 20
        assert got.apply(snap).name == "APPLIED"
        bp, bq, ap, aq = ref.book(HL, "BTC").top(20)
        assert snap.bids == list(zip(bp, bq, strict=True)) and snap.asks == list(zip(ap, aq, strict=True)), i
    book = got.book(HL, "BTC")
    assert book.valid and book.gaps == 0 and book.updates == 400
    assert book.best_bid() == ref.book(HL, "BTC").best_bid() and book.best_ask() == ref.book(HL, "BTC").best_ask()
    assert market.calls == 1 and dec.errors.total == 0  # seeded once from the market, then mirrored


def test_mirror_seeded_from_a_market_that_is_already_ahead():
    """The server publishes a batch after the market computed it: the first diff of a batch may be
    older than the snapshot used to seed the mirror. Those diffs are not applied twice."""
    walk = BookWalk(seed=5)
    market = FakeMarket()
    diffs = [walk.diff() for _ in range(10)]
    market.books["BTCUSDT"] = walk.snapshot()  # state after all ten diffs
    later = [walk.diff() for _ in range(20)]
    sim = HyperliquidSim(_instruments(), market)
    frames = [f for d in diffs + later for _, f in sim.encode(d)]
    items, dec = _decode_all(frames)
    assert len(items) == 30 and dec.errors.total == 0
    final = walk.snapshot()
    assert items[-1].bids == final.bids[:20] and items[-1].asks == final.asks[:20]
    assert items[0].bids == items[9].bids  # the seeded state, already past these diffs
    assert items[-1].ts == final.ts


def test_a_book_snapshot_item_replaces_the_mirror():
    walk = BookWalk(seed=9)
    sim, _ = _sim()
    ((_, frame),) = sim.encode(walk.snapshot())
    (snap,), _ = _decode_all([frame])
    assert snap.bids == sorted(walk.bids.items(), reverse=True)[:20]


# ---- 2. frame shapes against real captures ---------------------------------------------------------
def _shape(v: Any) -> Any:
    """Key sets and JSON value types, recursively; a list is the set of its elements' shapes."""
    if isinstance(v, dict):
        return {k: _shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return ["list", sorted({json.dumps(_shape(x), sort_keys=True) for x in v})]
    if v is None:
        return "null"
    return type(v).__name__  # bool, int, float, str


def _real(path: Path, channel: str) -> list[dict]:
    frames = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [f for f in frames if f["channel"] == channel]


def test_frames_have_the_shapes_of_real_captures(samples):
    folder = samples / HL
    walk = BookWalk(seed=2)
    sim, _ = _sim(walk)
    ours: dict[str, list[dict]] = {}
    for item in [*_events(), walk.diff(), walk.diff()]:
        for _, f in sim.encode(item):
            msg = json.loads(f)
            ours.setdefault(msg["channel"], []).append(msg)
    real = {
        "trades": _real(folder / "ccxt_static__trades_BTC.recv.jsonl", "trades"),
        "activeAssetCtx": _real(folder / "ccxt_static__activeAssetCtx_BTC.recv.jsonl", "activeAssetCtx"),
        "candle": _real(folder / "ccxt_static__candle_BTC_1m.recv.jsonl", "candle"),
        "l2Book": _real(FIXTURES / "ccxt_static__l2Book_BTC.recv.jsonl", "l2Book"),
    }
    for channel, frames in real.items():
        assert frames and ours.get(channel), channel
        for r in frames:
            for o in ours[channel]:
                assert _shape(o) == _shape(r), channel
                if isinstance(r["data"], dict):  # same key order too
                    assert list(o["data"]) == list(r["data"]), channel
    assert list(ours["activeAssetCtx"][0]["data"]["ctx"]) == list(real["activeAssetCtx"][0]["data"]["ctx"])


def test_subscription_acks_equal_the_real_ones(samples):
    """Our ack of each captured subscribe request is byte-for-byte the captured ack."""
    sim, _ = _sim(BookWalk())
    cases = [(samples / HL / f"ccxt_static__{n}") for n in ("trades_BTC", "activeAssetCtx_BTC", "candle_BTC_1m")]
    cases.append(FIXTURES / "ccxt_static__l2Book_BTC")
    for base in cases:
        sent = Path(f"{base}.sent.jsonl").read_text().strip()
        ack = Path(f"{base}.recv.jsonl").read_text().splitlines()[0]
        reply = sim.on_message(sent, ConnState("/ws"))
        assert reply.send == [ack] and len(reply.subscribe) == 1 and not reply.close


# ---- 3. client protocol ---------------------------------------------------------------------------
def _decode_one(frame: str) -> Any:
    items, dec = _decode_all([frame])
    assert dec.errors.total == 0
    (item,) = items
    return item


def test_client_protocol_acks_errors_ping_and_close():
    sim, _ = _sim(BookWalk())
    conn = ConnState("/ws")
    opened = sim.on_open(conn)
    assert opened.send == ["Websocket connection established."] and opened.subscribe == []
    assert _decode_one(opened.send[0]) == Control("info", "Websocket connection established.")

    venue = get_venue(HL, registry=InstrumentRegistry.bundled())
    btc = venue.instrument("BTCUSDT")
    subs = [Subscription(s, btc, interval="1m" if s == "candle" else None) for s in sorted(venue.streams["perp"])]
    for msg in venue.subscribe_messages(subs):  # what the collector sends, all accepted
        reply = sim.on_message(msg, conn)
        assert _decode_one(reply.send[0]).kind == "ack" and not reply.close
        conn.topics.update(reply.subscribe)
    assert conn.topics == TOPICS

    trades = '{"method":"subscribe","subscription":{"type":"trades","coin":"BTC"}}'
    again = sim.on_message(trades, conn)
    assert again.subscribe == [] and again.send == [
        '{"channel":"error","data":"Already subscribed: {\\"type\\":\\"trades\\",\\"coin\\":\\"BTC\\"}"}']
    assert _decode_one(again.send[0]) == Control("error", 'Already subscribed: {"type":"trades","coin":"BTC"}')

    (unsub,) = venue.unsubscribe_messages([Subscription("trade", btc)])
    reply = sim.on_message(unsub, conn)
    assert reply.unsubscribe == ["trades:BTC"]
    assert _decode_one(reply.send[0]) == Control("unsubscribed", '{"type":"trades","coin":"BTC"}')
    conn.topics.discard("trades:BTC")
    reply = sim.on_message(unsub, conn)
    assert reply.unsubscribe == [] and _decode_one(reply.send[0]).detail.startswith("Already unsubscribed: ")

    pong = sim.on_message(venue.ping_message(), conn)
    assert pong.send == ['{"channel":"pong"}'] and _decode_one(pong.send[0]) == Control("pong")

    # requests that do not parse: an error naming the request, the connection stays
    for bad in ('{"method":"subscribe","subscription":{"type":"liquidations","coin":"BTC"}}',
                '{"method":"subscribe","subscription":{"type":"candle","coin":"BTC","interval":"7m"}}',
                '{"method":"subscribe","subscription":{"type":"trades"}}',
                '{"method":"subscribe"}', '{"method":"nope"}', "[1,2]", "not json"):
        reply = sim.on_message(bad, conn)
        assert reply.subscribe == [] and not reply.close, bad
        err = _decode_one(reply.send[0])
        assert err == Control("error", "Error parsing JSON into valid websocket request: " + bad)
    # an unknown coin: the venue closes the socket without a frame
    for coin in ("NOPE", "btc"):
        reply = sim.on_message(f'{{"method":"subscribe","subscription":{{"type":"l2Book","coin":"{coin}"}}}}', conn)
        assert reply.close and reply.send == [] and reply.subscribe == []

    refused = sim.subscription_error(trades, conn)
    assert _decode_one(refused) == Control("error", "Cannot subscribe to more than 1000 channels.")


def test_subscription_limit_and_l2book_options():
    sim, _ = _sim(BookWalk())
    conn = ConnState("/ws", topics={f"x:{i}" for i in range(1000)})
    reply = sim.on_message('{"method":"subscribe","subscription":{"type":"bbo","coin":"ETH"}}', conn)
    assert reply.subscribe == [] and "more than 1000" in reply.send[0]
    conn = ConnState("/ws")
    reply = sim.on_message(
        '{"method":"subscribe","subscription":{"type":"l2Book","coin":"BTC","nSigFigs":5,"mantissa":2}}', conn)
    assert reply.subscribe == ["l2Book:BTC"]
    assert json.loads(reply.send[0])["data"]["subscription"] == {
        "type": "l2Book", "coin": "BTC", "nSigFigs": 5, "mantissa": 2, "fast": False}
    reply = sim.on_message('{"method":"subscribe","subscription":{"type":"l2Book","coin":"BTC","nSigFigs":9}}', conn)
    assert reply.subscribe == [] and "Error parsing JSON" in reply.send[0]


def test_subscription_starts_with_the_current_book_and_context():
    walk = BookWalk(seed=4)
    sim, _ = _sim(walk)
    conn = ConnState("/ws")
    (book_frame,) = sim.on_subscribed("l2Book:BTC", conn)
    snap = _decode_one(book_frame)
    assert snap.snapshot and snap.bids == sorted(walk.bids.items(), reverse=True)[:20]
    assert sim.on_subscribed("activeAssetCtx:BTC", conn) == []  # nothing known yet
    for ev in _events():
        sim.encode(ev)
    (ctx_frame,) = sim.on_subscribed("activeAssetCtx:BTC", conn)
    assert json.loads(ctx_frame)["channel"] == "activeAssetCtx"
    assert sim.on_subscribed("trades:BTC", conn) == [] and sim.on_subscribed("candle:BTC:1m", conn) == []


def test_venue_settings_match_the_protocol_module():
    venue = get_venue(HL)
    assert sim_venue_class(HL) is HyperliquidSim
    assert set(HyperliquidSim.ws_paths) == set(venue.default_endpoints.ws) == {"public"}
    assert HyperliquidSim.ws_paths["public"] == "/ws"
    assert HyperliquidSim.client_idle_timeout_s == 60.0 and HyperliquidSim.server_ping_interval_s is None


def test_rest_info_meta_and_l2book():
    walk = BookWalk(seed=6)
    sim, _ = _sim(walk)
    venue = get_venue(HL, registry=InstrumentRegistry.bundled())
    (url,) = venue.instruments_urls()
    method, body = venue.rest_request(url)
    resp = sim.rest(method, "/info", {}, msgspec.json.encode(body))
    assert resp is not None and resp.status == 200
    insts = venue.parse_instruments(url, resp.body)
    assert sorted(i.symbol for i in insts) == sorted(i.symbol for i in _instruments())
    # the universe keeps the real asset order, so allDexsAssetCtxs indices stay meaningful
    names = [a["name"] for a in json.loads(resp.body)["universe"]]
    assert names[:3] == ["BTC", "ETH", "SOL"]
    assert venue.asset_names[0] == "BTC" and json.loads(resp.body)["universe"][0]["szDecimals"] == 3

    resp = sim.rest("POST", "/info", {}, b'{"type":"l2Book","coin":"BTC"}')
    book = json.loads(resp.body)
    assert resp.status == 200 and book["coin"] == "BTC" and len(book["levels"][0]) == 20
    assert float(book["levels"][0][0]["px"]) == max(walk.bids)
    assert sim.rest("POST", "/info", {}, b'{"type":"l2Book","coin":"NOPE"}').body == b"null"
    assert sim.rest("POST", "/info", {}, b'{"type":"nope"}').status == 422
    assert sim.rest("POST", "/info", {}, b"junk").status == 422
    assert sim.rest("GET", "/info", {}, b"").status == 405
    assert sim.rest("POST", "/exchange", {}, b"{}") is None


# ---- 4. live loopback -------------------------------------------------------------------------------
async def _until(cond, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_live_session_every_stream_over_loopback():
    walk = BookWalk(seed=8)
    sim, _ = _sim(walk)
    server = VenueServer(sim)
    await server.start()
    eps = server.endpoints()
    assert set(eps["ws"]) == {"public"}
    venue = get_venue(HL, registry=InstrumentRegistry.bundled(), endpoints=Endpoints(ws=eps["ws"], rest=eps["rest"]))
    btc = venue.instrument("BTCUSDT")
    subs = [Subscription(s, btc, interval="1m" if s == "candle" else None) for s in sorted(venue.streams["perp"])]
    (plan,) = venue.plan_connections(subs)
    got: list[Any] = []
    engine = BookEngine()

    def on_items(_s: WsSession, items: list[Any]) -> None:
        for it in items:
            got.append(it)
            if type(it) is BookUpdate:
                engine.apply(it)

    sess = WsSession(venue, plan, on_items, backoff_base_s=0.05)
    rest = RestClient()
    try:
        sess.start()
        await _until(lambda: set(server.subs) >= TOPICS)
        await _until(lambda: any(type(i) is BookUpdate for i in got))  # the book sent on subscribing
        diffs = [walk.diff() for _ in range(50)]
        server.publish([*_events(), *diffs])
        await _until(lambda: sum(type(i) is BookUpdate for i in got) == 51)
        kinds = Counter(type(i).__name__ for i in got)
        assert kinds["Trade"] == 2 and kinds["BBO"] == 1 and kinds["Candle"] == 1
        assert kinds["MarkPrice"] == kinds["Funding"] == kinds["OpenInterest"] == kinds["Ticker24h"] == 1
        controls = Counter(i.kind for i in got if type(i) is Control)
        assert controls == {"info": 1, "ack": 5}
        assert sess.decode_errors.counts == {}
        book = engine.book(HL, "BTC")
        assert book.valid and book.gaps == 0
        assert book.best_bid() == max(walk.bids.items()) and book.best_ask() == min(walk.asks.items())

        sess.send(venue.ping_message())
        await _until(lambda: any(type(i) is Control and i.kind == "pong" for i in got))

        # instruments over REST, as the collector fetches them
        (url,) = venue.instruments_urls()
        method, payload = venue.rest_request(url)
        body = await rest.request(HL, url, method=method, json_body=payload)
        assert "BTCUSDT" in {i.symbol for i in venue.parse_instruments(url, body)}

        # a coin the venue does not list: dropped connection, the session reconnects and resubscribes
        sess.send('{"method":"subscribe","subscription":{"type":"trades","coin":"NOPE"}}')
        await _until(lambda: sess.stats.reconnects == 1 and set(server.subs) >= TOPICS)
        assert sess.decode_errors.counts == {}
    finally:
        await rest.close()
        await sess.stop()
        await server.stop()
