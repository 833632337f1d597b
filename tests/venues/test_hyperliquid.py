"""Hyperliquid: decoding real frames field by field, full-snapshot books, errors, subscribe shapes."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from cryptoflow.errors import UnknownSymbolError, VenueError
from cryptoflow.events import BBO, Candle, Funding, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.feed.book import Applied
from cryptoflow.feed.capture_convert import convert_files, sample_groups
from cryptoflow.feed.replay import Replayer
from cryptoflow.symbols import DEFAULT_SYMBOLS, InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import FULL_SNAPSHOTS, BookUpdate, Control, Subscription, SyncMode
from cryptoflow.venues.hyperliquid import ASSET_IDS, next_funding_ns

MS = 1_000_000
HOUR = 3_600_000_000_000
FIXTURES = Path(__file__).parents[1] / "fixtures" / "hyperliquid"  # real l2Book frames (see SOURCE.txt there)
HL = "hyperliquid"


@pytest.fixture
def hl():
    return get_venue(HL, registry=InstrumentRegistry.bundled())


@pytest.fixture
def folder(samples: Path) -> Path:
    return samples / "hyperliquid"


def _lines(path: Path) -> list[bytes]:
    return [line.encode() for line in path.read_text().splitlines() if line.strip()]


def test_trades_real_frames(hl, folder):
    ack, first, second = _lines(folder / "ccxt_static__trades_BTC.recv.jsonl")
    dec = hl.new_decoder()
    assert dec.decode(ack, 1) == [Control("ack", '{"type":"trades","coin":"BTC"}')]
    t1, t2, t3 = dec.decode(first, 5)
    # "B": the buyer was the aggressor (lifted 64097 while sellers hit 64096)
    assert t1 == Trade(HL, "perp", "BTCUSDT", 1786539552700 * MS, 5, 64097.0, 0.00033, "buy", "604438142537043")
    assert t2 == Trade(HL, "perp", "BTCUSDT", 1786539553004 * MS, 5, 64096.0, 0.00023, "sell", "153378402400855")
    assert t3 == Trade(HL, "perp", "BTCUSDT", 1786539553102 * MS, 5, 64096.0, 0.0312, "sell", "663834423078060")
    (t4,) = dec.decode(second, 6)
    assert (t4.qty, t4.side, t4.trade_id) == (0.06683, "sell", "237378239638384")
    # the docs give tid as a number: both forms decode to the same id text
    (t5,) = dec.decode(second.replace(b'"tid":"237378239638384"', b'"tid":237378239638384'), 6)
    assert t5 == t4
    assert dec.errors.total == 0


def test_active_asset_ctx_real_frame(hl, folder):
    ack, frame, _ = _lines(folder / "ccxt_static__activeAssetCtx_BTC.recv.jsonl")
    dec = hl.new_decoder()
    assert dec.decode(ack, 1) == [Control("ack", '{"type":"activeAssetCtx","coin":"BTC"}')]
    ts = 1786539600000 * MS + 7  # no exchange time on the wire: the receive time stands in
    mark, funding, oi, tick = dec.decode(frame, ts)
    assert mark == MarkPrice(HL, "perp", "BTCUSDT", ts, ts, 64040.0, 64063.1)  # index = oraclePx
    assert funding == Funding(HL, "perp", "BTCUSDT", ts, ts, 0.0000125, None, 1786543200000 * MS, 1.0)
    assert (oi.oi_contracts, oi.oi_base) == (38485.06546, 38485.06546)
    assert oi.oi_notional == pytest.approx(38485.06546 * 64040.0)
    assert isinstance(oi, OpenInterest) and isinstance(tick, Ticker24h)
    assert (tick.last, tick.open, tick.high, tick.low) == (64041.5, 64299.0, None, None)  # last = midPx
    assert (tick.volume, tick.quote_volume) == (26501.0297399999, 1692146864.1761949062)
    assert tick.price_change == pytest.approx(64041.5 - 64299.0)
    assert tick.price_change_pct == pytest.approx((64041.5 - 64299.0) / 64299.0 * 100)
    assert dec.errors.total == 0


def test_candle_real_frames(hl, folder):
    ack, first, second = _lines(folder / "ccxt_static__candle_BTC_1m.recv.jsonl")
    dec = hl.new_decoder()
    assert dec.decode(ack, 1) == [Control("ack", '{"type":"candle","interval":"1m","coin":"BTC"}')]
    (c1,) = dec.decode(first, 9)
    assert c1 == Candle(HL, "perp", "BTCUSDT", 9, 9, "1m", 1786539540000 * MS, 64082.0, 64100.0, 64082.0, 64099.0,
                        6.39125, None, 124, False)
    (c2,) = dec.decode(second, 10)
    assert (c2.close, c2.volume, c2.trades, c2.open_time) == (64100.0, 6.392, 125, 1786539540000 * MS)


def test_l2book_real_frames_are_full_snapshots(hl):
    ack, first, second = _lines(FIXTURES / "ccxt_static__l2Book_BTC.recv.jsonl")
    dec = hl.new_decoder()
    (a,) = dec.decode(ack, 1)
    assert a.kind == "ack" and json.loads(a.detail)["type"] == "l2Book"
    (u1,) = dec.decode(first, 2)
    assert isinstance(u1, BookUpdate) and u1.snapshot and u1.sync == FULL_SNAPSHOTS
    assert (u1.venue, u1.market, u1.symbol, u1.instrument, u1.ts, u1.ts_recv) == (
        HL, "perp", "BTCUSDT", "BTC", 1786539643751 * MS, 2)
    assert len(u1.bids) == len(u1.asks) == 20
    assert u1.bids[:2] == [(64094.0, 12.29409), (64093.0, 5.30722)] and u1.bids[-1] == (64075.0, 6.3175)
    assert u1.asks[:2] == [(64095.0, 2.37411), (64096.0, 0.01401)] and u1.asks[-1] == (64114.0, 5.83788)
    (u2,) = dec.decode(second, 3)
    assert u2.bids[0] == (64093.0, 0.09932) and u2.asks[0] == (64094.0, 20.92904)
    assert hl.book_sync.mode == SyncMode.FULL and hl.book_depth == 20


def test_all_dexs_asset_ctxs_decodes_listed_main_dex_assets(hl, folder):
    frame = (folder / "nautilus__ws_all_dexs_asset_ctxs.json").read_bytes()
    dec = hl.new_decoder()
    items = dec.decode(frame, 11)
    assert dec.errors.total == 0
    assert len(items) == 4 * 9  # the nine default perps; HIP-3 dexes and unlisted coins skipped
    by = {(type(e).__name__, e.symbol): e for e in items}
    assert set(ASSET_IDS.values()) == {s[:-4] for _, s in by}
    assert by[("MarkPrice", "BTCUSDT")] == MarkPrice(HL, "perp", "BTCUSDT", 11, 11, 77562.0, 77605.0)
    assert by[("Funding", "BTCUSDT")].rate == -0.0000015186
    assert by[("OpenInterest", "PNUTUSDT")].oi_base == 7305585.7999999998
    assert by[("MarkPrice", "SOLUSDT")].mark_price == 86.148
    assert by[("MarkPrice", "WIFUSDT")].mark_price == 0.19629
    assert by[("Ticker24h", "ETHUSDT")].last == 2123.95  # midPx


def test_all_mids_is_recognised_not_an_error(hl, folder):
    dec = hl.new_decoder()
    assert dec.decode((folder / "nautilus__ws_allmids.json").read_bytes(), 1) == []
    assert dec.unknown_frames == 1 and dec.errors.total == 0


def test_docs_examples_bbo_control_frames(hl):
    """Shapes from Hyperliquid's docs (WsBbo, pong, error, welcome text): no real capture has them."""
    dec = hl.new_decoder()
    bbo = (b'{"channel":"bbo","data":{"coin":"ETH","time":1786539643751,'
           b'"bbo":[{"px":"2123.6","sz":"10.5","n":3},{"px":"2123.7","sz":"0.25","n":1}]}}')
    assert dec.decode(bbo, 4) == [BBO(HL, "perp", "ETHUSDT", 1786539643751 * MS, 4, 2123.6, 10.5, 2123.7, 0.25)]
    assert dec.decode(bbo.replace(b'{"px":"2123.7","sz":"0.25","n":1}', b"null"), 4) == []  # one-sided book
    assert dec.decode(b'{"channel":"pong"}', 5) == [Control("pong")]
    assert dec.decode(b'{"channel":"error","data":"Invalid subscription {\\"type\\":\\"nope\\"}"}', 6) == [
        Control("error", 'Invalid subscription {"type":"nope"}')]
    assert dec.decode(b"Websocket connection established.", 7) == [Control("info", "Websocket connection established.")]
    unsub = (b'{"channel":"subscriptionResponse","data":{"method":"unsubscribe",'
             b'"subscription":{"type":"trades","coin":"SOL"}}}')
    assert dec.decode(unsub, 8) == [Control("unsubscribed", '{"type":"trades","coin":"SOL"}')]
    assert dec.errors.total == 0 and dec.unknown_frames == 0


