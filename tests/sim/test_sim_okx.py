"""Simulated OKX v5: frames decode back to the same values (contracts -> base), have the real
frames' shape, the client protocol answers as OKX does (acks with connId, 60018 for a wrong
URL/channel/instId, text ping/pong), and a live loopback session keeps the book in sync."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.feed.book import Applied, BookEngine
from cryptoflow.feed.session import WsSession
from cryptoflow.sim.protocol import ConnState
from cryptoflow.sim.server import VenueServer
from cryptoflow.sim.venues.okx import OkxSim
from cryptoflow.symbols import InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import FULL_SNAPSHOTS, BookUpdate, Control, Endpoints, Item, Subscription, SyncMode

V = "okx"
MS = 1_000_000
T = 1_767_225_600_123_000_000  # ms-aligned: OKX carries milliseconds
SWAP, SPOT = "BTC-USDT-SWAP", "BTC-USDT"
PUBLIC, BUSINESS = "/ws/v5/public", "/ws/v5/business"


# ---- a tiny market ----------------------------------------------------------------------------
class _Book:
    def __init__(self, native: str, bids: dict[float, float], asks: dict[float, float]) -> None:
        self.native, self.bids, self.asks, self.seq = native, bids, asks, 1_000


class _Market:
    """Two books (BTC perp, ctVal 0.01 BTC, and BTC spot) that serve snapshots and make diffs."""

    def __init__(self) -> None:
        self.books = {
            ("perp", "BTCUSDT"): _Book(SWAP, {94999.9: 1.5, 94999.0: 2.0}, {95000.1: 0.7, 95001.0: 3.0}),
            ("spot", "BTCUSDT"): _Book(SPOT, {94990.0: 0.12345678}, {94991.5: 0.5}),
        }

    def diff(self, market: str, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> BookUpdate:
        b = self.books[(market, "BTCUSDT")]
        b.seq += 1
        for side, levels in ((b.bids, bids), (b.asks, asks)):
            for p, q in levels:
                side[p] = q
        s = b.seq
        return BookUpdate(V, market, "BTCUSDT", b.native, T + s * MS, T, bids, asks, False, FULL_SNAPSHOTS, s, s, s - 1)

    def top(self, market: str) -> tuple[tuple[float, float], tuple[float, float]]:
        b = self.books[(market, "BTCUSDT")]
        bid = max(p for p, q in b.bids.items() if q > 0)
        ask = min(p for p, q in b.asks.items() if q > 0)
        return (bid, b.bids[bid]), (ask, b.asks[ask])

    def book_snapshot(self, venue: str, market: str, symbol: str, depth: int) -> BookUpdate:
        b = self.books[(market, symbol)]
        bids = sorted(((p, q) for p, q in b.bids.items() if q > 0), reverse=True)[:depth]
        asks = sorted((p, q) for p, q in b.asks.items() if q > 0)[:depth]
        ts = T + b.seq * MS
        return BookUpdate(venue, market, symbol, b.native, ts, ts, bids, asks, True, FULL_SNAPSHOTS, b.seq, b.seq)


@pytest.fixture
def registry() -> InstrumentRegistry:
    return InstrumentRegistry.bundled()


@pytest.fixture
def sim(registry) -> OkxSim:
    return OkxSim(registry.instruments(V), _Market())


@pytest.fixture
def folder(samples) -> Path:
    return samples / "okx"


def _decode(frames: list[tuple[str, str]] | list[str], venue=None) -> list[Item]:
    dec = (venue or get_venue(V)).new_decoder()
    out: list[Item] = []
    for f in frames:
        text = f[1] if isinstance(f, tuple) else f
        out += dec.decode(text.encode(), 7)
    assert dec.errors.counts == {}
    return out


def _conn(sim: OkxSim, path: str = PUBLIC) -> ConnState:
    conn = ConnState(path=path)
    sim.on_open(conn)
    return conn


def _sub(*args: dict[str, str], op: str = "subscribe") -> str:
    return orjson.dumps({"op": op, "args": list(args)}).decode()


# ---- 1. round trip ----------------------------------------------------------------------------
def test_round_trip_every_stream(sim):
    items = [
        Trade(V, "perp", "BTCUSDT", T, 0, 95000.1, 0.25, "sell", "2832749635"),  # 25 contracts
        Trade(V, "spot", "BTCUSDT", T, 0, 94990.0, 0.00012345, "buy", "77"),
        BBO(V, "perp", "BTCUSDT", T, 0, 94999.9, 1.5, 95000.1, 0.7, 1_000),
        Ticker24h(V, "perp", "BTCUSDT", T, 0, 95000.0, 94000.0, 96000.0, 93000.0, 1234.56, 117e6),
        Ticker24h(V, "spot", "BTCUSDT", T, 0, 94990.0, 94100.0, 95500.0, 93100.0, 321.5, 30.5e6),
        Candle(V, "perp", "BTCUSDT", T, 0, "1m", T - T % 60_000_000_000, 1.0, 2.0, 0.5, 1.5, 10.0, 15.0, 7, True),
        Candle(V, "spot", "BTCUSDT", T, 0, "1m", T - T % 60_000_000_000, 1.0, 2.0, 0.5, 1.5, 2.5, 3.75, 3, False),
        MarkPrice(V, "perp", "BTCUSDT", T, 0, 95000.5, 94998.2),
        Funding(V, "perp", "BTCUSDT", T, 0, -0.00005, 0.0001, T + 3_600_000_000_000, 8.0),
        OpenInterest(V, "perp", "BTCUSDT", T, 0, None, 22161.13, 2.1e9),
        Liquidation(V, "perp", "BTCUSDT", T, 0, "long", 95010.0, 0.5, 47505.0),
    ]
    frames = [f for it in items for f in sim.encode(it)]
    assert [tp for tp, _ in frames] == [
        f"trades:{SWAP}", f"trades:{SPOT}", f"bbo-tbt:{SWAP}", f"tickers:{SWAP}", f"tickers:{SPOT}",
        f"candle1m:{SWAP}", f"candle1m:{SPOT}", "index-tickers:BTC-USDT", f"mark-price:{SWAP}",
        f"funding-rate:{SWAP}", f"open-interest:{SWAP}", "liquidation-orders:SWAP",
    ]  # fmt: skip
    t1, t2, b, tk, tks, c, cs, m, f, oi, lq = _decode(frames)
    assert isinstance(t1, Trade) and (t1.market, t1.price, t1.side, t1.trade_id, t1.ts) == (
        "perp", 95000.1, "sell", "2832749635", T,
    )  # fmt: skip
    assert t1.qty == pytest.approx(0.25) and '"sz":"25"' in frames[0][1]
    assert isinstance(t2, Trade) and (t2.market, t2.qty, t2.side) == ("spot", 0.00012345, "buy")
    assert isinstance(b, BBO) and (b.bid_price, b.ask_price, b.update_id) == (94999.9, 95000.1, 1_000)
    assert (b.bid_qty, b.ask_qty) == (pytest.approx(1.5), pytest.approx(0.7))
    assert isinstance(tk, Ticker24h) and (tk.last, tk.open, tk.high, tk.low) == (95000.0, 94000.0, 96000.0, 93000.0)
    assert tk.volume == 1234.56 and tk.quote_volume is None  # linear swaps: volCcy24h base, no quote volume
    assert '"vol24h":"123456"' in frames[3][1]  # contracts
    assert (tks.market, tks.volume, tks.quote_volume) == ("spot", 321.5, 30.5e6)
    assert isinstance(c, Candle) and (c.open, c.high, c.low, c.close, c.closed, c.interval) == (
        1.0, 2.0, 0.5, 1.5, True, "1m",
    )  # fmt: skip
    assert (c.volume, c.quote_volume, c.open_time) == (10.0, 15.0, T - T % 60_000_000_000)
    assert isinstance(cs, Candle) and (cs.market, cs.volume, cs.quote_volume, cs.closed) == ("spot", 2.5, 3.75, False)
    assert isinstance(m, MarkPrice) and (m.mark_price, m.index_price, m.ts) == (95000.5, 94998.2, T)
    assert isinstance(f, Funding) and (f.rate, f.predicted_rate, f.interval_hours) == (-0.00005, 0.0001, 8.0)
    assert f.next_funding_time == T + 3_600_000_000_000 and '"fundingRate":"-0.00005"' in frames[9][1]
    assert isinstance(oi, OpenInterest) and oi.oi_base == 22161.13 and oi.oi_notional == 2.1e9
    assert oi.oi_contracts == 2216113.0
    assert isinstance(lq, Liquidation) and (lq.side, lq.price) == ("long", 95010.0)
    assert lq.qty == pytest.approx(0.5) and lq.notional == pytest.approx(47505.0)


def test_contract_rounding_never_sends_a_live_level_as_zero(sim):
    tiny = BBO(V, "perp", "BTCUSDT", T, 0, 94999.9, 0.00001, 95000.1, 0.0123, 5)  # 0.001 and 1.23 contracts
    (frame,) = sim.encode(tiny)
    data = orjson.loads(frame[1])["data"][0]
    assert data["bids"][0][1] == "0.01" and data["asks"][0][1] == "1.23"  # one lot at least; 0.01 lot
    spot = BBO(V, "spot", "BTCUSDT", T, 0, 94990.0, 0.00001, 94991.5, 0.5, 5)
    assert orjson.loads(sim.encode(spot)[0][1])["data"][0]["bids"][0][1] == "0.00001"  # base units, no exponent


def test_books_snapshot_then_diffs_sync_with_same_top(sim):
    market: _Market = sim.market  # type: ignore[assignment]
    conn = _conn(sim)
    for mkt, native in (("perp", SWAP), ("spot", SPOT)):
        frames = sim.on_subscribed(f"books:{native}", conn)
        frames += [f for _, f in sim.encode(market.diff(mkt, [(94999.95 if mkt == "perp" else 94990.5, 0.4)], []))]
        bid, ask = market.top(mkt)
        frames += [f for _, f in sim.encode(market.diff(mkt, [], [(ask[0], 0.0)]))]  # delete the best ask
        frames += [f for _, f in sim.encode(market.diff(mkt, [(bid[0], 0.0)], [(95000.3, 0.05)]))]
        ups = [u for u in _decode(frames) if _books(u)]
        snap, *diffs = ups
        assert snap.snapshot and snap.prev_seq == -1 and snap.seq == 1_000
        assert [(d.prev_seq, d.seq) for d in diffs] == [(1_000, 1_001), (1_001, 1_002), (1_002, 1_003)]
        engine = BookEngine()
        assert [engine.apply(u) for u in ups] == [Applied.APPLIED] * 4
        book = engine.book(V, native, mkt)
        assert book.valid and book.gaps == 0
        (bp, bq), (ap, aq) = market.top(mkt)
        assert book.best_bid() == (bp, pytest.approx(bq)) and book.best_ask() == (ap, pytest.approx(aq))
        first = orjson.loads(frames[0])["data"][0]
        assert (first["checksum"], first["prevSeqId"], first["seqId"]) == (0, -1, 1_000)


def test_books5_full_snapshots_at_most_every_100ms(sim):
    market: _Market = sim.market  # type: ignore[assignment]
    frames = sim.encode(market.diff("perp", [(94999.95, 0.4)], []))
    frames += sim.encode(market.diff("perp", [(94999.96, 0.4)], []))  # 1 ms later: no books5
    assert [tp for tp, _ in frames] == [f"books:{SWAP}", f"books5:{SWAP}", f"books:{SWAP}"]
    (b5,) = _decode([frames[1]])
    assert (
        b5.snapshot and b5.sync == FULL_SNAPSHOTS and b5.seq == 1_001 and b5.bids[0] == (94999.95, pytest.approx(0.4))
    )


def test_gap_shows_as_broken_prev_seq_id(sim):
    """A diff the client never got (the server's gap fault) breaks the prevSeqId chain."""
    market: _Market = sim.market  # type: ignore[assignment]
    engine = BookEngine()
    for u in _decode(sim.on_subscribed(f"books:{SWAP}", _conn(sim))):
        engine.apply(u)
    sim.encode(market.diff("perp", [(94999.95, 0.4)], []))  # dropped
    (upd,) = [u for u in _decode(sim.encode(market.diff("perp", [(94999.96, 0.4)], []))) if _books(u)]
    assert engine.apply(upd) == Applied.GAP
    for u in _decode(sim.on_subscribed(f"books:{SWAP}", _conn(sim))):  # resubscribe: fresh snapshot
        engine.apply(u)
    assert engine.book(V, SWAP).valid and engine.book(V, SWAP).resyncs == 1


# ---- 2. frame shapes against the real captures -------------------------------------------------------
def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    return "null" if v is None else type(v).__name__


def shape_diff(sim: Any, real: Any, path: str = "$", extra_ok: frozenset[str] = frozenset()) -> list[str]:
    """Differences in key sets and JSON value types, recursively; every element of a simulated
    list is compared with the real list's first element."""
    if isinstance(sim, dict) and isinstance(real, dict):
        out = [f"{path}: missing {k!r}" for k in real.keys() - sim.keys()]
        out += [f"{path}: extra {k!r}" for k in sim.keys() - real.keys() - extra_ok]
        for k in sim.keys() & real.keys():
            out += shape_diff(sim[k], real[k], f"{path}.{k}", extra_ok)
        return out
    if isinstance(sim, list) and isinstance(real, list):
        if real:
            return [d for i, x in enumerate(sim) for d in shape_diff(x, real[0], f"{path}[{i}]", extra_ok)]
        return []
    return [] if _kind(sim) == _kind(real) else [f"{path}: {_kind(sim)} vs {_kind(real)}"]


def _jsonl(path: Path) -> list[Any]:
    return [orjson.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _cf(folder: Path, needle: str) -> Any:
    for line in (folder / "cryptofeed__OKX.ws.1.0").read_text().splitlines():
        if needle in line and not line.startswith("wss://"):
            return orjson.loads(line.split(": ", 1)[1])
    raise AssertionError(needle)


def test_frames_have_the_real_shape(sim, folder):
    market: _Market = sim.market  # type: ignore[assignment]
    conn = _conn(sim)

    def one(item) -> Any:
        (frame,) = sim.encode(item)
        return orjson.loads(frame[1])

    ack, trade, _ = _jsonl(folder / "ccxt_static__swap_trades_BTC-USDT-SWAP.recv.jsonl")
    _, ticker, _ = _jsonl(folder / "ccxt_static__swap_tickers_BTC-USDT-SWAP.recv.jsonl")
    candle_ack, candle, _ = _jsonl(folder / "ccxt_static__business_candle1m_BTC-USDT.recv.jsonl")
    docs = folder / "docs_derived"
    open_t = T - T % 60_000_000_000
    sim_ack = orjson.loads(sim.on_message(_sub({"channel": "trades", "instId": SWAP}), conn).send[0])
    sim.encode(BBO(V, "perp", "BTCUSDT", T, 0, 94999.9, 1.5, 95000.1, 0.7, 1_000))  # feeds the ticker
    sim.encode(Trade(V, "perp", "BTCUSDT", T, 0, 95000.1, 0.25, "sell", "1"))
    books_update = [f for tp, f in sim.encode(market.diff("perp", [(94999.95, 0.4)], [])) if tp.startswith("books:")]
    pairs = [
        ("ack", sim_ack, ack),
        ("candle ack", orjson.loads(_conn_ack(sim, candle_ack["arg"])), candle_ack),
        ("trades", one(Trade(V, "perp", "BTCUSDT", T, 0, 95000.1, 0.25, "sell", "2832749635")), trade),
        ("tickers swap", one(Ticker24h(V, "perp", "BTCUSDT", T, 0, 95000.0, 94000.0, 96000.0, 93000.0, 12.5, 1e6)),
         ticker),
        ("tickers spot", one(Ticker24h(V, "spot", "BTCUSDT", T, 0, 95000.0, 94000.0, 96000.0, 93000.0, 12.5, 1e6)),
         _cf(folder, '"instType":"SPOT","instId":"BTC-USDT","last":"30236"')),
        ("candle1m", one(Candle(V, "spot", "BTCUSDT", T, 0, "1m", open_t, 1.0, 2.0, 0.5, 1.5, 2.5, 3.75, 3, False)),
         candle),
        # docs_derived only where no real capture exists (books with seqId, bbo-tbt, funding-rate)
        ("books snapshot", orjson.loads(sim.on_subscribed(f"books:{SWAP}", conn)[0]),
         orjson.loads((docs / "nautilus__ws_books_snapshot.json").read_bytes())),
        ("books update", orjson.loads(books_update[0]),
         orjson.loads((docs / "nautilus__ws_books_update.json").read_bytes())),
        ("bbo-tbt", one(BBO(V, "perp", "BTCUSDT", T, 0, 94999.9, 1.5, 95000.1, 0.7, 1_001)),
         orjson.loads((docs / "nautilus__ws_bbo_tbt.json").read_bytes())),
        ("funding-rate", one(Funding(V, "perp", "BTCUSDT", T, 0, 0.0001, None, T + 3_600_000_000_000, 8.0)),
         orjson.loads((docs / "nautilus__ws_funding_rate.json").read_bytes())),
    ]  # fmt: skip
    for name, got, real in pairs:
        assert shape_diff(got, real) == [], name
    # the real 2022 books frames: same keys and types, plus the seqId/prevSeqId OKX added in 2023
    seq_keys = frozenset(("seqId", "prevSeqId"))
    real_snap = _cf(folder, '"instId":"UNI-USD-SWAP"},"action":"snapshot"')
    real_update = _cf(folder, '"instId":"UNI-USD-SWAP"},"action":"update"')
    assert shape_diff(pairs[6][1], real_snap, extra_ok=seq_keys) == []
    assert shape_diff(pairs[7][1], real_update, extra_ok=seq_keys) == []


def _conn_ack(sim: OkxSim, arg: dict[str, str]) -> str:
    return sim.on_message(_sub(arg), _conn(sim, BUSINESS)).send[0]


def test_channels_without_samples_carry_the_documented_fields(sim):
    """mark-price, index-tickers, open-interest and liquidation-orders: no capture exists, so the
    field lists of OKX's v5 docs (every value a string, as OKX sends them)."""
    frames = dict(sim.encode(MarkPrice(V, "perp", "BTCUSDT", T, 0, 95000.5, 94998.2)))
    frames |= dict(sim.encode(OpenInterest(V, "perp", "BTCUSDT", T, 0, None, 22161.13, 2.1e9)))
    frames |= dict(sim.encode(Liquidation(V, "perp", "BTCUSDT", T, 0, "short", 95010.0, 0.5, 47505.0)))
    expected = {
        f"mark-price:{SWAP}": {"instType", "instId", "markPx", "ts"},
        "index-tickers:BTC-USDT": {"instId", "idxPx", "high24h", "low24h", "open24h", "sodUtc0", "sodUtc8", "ts"},
        f"open-interest:{SWAP}": {"instType", "instId", "oi", "oiCcy", "oiUsd", "ts"},
        "liquidation-orders:SWAP": {"details", "instFamily", "instId", "instType", "uly"},
    }
    for topic, keys in expected.items():
        (row,) = orjson.loads(frames[topic])["data"]
        assert set(row) == keys, topic
        assert all(isinstance(v, str) for k, v in row.items() if k != "details"), topic
    (detail,) = orjson.loads(frames["liquidation-orders:SWAP"])["data"][0]["details"]
    assert detail == {"bkLoss": "0", "bkPx": "95010", "ccy": "", "posSide": "short", "side": "buy", "sz": "50",
                      "ts": str(T // MS)}  # fmt: skip


# ---- 3. client protocol -----------------------------------------------------------------------------
def test_subscribe_ack_unsubscribe_ping_and_errors(sim):
    conn = _conn(sim)
    conn_id = conn.data["connId"]
    assert len(conn_id) == 8 and sim.on_open(ConnState(path=PUBLIC)).send == []  # OKX says nothing on connect
    reply = sim.on_message(_sub({"channel": "books", "instId": SWAP}, {"channel": "tickers", "instId": SPOT}), conn)
    assert reply.subscribe == [f"books:{SWAP}", f"tickers:{SPOT}"]
    assert orjson.loads(reply.send[0]) == {
        "event": "subscribe", "arg": {"channel": "books", "instId": SWAP}, "connId": conn_id,
    }  # fmt: skip
    assert _decode(reply.send) == [Control("ack", f"books:{SWAP}"), Control("ack", f"tickers:{SPOT}")]

    reply = sim.on_message(_sub({"channel": "books", "instId": SWAP}, op="unsubscribe"), conn)
    assert reply.unsubscribe == [f"books:{SWAP}"] and reply.subscribe == []
    assert _decode(reply.send) == [Control("unsubscribed", f"books:{SWAP}")]

    assert sim.on_message("ping", conn).send == ["pong"]
    assert _decode(["pong"]) == [Control("pong")]

    # candles live on /business: OKX's 60018 on /public, one error per bad arg, good args still acked
    reply = sim.on_message(_sub({"channel": "candle1m", "instId": SWAP}, {"channel": "trades", "instId": SWAP}), conn)
    assert reply.subscribe == [f"trades:{SWAP}"]
    err = orjson.loads(reply.send[0])
    assert err == {
        "event": "error",
        "msg": f"Wrong URL or channel:candle1m,instId:{SWAP} doesn't exist. Please use the correct URL, "
        "channel and parameters referring to API document.",
        "code": "60018",
        "connId": conn_id,
    }
    assert _decode(reply.send[:1])[0].kind == "error"
    business = _conn(sim, BUSINESS)
    assert sim.on_message(_sub({"channel": "candle1m", "instId": SWAP}), business).subscribe == [f"candle1m:{SWAP}"]
    assert sim.on_message(_sub({"channel": "trades", "instId": SWAP}), business).subscribe == []  # not on /business

    for bad in (
        {"channel": "trades", "instId": "FOO-USDT-SWAP"},  # unknown instrument
        {"channel": "funding-rate", "instId": SPOT},  # SWAP channel, spot instrument
        {"channel": "index-tickers", "instId": "FOO-USDT"},
        {"channel": "nope", "instId": SWAP},
        {"channel": "liquidation-orders", "instType": "SPOT"},
    ):
        reply = sim.on_message(_sub(bad), conn)
        assert reply.subscribe == [] and orjson.loads(reply.send[0])["code"] == "60018", bad
    assert sim.on_message(_sub({"channel": "liquidation-orders", "instType": "SWAP"}), conn).subscribe == [
        "liquidation-orders:SWAP"
    ]
    assert sim.on_message(_sub({"channel": "index-tickers", "instId": "BTC-USDT"}), conn).subscribe == [
        "index-tickers:BTC-USDT"
    ]

    junk = orjson.loads(sim.on_message("hello", conn).send[0])
    assert (junk["event"], junk["code"], junk["msg"]) == ("error", "60012", "Invalid request: hello")
    assert orjson.loads(sim.on_message('{"op":"subscr","args":[]}', conn).send[0])["code"] == "60019"
    assert orjson.loads(sim.on_message('{"op":"subscribe","args":[]}', conn).send[0])["code"] == "60013"
    refused = sim.subscription_error(_sub({"channel": "trades", "instId": SWAP}), conn)
    assert _decode([refused]) == [Control("error", "60014: Requests too frequent.")]


def test_latest_values_are_pushed_on_subscribe(sim):
    conn = _conn(sim)
    assert sim.on_subscribed(f"tickers:{SWAP}", conn) == []  # nothing known yet
    (frame,) = sim.encode(Ticker24h(V, "perp", "BTCUSDT", T, 0, 95000.0, 94000.0, 96000.0, 93000.0, 12.5, 1e6))
    assert sim.on_subscribed(f"tickers:{SWAP}", conn) == [frame[1]]
    assert sim.on_subscribed(f"trades:{SWAP}", conn) == []  # trades are never replayed


def test_heartbeat_rules():
    assert OkxSim.client_idle_timeout_s == 30.0 and OkxSim.server_ping_interval_s is None
    assert set(OkxSim.ws_paths) == set(get_venue(V).default_endpoints.ws)


def test_rest_instruments_and_books(sim, registry):
    venue = get_venue(V)
    for url in venue.instruments_urls():
        path, _, query = url.removeprefix(venue.endpoints.rest).partition("?")
        resp = sim.rest("GET", path, {"instType": [query.split("=")[1]]}, b"")
        assert resp is not None and resp.status == 200
        got = venue.parse_instruments(url, resp.body)
        kind = "perp" if "SWAP" in url else "spot"
        want = [i for i in registry.instruments(V) if i.market == kind]
        assert {(i.native, i.symbol, i.contract_type, i.contract_size) for i in got} == {
            (i.native, i.symbol, i.contract_type, i.contract_size) for i in want
        }
    assert sim.rest("GET", "/api/v5/public/instruments", {}, b"").status == 400
    body = orjson.loads(sim.rest("GET", "/api/v5/market/books", {"instId": [SWAP], "sz": ["1"]}, b"").body)
    assert body["code"] == "0" and body["data"][0]["bids"] == [["94999.9", "150", "0", "1"]]
    assert sim.rest("GET", "/api/v5/market/books", {"instId": ["FOO"]}, b"").status == 400
    assert sim.rest("GET", "/api/v5/market/tickers", {}, b"") is None


# ---- 4. live loopback -------------------------------------------------------------------------------
async def _until(cond, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_live_loopback_every_stream(registry):
    market = _Market()
    server = VenueServer(OkxSim(registry.instruments(V), market))
    await server.start()
    eps = server.endpoints()
    venue = get_venue(V, registry=registry, endpoints=Endpoints(ws=eps["ws"], rest=eps["rest"]))
    perp, spot = venue.instrument("BTCUSDT"), venue.instrument("BTCUSDT", "spot")
    subs = [Subscription(k, perp) for k in ("trade", "bbo", "book", "mark_price", "funding", "open_interest",
                                             "liquidation", "ticker")]  # fmt: skip
    subs += [Subscription("candle", perp, interval="1m"), Subscription("book", spot), Subscription("trade", spot)]
    got: list[Item] = []
    sessions = [
        WsSession(venue, plan, lambda s, items: got.extend(items), backoff_base_s=0.05)
        for plan in venue.plan_connections(subs)
    ]
    assert len(sessions) == 3  # public, business (candles), liquidation-orders on its own
    try:
        for s in sessions:
            s.start()
        topics = {f"{c}:{SWAP}" for c in ("trades", "bbo-tbt", "books", "mark-price", "funding-rate",
                                          "open-interest", "tickers", "candle1m")}  # fmt: skip
        topics |= {"index-tickers:BTC-USDT", "liquidation-orders:SWAP", f"books:{SPOT}", f"trades:{SPOT}"}
        await _until(lambda: topics <= set(server.subs))
        await _until(lambda: sum(isinstance(i, BookUpdate) for i in got) == 2)  # both snapshots
        server.publish([
            market.diff("perp", [(94999.95, 0.4)], []),
            BBO(V, "perp", "BTCUSDT", T, 0, 94999.95, 0.4, 95000.1, 0.7, 1_001),
            Trade(V, "perp", "BTCUSDT", T, 0, 95000.1, 0.25, "buy", "11"),
            market.diff("perp", [], [(95000.1, 0.0)]),
            market.diff("spot", [(94990.5, 0.25)], []),
            Trade(V, "spot", "BTCUSDT", T, 0, 94991.5, 0.001, "sell", "12"),
            MarkPrice(V, "perp", "BTCUSDT", T, 0, 95000.5, 94998.2),
            Funding(V, "perp", "BTCUSDT", T, 0, 0.0001, None, T + 3_600_000_000_000, 8.0),
            OpenInterest(V, "perp", "BTCUSDT", T, 0, None, 22161.13, 2.1e9),
            Liquidation(V, "perp", "BTCUSDT", T, 0, "short", 95010.0, 0.5, 47505.0),
            Ticker24h(V, "perp", "BTCUSDT", T, 0, 95000.0, 94000.0, 96000.0, 93000.0, 12.5, 1e6),
            Candle(V, "perp", "BTCUSDT", T, 0, "1m", T - T % 60_000_000_000, 1.0, 2.0, 0.5, 1.5, 10.0, 15.0, 7, True),
        ])  # fmt: skip
        kinds = (Trade, BBO, MarkPrice, Funding, OpenInterest, Liquidation, Ticker24h, Candle)
        await _until(lambda: all(any(type(i) is k for i in got) for k in kinds) and _count(got, Trade) == 2)
        await _until(lambda: _count(got, BookUpdate) >= 5)
        assert all(s.decode_errors.counts == {} for s in sessions)
        engine = BookEngine()
        for u in got:
            if _books(u):
                assert engine.apply(u) == Applied.APPLIED
        for mkt, native in (("perp", SWAP), ("spot", SPOT)):
            book = engine.book(V, native, mkt)
            (bp, bq), (ap, aq) = market.top(mkt)
            assert book.valid and book.gaps == 0
            assert book.best_bid() == (bp, pytest.approx(bq)) and book.best_ask() == (ap, pytest.approx(aq))
        (mark,) = [i for i in got if isinstance(i, MarkPrice)]
        assert (mark.mark_price, mark.index_price) == (95000.5, 94998.2)
        (liq,) = [i for i in got if isinstance(i, Liquidation)]
        assert liq.side == "short" and liq.qty == pytest.approx(0.5)

        # a dropped diff (gap fault) breaks the chain; resubscribing brings a fresh snapshot
        server.inject("gap")
        server.publish([market.diff("perp", [(94999.0, 2.5)], []), market.diff("perp", [(94999.1, 0.2)], [])])
        await _until(lambda: _count(got, BookUpdate) >= 6)
        after_gap = [u for u in got if _books(u)][-1]
        assert (after_gap.prev_seq, after_gap.seq) == (1_003, 1_004) and engine.apply(after_gap) == Applied.GAP
        (main,) = [s for s in sessions if any(x.stream == "book" for x in s.subscriptions)]
        n = _count(got, BookUpdate)
        main.resubscribe([Subscription("book", perp)])
        await _until(lambda: _count(got, BookUpdate) > n)
        snap = [u for u in got if _books(u)][-1]
        assert snap.snapshot and snap.seq == 1_004
        assert engine.apply(snap) == Applied.APPLIED and engine.book(V, SWAP).resyncs == 1
        assert server.faults.done["gap"] == 1 and all(s.decode_errors.counts == {} for s in sessions)
    finally:
        for s in sessions:
            await s.stop()
        await server.stop()


def _books(u: Item) -> bool:
    """A ``books`` update (stream-synced), not a books5 full snapshot."""
    return isinstance(u, BookUpdate) and u.sync.mode == SyncMode.STREAM_SEQ


def _count(items: list[Item], kind: type) -> int:
    return sum(isinstance(i, kind) for i in items)
