"""Bybit v5 protocol module: decoding of real frames, replay of every sample, book sync, merge, messages.

Real frames come from ../shared/venue-samples/bybit (ccxt recordings and a Bybit public history
archive via nautilus_trader; provenance in its SOURCE.txt). Frames marked "docs example" are Bybit
documentation examples (synthetic numbers), used where no real capture exists.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import msgspec
import pytest

from cryptoflow.errors import DecodeError
from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.feed.book import BookEngine
from cryptoflow.feed.capture import CaptureRecord
from cryptoflow.feed.capture_convert import convert_files, sample_groups
from cryptoflow.feed.replay import Replayer
from cryptoflow.symbols import InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import BookUpdate, Control, Link, Subscription, SyncMode
from cryptoflow.venues.bybit import Bybit, BybitDecoder

SAMPLES = Path(__file__).parents[3] / "shared" / "venue-samples" / "bybit"
LINEAR = "wss://stream.bybit.com/v5/public/linear"
SPOT = "wss://stream.bybit.com/v5/public/spot"
T = 1_700_000_000_123_456_789  # receive time passed in
MS = 1_000_000


def recv_lines(name: str) -> list[bytes]:
    return [ln.encode() for ln in (SAMPLES / name).read_text().splitlines() if ln.strip()]


def archive_lines() -> list[bytes]:
    with zipfile.ZipFile(SAMPLES / "nautilus__xrpusdt-ob500.data.zip") as z:
        (name,) = z.namelist()
        return [ln for ln in z.read(name).splitlines() if ln.strip()]


def docs(name: str) -> bytes:
    return msgspec.json.encode(json.loads((SAMPLES / "docs_derived" / name).read_text()))


@pytest.fixture
def venue() -> Bybit:
    return get_venue("bybit", registry=InstrumentRegistry.bundled())  # type: ignore[return-value]


def decoder(venue: Bybit, url: str | None = LINEAR) -> BybitDecoder:
    return venue.new_decoder(url)


# ---- 1. decoding real frames ------------------------------------------------------------------
def test_kline_frames_first_data_before_ack(venue: Bybit) -> None:
    dec = decoder(venue)
    first, ack, second = (dec.decode(f, T) for f in recv_lines("ccxt_static__linear_kline1_BTCUSDT.recv.jsonl"))
    assert first == [Candle("bybit", "perp", "BTCUSDT", 1786540381441 * MS, T, "1m", 1786540380000 * MS,
                            63975.0, 63975.0, 63971.2, 63971.2, 0.329, 21047.0079, None, False)]
    assert ack == [Control("ack", "1")]
    (c,) = second
    assert isinstance(c, Candle) and c.close == 63971.3 and c.volume == 0.891 and c.quote_volume == 56998.8785
    assert c.ts == 1786540382441 * MS and c.open_time == 1786540380000 * MS and not c.closed
    assert dec.errors.total == 0


def test_linear_ticker_snapshot_then_delta(venue: Bybit) -> None:
    dec = decoder(venue)
    snap, delta = recv_lines("ccxt_static__linear_tickers_BTCUSDT.recv.jsonl")
    items = dec.decode(snap, T)
    ts = 1786540397684 * MS
    by_type = {type(i): i for i in items}
    assert len(items) == 4  # bid1/ask1 are left to orderbook.1, the BBO stream
    assert BBO not in by_type
    assert by_type[MarkPrice] == MarkPrice("bybit", "perp", "BTCUSDT", ts, T, 63958.60, 63986.67)
    assert by_type[Funding] == Funding("bybit", "perp", "BTCUSDT", ts, T, 0.0000544, None, 1786550400000 * MS, 8.0)
    assert by_type[OpenInterest] == OpenInterest("bybit", "perp", "BTCUSDT", ts, T, 57798.137, 57798.137,
                                                 3696687925.13)
    tk = by_type[Ticker24h]
    assert (tk.last, tk.open, tk.high, tk.low) == (63958.60, 64283.90, 64477.00, 63183.10)
    assert (tk.volume, tk.quote_volume) == (61874.6390, 3947254153.7179)
    assert tk.price_change == pytest.approx(63958.60 - 64283.90)
    assert tk.price_change_pct == pytest.approx(-0.506)  # wire sends the fraction -0.00506
    # The delta carries only indexPrice: one MarkPrice, mark price taken from the merged state.
    assert dec.decode(delta, T) == [MarkPrice("bybit", "perp", "BTCUSDT", 1786540397983 * MS, T, 63958.60, 63986.66)]


@pytest.mark.parametrize("url", [SPOT, None], ids=["spot-connection", "replay"])
def test_spot_ticker_snapshots(venue: Bybit, url: str | None) -> None:
    dec = decoder(venue, url)
    ack, first, second = (dec.decode(f, T) for f in recv_lines("ccxt_static__spot_tickers_BTCUSDT.recv.jsonl"))
    assert ack == [Control("ack", "1")]  # spot acks say ret_msg "subscribe"
    (t1,) = first
    assert t1 == Ticker24h("bybit", "spot", "BTCUSDT", 1786538729776 * MS, T, 64057.7, 64326.9, 64500.0, 63232.1,
                           7217.990977, 460629823.77866687, pytest.approx(64057.7 - 64326.9), pytest.approx(-0.42))
    (t2,) = second
    assert isinstance(t2, Ticker24h) and t2.volume == 7218.04828 and t2.market == "spot"


def test_orderbook_archive_frames(venue: Bybit) -> None:
    dec = decoder(venue)
    frames = archive_lines()
    (snap,) = dec.decode(frames[0], T)
    assert isinstance(snap, BookUpdate) and snap.snapshot
    assert (snap.venue, snap.market, snap.symbol, snap.instrument) == ("bybit", "perp", "XRPUSDT", "XRPUSDT")
    assert (snap.seq, snap.first_seq, snap.prev_seq) == (20254869, 20254869, -1)
    assert snap.ts == 1733011200589 * MS  # cts: matching-engine time
    assert len(snap.bids) == len(snap.asks) == 500
    assert snap.bids[0] == (1.9531, 6203.0) and snap.bids[1] == (1.9530, 2409.0)
    assert snap.sync.mode == SyncMode.STREAM_SEQ and snap.sync.link == Link.NEXT
    (d1,) = dec.decode(frames[1], T)
    assert isinstance(d1, BookUpdate) and not d1.snapshot
    assert (d1.seq, d1.first_seq) == (20254870, 20254870) and d1.ts == 1733011200691 * MS
    assert (len(d1.bids), len(d1.asks)) == (13, 22)


def test_docs_example_orderbook_level1_is_bbo(venue: Bybit) -> None:
    """docs example: orderbook.1 is the top-of-book stream (snapshots only)."""
    dec = decoder(venue)
    assert dec.decode(docs("nautilus__ws_orderbook_snapshot.json"), T) == [
        BBO("bybit", "perp", "BTCUSDT", 1709891679000 * MS, T, 27450.0, 0.5, 27451.0, 0.75)
    ]
    assert dec.decode(docs("nautilus__ws_orderbook_delta.json"), T) == []  # level 1 sends no deltas
    assert dec.unknown_frames == 1 and dec.errors.total == 0


def test_docs_example_orderbook_as_book(venue: Bybit) -> None:
    """docs example frames on a 50-level topic: snapshot, then a +1 delta, build the book."""
    dec, engine = decoder(venue), BookEngine()
    for name in ("nautilus__ws_orderbook_snapshot.json", "nautilus__ws_orderbook_delta.json"):
        frame = docs(name).replace(b"orderbook.1.", b"orderbook.50.")
        for item in dec.decode(frame, T):
            assert isinstance(item, BookUpdate)
            engine.apply(item)
    book = engine.book("bybit", "BTCUSDT")
    assert book is not None and book.valid and book.seq == 123456790
    assert book.best_bid() == (27450.0, 0.4) and book.best_ask() == (27451.5, 0.9)


def test_docs_example_subscription_failure(venue: Bybit) -> None:
    assert decoder(venue).decode(docs("nautilus__ws_subscription_failure.json"), T) == [
        Control("error", "Invalid topic: invalid.topic.BTCUSDT")
    ]


def test_docs_shaped_control_frames(venue: Bybit) -> None:
    """docs examples: linear and spot pong shapes differ; unsubscribe acks."""
    dec = decoder(venue)
    assert dec.decode(b'{"success":true,"ret_msg":"pong","conn_id":"c1","req_id":"","op":"ping"}', T) == [
        Control("pong")]
    assert dec.decode(b'{"req_id":"","op":"pong","args":["1675418560633"],"conn_id":"c2"}', T) == [Control("pong")]
    assert dec.decode(b'{"success":true,"ret_msg":"","conn_id":"c","req_id":"3","op":"unsubscribe"}', T) == [
        Control("unsubscribed", "3")]
    assert dec.decode(b'{"success":true,"ret_msg":"","op":"auth","conn_id":"c"}', T) == []
    assert dec.unknown_frames == 1


def test_docs_example_public_trades(venue: Bybit) -> None:
    """docs example (no real v5 trade capture): linear trades carry L, spot trades do not."""
    linear = (b'{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":['
              b'{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick",'
              b'"i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false,"seq":1783284617},'
              b'{"T":1672304486866,"s":"BTCUSDT","S":"Sell","v":"0.25","p":"16578.00","L":"MinusTick",'
              b'"i":"t2","BT":false,"seq":1783284618}]}')
    spot = (b'{"topic":"publicTrade.BTCUSDT","ts":1672304486868,"type":"snapshot","data":['
            b'{"i":"2290000000061666327","T":1672304486865,"p":"16824.56","v":"0.000321","S":"Sell","s":"BTCUSDT",'
            b'"BT":false}]}')
    dec = decoder(venue, None)
    assert dec.decode(linear, T) == [
        Trade("bybit", "perp", "BTCUSDT", 1672304486865 * MS, T, 16578.5, 0.001, "buy",
              "20f43950-d8dd-5b31-9112-a178eb6023af"),
        Trade("bybit", "perp", "BTCUSDT", 1672304486866 * MS, T, 16578.0, 0.25, "sell", "t2"),
    ]
    assert dec.decode(spot, T) == [
        Trade("bybit", "spot", "BTCUSDT", 1672304486865 * MS, T, 16824.56, 0.000321, "sell", "2290000000061666327")
    ]
    # A spot connection labels its frames spot whatever they carry.
    (t,) = decoder(venue, SPOT).decode(linear, T)[:1]
    assert t.market == "spot"


def test_docs_example_all_liquidation(venue: Bybit) -> None:
    """docs example: S is the liquidated position's side (Buy = a long was liquidated)."""
    frame = (b'{"topic":"allLiquidation.ROSEUSDT","type":"snapshot","ts":1739502303204,"data":['
             b'{"T":1739502302929,"s":"ROSEUSDT","S":"Sell","v":"20000","p":"0.04499"},'
             b'{"T":1739502302930,"s":"ROSEUSDT","S":"Buy","v":"100","p":"0.05"}]}')
    short, long_ = decoder(venue).decode(frame, T)
    assert short == Liquidation("bybit", "perp", "ROSEUSDT", 1739502302929 * MS, T, "short", 0.04499, 20000.0,
                                pytest.approx(0.04499 * 20000))
    assert isinstance(long_, Liquidation) and long_.side == "long" and long_.notional == pytest.approx(5.0)
    inst = venue.lookup("ROSEUSDT", "perp")  # inferred: a linear <BASE>USDT id is size 1
    assert (inst.base, inst.contract_size, inst.contract_type) == ("ROSE", 1.0, "linear")


