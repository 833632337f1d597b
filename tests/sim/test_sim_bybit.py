"""Simulated Bybit v5 (linear perps + spot): frames decode back to the same values with the real
decoder, have the real frames' shape, the client protocol answers as Bybit does, and a live loopback
session per market syncs its book from the in-stream snapshot.

Real frames: ../shared/venue-samples/bybit (ccxt recordings, a Bybit public history archive).
"""

from __future__ import annotations

import asyncio
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from cryptoflow.errors import DecodeError
from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.feed.book import BookEngine
from cryptoflow.feed.session import WsSession
from cryptoflow.sim.protocol import ConnState
from cryptoflow.sim.server import VenueServer
from cryptoflow.sim.venues import sim_venue_class
from cryptoflow.sim.venues.bybit import SEQ_BASE, U_OFFSET, BybitSim
from cryptoflow.symbols import InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import BookSyncSpec, BookUpdate, Control, Endpoints, Link, Subscription, SyncMode
from cryptoflow.venues.bybit import Bybit

SAMPLES = Path(__file__).parents[3] / "shared" / "venue-samples" / "bybit"
LINEAR_URL = "wss://stream.bybit.com/v5/public/linear"
SPOT_URL = "wss://stream.bybit.com/v5/public/spot"
MS = 1_000_000
T0 = 1_786_540_380_000 * MS  # ms-aligned so times survive the ms wire exactly
SYNC = BookSyncSpec(SyncMode.STREAM_SEQ, Link.PREV)
REG = InstrumentRegistry.bundled()
INSTS = REG.instruments("bybit")
CAT = {"perp": "linear", "spot": "spot"}
URL = {"perp": LINEAR_URL, "spot": SPOT_URL}
PATH = {"perp": "/v5/public/linear", "spot": "/v5/public/spot"}


# ---- a small market: books that move by diffs, snapshots of their current state --------------
class FakeMarket:
    def __init__(self) -> None:
        self.books: dict[tuple[str, str], dict[str, Any]] = {}

    def add(self, market: str, symbol: str, mid: float, seq: int = 5_000, levels: int = 8, step: float = 0.5) -> None:
        bids = {round(mid - step * (i + 1), 2): 1.0 + i for i in range(levels)}
        asks = {round(mid + step * (i + 1), 2): 2.0 + i for i in range(levels)}
        self.books[(market, symbol)] = {"bids": bids, "asks": asks, "seq": seq, "ts": T0}

    def book_snapshot(self, venue: str, market: str, symbol: str, depth: int) -> BookUpdate:
        b = self.books[(market, symbol)]
        bids = sorted(b["bids"].items(), reverse=True)[:depth]
        asks = sorted(b["asks"].items())[:depth]
        return BookUpdate(venue, market, symbol, symbol, b["ts"], b["ts"], bids, asks, True, SYNC, b["seq"], b["seq"])

    def diff(self, market: str, symbol: str, ts: int, bids=(), asks=()) -> BookUpdate:
        b = self.books[(market, symbol)]
        for side, levels in (("bids", bids), ("asks", asks)):
            for p, q in levels:
                if q:
                    b[side][p] = q
                else:
                    b[side].pop(p, None)
        b["seq"] += 1
        b["ts"] = ts
        s = b["seq"]
        key = symbol if market == "perp" else f"{symbol}:spot"  # the real market's id for a spot book
        return BookUpdate("bybit", market, symbol, key, ts, ts, list(bids), list(asks), False, SYNC, s, s, s - 1)

    def bbo(self, market: str, symbol: str, ts: int) -> BBO:
        b = self.books[(market, symbol)]
        (bp, bq), (ap, aq) = max(b["bids"].items()), min(b["asks"].items())
        return BBO("bybit", market, symbol, ts, ts, bp, bq, ap, aq, b["seq"])

    def top(self, market: str, symbol: str) -> tuple[tuple[float, float], tuple[float, float]]:
        b = self.books[(market, symbol)]
        return max(b["bids"].items()), min(b["asks"].items())


def _market() -> FakeMarket:
    m = FakeMarket()
    m.add("perp", "BTCUSDT", 63975.0)
    m.add("spot", "BTCUSDT", 63990.0, seq=9_000)
    m.add("perp", "ETHUSDT", 3500.0)
    return m


@pytest.fixture
def venue() -> Bybit:
    return get_venue("bybit", registry=REG)  # type: ignore[return-value]


@pytest.fixture
def market() -> FakeMarket:
    return _market()


@pytest.fixture
def sim(market: FakeMarket) -> BybitSim:
    return BybitSim(INSTS, market)


def _conn(market: str) -> ConnState:
    return ConnState(path=PATH[market])


def _subscribe(sim: BybitSim, conn: ConnState, *args: str, req_id: Any = 1) -> list[str]:
    """Subscribe as the server does; returns the frames sent (ack, then on_subscribed frames)."""
    msg: dict[str, Any] = {"op": "subscribe", "args": list(args)}
    if req_id is not None:
        msg["req_id"] = req_id
    reply = sim.on_message(json.dumps(msg), conn)
    out = list(reply.send)
    for t in reply.subscribe:
        conn.topics.add(t)
        out += sim.on_subscribed(t, conn)
    return out


def _frames(sim: BybitSim, items: list[Any], key: str) -> list[str]:
    return [f for it in items for k, f in sim.encode(it) if k == key]


def _decode(venue: Bybit, market: str, frames: list[str]) -> list[Any]:
    dec = venue.new_decoder(URL[market])
    out = [it for f in frames for it in dec.decode(f, 0)]
    assert dec.errors.total == 0, dict(dec.errors.counts)
    return out


# ---- JSON shape comparison -----------------------------------------------------------------------
def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    return "null" if v is None else type(v).__name__


