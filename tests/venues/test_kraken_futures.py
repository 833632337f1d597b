"""Kraken Futures: real frames field by field, replay of every sample, gaps, errors, subscribe shapes.

Real traffic: ../shared/venue-samples/kraken_futures/cryptofeed__KRAKEN_FUTURES.* (2021, inverse PI_/FI_
products only). docs_derived/ holds Kraken documentation examples (not traffic). Frames for PF_ (linear)
products are constructed below in the documented shape and marked as such: no capture has them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cryptoflow.errors import DecodeError, VenueError
from cryptoflow.events import BBO, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.feed.book import Applied
from cryptoflow.feed.capture_convert import convert_files, sample_groups
from cryptoflow.feed.replay import Replayer
from cryptoflow.symbols import DEFAULT_SYMBOLS, Instrument, InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import BookUpdate, Control, Link, Subscription, SyncMode
from cryptoflow.venues.kraken_futures.instruments import infer

MS = 1_000_000
V = "kraken_futures"
SESSION = "cryptofeed__KRAKEN_FUTURES"


@pytest.fixture
def kf():
    return get_venue(V, registry=InstrumentRegistry.bundled())


def _ws(samples: Path) -> Path:
    return samples / V / f"{SESSION}.ws.1.0"


def _frame(path: Path, needle: str) -> bytes:
    """The first RECEIVED frame containing ``needle`` (sent lines start with the url)."""
    for line in path.read_text().splitlines():
        if needle in line and not line.startswith("wss://"):
            return line.split(": ", 1)[1].encode()
    raise AssertionError(f"{needle} not in {path}")


def _records(samples: Path) -> list:
    return convert_files(sample_groups(samples / V)[SESSION], V)


# ---- real frames ----------------------------------------------------------------------------------
def test_real_book_frames_field_by_field(kf, samples):
    dec = kf.new_decoder()
    raw = _frame(_ws(samples), '"book_snapshot","product_id":"PI_XRPUSD"')
    (snap,) = dec.decode(raw, 5)
    body = json.loads(raw)
    assert isinstance(snap, BookUpdate) and snap.snapshot
    assert (snap.venue, snap.market, snap.symbol, snap.instrument) == (V, "perp", "XRPUSD", "PI_XRPUSD")
    assert (snap.seq, snap.first_seq, snap.prev_seq) == (3456139, 3456139, -1)
    assert (snap.ts, snap.ts_recv) == (1626994927035 * MS, 5)
    assert snap.sync.mode == SyncMode.STREAM_SEQ and snap.sync.link == Link.NEXT
    # inverse contracts are 1 USD: base quantity = contracts / level price
    assert snap.bids[0] == (0.5881, 320.0 / 0.5881)
    assert snap.bids == [(lv["price"], lv["qty"] / lv["price"]) for lv in body["bids"]]
    assert snap.asks == [(lv["price"], lv["qty"] / lv["price"]) for lv in body["asks"]]

    (delta,) = dec.decode(_frame(_ws(samples), '"feed":"book","product_id":"PI_ETHUSD"'), 6)
    assert isinstance(delta, BookUpdate) and not delta.snapshot
    assert (delta.symbol, delta.instrument, delta.seq, delta.first_seq, delta.prev_seq) == (
        "ETHUSD",
        "PI_ETHUSD",
        26660860,
        26660860,
        -1,
    )
    assert delta.bids == [] and delta.asks == [(2004.85, 4787.0 / 2004.85)]  # side "sell" = ask
    assert delta.ts == 1626994927744 * MS
    assert dec.errors.total == 0


def test_real_trade_frames_field_by_field(kf, samples):
    dec = kf.new_decoder()
    (trade,) = dec.decode(_frame(_ws(samples), '"uid":"e2429e31-8b9d-4195-900e-fd42be2dec89"'), 7)
    assert trade == Trade(
        V,
        "perp",
        "LTCUSD",
        1626994929946 * MS,
        7,
        119.44,
        320.0 / 119.44,
        "buy",
        "e2429e31-8b9d-4195-900e-fd42be2dec89",
    )
    snap = dec.decode(_frame(_ws(samples), '"trade_snapshot","product_id":"PI_LTCUSD"'), 8)
    assert len(snap) == 100 and all(isinstance(t, Trade) and t.symbol == "LTCUSD" for t in snap)
    # the snapshot lists newest first; events come out oldest first (seq 5856 .. 5955, the live trade is 5956)
    first, last = snap[0], snap[-1]
    assert (first.trade_id, first.ts, first.price, first.qty, first.side) == (
        "0ae9455d-7199-4f34-a8da-f665f8eb123a",
        1626992877887 * MS,
        119.5,
        600.0 / 119.5,
        "buy",
    )
    assert (last.trade_id, last.ts, last.qty) == (
        "1be159ba-b8d9-4c62-bd1d-45bbeb70b321",
        1626994889337 * MS,
        320.0 / 119.35,
    )
    assert [t.ts for t in snap] == sorted(t.ts for t in snap)
    assert dec.errors.total == 0


def test_real_control_and_unused_frames(kf, samples):
    dec = kf.new_decoder()
    assert dec.decode(_frame(_ws(samples), '{"event":"info"'), 1) == [Control("info", "version 1")]
    ack = _frame(_ws(samples), '{"event":"subscribed","feed":"book","product_ids":["PI_XRPUSD"]}')
    assert dec.decode(ack, 2) == [Control("ack", "book PI_XRPUSD")]
    # ticker_lite has bid/ask without sizes and no last price: recognised, not used
    assert dec.decode(_frame(_ws(samples), '"feed":"ticker_lite","product_id":"PI_XRPUSD"'), 3) == []
    assert dec.unknown_frames == 1 and dec.errors.total == 0


def test_rest_instruments_2021_body(kf, samples):
    line = (samples / V / f"{SESSION}.0").read_text().splitlines()[0]
    url, body = line.split(" -> ", 1)[0], line.split(": ", 1)[1].encode()
    assert kf.instruments_urls() == [url]
    insts = {i.native: i for i in kf.parse_instruments(url, body)}
    assert len(insts) == 17  # 5 PI_ + 12 FI_; the 10 spot indices are left out
    assert insts["PI_XBTUSD"] == Instrument(V, "PI_XBTUSD", "BTCUSD", "perp", "BTC", "USD", "inverse", 1.0, 0.5)
    assert insts["FI_XBTUSD_210924"] == Instrument(
        V, "FI_XBTUSD_210924", "BTCUSD_210924", "perp", "BTC", "USD", "inverse", 1.0, 0.5
    )
    assert insts["PI_XRPUSD"].tick_size == 0.0001
    assert kf.parse_instruments("https://futures.kraken.com/derivatives/api/v3/tickers", body) == []


def test_rest_instruments_multi_collateral_body(kf):
    """Constructed body in the v3 shape of today's PF_/FF_ entries (type flexible_futures, base/quote)."""
    body = (
        b'{"result":"success","serverTime":"2026-01-01T00:00:00.000Z","instruments":['
        b'{"symbol":"PF_XBTUSD","type":"flexible_futures","base":"BTC","quote":"USD","pair":"BTC:USD",'
        b'"tickSize":1,"contractSize":1,"tradeable":true,"contractValueTradePrecision":4},'
        b'{"symbol":"FF_XBTUSD_260227","type":"flexible_futures","base":"BTC","quote":"USD","tickSize":1,'
        b'"contractSize":1,"tradeable":true,"lastTradingTime":"2026-02-27T16:00:00.000Z"},'
        b'{"symbol":"in_xbtusd","type":"spot index","tradeable":false}]}'
    )
    pf, ff = kf.parse_instruments(kf.instruments_urls()[0], body)
    assert pf == Instrument(V, "PF_XBTUSD", "BTCUSDT", "perp", "BTC", "USD", "linear", 1.0, 1.0)
    assert (ff.symbol, ff.contract_type) == ("BTCUSDT_260227", "linear")
    with pytest.raises(VenueError, match="apiLimitExceeded"):
        kf.parse_instruments(kf.instruments_urls()[0], b'{"result":"error","error":"apiLimitExceeded"}')