def test_kline_interval_names(venue: Bybit) -> None:
    frame = (b'{"topic":"kline.D.ETHUSDT","data":[{"start":1786492800000,"end":1786579199999,"interval":"D",'
             b'"open":"3000","close":"3100","high":"3200","low":"2900","volume":"10","turnover":"31000",'
             b'"confirm":true,"timestamp":1786579199999}],"ts":1786579200001,"type":"snapshot"}')
    (c,) = decoder(venue, SPOT).decode(frame, T)
    assert isinstance(c, Candle) and (c.interval, c.market, c.closed, c.high) == ("1d", "spot", True, 3200.0)


# ---- 6. ticker merge ---------------------------------------------------------------------------
def _ticker(kind: str, ts: int, **fields: str) -> bytes:
    return msgspec.json.encode({"topic": "tickers.ETHUSDT", "type": kind, "ts": ts, "cs": 1,
                                "data": {"symbol": "ETHUSDT", **fields}})


def test_ticker_delta_merge(venue: Bybit) -> None:
    dec = decoder(venue)
    full = dict(lastPrice="3000", prevPrice24h="2900", highPrice24h="3100", lowPrice24h="2800", volume24h="5",
                turnover24h="15000", price24hPcnt="0.0345", markPrice="3001", indexPrice="3002",
                openInterest="100", openInterestValue="300100", fundingRate="0.0001", nextFundingTime="1700000000000",
                fundingIntervalHour="8", bid1Price="2999.5", bid1Size="1.5", ask1Price="3000.5", ask1Size="2",
                preOpenPrice="", curPreListingPhase="")
    assert len(dec.decode(_ticker("snapshot", 1, **full), T)) == 4
    # funding rate alone -> Funding with the merged next time and interval
    assert dec.decode(_ticker("delta", 2, fundingRate="0.0002"), T) == [
        Funding("bybit", "perp", "ETHUSDT", 2 * MS, T, 0.0002, None, 1700000000000 * MS, 8.0)]
    # bid price alone -> nothing: the BBO stream is orderbook.1
    assert dec.decode(_ticker("delta", 3, bid1Price="2999.9"), T) == []
    # OI value and last price -> OpenInterest + Ticker24h, both from merged state
    oi, tk = dec.decode(_ticker("delta", 4, openInterestValue="301000", lastPrice="3010"), T)
    assert oi == OpenInterest("bybit", "perp", "ETHUSDT", 4 * MS, T, 100.0, 100.0, 301000.0)
    assert isinstance(tk, Ticker24h) and tk.last == 3010.0 and tk.open == 2900.0 and tk.price_change == 110.0
    # a field Bybit blanks ("") becomes None, never 0; an unchanged group is not re-emitted
    assert dec.decode(_ticker("delta", 5, ask1Price=""), T) == []
    # a new snapshot replaces the state
    (mp,) = dec.decode(_ticker("snapshot", 6, markPrice="3500"), T)
    assert mp == MarkPrice("bybit", "perp", "ETHUSDT", 6 * MS, T, 3500.0, None)
    assert dec.decode(_ticker("delta", 7, openInterest="7"), T) == [
        OpenInterest("bybit", "perp", "ETHUSDT", 7 * MS, T, 7.0, 7.0, None)]