def shape_diff(sim: Any, real: Any, path: str = "$") -> list[str]:
    """Where a simulated frame differs from a real one in keys or JSON value types (every element
    of a simulated list is compared with the real list's first element)."""
    if isinstance(sim, dict) and isinstance(real, dict):
        out = [f"{path}: missing {k!r}" for k in real.keys() - sim.keys()]
        out += [f"{path}: extra {k!r}" for k in sim.keys() - real.keys()]
        for k in sim.keys() & real.keys():
            out += shape_diff(sim[k], real[k], f"{path}.{k}")
        return out
    if isinstance(sim, list) and isinstance(real, list):
        return [d for i, x in enumerate(sim) for d in shape_diff(x, real[0], f"{path}[{i}]")] if real else []
    return [] if _kind(sim) == _kind(real) else [f"{path}: {_kind(sim)} vs {_kind(real)}"]


def _real(name: str) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in (SAMPLES / name).read_text().splitlines() if ln.strip()]


def _archive() -> list[dict[str, Any]]:
    with zipfile.ZipFile(SAMPLES / "nautilus__xrpusdt-ob500.data.zip") as z:
        (name,) = z.namelist()
        return [json.loads(ln) for ln in z.read(name).splitlines()[:2]]


def _stats(sim: BybitSim, ts: int, **kw: Any) -> list[list[tuple[str, str]]]:
    """The perp stats items for BTCUSDT, encoded one by one."""
    items = [
        MarkPrice("bybit", "perp", "BTCUSDT", ts, ts, kw.get("mark", 63958.6), kw.get("index", 63986.67)),
        Funding("bybit", "perp", "BTCUSDT", ts, ts, kw.get("rate", 0.0000544), None, 1786550400000 * MS, 8.0),
        OpenInterest("bybit", "perp", "BTCUSDT", ts, ts, None, kw.get("oi", 57798.137), kw.get("oiv", 3696687925.13)),
        Ticker24h(
            "bybit",
            "perp",
            "BTCUSDT",
            ts,
            ts,
            kw.get("last", 63958.6),
            64283.9,
            64477.0,
            63183.1,
            61874.639,
            3947254153.7179,
        ),
    ]
    return [sim.encode(i) for i in items]


# ==== 1. round trip: encode -> real decoder -> same values ==========================================
@pytest.mark.parametrize("mkt", ["perp", "spot"])
def test_trades_round_trip(sim: BybitSim, venue: Bybit, mkt: str) -> None:
    trades = [
        Trade("bybit", mkt, "BTCUSDT", T0 + 1 * MS, T0, 63975.5, 0.329, "buy", "1001"),
        Trade("bybit", mkt, "BTCUSDT", T0 + 2 * MS, T0, 63975.0, 2.5, "sell", "1002"),
        Trade("bybit", mkt, "BTCUSDT", T0 + 3 * MS, T0, 63975.0, 0.00001, "sell", "1003"),  # tiny: no exponent
    ]
    frames = _frames(sim, trades, f"{CAT[mkt]}:publicTrade.BTCUSDT")
    assert len(frames) == 3 and "e-" not in frames[2]
    got = _decode(venue, mkt, frames)
    assert got == [Trade(t.venue, t.market, t.symbol, t.ts, 0, t.price, t.qty, t.side, t.trade_id) for t in trades]
    linear = [json.loads(f)["data"][0] for f in frames]
    assert ("L" in linear[0]) == (mkt == "perp")  # tick direction: perps only
    if mkt == "perp":
        assert [d["L"] for d in linear] == ["PlusTick", "MinusTick", "ZeroMinusTick"]


@pytest.mark.parametrize("mkt", ["perp", "spot"])
def test_book_snapshot_and_deltas_sync(sim: BybitSim, venue: Bybit, market: FakeMarket, mkt: str) -> None:
    conn = _conn(mkt)
    frames = _subscribe(sim, conn, "orderbook.50.BTCUSDT", "orderbook.200.BTCUSDT")
    ack, snap50, snap200 = (json.loads(f) for f in frames)
    assert ack["success"] is True
    seq0 = market.books[(mkt, "BTCUSDT")]["seq"]
    assert (snap50["type"], snap50["data"]["u"], snap50["data"]["seq"]) == (
        "snapshot",
        seq0 + U_OFFSET[50],
        SEQ_BASE + seq0,
    )
    assert snap200["data"]["u"] == seq0 + U_OFFSET[200] and snap200["data"]["seq"] == snap50["data"]["seq"]
    (bp, _), (ap, _) = market.top(mkt, "BTCUSDT")
    diffs = [
        market.diff(mkt, "BTCUSDT", T0 + 10 * MS, bids=[(bp, 0.0)], asks=[(ap, 0.25)]),  # delete the best bid
        market.diff(mkt, "BTCUSDT", T0 + 11 * MS, bids=[(bp + 0.5, 3.0)]),  # a new best bid inside the spread
        market.diff(mkt, "BTCUSDT", T0 + 12 * MS, asks=[(ap + 50.0, 7.0)]),  # a deep level
        market.diff(mkt, "BTCUSDT", T0 + 13 * MS, bids=[(bp + 0.5, 0.001)], asks=[]),
    ]
    d50 = _frames(sim, diffs, f"{CAT[mkt]}:orderbook.50.BTCUSDT")
    d200 = _frames(sim, diffs, f"{CAT[mkt]}:orderbook.200.BTCUSDT")
    assert [json.loads(f)["data"]["u"] for f in d50] == [seq0 + U_OFFSET[50] + i for i in (1, 2, 3, 4)]
    assert [json.loads(f)["data"]["u"] for f in d200] == [seq0 + U_OFFSET[200] + i for i in (1, 2, 3, 4)]
    assert [json.loads(f)["data"]["seq"] for f in d50] == [SEQ_BASE + seq0 + i for i in (1, 2, 3, 4)]
    assert json.loads(d50[0])["data"]["b"] == [[repr(bp), "0"]]  # a deleted level is "0"
    assert all(json.loads(f)["cts"] == json.loads(f)["ts"] for f in d50)
    for frames_of_topic in ([frames[1], *d50], [frames[2], *d200]):
        engine = BookEngine()
        items = _decode(venue, mkt, frames_of_topic)
        assert all(isinstance(i, BookUpdate) and i.market == mkt for i in items)
        for it in items:
            engine.apply(it)
        book = engine.book("bybit", "BTCUSDT", mkt)
        assert book is not None and book.valid and book.gaps == 0 and book.updates == 5
        b = market.books[(mkt, "BTCUSDT")]
        assert dict(book.bids) == b["bids"] and dict(book.asks) == b["asks"]
        assert (book.best_bid(), book.best_ask()) == market.top(mkt, "BTCUSDT") == ((bp + 0.5, 0.001), (ap, 0.25))
        assert items[-1].ts == T0 + 13 * MS