# ---- documentation examples (docs_derived: not live traffic) -----------------------------------------
def test_docs_ticker_example(kf, samples):
    dec = kf.new_decoder()
    items = dec.decode((samples / V / "docs_derived" / "nautilus__ws_futures_ticker.json").read_bytes(), 9)
    ts = 1676393235406 * MS
    mark = 21979.68641534714
    assert items == [
        MarkPrice(V, "perp", "BTCUSD", ts, 9, mark, 21984.54),
        # relative_funding_rate is the rate; funding_rate (-6.26e-11 BTC per USD contract) is an amount
        Funding(V, "perp", "BTCUSD", ts, 9, -1.380384722222e-6, -8.047629166667e-6, 1676394000000 * MS, 1.0),
        OpenInterest(V, "perp", "BTCUSD", ts, 9, 30072580.0, 30072580.0 / mark, 30072580.0),
        BBO(V, "perp", "BTCUSD", ts, 9, 21978.5, 2536.0 / 21978.5, 21987.0, 13948.0 / 21987.0),
        # change is the 24h change in percent; volume is in USD contracts (base amount unknown)
        Ticker24h(
            V, "perp", "BTCUSD", ts, 9, 21983.5, 21968.5, 22123.0, 21456.0, None, 31403908.0, 15.0, 1.9974017538161748
        ),
    ]