def test_ticker_delta_without_snapshot_uses_only_sent_fields(venue: Bybit) -> None:
    assert decoder(venue).decode(_ticker("delta", 1, markPrice="10"), T) == [
        MarkPrice("bybit", "perp", "ETHUSDT", 1 * MS, T, 10.0, None)]


# ---- 2. replay every sample session ----------------------------------------------------------
EXPECTED = {
    "ccxt_static__linear_kline1_BTCUSDT.recv.jsonl": ({"candle": 2}, {"ack": 1}, 0, (0, 0)),
    "ccxt_static__linear_tickers_BTCUSDT.recv.jsonl": (
        {"mark_price": 2, "funding": 1, "open_interest": 1, "ticker": 1}, {}, 0, (0, 0)),
    "ccxt_static__spot_tickers_BTCUSDT.recv.jsonl": ({"ticker": 2}, {"ack": 1}, 0, (0, 0)),
    "docs_derived/nautilus__ws_orderbook_delta.json": ({}, {}, 1, (0, 0)),
    "docs_derived/nautilus__ws_orderbook_snapshot.json": ({"bbo": 1}, {}, 0, (0, 0)),
    "docs_derived/nautilus__ws_subscription_failure.json": ({}, {"error": 1}, 0, (0, 0)),
    "nautilus__xrpusdt-ob500.data.zip": ({"book": 50}, {}, 0, (1, 50)),
}