def test_late_snapshot_links_to_the_next_delta(sim: BybitSim, venue: Bybit, market: FakeMarket) -> None:
    """A snapshot taken while the market is ahead of what was encoded: older deltas are stale, none gaps."""
    conn = _conn("perp")
    _subscribe(sim, conn, "orderbook.50.ETHUSDT")  # activates the topic; this first snapshot is not used
    diffs = [market.diff("perp", "ETHUSDT", T0 + i * MS, bids=[(3499.5, 1.0 + i)]) for i in range(6)]
    key = "linear:orderbook.50.ETHUSDT"
    early = _frames(sim, diffs[:3], key)
    assert len(early) == 3
    conn2 = _conn("perp")
    (_, snap) = _subscribe(sim, conn2, "orderbook.50.ETHUSDT")  # market already at diffs[5]
    late = _frames(sim, diffs[3:], key)
    engine = BookEngine()
    for it in _decode(venue, "perp", [snap, *late]):
        engine.apply(it)
    book = engine.book("bybit", "ETHUSDT")
    assert book is not None and book.valid and book.gaps == 0 and book.stale == 3
    nxt = _frames(sim, [market.diff("perp", "ETHUSDT", T0 + 9 * MS, asks=[(3500.5, 9.0)])], key)
    for it in _decode(venue, "perp", [snap, *late, *nxt]):
        engine.apply(it)
    assert book.valid and book.gaps == 0 and book.best_ask() == (3500.5, 9.0)


def test_unsubscribed_depths_are_not_encoded(sim: BybitSim, market: FakeMarket) -> None:
    d = market.diff("perp", "BTCUSDT", T0, bids=[(63974.0, 1.0)])
    assert sim.encode(d) == []  # no book topic of BTCUSDT was ever subscribed
    _subscribe(sim, _conn("perp"), "orderbook.1000.BTCUSDT")
    d = market.diff("perp", "BTCUSDT", T0, bids=[(63974.0, 2.0)])
    assert [k for k, _ in sim.encode(d)] == ["linear:orderbook.1000.BTCUSDT"]


@pytest.mark.parametrize("mkt", ["perp", "spot"])
def test_orderbook1_is_bbo(sim: BybitSim, venue: Bybit, market: FakeMarket, mkt: str) -> None:
    conn = _conn(mkt)
    _, snap = _subscribe(sim, conn, "orderbook.1.BTCUSDT")
    q1 = BBO("bybit", mkt, "BTCUSDT", T0 + 5 * MS, T0, 63975.5, 0.2, 63976.0, 1.5, 7)
    q2 = BBO("bybit", mkt, "BTCUSDT", T0 + 6 * MS, T0, 63975.0, 0.001, 63975.5, 2.0, 8)
    frames = _frames(sim, [q1, q2], f"{CAT[mkt]}:orderbook.1.BTCUSDT")
    (bp, bq), (ap, aq) = market.top(mkt, "BTCUSDT")
    got = _decode(venue, mkt, [snap, *frames])
    assert got == [
        BBO("bybit", mkt, "BTCUSDT", T0, 0, bp, bq, ap, aq),
        BBO("bybit", mkt, "BTCUSDT", q1.ts, 0, 63975.5, 0.2, 63976.0, 1.5),
        BBO("bybit", mkt, "BTCUSDT", q2.ts, 0, 63975.0, 0.001, 63975.5, 2.0),
    ]
    us = [json.loads(f)["data"]["u"] for f in (snap, *frames)]
    assert us[1] == us[0] + 1 and us[2] == us[1] + 1  # +1 per push; the subscribe snapshot repeats the last u
    assert all(json.loads(f)["type"] == "snapshot" for f in frames)
    _, again = _subscribe(sim, _conn(mkt), "orderbook.1.BTCUSDT")
    assert json.loads(again)["data"]["u"] == us[2]