EXPECTED = {  # sample session -> (events per kind, acks, unknown frames)
    "ccxt_static__activeAssetCtx_BTC.recv.jsonl": ({"mark_price": 2, "funding": 2, "open_interest": 2, "ticker": 2},
                                                   1, 0),
    "ccxt_static__candle_BTC_1m.recv.jsonl": ({"candle": 2}, 1, 0),
    "ccxt_static__trades_BTC.recv.jsonl": ({"trade": 4}, 1, 0),
    "nautilus__ws_all_dexs_asset_ctxs.json": ({"mark_price": 9, "funding": 9, "open_interest": 9, "ticker": 9}, 0, 0),
    "nautilus__ws_allmids.json": ({}, 0, 1),
    "ccxt_static__l2Book_BTC.recv.jsonl": ({"book": 2}, 1, 0),
}


def test_every_sample_replays_cleanly(folder):
    groups = sample_groups(folder) | sample_groups(FIXTURES)
    assert set(groups) == set(EXPECTED)
    for name, files in groups.items():
        r = Replayer()
        r.feed(convert_files(files, HL))
        rep = r.report()
        events, acks, unknown = EXPECTED[name]
        assert rep["decode_errors"] == {}, name
        assert {k: v for k, v in rep["events"].items() if v} == events, name
        assert rep["controls"] == ({"ack": acks} if acks else {}), name
        assert rep["unknown_frames"] == unknown, name
        books = 1 if "book" in events else 0
        assert rep["book"]["gaps"] == 0 and rep["book"]["books"] == rep["book"]["valid_books"] == books, name
        assert rep["book"]["updates"] == events.get("book", 0), name