def test_docs_book_and_trade_examples(kf, samples):
    docs = samples / V / "docs_derived"
    dec = kf.new_decoder()
    (snap,) = dec.decode((docs / "nautilus__ws_futures_book_snapshot.json").read_bytes(), 1)
    assert snap.snapshot and snap.seq == 326072249 and snap.ts == 1612269825817 * MS
    assert snap.bids == [(34892.5, 6385 / 34892.5), (34892.0, 10924 / 34892.0)]
    assert snap.asks == [(34911.5, 20598 / 34911.5), (34912.0, 2300 / 34912.0)]
    (delta,) = dec.decode((docs / "nautilus__ws_futures_book_delta.json").read_bytes(), 2)
    assert (delta.seq, delta.bids, delta.asks) == (326094134, [], [(34981.0, 0.0)])  # qty 0 removes the level
    (trade,) = dec.decode((docs / "nautilus__ws_futures_trade.json").read_bytes(), 3)
    assert trade == Trade(
        V,
        "perp",
        "BTCUSD",
        1612266317519 * MS,
        3,
        34969.5,
        15000 / 34969.5,
        "sell",
        "05af78ac-a774-478c-a50c-8b9c234e071e",
    )
    older, newer = dec.decode((docs / "nautilus__ws_futures_trade_snapshot.json").read_bytes(), 4)
    assert (older.trade_id, newer.trade_id) == (
        "45ee9737-1877-4682-bc68-e4ef818ef88a",
        "caa9c653-420b-4c24-a9f1-462a054d86f1",
    )


# ---- PF_ (linear) products: constructed frames in the documented shape --------------------------------
def test_linear_pf_frames_constructed(kf):
    dec = kf.new_decoder()
    (d,) = dec.decode(
        b'{"feed":"book","product_id":"PF_XBTUSD","side":"buy","seq":7,"price":97000.5,"qty":0.5,"timestamp":1}', 1
    )
    assert (d.symbol, d.bids, d.asks) == ("BTCUSDT", [(97000.5, 0.5)], [])  # PF_ contracts are base units
    ticker = (
        b'{"feed":"ticker","product_id":"PF_ETHUSD","time":1770920339237,"tag":"perpetual","bid":1907.3,'
        b'"bid_size":0.097,"ask":1907.4,"ask_size":0.112,"last":1907.7,"open":1935.7,"high":2000.2,"low":1895.0,'
        b'"change":-1.45,"volume":56514.738,"volumeQuote":110391688.155,"index":1907.83,"markPrice":1907.459,'
        b'"openInterest":17059.147,"funding_rate":-0.005,"next_funding_rate_time":1770922800000}'
    )
    mark, funding, oi, bbo, tick = dec.decode(ticker, 2)
    assert mark == MarkPrice(V, "perp", "ETHUSDT", 1770920339237 * MS, 2, 1907.459, 1907.83)
    # no relative_funding_rate: the amount (USD per ETH) over the index gives the rate; no prediction = 0
    assert (funding.rate, funding.predicted_rate) == (-0.005 / 1907.83, 0.0)
    assert (funding.next_funding_time, funding.interval_hours) == (1770922800000 * MS, 1.0)
    assert oi == OpenInterest(V, "perp", "ETHUSDT", 1770920339237 * MS, 2, 17059.147, 17059.147, 17059.147 * 1907.459)
    assert (bbo.bid_qty, bbo.ask_qty) == (0.097, 0.112)
    assert (tick.volume, tick.quote_volume, tick.price_change_pct) == (56514.738, 110391688.155, -1.45)
    assert tick.price_change == pytest.approx(-28.0)
    (f,) = [
        i
        for i in dec.decode(ticker.replace(b'"funding_rate":-0.005', b'"relative_funding_rate":2e-6'), 3)
        if isinstance(i, Funding)
    ]
    assert f.rate == 2e-6
    (f0,) = [i for i in dec.decode(ticker.replace(b'"funding_rate":-0.005,', b""), 4) if isinstance(i, Funding)]
    assert f0.rate == 0.0  # the docs leave out a funding field that is zero
    dated = ticker.replace(b'"tag":"perpetual"', b'"tag":"quarter"')
    assert not any(isinstance(i, Funding) for i in dec.decode(dated, 5))
    liq = b'{"feed":"trade","product_id":"PF_XBTUSD","uid":"u1","side":"sell","type":"liquidation","seq":9,'
    liq += b'"time":1770920339688,"qty":0.25,"price":65368.0}'
    trade, liquidation = dec.decode(liq, 6)
    assert trade == Trade(V, "perp", "BTCUSDT", 1770920339688 * MS, 6, 65368.0, 0.25, "sell", "u1")
    # the liquidation order is the taker: a taker sell closes a long
    assert liquidation == Liquidation(
        V, "perp", "BTCUSDT", 1770920339688 * MS, 6, "long", 65368.0, 0.25, 65368.0 * 0.25
    )
    (_, short) = dec.decode(liq.replace(b'"side":"sell"', b'"side":"buy"'), 7)
    assert short.side == "short"
    assert dec.errors.total == 0