def test_linear_ticker_snapshot_then_changed_fields(sim: BybitSim, venue: Bybit) -> None:
    key = "linear:tickers.BTCUSDT"
    conn = _conn("perp")
    assert _subscribe(sim, conn, "tickers.BTCUSDT")[1:] == []  # no state yet: nothing to snapshot
    frames = [f for enc in _stats(sim, T0) for k, f in enc if k == key]
    first, *rest = (json.loads(f) for f in frames)
    assert first["type"] == "snapshot" and all(r["type"] == "delta" for r in rest)
    assert set(rest[0]["data"]) == {"symbol", "fundingRate", "nextFundingTime", "fundingIntervalHour"}
    got = _decode(venue, "perp", frames)
    ts = T0
    assert MarkPrice("bybit", "perp", "BTCUSDT", ts, 0, 63958.6, 63986.67) in got
    assert Funding("bybit", "perp", "BTCUSDT", ts, 0, 0.0000544, None, 1786550400000 * MS, 8.0) in got
    assert OpenInterest("bybit", "perp", "BTCUSDT", ts, 0, 57798.137, 57798.137, 3696687925.13) in got
    (tk,) = [i for i in got if isinstance(i, Ticker24h)]
    assert (tk.last, tk.open, tk.high, tk.low, tk.volume, tk.quote_volume) == (
        63958.6,
        64283.9,
        64477.0,
        63183.1,
        61874.639,
        3947254153.7179,
    )
    assert tk.price_change_pct == pytest.approx((63958.6 - 64283.9) / 64283.9 * 100, abs=1e-4)
    # only the index moves: a delta of exactly that field, and the decoder re-emits the mark price
    ((_, f),) = sim.encode(MarkPrice("bybit", "perp", "BTCUSDT", ts + MS, ts, 63958.6, 63986.66))
    assert json.loads(f)["data"] == {"symbol": "BTCUSDT", "indexPrice": "63986.66"}
    # nothing changed: no frame at all
    assert sim.encode(MarkPrice("bybit", "perp", "BTCUSDT", ts + 2 * MS, ts, 63958.6, 63986.66)) == []
    # the subscribe snapshot carries the merged state; a fresh decoder gets every group from it
    (snap,) = _subscribe(sim, _conn("perp"), "tickers.BTCUSDT")[1:]
    kinds = {type(i) for i in _decode(venue, "perp", [snap])}
    assert kinds == {MarkPrice, Funding, OpenInterest, Ticker24h}  # no BBO yet: bid1/ask1 are ""
    assert json.loads(snap)["data"]["bid1Price"] == ""


def test_linear_ticker_bbo_fields_conflated_to_100ms(sim: BybitSim, venue: Bybit) -> None:
    key = "linear:tickers.BTCUSDT"
    _stats(sim, T0)
    q = [
        BBO("bybit", "perp", "BTCUSDT", T0 + i * 40 * MS, T0, 63958.6 - i, 1.0 + i, 63958.7 - i, 2.0, i)
        for i in range(4)
    ]  # at 0, 40, 80, 120 ms
    f0, f1, f2, f3 = (_frames(sim, [x], key) for x in q)
    assert len(f0) == 1 and f1 == [] and f2 == [] and len(f3) == 1
    last = json.loads(f3[0])["data"]  # the wire carries it; the decoder leaves BBOs to orderbook.1
    assert (last["bid1Price"], last["bid1Size"], last["ask1Price"]) == ("63955.6", "4.0", "63955.7")
    assert not any(isinstance(i, BBO) for i in _decode(venue, "perp", f0 + f3))
    # a pending top of book goes out with the next ticker frame of any kind
    _frames(sim, [BBO("bybit", "perp", "BTCUSDT", q[3].ts + MS, T0, 63950.0, 9.0, 63950.1, 2.0, 9)], key)
    (f,) = _frames(sim, [Funding("bybit", "perp", "BTCUSDT", q[3].ts + 2 * MS, T0, 0.0001, None, None, 8.0)], key)
    assert json.loads(f)["data"] == {
        "symbol": "BTCUSDT",
        "fundingRate": "0.0001",
        "nextFundingTime": "",
        "bid1Price": "63950.0",
        "bid1Size": "9.0",
        "ask1Price": "63950.1",
    }


def test_spot_ticker_snapshots(sim: BybitSim, venue: Bybit) -> None:
    key = "spot:tickers.BTCUSDT"
    t = Ticker24h(
        "bybit",
        "spot",
        "BTCUSDT",
        T0,
        T0,
        64057.7,
        64326.9,
        64500.0,
        63232.1,
        7217.990977,
        460629823.77866687,
        None,
        None,
    )
    (f,) = _frames(sim, [t], key)
    assert json.loads(f)["type"] == "snapshot" and json.loads(f)["data"]["usdIndexPrice"] == "64057.7"
    (got,) = _decode(venue, "spot", [f])
    assert got == Ticker24h(
        "bybit",
        "spot",
        "BTCUSDT",
        T0,
        0,
        64057.7,
        64326.9,
        64500.0,
        63232.1,
        7217.990977,
        460629823.77866687,
        pytest.approx(64057.7 - 64326.9),
        pytest.approx(-0.4185, abs=1e-4),
    )
    # BBO and perp-only items never reach spot tickers; the subscribe snapshot is the latest one
    assert [k for k, _ in sim.encode(BBO("bybit", "spot", "BTCUSDT", T0, T0, 1.0, 1.0, 2.0, 1.0))] == [
        "spot:orderbook.1.BTCUSDT"
    ]
    assert _subscribe(sim, _conn("spot"), "tickers.BTCUSDT")[1:] == [f]


@pytest.mark.parametrize("mkt", ["perp", "spot"])
def test_candles_round_trip(sim: BybitSim, venue: Bybit, mkt: str) -> None:
    c = Candle(
        "bybit",
        mkt,
        "BTCUSDT",
        T0 + 1441 * MS,
        T0,
        "1m",
        T0,
        63975.0,
        63975.0,
        63971.2,
        63971.2,
        0.329,
        21047.0079,
        12,
        False,
    )
    c2 = Candle("bybit", mkt, "BTCUSDT", T0 + 60_000 * MS, T0, "1h", T0, 1.0, 2.0, 0.5, 1.5, 10.0, 15.0, None, True)
    (f,) = _frames(sim, [c], f"{CAT[mkt]}:kline.1.BTCUSDT")
    (f2,) = _frames(sim, [c2], f"{CAT[mkt]}:kline.60.BTCUSDT")
    assert json.loads(f)["data"][0]["end"] == T0 // MS + 59_999
    got = _decode(venue, mkt, [f, f2])
    assert got == [
        Candle(
            "bybit",
            mkt,
            "BTCUSDT",
            c.ts,
            0,
            "1m",
            T0,
            63975.0,
            63975.0,
            63971.2,
            63971.2,
            0.329,
            21047.0079,
            None,
            False,
        ),
        Candle("bybit", mkt, "BTCUSDT", c2.ts, 0, "1h", T0, 1.0, 2.0, 0.5, 1.5, 10.0, 15.0, None, True),
    ]
    assert sim.encode(Candle("bybit", mkt, "BTCUSDT", T0, T0, "1s", T0, 1, 1, 1, 1, 1)) == []  # no 1s klines