def test_full_snapshot_book_needs_no_chain_and_resyncs(hl):
    """l2Book has no sequence ids: each push replaces the book, so a lost push is no gap.
    A book invalidated by the feed (e.g. on a reconnect) is valid again at the next push."""
    recs = convert_files([FIXTURES / "ccxt_static__l2Book_BTC.recv.jsonl"], HL)
    books = [i for i, r in enumerate(recs) if r.kind == "ws" and '"channel":"l2Book"' in r.data]
    r = Replayer()
    r.feed(recs[: books[0]] + recs[books[0] + 1 :])  # drop the first snapshot
    book = r.engine.book(HL, "BTC")
    assert book.valid and book.gaps == 0 and book.updates == 1
    assert book.best_bid() == (64093.0, 0.09932) and book.best_ask() == (64094.0, 20.92904)
    assert len(book.bids) == len(book.asks) == 20
    # the feed drops the book (connection lost) and asks for it again
    book.invalidate()
    r.engine.pending_resync[book.key] = book
    assert not book.valid
    (snap,) = r.decoder(HL).decode(recs[books[0]].data.encode(), 0)
    assert r.engine.apply(snap) == Applied.APPLIED
    assert book.valid and book.resyncs == 1 and book.key not in r.engine.pending_resync
    assert book.best_bid() == (64094.0, 12.29409)