def test_every_sample_session_is_expected() -> None:
    assert set(sample_groups(SAMPLES)) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_replay_sample(name: str) -> None:
    events, controls, unknown, (books, updates) = EXPECTED[name]
    r = Replayer()
    r.feed(convert_files(sample_groups(SAMPLES)[name], "bybit"))
    rep = r.report()
    assert rep["decode_errors"] == {}
    assert {k: v for k, v in rep["events"].items() if v} == events
    assert rep["controls"] == controls
    assert rep["unknown_frames"] == unknown
    b = rep["book"]
    assert (b["books"], b["valid_books"], b["updates"], b["gaps"], b["resyncs"]) == (books, books, updates, 0, 0)
    if books:
        book = r.engine.book("bybit", "XRPUSDT")
        assert book is not None and book.seq == 20254918 and book.best_bid()[0] < book.best_ask()[0]


# ---- 3. book sync: injected gap, resync, restart snapshot, spot/perp books apart ---------------
def _records(frames: list[bytes], t0: int = 0) -> list[CaptureRecord]:
    return [CaptureRecord(t=t0 + i, venue="bybit", kind="ws", data=f.decode()) for i, f in enumerate(frames)]


def test_injected_gap_invalidates_one_book_and_snapshot_resyncs() -> None:
    xrp = archive_lines()
    sol = [f.replace(b"XRPUSDT", b"SOLUSDT") for f in xrp]  # a second book with the same real sequence
    r = Replayer()
    for i in range(len(xrp)):
        r.feed(_records([xrp[i]] + ([] if i == 20 else [sol[i]])))  # SOL loses diff u=20254889
    rep = r.report()
    assert rep["decode_errors"] == {} and rep["book"]["gaps"] == 1 and rep["book"]["valid_books"] == 1
    xrp_book, sol_book = r.engine.book("bybit", "XRPUSDT"), r.engine.book("bybit", "SOLUSDT")
    assert xrp_book is not None and xrp_book.valid and xrp_book.updates == 50 and xrp_book.gaps == 0
    assert sol_book is not None and not sol_book.valid and sol_book.gaps == 1
    assert ("bybit", "perp", "SOLUSDT") in r.engine.pending_resync
    # Resubscribing yields a new snapshot: it resets the book, then diffs link again.
    r.feed(_records(sol))
    assert sol_book.valid and sol_book.resyncs == 1 and sol_book.gaps == 1 and sol_book.seq == 20254918
    assert ("bybit", "perp", "SOLUSDT") not in r.engine.pending_resync