def test_liquidations_side_of_the_position(sim: BybitSim, venue: Bybit) -> None:
    liqs = [
        Liquidation("bybit", "perp", "BTCUSDT", T0, T0, "long", 63900.0, 0.5, 31950.0),
        Liquidation("bybit", "perp", "BTCUSDT", T0 + MS, T0, "short", 64000.0, 0.25, 16000.0),
    ]
    frames = _frames(sim, liqs, "linear:allLiquidation.BTCUSDT")
    assert [json.loads(f)["data"][0]["S"] for f in frames] == ["Buy", "Sell"]  # Buy = a long was liquidated
    got = _decode(venue, "perp", frames)
    assert [(g.side, g.price, g.qty, g.ts) for g in got] == [
        ("long", 63900.0, 0.5, T0),
        ("short", 64000.0, 0.25, T0 + MS),
    ]
    assert got[0].notional == pytest.approx(31950.0)
    assert sim.encode(Liquidation("bybit", "spot", "BTCUSDT", T0, T0, "long", 1.0, 1.0, 1.0)) == []


def test_items_reach_only_their_market(sim: BybitSim) -> None:
    spot = Trade("bybit", "spot", "BTCUSDT", T0, T0, 1.0, 1.0, "buy", "1")
    perp = Trade("bybit", "perp", "BTCUSDT", T0, T0, 1.0, 1.0, "buy", "1")
    assert [k for k, _ in sim.encode(spot)] == ["spot:publicTrade.BTCUSDT"]
    assert [k for k, _ in sim.encode(perp)] == ["linear:publicTrade.BTCUSDT"]
    assert sim.encode(Trade("bybit", "perp", "NOPEUSDT", T0, T0, 1.0, 1.0, "buy", "1")) == []
    assert sim.encode(MarkPrice("bybit", "spot", "BTCUSDT", T0, T0, 1.0)) == []


# ==== 2. frame shapes against real captures ===========================================================
def test_shapes_linear(sim: BybitSim, market: FakeMarket) -> None:
    kline_data, ack, _ = _real("ccxt_static__linear_kline1_BTCUSDT.recv.jsonl")
    tick_snap, tick_delta = _real("ccxt_static__linear_tickers_BTCUSDT.recv.jsonl")
    conn = _conn("perp")
    sent = _subscribe(sim, conn, "kline.1.BTCUSDT", "orderbook.50.BTCUSDT", "orderbook.1.BTCUSDT", "tickers.BTCUSDT")
    assert shape_diff(json.loads(sent[0]), ack) == []
    ob_snap, ob_delta = _archive()
    assert shape_diff(json.loads(sent[1]), ob_snap) == []
    assert shape_diff(json.loads(sent[2]), ob_snap) == []  # orderbook.1 snapshot
    ((_, d),) = sim.encode(market.diff("perp", "BTCUSDT", T0, bids=[(63974.0, 0.0)], asks=[(63976.0, 1.0)]))
    assert shape_diff(json.loads(d), ob_delta) == []
    c = Candle("bybit", "perp", "BTCUSDT", T0, T0, "1m", T0, 1.0, 2.0, 0.5, 1.5, 10.0, 15.0, None, False)
    ((_, k),) = sim.encode(c)
    assert shape_diff(json.loads(k), kline_data) == []
    (snap,), *_ = [[f for _, f in e] for e in _stats(sim, T0)]
    assert shape_diff(json.loads(snap), tick_snap) == []
    assert list(json.loads(snap)["data"]) == list(tick_snap["data"])  # the real field order too
    ((_, delta),) = sim.encode(MarkPrice("bybit", "perp", "BTCUSDT", T0 + MS, T0, 63958.6, 63986.66))
    assert shape_diff(json.loads(delta), tick_delta) == []


def test_shapes_spot(sim: BybitSim) -> None:
    ack, tick, _ = _real("ccxt_static__spot_tickers_BTCUSDT.recv.jsonl")
    (sent,) = _real("ccxt_static__spot_tickers_BTCUSDT.sent.jsonl")
    (ours,) = sim.on_message(json.dumps(sent), _conn("spot")).send
    assert shape_diff(json.loads(ours), ack) == []
    assert json.loads(ours)["ret_msg"] == "subscribe" and json.loads(ours)["req_id"] == "1"
    t = Ticker24h("bybit", "spot", "BTCUSDT", T0, T0, 64057.7, 64326.9, 64500.0, 63232.1, 7217.99, 4.6e8)
    ((_, f),) = sim.encode(t)
    assert shape_diff(json.loads(f), tick) == []


def test_shape_subscription_failure() -> None:
    """docs-derived (no real capture of a failure): the spot frame without a client req_id matches it
    exactly; linear frames always carry req_id, as live captures show."""
    doc = json.loads((SAMPLES / "docs_derived" / "nautilus__ws_subscription_failure.json").read_text())
    sim = BybitSim(INSTS, _market())
    (spot,) = sim.on_message('{"op":"subscribe","args":["nope.BTCUSDT"]}', _conn("spot")).send
    assert shape_diff(json.loads(spot), doc) == []
    (linear,) = sim.on_message('{"op":"subscribe","args":["nope.BTCUSDT"]}', _conn("perp")).send
    assert set(json.loads(linear)) == set(doc) | {"req_id"}


# ==== 3. client protocol =================================================================================
CONN_ID = re.compile(r"^[0-9a-v]{20}-[0-9a-v]{4}$")