def test_malformed_frames_are_counted_never_raised(hl, folder):
    dec = hl.new_decoder()
    good = _lines(folder / "ccxt_static__trades_BTC.recv.jsonl")[2]
    assert dec.decode(good[:60], 1) == []  # truncated
    assert dec.decode(good.replace(b'"px":"64096.0"', b'"px":"abc"'), 1) == []  # not a number
    assert dec.decode(good.replace(b'"time":1786539555782', b'"time":"soon"'), 1) == []
    assert dec.decode(good.replace(b'"side":"A"', b'"side":"X"'), 1) == []
    assert dec.decode(good.replace(b'"coin":"BTC"', b'"coin":"@107"'), 1) == []  # a spot id on the perp feed
    assert dec.decode(b'{"channel":"l2Book","data":{"coin":"BTC","time":1,"levels":[[]]}}', 1) == []
    assert dec.decode(b"not json", 1) == []
    assert dec.errors.counts == {"malformed": 2, "schema": 3, "bad_side": 1, "unknown_instrument": 1}
    # a channel we do not use is not an error
    assert dec.decode(b'{"channel":"activeSpotAssetCtx","data":{"coin":"@107","ctx":{}}}', 1) == []
    assert dec.unknown_frames == 1
    (t,) = dec.decode(good, 2)
    assert (t.price, t.qty, t.side) == (64096.0, 0.06683, "sell")
    assert dec.errors.total == 7


def test_subscribe_messages_match_the_wire(hl, folder):
    btc = hl.instrument("BTCUSDT")
    for stream, sample in (("trade", "trades_BTC"), ("funding", "activeAssetCtx_BTC")):
        sent = (folder / f"ccxt_static__{sample}.sent.jsonl").read_text().strip()
        assert hl.subscribe_messages([Subscription(stream, btc)]) == [sent]
    sent = (folder / "ccxt_static__candle_BTC_1m.sent.jsonl").read_text().strip()
    assert hl.subscribe_messages([Subscription("candle", btc, interval="1m")]) == [sent]
    sent = (FIXTURES / "ccxt_static__l2Book_BTC.sent.jsonl").read_text().strip()
    assert hl.subscribe_messages([Subscription("book", btc)]) == [sent]
    assert hl.subscribe_messages([Subscription("bbo", hl.instrument("ETHUSDT"))]) == [
        '{"method":"subscribe","subscription":{"type":"bbo","coin":"ETH"}}']
    # mark, funding, OI and ticker share one activeAssetCtx subscription: sent once
    ctx = [Subscription(s, btc) for s in ("mark_price", "funding", "open_interest", "ticker")]
    assert hl.subscribe_messages(ctx) == [
        '{"method":"subscribe","subscription":{"type":"activeAssetCtx","coin":"BTC"}}']
    assert hl.unsubscribe_messages([Subscription("trade", btc)]) == [
        '{"method":"unsubscribe","subscription":{"type":"trades","coin":"BTC"}}']
    (plan,) = hl.plan_connections([Subscription(s, btc) for s in sorted(hl.streams["perp"])])
    assert plan.url == "wss://api.hyperliquid.xyz/ws" and len(plan.subscribe) == 5  # one message per subscription
    assert hl.ping_message() == '{"method":"ping"}' and hl.ping_interval_s < hl.idle_timeout_s == 60.0
    assert not hl.stream_offered("liquidation", "perp")  # no public liquidation channel
    with pytest.raises(VenueError, match="no websocket stream for liquidation"):
        hl.subscribe_messages([Subscription("liquidation", btc)])
    with pytest.raises(VenueError, match="no 7m candles"):
        hl.subscribe_messages([Subscription("candle", btc, interval="7m")])