def test_restart_snapshot_with_u1_resets_book(venue: Bybit) -> None:
    dec, engine = decoder(venue), BookEngine()
    frames = archive_lines()[:5]
    restart = (b'{"topic":"orderbook.500.XRPUSDT","type":"snapshot","ts":1733011201000,"data":{"s":"XRPUSDT",'
               b'"b":[["1.9000","10"]],"a":[["1.9100","20"]],"u":1,"seq":130020249999},"cts":1733011200999}')
    after = (b'{"topic":"orderbook.500.XRPUSDT","type":"delta","ts":1733011201100,"data":{"s":"XRPUSDT",'
             b'"b":[["1.9050","5"]],"a":[],"u":2,"seq":130020250001},"cts":1733011201099}')
    for f in [*frames, restart, after]:
        for item in dec.decode(f, T):
            assert isinstance(item, BookUpdate)
            engine.apply(item)
    book = engine.book("bybit", "XRPUSDT")
    assert book is not None and book.valid and book.gaps == 0 and book.seq == 2
    assert book.best_bid() == (1.905, 5.0) and book.best_ask() == (1.91, 20.0) and len(book.bids) == 2


def test_spot_and_perp_books_of_one_symbol_stay_apart(venue: Bybit) -> None:
    engine = BookEngine()
    frames = archive_lines()
    for dec in (decoder(venue, LINEAR), decoder(venue, SPOT)):
        for f in frames:
            for item in dec.decode(f, T):
                assert isinstance(item, BookUpdate)
                engine.apply(item)
    perp, spot = engine.book("bybit", "XRPUSDT"), engine.book("bybit", "XRPUSDT", "spot")
    assert perp is not None and spot is not None and perp.valid and spot.valid
    assert (perp.market, spot.market, perp.updates, spot.updates) == ("perp", "spot", 50, 50)