# ---- replay of every sample ----------------------------------------------------------------------------
EXPECTED = {
    # name: (trades, book updates, books, unknown frames, controls, other events)
    SESSION: (1003, 7024, 10, 107, {"info": 1, "ack": 30}, {}),
    "docs_derived/nautilus__ws_futures_book_delta.json": (0, 0, 1, 0, {}, {}),  # a lone diff waits
    "docs_derived/nautilus__ws_futures_book_snapshot.json": (0, 1, 1, 0, {}, {}),
    "docs_derived/nautilus__ws_futures_ticker.json": (
        0,
        0,
        0,
        0,
        {},
        {"bbo": 1, "mark_price": 1, "funding": 1, "open_interest": 1, "ticker": 1},
    ),
    "docs_derived/nautilus__ws_futures_trade.json": (1, 0, 0, 0, {}, {}),
    "docs_derived/nautilus__ws_futures_trade_snapshot.json": (2, 0, 0, 0, {}, {}),
}


def test_every_sample_replays_cleanly(samples):
    groups = sample_groups(samples / V)
    assert set(groups) == set(EXPECTED)
    for name, files in groups.items():
        trades, updates, books, unknown, controls, others = EXPECTED[name]
        r = Replayer()
        r.feed(convert_files(files, V))
        rep = r.report()
        assert rep["decode_errors"] == {}, name
        assert rep["unknown_frames"] == unknown and rep["controls"] == controls, name
        events = {k: n for k, n in rep["events"].items() if n and k not in ("trade", "book")}
        assert events == others and rep["events"]["trade"] == trades, name
        assert rep["book"]["updates"] == updates and rep["book"]["books"] == books, name
        assert rep["book"]["gaps"] == 0, name
        if name == SESSION:  # 10 snapshots + 7014 per-level deltas, seq +1 throughout
            assert rep["book"]["valid_books"] == 10


def test_books_agree_with_ticker_lite_top_of_book(samples):
    """ticker_lite carries the venue's own best bid/ask: every one matches the book we maintained."""
    r = Replayer()
    matched = mismatched = 0
    for rec in _records(samples):
        r.feed_one(rec)
        if rec.kind == "ws" and '"feed":"ticker_lite","product_id"' in rec.data:
            body = json.loads(rec.data)
            book = r.engine.book(V, body["product_id"])
            if book is not None and book.valid:
                same = (book.best_bid()[0], book.best_ask()[0]) == (body["bid"], body["ask"])
                matched += same
                mismatched += not same
    assert (matched, mismatched) == (107, 0)