def test_declaration_matches_the_venue() -> None:
    assert sim_venue_class("bybit") is BybitSim
    assert set(BybitSim.ws_paths) == set(Bybit.default_endpoints.ws)
    for name, path in BybitSim.ws_paths.items():
        assert Bybit.default_endpoints.ws[name].endswith(path)
    assert BybitSim.client_idle_timeout_s == 600.0 and BybitSim.server_ping_interval_s is None
    sim = BybitSim(INSTS, _market())
    assert sim.server_ping() is None
    conn = _conn("perp")
    assert sim.on_open(conn).send == [] and sim.on_open(conn).subscribe == []


def test_subscribe_acks_per_market(sim: BybitSim) -> None:
    lin = _conn("perp")
    reply = sim.on_message(
        '{"op":"subscribe","req_id":1,"args":["publicTrade.BTCUSDT","tickers.BTCUSDT","publicTrade.BTCUSDT"]}', lin
    )
    (ack,) = reply.send
    a = json.loads(ack)
    assert CONN_ID.match(a.pop("conn_id"))
    assert a == {"success": True, "ret_msg": "", "req_id": "1", "op": "subscribe"}
    assert reply.subscribe == ["linear:publicTrade.BTCUSDT", "linear:tickers.BTCUSDT"]
    (ack2,) = sim.on_message('{"op":"subscribe","args":["kline.D.ETHUSDT"]}', lin).send
    assert json.loads(ack2)["req_id"] == "" and json.loads(ack2)["conn_id"] == json.loads(ack)["conn_id"]
    spot = _conn("spot")
    reply = sim.on_message(
        '{"op":"subscribe","req_id":"x7","args":["publicTrade.BTCUSDT","orderbook.200.BTCUSDT"]}', spot
    )
    s = json.loads(reply.send[0])
    assert (s["ret_msg"], s["req_id"], s["op"]) == ("subscribe", "x7", "subscribe")
    assert s["conn_id"] != json.loads(ack)["conn_id"]
    assert reply.subscribe == ["spot:publicTrade.BTCUSDT", "spot:orderbook.200.BTCUSDT"]
    (no_id,) = sim.on_message('{"op":"subscribe","args":["publicTrade.ETHUSDT"]}', spot).send
    assert "req_id" not in json.loads(no_id)


def test_unsubscribe(sim: BybitSim, venue: Bybit) -> None:
    for mkt, msg in (("perp", ""), ("spot", "unsubscribe")):
        conn = _conn(mkt)
        _subscribe(sim, conn, "publicTrade.BTCUSDT", "orderbook.50.BTCUSDT")
        reply = sim.on_message('{"op":"unsubscribe","req_id":3,"args":["publicTrade.BTCUSDT","tickers.BTCUSDT"]}', conn)
        assert reply.unsubscribe == [f"{CAT[mkt]}:publicTrade.BTCUSDT"]  # only what was subscribed
        (f,) = reply.send
        assert json.loads(f)["ret_msg"] == msg and json.loads(f)["op"] == "unsubscribe"
        assert venue.new_decoder(URL[mkt]).decode(f, 0) == [Control("unsubscribed", "3")]


def test_ping_pong_shapes(sim: BybitSim, venue: Bybit) -> None:
    lin, spot = _conn("perp"), _conn("spot")
    (p,) = sim.on_message('{"op":"ping"}', lin).send
    d = json.loads(p)
    assert CONN_ID.match(d.pop("conn_id")) and d == {"success": True, "ret_msg": "pong", "req_id": "", "op": "ping"}
    (p2,) = sim.on_message('{"req_id":"100001","op":"ping"}', lin).send
    assert json.loads(p2)["req_id"] == "100001"
    (p3,) = sim.on_message('{"op":"ping"}', spot).send
    d3 = json.loads(p3)
    assert set(d3) == {"success", "ret_msg", "conn_id", "op"} and (d3["ret_msg"], d3["op"]) == ("pong", "ping")
    for f, mkt in ((p, "perp"), (p2, "perp"), (p3, "spot")):
        assert venue.new_decoder(URL[mkt]).decode(f, 0) == [Control("pong")]
    assert sim.on_message('{"op":"ping"}', lin).subscribe == []


@pytest.mark.parametrize(
    ("mkt", "topic"),
    [
        ("perp", "nope.BTCUSDT"),
        ("perp", "publicTrade.NOPEUSDT"),
        ("perp", "publicTrade.btcusdt"),  # Bybit symbols are case-sensitive
        ("perp", "orderbook.500.BTCUSDT"),  # gone from linear; 1, 50, 200, 1000 remain
        ("perp", "orderbook.25.BTCUSDT"),
        ("perp", "orderbook.050.BTCUSDT"),
        ("perp", "kline.7.BTCUSDT"),
        ("perp", "tickers.BTCUSDT-26DEC25"),
        ("spot", "allLiquidation.BTCUSDT"),  # linear only
        ("spot", "orderbook.50.NOPEUSDT"),
    ],
)
def test_unknown_topic_or_symbol_is_refused(sim: BybitSim, venue: Bybit, mkt: str, topic: str) -> None:
    conn = _conn(mkt)
    reply = sim.on_message(
        json.dumps({"op": "subscribe", "req_id": "e1", "args": ["publicTrade.ETHUSDT", topic]}), conn
    )
    assert reply.subscribe == []  # the whole request fails
    (f,) = reply.send
    d = json.loads(f)
    assert (d["success"], d["ret_msg"], d["req_id"], d["op"]) == (
        False,
        f"error:handler not found,topic:{topic}",
        "e1",
        "subscribe",
    )
    assert venue.new_decoder(URL[mkt]).decode(f, 0) == [Control("error", f"error:handler not found,topic:{topic}")]