# ---- 4. malformed frames are counted, never raised --------------------------------------------
GOOD = archive_lines


@pytest.mark.parametrize(("frame", "reason"), [
    (b'{"topic":"orderbook.500.XRPUSDT","type":"snapshot","ts":1,"data":{"s":"XRP', "malformed"),
    (b'{"topic":"orderbook.500.XRPUSDT","type":"delta","ts":1,"data":{"s":"XRPUSDT","b":[],"a":[],"u":"x"}}',
     "schema"),
    (b'{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1,"data":[{"T":1,"s":"BTCUSDT","S":"Buy",'
     b'"v":"1","p":{"x":1},"i":"a"}]}', "schema"),
    (b'{"topic":"publicTrade.BTC-26DEC25","type":"snapshot","ts":1,"data":[{"T":1,"s":"BTC-26DEC25","S":"Buy",'
     b'"v":"1","p":"1","L":"PlusTick","i":"a"}]}', "unknown_instrument"),
    (b'{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1,"data":[{"T":1,"s":"BTCUSDT","S":"Up",'
     b'"v":"1","p":"1","i":"a"}]}', "bad_side"),
    (b'{"topic":"allLiquidation.BTCUSDT","type":"snapshot","ts":1,"data":[{"T":1,"s":"BTCUSDT","S":"",'
     b'"v":"1","p":"1"}]}', "bad_side"),
    (b'{"topic":"kline.7.BTCUSDT","type":"snapshot","ts":1,"data":[]}', "unknown_interval"),
    (b'{"topic":"orderbook.50.XRPUSDT","type":"partial","ts":1,"data":{"s":"XRPUSDT","b":[],"a":[],"u":1}}',
     "unknown_type"),
    (b'{"topic":"orderbook.50.XRPUSDT","type":"delta","data":{"s":"XRPUSDT","b":[],"a":[],"u":1}}', "missing_ts"),
    (b'{"topic":"tickers.BTCUSDT","type":"snapshot","ts":1,"data":{"symbol":"BTCUSDT","markPrice":1}}', "schema"),
    (b'[1,2,3]', "schema"),
])
def test_malformed_frame_counted_and_next_frame_decodes(venue: Bybit, frame: bytes, reason: str) -> None:
    dec = decoder(venue)
    assert dec.decode(frame, T) == []
    assert dict(dec.errors.counts) == {reason: 1}
    (item,) = dec.decode(GOOD()[0], T)
    assert isinstance(item, BookUpdate) and item.seq == 20254869


def test_unknown_topics_are_not_errors(venue: Bybit) -> None:
    dec = decoder(venue)
    assert dec.decode(b'{"topic":"insurance.USDT","type":"delta","ts":1,"data":[]}', T) == []
    assert dec.unknown_frames == 1 and dec.errors.total == 0


# ---- 5. subscribe / unsubscribe / ping messages ------------------------------------------------
def _sub(venue: Bybit, stream: str, symbol: str = "BTCUSDT", market: str = "perp", **kw: object) -> Subscription:
    return Subscription(stream, venue.instrument(symbol, market), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("market", "sent"), [("perp", "ccxt_static__linear_tickers_BTCUSDT.sent.jsonl"),
                                               ("spot", "ccxt_static__spot_tickers_BTCUSDT.sent.jsonl")])
def test_ticker_subscribe_matches_recorded(venue: Bybit, market: str, sent: str) -> None:
    (recorded,) = (json.loads(ln) for ln in (SAMPLES / sent).read_text().splitlines() if ln.strip())
    (msg,) = venue.subscribe_messages([_sub(venue, "ticker", market=market)])
    assert json.loads(msg) == recorded == {"op": "subscribe", "req_id": 1, "args": ["tickers.BTCUSDT"]}