def test_injected_gap_resyncs_only_that_book(kf, samples):
    recs = _records(samples)
    deltas = [
        i for i, rec in enumerate(recs) if rec.kind == "ws" and '"feed":"book","product_id":"PI_ETHUSD"' in rec.data
    ]
    r = Replayer()
    r.feed(recs[: deltas[len(deltas) // 2]] + recs[deltas[len(deltas) // 2] + 1 :])
    eth = r.engine.book(V, "PI_ETHUSD")
    assert eth.gaps == 1 and not eth.valid and (V, "perp", "PI_ETHUSD") in r.engine.pending_resync
    others = [b for (_, _m, inst), b in r.engine.books.items() if inst != "PI_ETHUSD"]
    assert len(others) == 9 and all(b.gaps == 0 and b.valid for b in others)
    # resubscribing brings a new book_snapshot: the book resyncs and the next delta applies
    last_seq = json.loads(recs[deltas[-1]].data)["seq"]
    snap = b'{"feed":"book_snapshot","product_id":"PI_ETHUSD","timestamp":1,"seq":%d,' % last_seq
    snap += b'"bids":[{"price":1990.0,"qty":1000.0}],"asks":[{"price":2010.0,"qty":2000.0}]}'
    (upd,) = kf.new_decoder().decode(snap, 0)
    assert r.engine.apply(upd) == Applied.APPLIED
    assert eth.resyncs == 1 and eth.valid and (V, "perp", "PI_ETHUSD") not in r.engine.pending_resync
    nxt = b'{"feed":"book","product_id":"PI_ETHUSD","side":"buy","seq":%d,"price":1995.0,"qty":500.0,"timestamp":2}'
    (d,) = kf.new_decoder().decode(nxt % (last_seq + 1), 0)
    assert r.engine.apply(d) == Applied.APPLIED and eth.best_bid() == (1995.0, 500.0 / 1995.0)


# ---- errors and control frames ---------------------------------------------------------------------------
def test_malformed_frames_are_counted_never_raised(kf):
    dec = kf.new_decoder()
    good = b'{"feed":"trade","product_id":"PI_XBTUSD","uid":"a","side":"buy","type":"fill","seq":1,"time":1,'
    good += b'"qty":100,"price":50000}'
    assert dec.decode(good[:40], 1) == []  # truncated
    assert dec.decode(good.replace(b'"seq":1', b'"seq":"x"'), 1) == []  # wrong type
    assert dec.decode(good.replace(b'"price":50000', b'"price":[1]'), 1) == []  # wrong type
    assert dec.decode(b"[1,2]", 1) == []  # not an object
    assert dec.decode(good.replace(b"PI_XBTUSD", b"ZZ_NOPE"), 1) == []
    assert dec.decode(good.replace(b'"side":"buy"', b'"side":"middle"'), 1) == []
    assert dec.decode(good.replace(b'"type":"fill"', b'"type":"mystery"'), 1) == []
    assert dec.decode(b'{"event":"mystery"}', 1) == []
    assert dec.errors.counts == {
        "malformed": 1,
        "schema": 3,
        "unknown_instrument": 1,
        "bad_side": 1,
        "bad_trade_type": 1,
        "unknown_event": 1,
    }
    (t,) = dec.decode(good, 2)  # the decoder carries on
    assert (t.symbol, t.price, t.qty, t.side) == ("BTCUSD", 50000.0, 0.002, "buy")


def test_control_frames(kf):
    dec = kf.new_decoder()
    cases = {
        b'{"event":"error","message":"Invalid product id"}': [Control("error", "Invalid product id")],
        b'{"event":"alert","message":"Bad websocket message"}': [Control("error", "Bad websocket message")],
        b'{"event":"subscribed_failed","feed":"book","product_ids":["PF_NOPE"],"message":"Invalid product id"}': [
            Control("error", "subscribed_failed book PF_NOPE Invalid product id")
        ],
        b'{"event":"unsubscribed","feed":"trade","product_ids":["PF_XBTUSD"]}': [
            Control("unsubscribed", "trade PF_XBTUSD")
        ],
        b'{"event":"subscribed","feed":"heartbeat"}': [Control("ack", "heartbeat")],
        b'{"feed":"heartbeat","time":1534262350627}': [Control("info", "heartbeat")],
        b'{"event":"pong"}': [Control("pong")],
    }
    for frame, expected in cases.items():
        assert dec.decode(frame, 1) == expected, frame
    assert dec.decode(b'{"event":"challenge","message":"c100b894"}', 1) == []
    assert dec.decode(b'{"feed":"open_orders_snapshot","orders":[]}', 1) == []  # a private feed
    assert dec.unknown_frames == 2 and dec.errors.total == 0


# ---- subscribe / unsubscribe / keep-alive -------------------------------------------------------------------
def test_subscribe_matches_the_captured_session(kf, samples):
    sent = [
        line.split(": ", 1)[1]
        for line in _ws(samples).read_text().splitlines()
        if line.startswith("wss://") and " <- " in line
    ]
    book_sent = next(s for s in sent if '"feed":"book"' in s)
    products = json.loads(book_sent)["product_ids"]
    assert kf.subscribe_messages([Subscription("book", kf.lookup(p)) for p in products]) == [book_sent]
    trade_sent = next(s for s in sent if '"feed":"trade"' in s)
    assert kf.subscribe_messages([Subscription("trade", kf.lookup(p)) for p in products]) == [trade_sent]


def test_subscribe_shapes_and_keepalive(kf):
    btc, eth = kf.instrument("BTCUSDT"), kf.instrument("ETHUSDT")
    assert (btc.native, eth.native) == ("PF_XBTUSD", "PF_ETHUSD")
    streams = ("trade", "liquidation", "book", "bbo", "mark_price", "funding", "open_interest", "ticker")
    subs = [Subscription(s, i) for i in (btc, eth) for s in streams]
    (plan,) = kf.plan_connections(subs)
    assert plan.url == "wss://futures.kraken.com/ws/v1"
    assert plan.subscribe == (
        '{"event":"subscribe","feed":"trade","product_ids":["pf_xbtusd","pf_ethusd"]}',
        '{"event":"subscribe","feed":"book","product_ids":["pf_xbtusd","pf_ethusd"]}',
        '{"event":"subscribe","feed":"ticker","product_ids":["pf_xbtusd","pf_ethusd"]}',
    )
    assert kf.unsubscribe_messages([Subscription("funding", btc)]) == [
        '{"event":"unsubscribe","feed":"ticker","product_ids":["pf_xbtusd"]}'
    ]
    many = [Subscription("trade", kf.lookup(f"PF_C{i}USD")) for i in range(150)]
    assert [len(json.loads(m)["product_ids"]) for m in kf.subscribe_messages(many)] == [100, 50]
    assert not kf.stream_offered("candle", "perp") and kf.candle_intervals == ()
    with pytest.raises(DecodeError, match="candle"):
        kf.subscribe_messages([Subscription("candle", btc, interval="1m")])
    assert kf.connect_messages() == ['{"event":"subscribe","feed":"heartbeat"}']
    assert kf.ping_message() is None and kf.ping_interval_s is not None and kf.ping_interval_s < 60
    assert (kf.exchange, kf.markets, kf.default_endpoints.rest) == (
        "kraken",
        ("perp",),
        "https://futures.kraken.com/derivatives/api/v3",
    )


# ---- instruments ---------------------------------------------------------------------------------------------
def test_bundled_table_and_naming_rules(kf):
    listed = kf.registry.symbols(V)
    assert listed == sorted(DEFAULT_SYMBOLS)  # Kraken lists all nine default bases as PF_ perps
    for sym in listed:
        inst = kf.instrument(sym)
        assert inst.native.startswith("PF_") and (inst.contract_type, inst.contract_size, inst.quote) == (
            "linear",
            1.0,
            "USD",
        )
        assert infer(inst.native) == Instrument(V, inst.native, sym, "perp", inst.base, "USD", "linear", 1.0)
    assert infer("pi_xbtusd") == Instrument(V, "PI_XBTUSD", "BTCUSD", "perp", "BTC", "USD", "inverse", 1.0)
    assert infer("FI_ETHUSD_211231").symbol == "ETHUSD_211231"
    assert infer("FF_XBTUSD_260227").symbol == "BTCUSDT_260227"
    assert infer("PF_USDTUSD").base == "USDT"
    for bad in ("PF_XBTUSD_210924", "FI_XBTUSD", "IN_XBTUSD", "rr_xbtusd", "PF_XBTEUR", "XBTUSD"):
        assert infer(bad) is None, bad
    assert infer("PI_XBTUSD").to_base(1000.0, 50000.0) == 0.02  # 1000 USD contracts at 50k = 0.02 BTC
