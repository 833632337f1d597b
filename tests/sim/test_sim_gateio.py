"""Simulated Gate.io USDT futures: frames decode back to the same values (sizes within contract
rounding), have the real frames' shape, the client protocol answers like Gate, the REST
snapshot's id bridges the diffs' U/u exactly, and a live loopback session syncs the book."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.feed.book import Applied, BookEngine
from cryptoflow.feed.session import WsSession
from cryptoflow.sim.market import MarketConfig, SyntheticMarket
from cryptoflow.sim.protocol import ConnState
from cryptoflow.sim.server import VenueServer
from cryptoflow.sim.venues import sim_venue_class
from cryptoflow.sim.venues.gateio import GateioSim
from cryptoflow.symbols import InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import STREAMS, BookUpdate, Control, Endpoints, Subscription, SyncMode

V = "gateio"
T = 1_767_225_601_123_456_789  # ns, sub-ms part is dropped on the wire (Gate sends ms)
T_MS = T // 1_000_000 * 1_000_000
S = 1_000_000_000
CF = "cryptofeed__GATEIO_FUTURES"
CCXT = "ccxt_static__futures_tickers_BTC_USDT"
BTC_CS, ETH_CS, XRP_CS = 0.0001, 0.01, 10.0


def _instruments():
    return InstrumentRegistry.bundled().instruments(V)


def _market(*symbols: str, seed: int = 11) -> SyntheticMarket:
    return SyntheticMarket(MarketConfig(seed=seed, symbols=symbols, venues=(V,), event_rate=60.0))


@pytest.fixture
def sim() -> GateioSim:
    return GateioSim(_instruments(), _market("BTCUSDT", "ETHUSDT", "XRPUSDT"))


def _decode(frames: list[tuple[str, str]], dec=None) -> list[Any]:
    dec = dec or get_venue(V).new_decoder()
    out: list[Any] = []
    for _topic, f in frames:
        out += dec.decode(f.encode(), 1)
    assert dec.errors.counts == {}
    assert dec.unknown_frames == 0
    return out


def _contracts(base: float, cs: float) -> float:
    """What a base quantity becomes after the trip through whole contracts."""
    n = round(base / cs)
    return (n if n or base <= 0 else 1) * cs


# ---- 1. round trip ---------------------------------------------------------------------------------
def test_round_trip_trades_bbo_liquidations_candles(sim):
    buy = Trade(V, "perp", "BTCUSDT", T, 0, 95000.1, 0.0123, "buy", "77")
    sell = Trade(V, "perp", "ETHUSDT", T, 0, 3500.25, 0.001, "sell", "x-1")  # 0.1 contract -> 1 contract
    bbo = BBO(V, "perp", "XRPUSDT", T, 0, 2.2005, 4835.5, 2.2006, 1387.0, 1234)
    long_liq = Liquidation(V, "perp", "BTCUSDT", T, 0, "long", 94000.5, 0.5, 47000.25)
    short_liq = Liquidation(V, "perp", "ETHUSDT", T, 0, "short", 3600.0, 1.25, 4500.0)
    candle = Candle(V, "perp", "BTCUSDT", T, 0, "1m", T - T % (60 * S), 95000.0, 95100.5, 94900.0, 95050.0, 1.2345)
    closed = Candle(V, "perp", "ETHUSDT", T, 0, "1m", T - T % (60 * S), 1.0, 2.0, 0.5, 1.5, 0.0, None, None, True)
    frames = []
    for item in (buy, sell, bbo, long_liq, short_liq, candle, closed):
        frames += sim.encode(item)
    assert [tp for tp, _ in frames] == [
        "futures.trades.BTC_USDT",
        "futures.trades.ETH_USDT",
        "futures.book_ticker.XRP_USDT",
        "futures.public_liquidates.BTC_USDT",
        "futures.public_liquidates.!all",
        "futures.public_liquidates.ETH_USDT",
        "futures.public_liquidates.!all",
        "futures.candlesticks.1m.BTC_USDT",
        "futures.candlesticks.1m.ETH_USDT",
    ]
    frames = [f for f in frames if not f[0].endswith("!all")]
    t1, t2, b, l1, l2, c1, c2 = _decode(frames)
    assert (t1.symbol, t1.price, t1.side, t1.trade_id, t1.ts) == ("BTCUSDT", 95000.1, "buy", "77", T_MS)
    assert t1.qty == pytest.approx(0.0123)  # 123 contracts of 0.0001 BTC
    assert (t2.symbol, t2.price, t2.side, t2.qty) == ("ETHUSDT", 3500.25, "sell", ETH_CS)  # never 0 contracts
    assert t2.trade_id.isdigit()  # Gate ids are integers: a non-numeric id is renumbered
    assert isinstance(b, BBO) and (b.symbol, b.bid_price, b.ask_price, b.update_id, b.ts) == (
        "XRPUSDT",
        2.2005,
        2.2006,
        1234,
        T_MS,
    )
    assert (b.bid_qty, b.ask_qty) == (_contracts(4835.5, XRP_CS), _contracts(1387.0, XRP_CS))
    assert isinstance(l1, Liquidation) and (l1.side, l1.price, l1.ts) == ("long", 94000.5, T_MS)
    assert l1.qty == pytest.approx(0.5) and l1.notional == pytest.approx(47000.25)
    assert (l2.side, l2.price, l2.qty) == ("short", 3600.0, 1.25)
    assert isinstance(c1, Candle) and (c1.interval, c1.open_time, c1.ts, c1.closed) == (
        "1m",
        T - T % (60 * S),
        T_MS,
        False,
    )
    assert (c1.open, c1.high, c1.low, c1.close) == (95000.0, 95100.5, 94900.0, 95050.0)
    assert c1.volume == pytest.approx(1.2345)
    assert c2.closed is True and c2.volume == 0.0


def test_ticker_row_merges_mark_funding_oi_and_24h_stats(sim):
    nxt = 1_767_254_400 * S
    group = [
        Ticker24h(
            V, "perp", "BTCUSDT", T, 0, 95015.0, 97323.5, 98091.8, 94606.9, 9175.0932, 885038964.06, -2308.5, -2.372
        ),
        Candle(V, "perp", "BTCUSDT", T, 0, "1m", T - T % (60 * S), 1.0, 1.0, 1.0, 1.0, 0.0),
        MarkPrice(V, "perp", "BTCUSDT", T, 0, 95015.2, 94991.0),
        Funding(V, "perp", "BTCUSDT", T, 0, 0.00025004, 0.0002, nxt, 8.0),
        OpenInterest(V, "perp", "BTCUSDT", T, 0, None, 50526.4221, 4800778091.61),
    ]
    out = [sim.encode(i) for i in group]
    # one futures.tickers row per stats tick, sent when its last part arrives (fresh values throughout)
    assert [len(o) for o in out] == [0, 1, 0, 0, 1]
    ((topic, frame),) = out[-1]
    assert topic == "futures.tickers.BTC_USDT"
    mark, funding, oi, tick = _decode([(topic, frame)])
    assert mark == MarkPrice(V, "perp", "BTCUSDT", T_MS, 1, 95015.2, 94991.0)
    assert funding == Funding(V, "perp", "BTCUSDT", T_MS, 1, 0.00025004, 0.0002, nxt, 8.0)
    assert isinstance(oi, OpenInterest) and oi.oi_contracts == 505264221.0
    assert oi.oi_base == pytest.approx(50526.4221) and oi.oi_notional == pytest.approx(50526.4221 * 95015.2)
    assert isinstance(tick, Ticker24h)
    assert (tick.last, tick.high, tick.low, tick.price_change, tick.price_change_pct) == (
        95015.0,
        98091.8,
        94606.9,
        -2308.5,
        -2.372,
    )
    assert tick.open == pytest.approx(97323.5) and tick.volume == 9175.0932 and tick.quote_volume == 885038964.06
    # a tick that lacks parts is sent when the next tick starts; then the sim expects only those parts
    t2, t3 = T + S, T + 2 * S
    assert sim.encode(Ticker24h(V, "perp", "BTCUSDT", t2, 0, 95020.0)) == []
    assert sim.encode(MarkPrice(V, "perp", "BTCUSDT", t2, 0, 95021.0)) == []
    late = sim.encode(Ticker24h(V, "perp", "BTCUSDT", t3, 0, 95030.0))
    assert len(late) == 1 and json.loads(late[0][1])["result"][0]["t"] == t2 // 1_000_000
    assert len(sim.encode(MarkPrice(V, "perp", "BTCUSDT", t3, 0, 95031.0))) == 1


def test_book_diffs_bridge_the_rest_snapshot_and_rebuild_the_book(sim):
    """REST_DIFF, Link.NEXT, offset 1: diffs before the snapshot are dropped as stale, the first
    applied one has U <= id + 1 <= u, then U == previous u + 1. 0 gaps, same book."""
    market = sim.market
    venue = get_venue(V)
    dec = venue.new_decoder()
    engine = BookEngine()
    applied: dict[Applied, int] = {}

    def feed(items):
        frames = [f for it in items for f in sim.encode(it)]
        for item in _decode(frames, dec):
            if isinstance(item, BookUpdate):
                r = engine.apply(item)
                applied[r] = applied.get(r, 0) + 1
            elif isinstance(item, BBO):
                book = engine.book(V, venue.instrument(item.symbol).native)
                if book is not None and book.valid and book.seq == item.update_id:
                    # book_ticker u is the id of the book state it shows
                    assert book.best_bid() == (item.bid_price, item.bid_qty)
                    assert book.best_ask() == (item.ask_price, item.ask_qty)

    feed(market.advance(market.now_ns + S))  # buffered: no snapshot yet
    for native in ("BTC_USDT", "ETH_USDT", "XRP_USDT"):
        inst = venue.lookup(native)
        url = venue.book_snapshot_url(inst)
        path, _, query = url.partition("?")
        q = {k: [v] for k, v in (kv.split("=") for kv in query.split("&"))}
        resp = sim.rest("GET", path.removeprefix("https://api.gateio.ws"), q, b"")
        assert resp is not None and resp.status == 200
        (snap,) = venue.parse_rest(url, resp.body, 0)
        assert snap.seq == market.book_snapshot(V, "perp", inst.symbol, 1).seq
        assert engine.apply(snap) == Applied.APPLIED
    feed(market.advance(market.now_ns + 2 * S))
    assert applied.get(Applied.GAP, 0) == 0 and applied[Applied.APPLIED] > 100
    # the buffered diffs up to the snapshot's id were dropped on replay, as the venue rule says
    assert all(engine.book(V, n).stale > 0 for n in ("BTC_USDT", "ETH_USDT", "XRP_USDT"))
    for sym, cs in (("BTCUSDT", BTC_CS), ("ETHUSDT", ETH_CS), ("XRPUSDT", XRP_CS)):
        book = engine.book(V, venue.instrument(sym).native)
        truth = market.book_snapshot(V, "perp", sym, 20)
        assert book.valid and book.gaps == 0 and book.seq == truth.seq
        bids, bq, asks, aq = book.top(20)
        assert bids == [p for p, _ in truth.bids] and asks == [p for p, _ in truth.asks]
        assert bq == pytest.approx([_contracts(q, cs) for _, q in truth.bids])
        assert aq == pytest.approx([_contracts(q, cs) for _, q in truth.asks])


def test_every_market_item_encodes_and_decodes(sim):
    """A few simulated seconds of every stream: every frame decodes, no event kind is lost."""
    items = sim.market.advance(sim.market.now_ns + 3 * S)
    frames = [f for it in items for f in sim.encode(it) if not f[0].endswith("!all")]
    got = _decode(frames)
    kinds = {type(i).__name__ for i in got}
    assert kinds >= {"Trade", "BBO", "BookUpdate", "MarkPrice", "Funding", "OpenInterest", "Ticker24h", "Candle"}
    n_ticks = sum(1 for i in items if isinstance(i, Ticker24h))
    assert sum(1 for i in got if isinstance(i, Ticker24h)) == n_ticks  # one row per tick, no duplicates
    assert sum(1 for i in got if isinstance(i, Trade)) == sum(1 for i in items if isinstance(i, Trade))


# ---- 2. frame shape against the real captures -------------------------------------------------------------
def _shape(v: Any) -> Any:
    """Keys and JSON value types, recursively (int and float told apart: Gate sizes are integers)."""
    if isinstance(v, dict):
        return {k: _shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_shape(v[0])] if v else []
    return type(v).__name__


def _shape_diff(sim: Any, real: Any, path: str = "$", extra_ok: frozenset[str] = frozenset()) -> list[str]:
    a, b = _shape(sim), _shape(real)
    return _diff(a, b, path, extra_ok)


def _diff(a: Any, b: Any, path: str, extra_ok: frozenset[str]) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}: missing {k!r}" for k in b.keys() - a.keys()]
        out += [f"{path}: extra {k!r}" for k in a.keys() - b.keys() - extra_ok]
        for k in a.keys() & b.keys():
            out += _diff(a[k], b[k], f"{path}.{k}", extra_ok)
        return out
    if isinstance(a, list) and isinstance(b, list):
        return _diff(a[0], b[0], f"{path}[0]", extra_ok) if a and b else []
    return [] if a == b else [f"{path}: {a} vs {b}"]


def _real_ws(samples) -> dict[tuple[str, str], dict]:
    real: dict[tuple[str, str], dict] = {}
    for line in (samples / "gateio_futures" / f"{CF}.ws.1.0").read_text().splitlines():
        if " <- " in line or ": {" not in line:
            continue
        msg = json.loads(line.split(": ", 1)[1])
        key = (msg["channel"], msg["event"])
        # prefer a book update with both sides filled, for the level shape
        if key not in real or (
            key == ("futures.order_book_update", "update") and msg["result"]["a"] and msg["result"]["b"]
        ):
            real[key] = msg
    return real


def test_frames_have_the_real_frames_shape(sim, samples):
    real = _real_ws(samples)
    m = sim.market
    diffs = [i for i in m.advance(m.now_ns + S) if isinstance(i, BookUpdate) and i.bids and i.asks]
    sim_frames = {
        "futures.order_book_update": sim.encode(diffs[0])[0][1],
        "futures.book_ticker": sim.encode(BBO(V, "perp", "BTCUSDT", T, 0, 1.0, 1.0, 2.0, 1.0, 7))[0][1],
        "futures.candlesticks": sim.encode(Candle(V, "perp", "BTCUSDT", T, 0, "1m", T, 1, 1, 1, 1, 0.5))[0][1],
    }
    for channel, frame in sim_frames.items():
        # candlesticks: Gate added "a" (amount) and "w" (window closed) after this 2023 capture
        extra = frozenset(("a", "w")) if channel == "futures.candlesticks" else frozenset()
        assert _shape_diff(json.loads(frame), real[(channel, "update")], extra_ok=extra) == [], channel

    # acks: the 2026 capture (request with an id, echoed with conn_id/trace_id/payload) exactly;
    # the 2023 one (no id; those fields did not exist yet) as a subset
    conn = ConnState(path="/v4/ws/usdt")
    sim.on_open(conn)
    recv = (samples / "gateio_futures" / f"{CCXT}.recv.jsonl").read_text().splitlines()
    (sent,) = (samples / "gateio_futures" / f"{CCXT}.sent.jsonl").read_text().splitlines()
    (ack,) = sim.on_message(sent, conn).send
    assert _shape_diff(json.loads(ack), json.loads(recv[0])) == []
    assert json.loads(ack)["payload"] == ["BTC_USDT"] and json.loads(ack)["id"] == 1
    for channel in ("futures.trades", "futures.order_book_update", "futures.book_ticker", "futures.candlesticks"):
        payload = {"futures.order_book_update": ["BTC_USDT", "100ms"], "futures.candlesticks": ["1m", "BTC_USDT"]}
        req = {"time": 1, "channel": channel, "event": "subscribe", "payload": payload.get(channel, ["BTC_USDT"])}
        (ack,) = sim.on_message(json.dumps(req), conn).send
        extra = frozenset(("conn_id", "trace_id", "payload"))
        assert _shape_diff(json.loads(ack), real[(channel, "subscribe")], extra_ok=extra) == [], channel

    # futures.tickers update (2026 capture): the merged row has every field, with the same types
    group = [
        Ticker24h(V, "perp", "BTCUSDT", T, 0, 95015.0, 97323.5, 98091.8, 94606.9, 9175.0, 885038964.0, -2308.5, -2.4),
        MarkPrice(V, "perp", "BTCUSDT", T, 0, 95015.2, 94991.0),
        Funding(V, "perp", "BTCUSDT", T, 0, 0.0001, 0.0001, T + 3600 * S, 8.0),
        OpenInterest(V, "perp", "BTCUSDT", T, 0, None, 50526.4221, 4.8e9),
    ]
    ((_, tickers),) = [f for i in group for f in sim.encode(i)]
    assert _shape_diff(json.loads(tickers), json.loads(recv[1])) == []

    # REST order_book?with_id=true
    line = (samples / "gateio_futures" / f"{CF}.http.0.0").read_text().splitlines()[0]
    real_book = json.loads(line.split(" -> ", 1)[1].split(": ", 1)[1])
    q = {"contract": ["BTC_USDT"], "limit": ["100"], "with_id": ["true"]}
    body = json.loads(sim.rest("GET", "/api/v4/futures/usdt/order_book", q, b"").body)
    assert _shape_diff(body, real_book) == []


# ---- 3. client protocol -------------------------------------------------------------------------------------
def _send(sim: GateioSim, conn: ConnState, msg: dict | str):
    return sim.on_message(msg if isinstance(msg, str) else json.dumps(msg), conn)


def test_client_protocol_acks_unsubscribe_ping_and_errors(sim):
    venue = get_venue(V)
    dec = venue.new_decoder()
    conn = ConnState(path="/v4/ws/usdt")
    assert sim.on_open(conn).send == []  # Gate sends nothing on connect
    btc, eth = venue.instrument("BTCUSDT"), venue.instrument("ETHUSDT")
    subs = [Subscription(s, i, interval="1m") for s in STREAMS for i in (btc, eth)]
    subs = [s for s in subs if venue.stream_offered(s.stream, "perp")]
    topics: list[str] = []
    for m in venue.subscribe_messages(subs):
        r = sim.on_message(m, conn)
        (ack,) = r.send
        assert json.loads(ack)["result"] == {"status": "success"} and "error" not in json.loads(ack)
        assert dec.decode(ack.encode(), 0) == [Control("ack", json.loads(m)["channel"])]
        topics += r.subscribe
    lists = ("futures.trades", "futures.book_ticker", "futures.tickers", "futures.public_liquidates")
    assert sorted(topics) == sorted(
        [f"{ch}.{n}" for ch in lists for n in ("BTC_USDT", "ETH_USDT")]
        + [f"futures.candlesticks.1m.{n}" for n in ("BTC_USDT", "ETH_USDT")]
        + [f"futures.order_book_update.{n}" for n in ("BTC_USDT", "ETH_USDT")]
    )
    assert len(topics) == 12 and len(set(topics)) == 12
    # unsubscribe: same payload, same topics
    removed: list[str] = []
    for m in venue.unsubscribe_messages(subs):
        r = sim.on_message(m, conn)
        assert dec.decode(r.send[0].encode(), 0) == [Control("unsubscribed", json.loads(m)["channel"])]
        removed += r.unsubscribe
    assert sorted(removed) == sorted(topics)
    # futures.ping -> futures.pong
    (pong,) = sim.on_message(venue.ping_message(), conn).send
    assert json.loads(pong)["channel"] == "futures.pong" and dec.decode(pong.encode(), 0) == [Control("pong")]

    def err(msg) -> tuple[int, str]:
        r = _send(sim, conn, msg)
        assert r.subscribe == [] and r.unsubscribe == [] and not r.close
        (frame,) = r.send
        (ctl,) = dec.decode(frame.encode(), 0)
        assert ctl.kind == "error"
        e = json.loads(frame)["error"]
        return e["code"], e["message"]

    sub = {"time": 1, "event": "subscribe"}
    assert err({**sub, "channel": "futures.nope", "payload": ["BTC_USDT"]}) == (2, "unknown channel futures.nope")
    assert err({**sub, "channel": "futures.trades", "payload": ["BTC_USDT", "NOPE_USDT"]}) == (
        2,
        "unknown contract NOPE_USDT",
    )
    assert err({**sub, "channel": "futures.order_book_update", "payload": ["NOPE_USDT", "100ms", "100"]})[0] == 2
    assert err({**sub, "channel": "futures.order_book_update", "payload": ["BTC_USDT", "1s", "100"]}) == (
        2,
        "invalid frequency 1s",
    )
    assert err({**sub, "channel": "futures.order_book_update", "payload": ["BTC_USDT", "20ms", "100"]})[0] == 2
    assert err({**sub, "channel": "futures.candlesticks", "payload": ["2m", "BTC_USDT"]}) == (2, "invalid interval 2m")
    assert err({**sub, "channel": "futures.trades", "payload": []})[0] == 2
    assert err({"time": 1, "channel": "futures.trades", "event": "update", "payload": ["BTC_USDT"]})[0] == 2
    assert err("not json")[0] == 1
    assert err('{"channel": 5}')[0] == 1
    # request ids are echoed, on errors too
    r = _send(sim, conn, {**sub, "id": 42, "channel": "futures.nope", "payload": ["BTC_USDT"]})
    assert json.loads(r.send[0])["id"] == 42
    # !all is accepted for public liquidations only
    r = _send(sim, conn, {**sub, "channel": "futures.public_liquidates", "payload": ["!all"]})
    assert r.subscribe == ["futures.public_liquidates.!all"]
    assert err({**sub, "channel": "futures.trades", "payload": ["!all"]})[0] == 2
    # fault injection: the venue's own error frame
    refused = sim.subscription_error(json.dumps({**sub, "channel": "futures.trades", "payload": ["BTC_USDT"]}), conn)
    (ctl,) = dec.decode(refused.encode(), 0)
    assert ctl.kind == "error" and "futures.trades subscribe" in ctl.detail
    assert dec.errors.counts == {}


def test_rest_contracts_order_book_and_errors(sim):
    venue = get_venue(V)
    for prefix in ("", "/api/v4"):  # the venue joins endpoints.rest (https://api.gateio.ws/api/v4) + path
        resp = sim.rest("GET", f"{prefix}/futures/usdt/contracts", {}, b"")
        assert resp is not None and resp.status == 200
        got = venue.parse_instruments(venue.instruments_urls()[0], resp.body)
        want = {i.native: i for i in _instruments()}
        assert {i.native for i in got} == set(want)
        for i in got:
            w = want[i.native]
            assert (i.symbol, i.base, i.quote, i.contract_size) == (w.symbol, w.base, w.quote, w.contract_size)
            assert i.tick_size is not None and (w.tick_size is None or i.tick_size == w.tick_size)
    one = sim.rest("GET", "/futures/usdt/contracts/BTC_USDT", {}, b"")
    assert one is not None and json.loads(one.body)["quanto_multiplier"] == "0.0001"
    assert sim.rest("GET", "/futures/usdt/contracts/NOPE_USDT", {}, b"").status == 404
    book = sim.rest("GET", "/futures/usdt/order_book", {"contract": ["ETH_USDT"], "limit": ["5"]}, b"")
    body = json.loads(book.body)
    assert "id" not in body and len(body["bids"]) == 5 and all(isinstance(x["s"], int) for x in body["asks"])
    bad = sim.rest("GET", "/futures/usdt/order_book", {"contract": ["NOPE_USDT"]}, b"")
    assert bad.status == 400 and json.loads(bad.body)["label"] == "CONTRACT_NOT_FOUND"
    assert sim.rest("GET", "/futures/usdt/order_book", {}, b"").status == 400
    assert sim.rest("GET", "/futures/usdt/order_book", {"contract": ["BTC_USDT"], "limit": ["x"]}, b"").status == 400
    assert sim.rest("GET", "/futures/usdt/nothing", {}, b"") is None
    assert sim.rest("GET", "/spot/tickers", {}, b"") is None
    # tickers over REST: the same merged rows as the stream
    for it in sim.market.advance(sim.market.now_ns + S):
        sim.encode(it)
    rows = json.loads(sim.rest("GET", "/api/v4/futures/usdt/tickers", {"contract": ["BTC_USDT"]}, b"").body)
    assert [r["contract"] for r in rows] == ["BTC_USDT"] and float(rows[0]["mark_price"]) > 0


def test_registered_and_heartbeat_rules():
    assert sim_venue_class(V) is GateioSim
    assert GateioSim.ws_paths.keys() == get_venue(V).default_endpoints.ws.keys()
    assert GateioSim.ws_paths["public"] == "/v4/ws/usdt"
    assert GateioSim.server_ping_interval_s and GateioSim.client_idle_timeout_s == 60.0
    assert GateioSim(_instruments(), _market("BTCUSDT")).server_ping() is None  # websocket-level pings
    assert get_venue(V).book_sync.mode == SyncMode.REST_DIFF


# ---- 4. live loopback --------------------------------------------------------------------------------------
async def _until(cond, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_live_session_every_stream_and_rest_synced_book():
    market = _market("BTCUSDT", "ETHUSDT")
    sim = GateioSim(_instruments(), market)
    srv = VenueServer(sim)
    await srv.start()
    eps = srv.endpoints()
    venue = get_venue(V, endpoints=Endpoints(ws=eps["ws"], rest=eps["rest"]))
    btc = venue.instrument("BTCUSDT")
    subs = [Subscription(s, btc, interval="1m") for s in sorted(venue.streams["perp"])]
    (plan,) = venue.plan_connections(subs)
    engine = BookEngine()
    got: list[Any] = []
    results: list[Applied] = []

    def on_items(_s, items):
        for it in items:
            got.append(it)
            if isinstance(it, BookUpdate):
                results.append(engine.apply(it))

    sess = WsSession(venue, plan, on_items, backoff_base_s=0.05)
    sess.start()
    try:
        await _until(lambda: len(srv.subs) == 6)
        assert set(srv.subs) == {
            "futures.trades.BTC_USDT",
            "futures.book_ticker.BTC_USDT",
            "futures.order_book_update.BTC_USDT",
            "futures.tickers.BTC_USDT",
            "futures.public_liquidates.BTC_USDT",
            "futures.candlesticks.1m.BTC_USDT",
        }
        srv.publish(market.advance(market.now_ns + S))  # diffs buffered until the snapshot
        await _until(lambda: any(r == Applied.BUFFERED for r in results))
        url = venue.book_snapshot_url(btc)
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            assert resp.status == 200
            (snap,) = venue.parse_rest(url, await resp.read(), 0)
        engine.apply(snap)
        liq = Liquidation(V, "perp", "BTCUSDT", market.now_ns, 0, "long", 95000.0, 0.25, 23750.0)
        srv.publish([*market.advance(market.now_ns + 2 * S), liq])
        truth = market.book_snapshot(V, "perp", "BTCUSDT", 10)
        book = engine.book(V, "BTC_USDT")
        await _until(lambda: book.seq == truth.seq)
        sess.send(venue.ping_message())
        await _until(lambda: Control("pong") in got)
        assert book.valid and book.gaps == 0 and Applied.GAP not in results
        assert book.best_bid()[0] == truth.bids[0][0] and book.best_ask()[0] == truth.asks[0][0]
        assert book.best_bid()[1] == pytest.approx(_contracts(truth.bids[0][1], BTC_CS))
        kinds = {type(i).__name__ for i in got if not isinstance(i, Control)}
        assert kinds == {
            "Trade",
            "BBO",
            "BookUpdate",
            "MarkPrice",
            "Funding",
            "OpenInterest",
            "Ticker24h",
            "Candle",
            "Liquidation",
        }
        assert all(getattr(i, "symbol", "BTCUSDT") == "BTCUSDT" for i in got)  # ETH was not subscribed
        assert sum(1 for i in got if i == Control("ack", "futures.tickers")) == 1
        assert sess.decode_errors.counts == {} and sess.stats.errors_from_venue == 0
    finally:
        await sess.stop()
        await srv.stop()