def test_topics_for_every_stream(venue: Bybit) -> None:
    subs = [_sub(venue, s) for s in ("trade", "bbo", "book", "mark_price", "funding", "open_interest",
                                     "liquidation", "ticker")]
    subs += [_sub(venue, "candle", interval="1h"), _sub(venue, "book", "ETHUSDT", depth=200)]
    (msg,) = venue.subscribe_messages(subs)
    assert json.loads(msg) == {"op": "subscribe", "req_id": 1, "args": [
        "publicTrade.BTCUSDT", "orderbook.1.BTCUSDT", "orderbook.50.BTCUSDT", "tickers.BTCUSDT",
        "allLiquidation.BTCUSDT", "kline.60.BTCUSDT", "orderbook.200.ETHUSDT"]}
    (unsub,) = venue.unsubscribe_messages(subs[:2])
    assert json.loads(unsub) == {"op": "unsubscribe", "req_id": 1,
                                 "args": ["publicTrade.BTCUSDT", "orderbook.1.BTCUSDT"]}


def test_subscribe_batches_of_ten(venue: Bybit) -> None:
    bases = ("BTC", "ETH", "SOL", "XRP", "AR", "BRETT", "POPCAT", "WIF", "PNUT")
    subs = [_sub(venue, s, b + "USDT", "spot") for b in bases for s in ("trade", "bbo", "ticker")]
    msgs = [json.loads(m) for m in venue.subscribe_messages(subs)]
    assert [len(m["args"]) for m in msgs] == [10, 10, 7] and [m["req_id"] for m in msgs] == [1, 2, 3]
    assert msgs[0]["args"][:3] == ["publicTrade.BTCUSDT", "orderbook.1.BTCUSDT", "tickers.BTCUSDT"]


@pytest.mark.parametrize(("depth", "topic"), [(None, 50), (1, 50), (20, 50), (100, 200), (500, 1000), (5000, 1000)])
def test_book_depths(venue: Bybit, depth: int | None, topic: int) -> None:
    (msg,) = venue.subscribe_messages([_sub(venue, "book", depth=depth)])
    assert json.loads(msg)["args"] == [f"orderbook.{topic}.BTCUSDT"]


def test_unsupported_subscriptions_raise(venue: Bybit) -> None:
    for stream in ("liquidation", "funding", "mark_price", "open_interest"):
        with pytest.raises(DecodeError, match="unsupported_stream"):
            venue.subscribe_messages([_sub(venue, stream, market="spot")])
    with pytest.raises(DecodeError, match="unsupported_interval"):
        venue.subscribe_messages([_sub(venue, "candle", interval="1s")])


def test_ping_urls_and_connection_plans(venue: Bybit) -> None:
    assert venue.ping_message() == '{"op":"ping"}' and venue.ping_interval_s == 20.0
    assert venue.connect_messages() == []
    perp, spot = _sub(venue, "trade"), _sub(venue, "trade", market="spot")
    assert (venue.ws_url(perp), venue.ws_url(spot)) == (LINEAR, SPOT)
    plans = venue.plan_connections([perp, spot, _sub(venue, "book")])
    assert [(p.url, len(p.subscriptions)) for p in plans] == [(LINEAR, 2), (SPOT, 1)]
    assert json.loads(plans[1].subscribe[0])["args"] == ["publicTrade.BTCUSDT"]
    assert (decoder(venue, LINEAR).market, decoder(venue, SPOT).market, decoder(venue, None).market) == (
        "perp", "spot", None)


# ---- venue declaration and instruments ---------------------------------------------------------
def test_declaration(venue: Bybit) -> None:
    assert (venue.id, venue.exchange, venue.markets) == ("bybit", "bybit", ("perp", "spot"))
    assert venue.book_sync.mode == SyncMode.STREAM_SEQ and venue.book_sync.link == Link.NEXT
    assert venue.stream_offered("liquidation", "perp") and not venue.stream_offered("liquidation", "spot")
    assert venue.streams["spot"] == {"trade", "bbo", "book", "ticker", "candle"}
    assert venue.rest_polled == frozenset() and venue.book_snapshot_url(venue.instrument("BTCUSDT")) is None