def test_instruments_bundled_inferred_and_from_meta(hl):
    assert hl.registry.symbols(HL) == sorted(DEFAULT_SYMBOLS)  # every default base is listed on Hyperliquid
    for inst in hl.registry.instruments(HL):
        assert (inst.native + "USDT", inst.quote, inst.contract_size, inst.contract_type) == (
            inst.symbol, "USDC", 1.0, "linear")
    assert hl.instrument("btc").native == "BTC"
    with pytest.raises(UnknownSymbolError):
        hl.instrument("BTCUSDT", "spot")
    kpepe = hl.infer_instrument("kPEPE")  # priced and sized per 1000 PEPE
    assert (kpepe.symbol, kpepe.base, kpepe.contract_size) == ("1000PEPEUSDT", "1000PEPE", 1.0)
    assert hl.infer_instrument("@107") is None and hl.infer_instrument("xyz:TSLA") is None
    assert hl.infer_instrument("PURR/USDC") is None

    (url,) = hl.instruments_urls()
    assert url == "https://api.hyperliquid.xyz/info#meta"
    assert hl.rest_request(url) == ("POST", {"type": "meta"})
    # meta entries as Hyperliquid returns them (universe order = asset ids; MATIC is delisted)
    meta = {"universe": [
        {"szDecimals": 5, "name": "BTC", "maxLeverage": 40, "marginTableId": 56},
        {"szDecimals": 4, "name": "ETH", "maxLeverage": 25, "marginTableId": 55},
        {"szDecimals": 2, "name": "ATOM", "maxLeverage": 5, "marginTableId": 5},
        {"szDecimals": 1, "name": "MATIC", "maxLeverage": 20, "marginTableId": 20, "isDelisted": True},
        {"szDecimals": 0, "name": "kPEPE", "maxLeverage": 10, "marginTableId": 52},
    ], "marginTables": [], "collateralToken": 0}
    insts = hl.parse_instruments(url, msgspec.json.encode(meta))
    assert [i.symbol for i in insts] == ["BTCUSDT", "ETHUSDT", "ATOMUSDT", "1000PEPEUSDT"]
    assert hl.parse_instruments("https://api.hyperliquid.xyz/info#l2Book", b"{}") == []
    assert hl.asset_names == {0: "BTC", 1: "ETH", 2: "ATOM", 3: "MATIC", 4: "kPEPE"}


def test_all_dexs_follows_the_fetched_universe(samples):
    """After meta, allDexsAssetCtxs names assets by the fetched order (here ATOM, index 2)."""
    r = Replayer()
    hl = r._venue(HL, "")[0]
    r.registry.add(hl.parse_instruments(hl.instruments_urls()[0], msgspec.json.encode(
        {"universe": [{"szDecimals": 5, "name": "BTC"}, {"szDecimals": 4, "name": "ETH"},
                      {"szDecimals": 2, "name": "ATOM"}]})))
    items = r.decoder(HL).decode((samples / "hyperliquid" / "nautilus__ws_all_dexs_asset_ctxs.json").read_bytes(), 3)
    assert sorted({e.symbol for e in items}) == ["ATOMUSDT", "BTCUSDT", "ETHUSDT"]
    atom = next(e for e in items if isinstance(e, MarkPrice) and e.symbol == "ATOMUSDT")
    assert (atom.mark_price, atom.index_price) == (2.1315, 2.1345)


def test_funding_settles_on_the_hour():
    assert next_funding_ns(0) == HOUR
    assert next_funding_ns(5 * HOUR) == 6 * HOUR
    assert next_funding_ns(5 * HOUR + 1) == 6 * HOUR
