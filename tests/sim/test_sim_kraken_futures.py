"""Simulated Kraken Futures: frames decode back to the same values, have the real frames' shape
(2021 capture; docs examples where no capture exists), the client protocol answers as Kraken does,
and a live loopback session decodes every feed and keeps the book in sync."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import msgspec
import picows
import pytest

from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.feed.book import Applied, BookEngine
from cryptoflow.feed.session import WsSession
from cryptoflow.sim.market import MarketConfig, SyntheticMarket
from cryptoflow.sim.model_book import SIM_BOOK_SYNC
from cryptoflow.sim.model_specs import DEFAULT_SYMBOL_SPECS
from cryptoflow.sim.protocol import ConnState
from cryptoflow.sim.server import VenueServer
from cryptoflow.sim.venues.kraken_futures import BOOK_SEQ_START, HEARTBEAT_INTERVAL_NS, KrakenFuturesSim
from cryptoflow.symbols import Instrument, InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import BookUpdate, Control, Endpoints, Subscription
from cryptoflow.venues.kraken_futures.instruments import infer

from .shapes import same_shape

V = "kraken_futures"
MS = 1_000_000
T = 1_767_225_600_123 * MS  # whole milliseconds: Kraken carries ms
HOUR = 3_600_000_000_000
SESSION = "cryptofeed__KRAKEN_FUTURES"
INVERSE_BTC = Instrument(V, "PI_XBTUSD", "BTCUSD", "perp", "BTC", "USD", "inverse", 1.0, 0.5)
STREAMS = ("trade", "liquidation", "book", "bbo", "mark_price", "funding", "open_interest", "ticker")


class _Market:
    """Books by symbol: a snapshot plus diffs applied to it (what the sim's subscribe snapshot reads)."""

    def __init__(self) -> None:
        self.books: dict[str, tuple[dict[float, float], dict[float, float]]] = {
            "BTCUSDT": ({95000.0: 1.5, 94999.0: 2.0, 94998.0: 0.5}, {95001.0: 1.0, 95002.0: 3.0, 95003.0: 0.25}),
            "BTCUSD": ({95000.0: 0.02, 94999.5: 0.1}, {95000.5: 0.05, 95001.0: 0.3}),
        }
        self.seq = 10

    def diff(self, symbol: str, bids, asks, native: str = "PF_XBTUSD") -> BookUpdate:
        self.seq += 1
        b, a = self.books[symbol]
        for side, levels in ((b, bids), (a, asks)):
            for p, q in levels:
                if q:
                    side[p] = q
                else:
                    side.pop(p, None)
        n = self.seq
        return BookUpdate(V, "perp", symbol, native, T, T, list(bids), list(asks), False, SIM_BOOK_SYNC, n, n, n - 1)

    def book_snapshot(self, venue: str, market: str, symbol: str, depth: int) -> BookUpdate:
        b, a = self.books[symbol]
        bids = sorted(b.items(), reverse=True)[:depth]
        asks = sorted(a.items())[:depth]
        native = "PF_XBTUSD" if symbol == "BTCUSDT" else "PI_XBTUSD"
        return BookUpdate(venue, market, symbol, native, T, T, bids, asks, True, SIM_BOOK_SYNC, self.seq, self.seq)


@pytest.fixture
def sim() -> KrakenFuturesSim:
    return KrakenFuturesSim([*InstrumentRegistry.bundled().instruments(V), INVERSE_BTC], _Market())


def _decode(frames, dec=None) -> list:
    dec = dec or get_venue(V).new_decoder()
    out = []
    for _topic, f in frames:
        out += dec.decode(f.encode(), 1)
    assert dec.errors.counts == {}
    return out


def _frames(sim: KrakenFuturesSim, *items) -> list[tuple[str, str]]:
    """Encoded frames of ``items`` without the heartbeats the first item of a run brings."""
    return [f for it in items for f in sim.encode(it) if f[0] != "heartbeat"]


# ---- 1. round trip -----------------------------------------------------------------------------------
def test_book_snapshot_and_level_deltas_rebuild_the_same_book(sim):
    market: _Market = sim.market
    dec = get_venue(V).new_decoder()
    engine, reference = BookEngine(), BookEngine()
    (snap_frame,) = sim.on_subscribed("book:PF_XBTUSD", ConnState("/ws/v1"))
    (snap,) = _decode([("", snap_frame)], dec)
    assert snap.snapshot and snap.seq == BOOK_SEQ_START and snap.ts == T
    assert snap.bids == [(95000.0, 1.5), (94999.0, 2.0), (94998.0, 0.5)]
    assert snap.asks == [(95001.0, 1.0), (95002.0, 3.0), (95003.0, 0.25)]
    assert engine.apply(snap) == Applied.APPLIED
    reference.apply(market.book_snapshot(V, "perp", "BTCUSDT", 100))
    diffs = [
        market.diff("BTCUSDT", [(95000.0, 0.7)], []),
        # the top moves up one level: bids listed first would cross the book if sent in this order
        market.diff("BTCUSDT", [(95001.0, 0.4), (94998.0, 0.0)], [(95001.0, 0.0), (95004.0, 2.0)]),
        market.diff("BTCUSDT", [(94999.0, 5.0), (94999.0, 0.0)], []),  # a price twice: its last size counts
        market.diff("BTCUSDT", [], [(95002.0, 0.0), (95005.0, 1.25)]),
    ]
    frames = _frames(sim, *diffs)
    assert {t for t, _ in frames} == {"book:PF_XBTUSD"}
    levels = [json.loads(f) for _, f in frames]
    assert len(levels) == 1 + 4 + 1 + 2  # one message per distinct level
    assert [m["seq"] for m in levels] == list(range(BOOK_SEQ_START + 1, BOOK_SEQ_START + 1 + len(levels)))
    assert [(m["side"], m["seq"], m["price"], m["qty"]) for m in levels[1:5]] == [
        ("buy", 1002, 94998.0, 0.0),  # deletions before insertions
        ("sell", 1003, 95001.0, 0.0),
        ("buy", 1004, 95001.0, 0.4),
        ("sell", 1005, 95004.0, 2.0),
    ]
    assert levels[0] == {
        "feed": "book", "product_id": "PF_XBTUSD", "side": "buy", "seq": 1001, "price": 95000.0, "qty": 0.7,
        "timestamp": T // MS,
    }  # fmt: skip
    for upd in _decode(frames, dec):
        assert engine.apply(upd) == Applied.APPLIED
    for d in diffs:
        assert reference.apply(d) == Applied.APPLIED
    book, ref = engine.book(V, "PF_XBTUSD"), reference.book(V, "PF_XBTUSD")
    assert book.gaps == 0 and book.valid and book.seq == BOOK_SEQ_START + len(levels)
    assert dict(book.bids) == dict(ref.bids) == {95001.0: 0.4, 95000.0: 0.7}
    assert dict(book.asks) == dict(ref.asks) == {95003.0: 0.25, 95004.0: 2.0, 95005.0: 1.25}
    # a resubscription's snapshot carries the seq of the last delta sent
    (again,) = _decode([("", sim.on_subscribed("book:PF_XBTUSD", ConnState("/ws/v1"))[0])])
    assert again.seq == book.seq and again.bids == [(95001.0, 0.4), (95000.0, 0.7)]


def test_inverse_book_in_usd_contracts(sim):
    market: _Market = sim.market
    (snap,) = _decode([("", sim.on_subscribed("book:PI_XBTUSD", ConnState("/ws/v1"))[0])])
    raw = json.loads(sim.on_subscribed("book:PI_XBTUSD", ConnState("/ws/v1"))[0])
    assert raw["bids"][0] == {"price": 95000.0, "qty": 1900.0}  # 0.02 BTC at 95000 = 1900 USD contracts
    assert snap.bids[0] == (95000.0, 1900.0 / 95000.0)
    frames = _frames(sim, market.diff("BTCUSD", [(95000.0, 1e-9)], [(95000.5, 0.0)], native="PI_XBTUSD"))
    sell, buy = (json.loads(f) for _, f in frames)
    assert (sell["side"], sell["qty"]) == ("sell", 0.0)
    assert (buy["side"], buy["qty"]) == ("buy", 1.0)  # never 0 contracts for a level that exists
    for upd, (_, f) in zip(_decode(frames), frames, strict=True):
        assert upd.seq == json.loads(f)["seq"]
    # contract rounding: within half a contract of the base quantity
    (d,) = sim.encode(market.diff("BTCUSD", [(94999.5, 0.123456)], [], native="PI_XBTUSD"))
    (upd,) = _decode([d])
    assert abs(upd.bids[0][1] - 0.123456) <= 0.5 / 94999.5


def test_trades_liquidations_and_trade_snapshot(sim):
    t1 = Trade(V, "perp", "BTCUSDT", T, T, 95001.0, 0.25, "buy", "501")
    t2 = Trade(V, "perp", "BTCUSDT", T + MS, T, 95000.0, 0.125, "sell", "502")
    # the market: a liquidated long, then the two fills of its forced sell, then an ordinary trade
    liq = Liquidation(V, "perp", "BTCUSDT", T + 2 * MS, T, "long", 94998.0, 0.75, 94999.0 * 0.5 + 94998.0 * 0.25)
    f1 = Trade(V, "perp", "BTCUSDT", T + 2 * MS, T, 94999.0, 0.5, "sell", "503")
    f2 = Trade(V, "perp", "BTCUSDT", T + 2 * MS, T, 94998.0, 0.25, "sell", "504")
    t3 = Trade(V, "perp", "BTCUSDT", T + 2 * MS, T, 94998.0, 0.5, "sell", "505")
    per_item = [_frames(sim, it) for it in (t1, t2, liq, f1, f2, t3)]
    assert per_item[2] == []  # the Liquidation item itself sends nothing: its fills carry it
    frames = [f for fs in per_item for f in fs]
    bodies = [json.loads(f) for topic, f in frames if topic == "trade:PF_XBTUSD"]
    assert [(b["uid"], b["type"], b["seq"]) for b in bodies] == [
        ("501", "fill", 1),
        ("502", "fill", 2),
        ("503", "liquidation", 3),
        ("504", "liquidation", 4),
        ("505", "fill", 5),
    ]
    got = _decode(frames)
    trades = [i for i in got if isinstance(i, Trade)]
    assert [(t.trade_id, t.ts, t.price, t.qty, t.side) for t in trades] == [
        (t.trade_id, t.ts, t.price, t.qty, t.side) for t in (t1, t2, f1, f2, t3)
    ]
    liqs = [i for i in got if isinstance(i, Liquidation)]
    assert [(x.side, x.price, x.qty, x.ts) for x in liqs] == [
        ("long", 94999.0, 0.5, T + 2 * MS),
        ("long", 94998.0, 0.25, T + 2 * MS),
    ]
    assert sum(x.qty for x in liqs) == liq.qty and sum(x.notional for x in liqs) == liq.notional
    # trade_snapshot on subscribe: the recent trades, newest first; decoded oldest first
    (snap,) = sim.on_subscribed("trade:PF_XBTUSD", ConnState("/ws/v1"))
    assert [t["uid"] for t in json.loads(snap)["trades"]] == ["505", "504", "503", "502", "501"]
    assert [t.trade_id for t in _decode([("", snap)]) if isinstance(t, Trade)] == ["501", "502", "503", "504", "505"]
    empty = KrakenFuturesSim(InstrumentRegistry.bundled().instruments(V), _Market())
    assert empty.on_subscribed("trade:PF_ETHUSD", ConnState("/ws/v1")) == [
        '{"feed":"trade_snapshot","product_id":"PF_ETHUSD","trades":[]}'
    ]
    # a short liquidation is filled by buys
    sim.encode(Liquidation(V, "perp", "BTCUSDT", T + 3 * MS, T, "short", 95002.0, 0.1, 9500.2))
    ((_, f),) = sim.encode(Trade(V, "perp", "BTCUSDT", T + 3 * MS, T, 95002.0, 0.1, "buy", "506"))
    _, short = _decode([("", f)])
    assert json.loads(f)["type"] == "liquidation" and isinstance(short, Liquidation) and short.side == "short"


def _stats(symbol: str, rate: float, predicted: float | None = None) -> list:
    return [
        BBO(V, "perp", symbol, T - 5 * MS, T, 95000.0, 1.5, 95001.0, 0.75, 42),
        Ticker24h(V, "perp", symbol, T, T, 95000.5, 94000.0, 96000.0, 93000.0, 1234.5, 117e6, 1000.5, 1.0644),
        Candle(V, "perp", symbol, T, T, "1m", T - T % 60_000_000_000, 1.0, 2.0, 0.5, 1.5, 10.0),
        MarkPrice(V, "perp", symbol, T, T, 95000.75, 94990.25),
        Funding(V, "perp", symbol, T, T, rate, predicted, T - T % HOUR + HOUR, 1.0),
        OpenInterest(V, "perp", symbol, T, T, None, 250.5, round(250.5 * 95000.75, 2)),
    ]


def test_full_ticker_merges_the_latest_stats(sim):
    frames = _frames(sim, *_stats("BTCUSDT", 2.5e-5, -1e-6))
    assert [t for t, _ in frames] == ["ticker:PF_XBTUSD", "ticker_lite:PF_XBTUSD"]  # with the OpenInterest
    body = json.loads(frames[0][1])
    assert body["relative_funding_rate"] == 2.5e-5 and body["funding_rate"] == 2.5e-5 * 94990.25  # amount
    assert (body["bid_size"], body["openInterest"], body["tag"], body["pair"]) == (1.5, 250.5, "perpetual", "XBT:USD")
    got = _decode(frames)
    assert got == [
        MarkPrice(V, "perp", "BTCUSDT", T, 1, 95000.75, 94990.25),
        Funding(V, "perp", "BTCUSDT", T, 1, 2.5e-5, -1e-6, T - T % HOUR + HOUR, 1.0),
        OpenInterest(V, "perp", "BTCUSDT", T, 1, 250.5, 250.5, 250.5 * 95000.75),
        BBO(V, "perp", "BTCUSDT", T, 1, 95000.0, 1.5, 95001.0, 0.75),
        Ticker24h(V, "perp", "BTCUSDT", T, 1, 95000.5, 94000.0, 96000.0, 93000.0, 1234.5, 117e6, 1000.5, 1.0644),
    ]
    # Kraken leaves out funding fields that are zero: the decoder reads a zero rate
    frames = _frames(sim, *_stats("BTCUSDT", 0.0, None))
    body = json.loads(frames[0][1])
    assert not {"funding_rate", "relative_funding_rate", "funding_rate_prediction"} & body.keys()
    (funding,) = [i for i in _decode(frames) if isinstance(i, Funding)]
    assert (funding.rate, funding.predicted_rate) == (0.0, 0.0)
    # a new subscriber gets the current ticker at once
    (now,) = sim.on_subscribed("ticker:PF_XBTUSD", ConnState("/ws/v1"))
    assert now == frames[0][1]
    assert sim.on_subscribed("ticker:PF_ETHUSD", ConnState("/ws/v1")) == []


def test_inverse_ticker_in_usd_contracts(sim):
    frames = _frames(sim, *_stats("BTCUSD", 2.5e-5))
    body = json.loads(frames[0][1])
    assert body["funding_rate"] == 2.5e-5 / 94990.25  # BTC per USD contract
    assert body["openInterest"] == 250.5 * 95000.75 and body["volume"] == 117e6  # USD contracts
    _mark, funding, oi, bbo, tick = _decode(frames)
    assert funding.rate == 2.5e-5 and funding.next_funding_time == T - T % HOUR + HOUR
    assert oi.oi_base == pytest.approx(250.5) and oi.oi_notional == pytest.approx(250.5 * 95000.75)
    assert bbo.bid_qty == pytest.approx(1.5, abs=0.5 / 95000.0)
    assert (tick.last, tick.volume, tick.quote_volume) == (95000.5, None, 117e6)


def test_heartbeats_and_unused_items(sim):
    trade = Trade(V, "perp", "BTCUSDT", T, T, 1.0, 1.0, "buy", "1")
    first = sim.encode(trade)
    assert [t for t, _ in first] == ["trade:PF_XBTUSD", "heartbeat"]
    assert [t for t, _ in sim.encode(trade)] == ["trade:PF_XBTUSD"]  # within the interval: no beat
    later = Trade(V, "perp", "BTCUSDT", T + HEARTBEAT_INTERVAL_NS, T, 1.0, 1.0, "buy", "2")
    _, beat = sim.encode(later)
    assert beat == ("heartbeat", f'{{"feed":"heartbeat","time":{(T + HEARTBEAT_INTERVAL_NS) // MS}}}')
    assert _decode([beat]) == [Control("info", "heartbeat")]
    assert sim.encode(Candle(V, "perp", "BTCUSDT", T, T, "1m", T, 1, 1, 1, 1, 1)) == []  # no ws candles
    assert sim.encode(Trade(V, "perp", "NOPEUSDT", T, T, 1.0, 1.0, "buy", "3")) == []


def test_synthetic_market_round_trip_keeps_every_book_in_sync():
    """The real market for every bundled product: encode, decode, apply: 0 gaps, same book."""
    insts = InstrumentRegistry.bundled().instruments(V)
    market = SyntheticMarket(MarketConfig.for_instruments({V: insts}, seed=5, rate=2.0))
    sim = KrakenFuturesSim(insts, market)
    market.advance(market.now_ns + 1_000_000_000)
    dec, engine = get_venue(V).new_decoder(), BookEngine()
    for inst in insts:
        engine.apply(*_decode([("", sim.on_subscribed(f"book:{inst.native}", ConnState("/ws/v1"))[0])], dec))
    items = market.advance(market.now_ns + 5_000_000_000)
    got = _decode([f for it in items for f in sim.encode(it)], dec)
    for upd in got:
        if isinstance(upd, BookUpdate):
            assert engine.apply(upd) == Applied.APPLIED
    assert engine.totals()["gaps"] == 0
    for inst in insts:
        book = engine.book(V, inst.native)
        snap = market.book_snapshot(V, "perp", inst.symbol, 1000)
        assert list(reversed(book.bids.items())) == snap.bids and list(book.asks.items()) == snap.asks
    n_trades = sum(isinstance(i, Trade) for i in items)
    assert sum(isinstance(i, Trade) for i in got) == n_trades > 0
    assert sum(isinstance(i, Funding) for i in got) == sum(isinstance(i, Funding) for i in items)
    liquidated = sum(i.qty for i in items if isinstance(i, Liquidation))
    assert sum(i.qty for i in got if isinstance(i, Liquidation)) == pytest.approx(liquidated)


# ---- 2. frame shapes ------------------------------------------------------------------------------------
def _real_frames(samples) -> dict[str, dict]:
    """One received frame per type from the 2021 capture (sent lines start with the url)."""
    real: dict[str, dict] = {}
    for line in (samples / V / f"{SESSION}.ws.1.0").read_text().splitlines():
        if line.startswith("wss://") or ": {" not in line:
            continue
        msg = json.loads(line.split(": ", 1)[1])
        kind = msg.get("event") or msg["feed"]
        if kind in ("book_snapshot", "trade_snapshot") and not (msg.get("bids") or msg.get("trades")):
            continue
        real.setdefault(kind, msg)
    return real


def test_frames_have_the_real_frames_shape(sim, samples):
    real = _real_frames(samples)
    assert set(real) == {"info", "subscribed", "book_snapshot", "book", "trade_snapshot", "trade", "ticker_lite"}
    docs = samples / V / "docs_derived"
    conn = ConnState("/ws/v1")
    sim.encode(Trade(V, "perp", "BTCUSDT", T, T, 95001.0, 0.25, "buy", "501"))
    frames = [f for _, f in _frames(sim, *_stats("BTCUSDT", 2.5e-5, -1e-6))]
    ours = {
        "info": sim.on_open(conn).send[0],
        "subscribed": sim.on_message('{"event":"subscribe","feed":"book","product_ids":["pf_xbtusd"]}', conn).send[0],
        "book_snapshot": sim.on_subscribed("book:PF_XBTUSD", conn)[0],
        "book": sim.encode(sim.market.diff("BTCUSDT", [(94999.0, 1.0)], []))[0][1],
        "trade_snapshot": sim.on_subscribed("trade:PF_XBTUSD", conn)[0],
        "trade": sim.encode(Trade(V, "perp", "BTCUSDT", T, T, 95001.0, 0.25, "buy", "502"))[0][1],
        "ticker_lite": frames[1],
    }
    for kind, frame in ours.items():
        assert same_shape(json.loads(frame), real[kind]) == [], kind
    # no capture has a full ticker: Kraken's documentation example instead
    assert same_shape(json.loads(frames[0]), json.loads((docs / "nautilus__ws_futures_ticker.json").read_text())) == []
    # nor a heartbeat: the documented example
    beat = sim.encode(Trade(V, "perp", "BTCUSDT", T + HEARTBEAT_INTERVAL_NS, T, 1.0, 1.0, "buy", "503"))[1][1]
    assert same_shape(json.loads(beat), {"feed": "heartbeat", "time": 1534262350627}) == []


def test_rest_instruments_have_the_real_body_shape(sim, samples):
    line = (samples / V / f"{SESSION}.0").read_text().splitlines()[0]
    real = json.loads(line.split(": ", 1)[1])
    body = json.loads(sim.rest("GET", "/derivatives/api/v3/instruments", {}, b"").body)
    assert body.keys() == real.keys() and body["result"] == "success"
    ours = {e["symbol"]: e for e in body["instruments"]}
    theirs = {e["symbol"]: e for e in real["instruments"]}
    assert same_shape(ours["PI_XBTUSD"], theirs["pi_xbtusd"]) == []  # the 2021 shape of inverse perps
    # dated inverse futures: same shape as the capture's
    dated = KrakenFuturesSim([infer("FI_XBTUSD_210924")], _Market())
    (fi,) = json.loads(dated.rest("GET", "/derivatives/api/v3/instruments", {}, b"").body)["instruments"]
    assert same_shape(fi, theirs["fi_xbtusd_210924"]) == []


# ---- 3. client protocol -----------------------------------------------------------------------------------
def test_client_protocol(sim):
    conn = ConnState("/ws/v1")
    dec = get_venue(V).new_decoder()
    assert sim.on_open(conn).send == ['{"event":"info","version":1}']
    r = sim.on_message('{"event":"subscribe","feed":"book","product_ids":["pf_xbtusd","pf_ethusd"]}', conn)
    assert r.send == [
        '{"event":"subscribed","feed":"book","product_ids":["PF_XBTUSD"]}',
        '{"event":"subscribed","feed":"book","product_ids":["PF_ETHUSD"]}',
    ]
    assert r.subscribe == ["book:PF_XBTUSD", "book:PF_ETHUSD"] and not r.close
    assert _decode([("", f) for f in r.send], dec) == [
        Control("ack", "book PF_XBTUSD"),
        Control("ack", "book PF_ETHUSD"),
    ]
    r = sim.on_message('{"event":"unsubscribe","feed":"book","product_ids":["pf_ethusd"]}', conn)
    assert r.send == ['{"event":"unsubscribed","feed":"book","product_ids":["PF_ETHUSD"]}']
    assert r.unsubscribe == ["book:PF_ETHUSD"] and r.subscribe == []
    r = sim.on_message('{"event":"subscribe","feed":"heartbeat"}', conn)
    assert r.send == ['{"event":"subscribed","feed":"heartbeat"}'] and r.subscribe == ["heartbeat"]
    errors = {
        '{"event":"subscribe","feed":"book","product_ids":["pf_nopeusd"]}': "Invalid product id",
        '{"event":"subscribe","feed":"trade"}': "Invalid product id",
        '{"event":"subscribe","feed":"candles_trade_1m","product_ids":["pf_xbtusd"]}': "Invalid feed",
        '{"event":"subscribe"}': "Invalid feed",
        "not json": "Json Error",
        '{"feed":"book"}': "Json Error",
        '{"event":"ping"}': "Json Error",  # no application-level ping: websocket pings keep alive
    }
    for text, message in errors.items():
        r = sim.on_message(text, conn)
        assert r.subscribe == [] and r.unsubscribe == [], text
        assert _decode([("", f) for f in r.send], dec) == [Control("error", message)], text
    # fault injection: Kraken's refusal of a subscribe request
    refused = sim.subscription_error('{"event":"subscribe","feed":"trade","product_ids":["pf_xbtusd"]}', conn)
    assert _decode([("", refused)], dec) == [Control("error", "subscribed_failed trade PF_XBTUSD Subscription refused")]
    assert sim.subscription_error("{", conn) == '{"event":"error","message":"Json Error"}'


def test_the_venue_modules_own_messages_are_accepted(sim):
    venue = get_venue(V)
    subs = [Subscription(s, venue.instrument(sym)) for sym in ("BTCUSDT", "ETHUSDT") for s in STREAMS]
    conn = ConnState("/ws/v1")
    topics = []
    for text in venue.connect_messages() + venue.subscribe_messages(subs):
        r = sim.on_message(text, conn)
        topics += r.subscribe
    assert topics == ["heartbeat"] + [
        f"{f}:{p}" for f in ("trade", "book", "ticker") for p in ("PF_XBTUSD", "PF_ETHUSD")
    ]
    gone = []
    for text in venue.unsubscribe_messages(subs[:1]):
        gone += sim.on_message(text, conn).unsubscribe
    assert gone == ["trade:PF_XBTUSD"]
    assert sim.ws_paths.keys() == venue.default_endpoints.ws.keys()
    assert sim.client_idle_timeout_s == 60.0 and sim.server_ping() is None


def test_rest_instruments_parse_back(sim):
    venue = get_venue(V)
    # the table lists some products without a tick: the sim serves the tick the market quotes in
    expected = {
        i.native: msgspec.structs.replace(i, tick_size=i.tick_size or DEFAULT_SYMBOL_SPECS[f"{i.base}USDT"].tick)
        for i in sim.instruments.values()
    }
    for path in ("/derivatives/api/v3/instruments", "/instruments"):  # real path; under the sim's bare base
        resp = sim.rest("GET", path, {}, b"")
        assert resp is not None and resp.status == 200
        parsed = venue.parse_instruments(venue.instruments_urls()[0], resp.body)
        assert {i.native: i for i in parsed} == expected
    assert sim.rest("GET", "/derivatives/api/v3/tickers", {}, b"") is None


# ---- 4. live loopback ---------------------------------------------------------------------------------------
async def _until(cond, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_live_session_decodes_every_feed_and_syncs_the_book():
    insts = [i for i in InstrumentRegistry.bundled().instruments(V) if i.symbol == "BTCUSDT"]
    market = SyntheticMarket(MarketConfig.for_instruments({V: insts}, seed=11, rate=2.0, start_ns=time.time_ns()))
    market.advance(market.now_ns + 1_000_000_000)
    sim = KrakenFuturesSim(insts, market)
    srv = VenueServer(sim)
    await srv.start()
    eps = srv.endpoints()
    venue = get_venue(V, endpoints=Endpoints(ws=eps["ws"], rest=eps["rest"]))
    btc = venue.instrument("BTCUSDT")
    (plan,) = venue.plan_connections([Subscription(s, btc) for s in STREAMS])
    engine = BookEngine()
    got: list = []
    applied: list[Applied] = []

    def on_items(_s, items) -> None:
        applied.extend(engine.apply(it) for it in items if isinstance(it, BookUpdate))
        got.extend(items)

    sess = WsSession(venue, plan, on_items)
    sess.start()
    try:
        topics = {"heartbeat", "book:PF_XBTUSD", "trade:PF_XBTUSD", "ticker:PF_XBTUSD"}
        await _until(lambda: topics <= srv.subs.keys())
        for _ in range(30):  # three simulated seconds, published in 100 ms steps
            srv.publish(market.advance(market.now_ns + 100_000_000))
            await asyncio.sleep(0.005)
        ts = market.now_ns
        srv.publish(
            [
                Liquidation(V, "perp", "BTCUSDT", ts, ts, "short", 95000.0, 0.5, 47500.0),
                Trade(V, "perp", "BTCUSDT", ts, ts, 95000.0, 0.5, "buy", "liq-1"),
            ]
        )
        last_seq = json.loads(sim.on_subscribed("book:PF_XBTUSD", ConnState("/ws/v1"))[0])["seq"]
        await _until(lambda: engine.book(V, "PF_XBTUSD") is not None and engine.book(V, "PF_XBTUSD").seq == last_seq)
        await _until(lambda: any(isinstance(i, Liquidation) for i in got))
        assert sess.decode_errors.counts == {}
        kinds = {type(i).__name__ for i in got}
        assert {
            "Trade",
            "Liquidation",
            "BookUpdate",
            "MarkPrice",
            "Funding",
            "OpenInterest",
            "BBO",
            "Ticker24h",
        } <= kinds
        controls = {(c.kind, c.detail) for c in got if isinstance(c, Control)}
        assert {
            ("info", "version 1"),
            ("ack", "heartbeat"),
            ("ack", "book PF_XBTUSD"),
            ("info", "heartbeat"),
        } <= controls
        book = engine.book(V, "PF_XBTUSD")
        snap = market.book_snapshot(V, "perp", "BTCUSDT", 1000)
        assert book.valid and book.gaps == 0 and set(applied) == {Applied.APPLIED}
        assert book.best_bid() == snap.bids[0] and book.best_ask() == snap.asks[0]
        assert list(book.asks.items()) == snap.asks
        # REST instruments at the URL the venue module asks for under the simulator's base
        async with aiohttp.ClientSession() as http, http.get(venue.instruments_urls()[0]) as resp:
            assert resp.status == 200
            (inst,) = venue.parse_instruments(venue.instruments_urls()[0], await resp.read())
        assert (inst.native, inst.symbol, inst.contract_size, inst.tick_size) == ("PF_XBTUSD", "BTCUSDT", 1.0, 1.0)
        # a dropped level message is a gap; resubscribing on the same connection brings a new snapshot
        srv.inject("gap")
        for _ in range(5):
            srv.publish(market.advance(market.now_ns + 100_000_000))
        await _until(lambda: book.gaps == 1)
        sess.resubscribe([Subscription("book", btc)])
        await _until(lambda: book.valid)
        srv.publish(market.advance(market.now_ns + 500_000_000))
        last_seq = json.loads(sim.on_subscribed("book:PF_XBTUSD", ConnState("/ws/v1"))[0])["seq"]
        await _until(lambda: book.seq == last_seq)
        snap = market.book_snapshot(V, "perp", "BTCUSDT", 1000)
        assert book.valid and book.resyncs == 1 and list(book.asks.items()) == snap.asks
        assert sess.decode_errors.counts == {} and srv.faults.done["gap"] == 1
    finally:
        await sess.stop()
        await srv.stop()


class _RawClient(picows.WSListener):
    def __init__(self) -> None:
        self.frames: list[tuple[picows.WSMsgType, bytes]] = []
        self.closed = asyncio.Event()

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        self.frames.append((frame.msg_type, frame.get_payload_as_bytes()))

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self.closed.set()


class _QuickIdleSim(KrakenFuturesSim):
    client_idle_timeout_s = 0.3


async def test_websocket_ping_pong_and_idle_close():
    srv = VenueServer(_QuickIdleSim(InstrumentRegistry.bundled().instruments(V), _Market()))
    await srv.start()
    url = srv.endpoints()["ws"]["public"]
    try:
        transport, client = await picows.ws_connect(_RawClient, url)
        await _until(lambda: (picows.WSMsgType.TEXT, b'{"event":"info","version":1}') in client.frames)
        transport.send_ping(b"kf")
        await _until(lambda: (picows.WSMsgType.PONG, b"kf") in client.frames)
        await asyncio.sleep(0.4)  # silent for longer than the venue allows
        srv.housekeeping()
        await asyncio.wait_for(client.closed.wait(), 2)
        assert srv.stats["idle_closes"] == 1
    finally:
        await srv.stop()


async def test_websocket_pings_keep_an_idle_connection_open():
    srv = VenueServer(_QuickIdleSim(InstrumentRegistry.bundled().instruments(V), _Market()))
    await srv.start()
    try:
        transport, client = await picows.ws_connect(_RawClient, srv.endpoints()["ws"]["public"])
        for _ in range(8):
            transport.send_ping()
            await asyncio.sleep(0.1)
            srv.housekeeping()
        assert not client.closed.is_set() and srv.stats["idle_closes"] == 0
        transport.disconnect()
    finally:
        await srv.stop()