def test_already_subscribed_and_spot_arg_limit(sim: BybitSim) -> None:
    conn = _conn("perp")
    _subscribe(sim, conn, "orderbook.1.ETHUSDT")
    reply = sim.on_message('{"op":"subscribe","args":["orderbook.1.ETHUSDT"]}', conn)
    assert reply.subscribe == []
    assert json.loads(reply.send[0])["ret_msg"] == "error:already subscribed,topic:orderbook.1.ETHUSDT"
    spot = _conn("spot")
    args = [f"publicTrade.{b}USDT" for b in ("BTC", "ETH", "SOL", "XRP", "AR", "BRETT", "POPCAT", "WIF", "PNUT")]
    args += ["tickers.BTCUSDT", "tickers.ETHUSDT"]
    reply = sim.on_message(json.dumps({"op": "subscribe", "args": args}), spot)
    assert reply.subscribe == [] and json.loads(reply.send[0])["ret_msg"] == "args size >10"
    assert len(sim.on_message(json.dumps({"op": "subscribe", "args": args}), conn).subscribe) == 11  # linear: no cap


def test_invalid_op_and_junk(sim: BybitSim, venue: Bybit) -> None:
    conn = _conn("perp")
    (f,) = sim.on_message('{"op":"nope","req_id":"r"}', conn).send
    assert json.loads(f)["ret_msg"] == "error:invalid op" and json.loads(f)["success"] is False
    reply = sim.on_message("hello", conn)
    (j,) = reply.send
    assert json.loads(j)["ret_msg"].startswith("Failed to decode incoming data:") and not reply.close
    dec = venue.new_decoder(LINEAR_URL)
    assert [c.kind for c in dec.decode(f, 0) + dec.decode(j, 0)] == ["error", "error"]


def test_subscription_error_for_fault_injection(sim: BybitSim, venue: Bybit) -> None:
    f = sim.subscription_error('{"op":"subscribe","req_id":2,"args":["orderbook.50.BTCUSDT"]}', _conn("perp"))
    d = json.loads(f)
    assert (d["success"], d["req_id"], d["op"]) == (False, "2", "subscribe")
    assert venue.new_decoder(LINEAR_URL).decode(f, 0) == [
        Control("error", "error:handler not found,topic:orderbook.50.BTCUSDT")
    ]
    assert json.loads(sim.subscription_error("garbage", _conn("spot")))["success"] is False


# ---- REST ------------------------------------------------------------------------------------------
def test_rest_instruments_parsed_by_the_venue(sim: BybitSim, venue: Bybit) -> None:
    linear_url, spot_url = venue.instruments_urls()
    for url, market in ((linear_url, "perp"), (spot_url, "spot")):
        q = {"category": ["linear" if market == "perp" else "spot"]}
        resp = sim.rest("GET", "/v5/market/instruments-info", q, b"")
        assert resp is not None and resp.status == 200
        got = venue.parse_instruments(url, resp.body)
        want = [i for i in INSTS if i.market == market]
        assert sorted((i.native, i.symbol, i.market, i.base, i.quote, i.contract_size) for i in got) == sorted(
            (i.native, i.symbol, i.market, i.base, i.quote, i.contract_size) for i in want
        )
        assert all(i.tick_size for i in got)
    btc = sim.rest("GET", "/v5/market/instruments-info", {"category": ["linear"], "symbol": ["BTCUSDT"]}, b"")
    assert btc is not None and [r["symbol"] for r in json.loads(btc.body)["result"]["list"]] == ["BTCUSDT"]
    bad = sim.rest("GET", "/v5/market/instruments-info", {"category": ["inverse"]}, b"")
    assert bad is not None and json.loads(bad.body)["retCode"] == 10001
    with pytest.raises(DecodeError, match="rest_error"):
        venue.parse_instruments(linear_url, bad.body)
    assert sim.rest("GET", "/v5/market/nope", {}, b"") is None


def test_rest_orderbook(sim: BybitSim, market: FakeMarket) -> None:
    resp = sim.rest("GET", "/v5/market/orderbook", {"category": ["spot"], "symbol": ["BTCUSDT"], "limit": ["3"]}, b"")
    assert resp is not None
    r = json.loads(resp.body)["result"]
    seq = market.books[("spot", "BTCUSDT")]["seq"]
    assert (len(r["b"]), len(r["a"]), r["u"], r["seq"]) == (3, 3, seq + U_OFFSET[200], SEQ_BASE + seq)
    (bp, bq), (ap, _) = market.top("spot", "BTCUSDT")
    assert (float(r["b"][0][0]), float(r["b"][0][1]), float(r["a"][0][0])) == (bp, bq, ap)
    bad = sim.rest("GET", "/v5/market/orderbook", {"category": ["linear"], "symbol": ["NOPE"]}, b"")
    assert bad is not None and json.loads(bad.body)["retCode"] == 10001