def test_bundled_instruments(venue: Bybit) -> None:
    for market in ("perp", "spot"):
        assert venue.registry.symbols("bybit", market) == sorted(
            b + "USDT" for b in ("BTC", "ETH", "SOL", "XRP", "AR", "BRETT", "POPCAT", "WIF", "PNUT"))
    perp, spot = venue.lookup("BTCUSDT", "perp"), venue.lookup("BTCUSDT", "spot")
    assert (perp.market, perp.contract_type, perp.contract_size) == ("perp", "linear", 1.0)
    assert (spot.market, spot.contract_type, spot.contract_size) == ("spot", "spot", 1.0)
    assert perp.to_base(2.5, 60000.0) == 2.5


def test_infer_instrument_rules(venue: Bybit) -> None:
    assert venue.infer_instrument("1000PEPEUSDT", "perp") is not None
    assert venue.infer_instrument("BTCUSDT-26DEC25", "perp") is None
    assert venue.infer_instrument("BTCPERP", "perp") is None
    eth_btc = venue.infer_instrument("ETHBTC", "spot")
    assert eth_btc is not None and (eth_btc.base, eth_btc.quote, eth_btc.market) == ("ETH", "BTC", "spot")
    assert venue.infer_instrument("FOO-BAR", "spot") is None
    with pytest.raises(DecodeError, match="unknown_instrument"):
        venue.lookup("BTC-26DEC25", "perp")


def test_parse_instruments(venue: Bybit) -> None:
    """docs-shaped instruments-info bodies (GET /v5/market/instruments-info)."""
    linear_url, spot_url = venue.instruments_urls()
    assert linear_url == "https://api.bybit.com/v5/market/instruments-info?category=linear&limit=1000"
    linear = {"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "nextPageCursor": "", "list": [
        {"symbol": "BTCUSDT", "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": "BTC",
         "quoteCoin": "USDT", "settleCoin": "USDT", "priceFilter": {"tickSize": "0.10"}},
        {"symbol": "BTCUSDT-26DEC25", "contractType": "LinearFutures", "status": "Trading", "baseCoin": "BTC",
         "quoteCoin": "USDT", "settleCoin": "USDT", "priceFilter": {"tickSize": "0.10"}},
        {"symbol": "BTCPERP", "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": "BTC",
         "quoteCoin": "USDC", "settleCoin": "USDC", "priceFilter": {"tickSize": "0.10"}},
        {"symbol": "OLDUSDT", "contractType": "LinearPerpetual", "status": "Closed", "baseCoin": "OLD",
         "quoteCoin": "USDT", "settleCoin": "USDT"}]}}
    (btc,) = venue.parse_instruments(linear_url, msgspec.json.encode(linear))
    assert (btc.native, btc.symbol, btc.market, btc.contract_size, btc.tick_size) == (
        "BTCUSDT", "BTCUSDT", "perp", 1.0, 0.1)
    spot = {"retCode": 0, "retMsg": "OK", "result": {"category": "spot", "list": [
        {"symbol": "ETHBTC", "baseCoin": "ETH", "quoteCoin": "BTC", "innovation": "0", "status": "Trading",
         "priceFilter": {"tickSize": "0.00001"}}]}}
    (eth_btc,) = venue.parse_instruments(spot_url, msgspec.json.encode(spot))
    assert (eth_btc.symbol, eth_btc.market, eth_btc.quote, eth_btc.tick_size) == ("ETHBTC", "spot", "BTC", 0.00001)
    assert venue.parse_instruments("https://api.bybit.com/v5/market/tickers", b"{}") == []
    with pytest.raises(DecodeError, match="rest_error"):
        venue.parse_instruments(spot_url, b'{"retCode":10001,"retMsg":"params error","result":{}}')