# ==== 4. live loopback: the real session against the simulated venue ===================================
async def _until(cond, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_live_loopback_every_stream_both_markets() -> None:
    market = _market()
    srv = VenueServer(BybitSim(INSTS, market))
    await srv.start()
    sessions: list[WsSession] = []
    try:
        eps = srv.endpoints()
        venue = get_venue("bybit", registry=REG, endpoints=Endpoints(ws=eps["ws"], rest=eps["rest"]))
        async with aiohttp.ClientSession() as http:  # the collector's instruments request
            for url in venue.instruments_urls():
                async with http.get(url) as r:
                    assert len(venue.parse_instruments(url, await r.read())) == 9
        subs = []
        for mkt in ("perp", "spot"):
            inst = venue.instrument("BTCUSDT", mkt)
            for stream in sorted(venue.streams[mkt]):
                subs.append(Subscription(stream, inst, interval="1m" if stream == "candle" else None))
        plans = venue.plan_connections(subs)
        assert len(plans) == 2
        got: dict[str, list[Any]] = {"perp": [], "spot": []}
        engine = BookEngine()

        def on_items(sess: WsSession, items: list[Any]) -> None:
            for it in items:
                if isinstance(it, BookUpdate):
                    engine.apply(it)
                if not isinstance(it, Control):
                    got[it.market].append(it)

        for plan in plans:
            sessions.append(WsSession(venue, plan, on_items, backoff_base_s=0.05))
            sessions[-1].start()
        want = {
            f"{c}:{t}"
            for c, ts in (
                ("linear", ("publicTrade", "orderbook.1", "orderbook.50", "tickers", "kline.1", "allLiquidation")),
                ("spot", ("publicTrade", "orderbook.1", "orderbook.50", "tickers", "kline.1")),
            )
            for t in ts
        }
        want = {w + ".BTCUSDT" for w in want}
        await _until(lambda: want <= set(srv.subs))
        await _until(
            lambda: all((b := engine.book("bybit", "BTCUSDT", m)) is not None and b.valid for m in ("perp", "spot"))
        )
        t = T0 + 1_000 * MS
        items: list[Any] = []
        best_ask: dict[str, float] = {}
        for mkt in ("perp", "spot"):
            (bp, _), (ap, _) = market.top(mkt, "BTCUSDT")
            best_ask[mkt] = ap
            items += [
                Trade("bybit", mkt, "BTCUSDT", t, t, ap, 0.5, "buy", "1"),
                market.diff(mkt, "BTCUSDT", t, asks=[(ap, 0.0)]),
                market.bbo(mkt, "BTCUSDT", t),
                market.diff(mkt, "BTCUSDT", t + MS, bids=[(bp + 0.5, 1.25)]),
                market.bbo(mkt, "BTCUSDT", t + MS),
                Ticker24h("bybit", mkt, "BTCUSDT", t, t, ap, ap - 100, ap + 100, ap - 200, 10.0, 640_000.0),
                Candle("bybit", mkt, "BTCUSDT", t, t, "1m", T0, ap, ap, ap, ap, 0.5, 32_000.0),
            ]
        items += [
            MarkPrice("bybit", "perp", "BTCUSDT", t, t, 63970.0, 63971.0),
            Funding("bybit", "perp", "BTCUSDT", t, t, 0.0001, None, t + 3_600_000 * MS, 8.0),
            OpenInterest("bybit", "perp", "BTCUSDT", t, t, None, 50_000.0, 3.2e9),
            Liquidation("bybit", "perp", "BTCUSDT", t, t, "long", 63900.0, 0.1, 6390.0),
        ]
        srv.publish(items)
        kinds = {
            "perp": {Trade, BookUpdate, BBO, Ticker24h, Candle, MarkPrice, Funding, OpenInterest, Liquidation},
            "spot": {Trade, BookUpdate, BBO, Ticker24h, Candle},
        }
        await _until(lambda: all(kinds[m] <= {type(i) for i in got[m]} for m in kinds))
        await _until(
            lambda: all(
                engine.book("bybit", "BTCUSDT", m).seq == market.books[(m, "BTCUSDT")]["seq"] + U_OFFSET[50]
                for m in kinds
            )
        )
        for sess in sessions:
            assert sess.decode_errors.counts == {}
            assert sess.stats.errors_from_venue == 0
        for mkt in ("perp", "spot"):
            book = engine.book("bybit", "BTCUSDT", mkt)
            assert book is not None and book.valid and book.gaps == 0
            assert (book.best_bid(), book.best_ask()) == market.top(mkt, "BTCUSDT")
            trades = [i for i in got[mkt] if isinstance(i, Trade)]
            assert [(x.price, x.qty, x.side, x.trade_id, x.ts) for x in trades] == [(best_ask[mkt], 0.5, "buy", "1", t)]
        (liq,) = [i for i in got["perp"] if isinstance(i, Liquidation)]
        assert (liq.side, liq.qty) == ("long", 0.1)
        assert [i for i in got["perp"] if isinstance(i, OpenInterest)][-1].oi_base == 50_000.0
    finally:
        for sess in sessions:
            await sess.stop()
        await srv.stop()


def test_encode_speed(market: FakeMarket) -> None:
    """A rough guard on encode cost (the simulator must push >= 200k frames/s in total)."""
    import time

    sim = BybitSim(INSTS, market)
    _subscribe(sim, _conn("perp"), "orderbook.50.BTCUSDT")
    diffs = [
        market.diff("perp", "BTCUSDT", T0 + i * MS, bids=[(63974.5, 1.0 + i % 7)], asks=[(63976.0, 2.0)])
        for i in range(2000)
    ]
    bbos = [market.bbo("perp", "BTCUSDT", T0 + i * MS) for i in range(2000)]
    trades = [Trade("bybit", "perp", "BTCUSDT", T0 + i * MS, T0, 63975.5, 0.01, "buy", str(i)) for i in range(2000)]
    items = [x for trio in zip(diffs, bbos, trades, strict=True) for x in trio]
    t = time.perf_counter()
    n = sum(len(sim.encode(i)) for i in items)
    rate = n / (time.perf_counter() - t)
    assert n >= len(items) and rate > 50_000, rate


def test_frames_are_valid_json(sim: BybitSim, market: FakeMarket) -> None:
    _subscribe(sim, _conn("perp"), "orderbook.50.BTCUSDT", "orderbook.200.BTCUSDT", "orderbook.1000.BTCUSDT")
    items = [
        market.diff("perp", "BTCUSDT", T0, bids=[(63974.5, 1e-9)], asks=[(1e17, 2.0)]),
        market.bbo("perp", "BTCUSDT", T0),
    ]
    for it in items:
        for _, f in sim.encode(it):
            d = msgspec.json.decode(f)
            assert "e-" not in f and "e+" not in f, f
            assert isinstance(d, dict)
