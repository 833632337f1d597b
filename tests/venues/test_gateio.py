"""Gate.io USDT futures: real frames field by field (contracts -> base), book rebuilds from the
REST snapshots, injected gaps, malformed frames, and the exact subscribe/ping messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.feed.book import Applied
from cryptoflow.feed.capture_convert import convert_files, sample_groups
from cryptoflow.feed.replay import Replayer
from cryptoflow.symbols import Instrument, InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import BookUpdate, Control, Subscription, SyncMode
from cryptoflow.venues.gateio import subscribe

MS = 1_000_000
S = 1_000_000_000
CF = "cryptofeed__GATEIO_FUTURES"

# The 2023 capture's contracts are not in the bundled table. Their quanto multipliers, as Gate's
# /futures/usdt/contracts listed them in early 2023, were copied into the offline table of
# github.com/crypto-crawler/crypto-msg-parser, crypto-contract-value/src/exchanges/gate.rs
# @03824d844a78e64e164c032da5179cc7ce2616d4. RDNT and PHB were listed later and are not in it: their
# multiplier here is an ASSUMPTION (1.0), test-only; book sequencing does not depend on it.
SAMPLE_MULTIPLIERS = {
    "DIA": 1.0,
    "LIT": 1.0,
    "ZRX": 1.0,
    "WOO": 1.0,
    "QUICK": 0.01,
    "OMG": 1.0,
    "FRONT": 1.0,
    "SFP": 1.0,
    "RDNT": 1.0,  # assumed
    "PHB": 1.0,  # assumed
}


def _sample_registry() -> InstrumentRegistry:
    reg = InstrumentRegistry.bundled()
    reg.add(
        Instrument("gateio", f"{b}_USDT", f"{b}USDT", "perp", b, "USDT", "linear", m)
        for b, m in SAMPLE_MULTIPLIERS.items()
    )
    return reg


@pytest.fixture
def gate():
    return get_venue("gateio", registry=_sample_registry())


def _frame(path: Path, needle: str) -> bytes:
    for line in path.read_text().splitlines():
        if needle in line and " <- " not in line:
            return line.split(": ", 1)[1].encode()
    raise AssertionError(f"{needle} not in {path}")


def _rest(path: Path, contract: str) -> tuple[str, bytes]:
    for line in path.read_text().splitlines():
        if f"contract={contract}&" in line:
            url, rest = line.split(" -> ", 1)
            return url, rest.split(": ", 1)[1].encode()
    raise AssertionError(contract)


# ---- 1. real frames, field by field ---------------------------------------------------------------
def test_real_book_frames_in_base_units(gate, samples):
    folder = samples / "gateio_futures"
    ws = folder / f"{CF}.ws.1.0"
    dec = gate.new_decoder()
    (upd,) = dec.decode(_frame(ws, '"U":124930262'), 7)
    assert isinstance(upd, BookUpdate) and not upd.snapshot
    assert (upd.venue, upd.market, upd.symbol, upd.instrument) == ("gateio", "perp", "QUICKUSDT", "QUICK_USDT")
    assert (upd.first_seq, upd.seq, upd.prev_seq, upd.ts, upd.ts_recv) == (
        124930262,
        124930263,
        -1,
        1684930167521 * MS,
        7,
    )
    assert upd.bids == []
    # sizes are contracts on the wire: QUICK_USDT was 0.01 QUICK per contract
    assert upd.asks == [
        (p, s * 0.01) for p, s in ((57.41, 189), (57.5, 0), (57.42, 4572), (83.87, 500), (59.84, 1), (57.83, 481))
    ]
    assert upd.sync.mode == SyncMode.REST_DIFF and upd.sync.rest_offset == 1

    url, body = _rest(folder / f"{CF}.http.0.0", "QUICK_USDT")
    (snap,) = gate.parse_rest(url, body, 8)
    assert snap.snapshot and (snap.seq, snap.first_seq, snap.symbol) == (124930263, 124930263, "QUICKUSDT")
    assert snap.ts == 1684930167522 * MS  # "update": the book's own time, float seconds
    assert snap.asks[:2] == [(57.0, 46 * 0.01), (57.01, 601 * 0.01)]
    assert len(snap.bids) == len(json.loads(body)["bids"]) and snap.bids[0][0] == 56.91

    (bbo,) = dec.decode(_frame(ws, '"u":536375574'), 9)
    assert bbo == BBO("gateio", "perp", "WOOUSDT", 1684930167313 * MS, 9, 0.21, 3319.0, 0.2103, 5247.0, 536375574)

    (candle,) = dec.decode(_frame(ws, "1m_FRONT_USDT"), 10)
    # a candle row carries only its open time: the frame's time_ms is the event time
    assert candle == Candle(
        "gateio",
        "perp",
        "FRONTUSDT",
        1684930165934 * MS,
        10,
        "1m",
        1684930140 * S,
        0.1701,
        0.1701,
        0.1701,
        0.1701,
        0.0,
        None,
        None,
        False,
    )
    assert dec.decode(_frame(ws, '"channel":"futures.trades","event":"subscribe","result"'), 11) == [
        Control("ack", "futures.trades")
    ]
    assert dec.errors.total == 0 and dec.unknown_frames == 0


def test_real_ticker_frame_feeds_mark_funding_oi_and_ticker(gate, samples):
    recv = samples / "gateio_futures" / "ccxt_static__futures_tickers_BTC_USDT.recv.jsonl"
    ack, first, _ = recv.read_text().splitlines()
    dec = gate.new_decoder()
    assert dec.decode(ack.encode(), 1) == [Control("ack", "futures.tickers")]
    mark, funding, oi, tick = dec.decode(first.encode(), 2)
    ts = 1786540617093 * MS
    assert mark == MarkPrice("gateio", "perp", "BTCUSDT", ts, 2, 63964.8, 63989.2)
    assert funding == Funding("gateio", "perp", "BTCUSDT", ts, 2, 0.000052, 0.000052, 1786550400 * S, 8.0)
    # total_size is open interest in contracts; BTC_USDT is 0.0001 BTC per contract
    assert oi == OpenInterest(
        "gateio", "perp", "BTCUSDT", ts, 2, 658216984.0, 658216984 * 0.0001, 658216984 * 0.0001 * 63964.8
    )
    assert tick == Ticker24h(
        "gateio",
        "perp",
        "BTCUSDT",
        ts,
        2,
        63964.7,
        63964.7 - -331.2,
        64443.9,
        63209.0,
        39369.0687,
        2518230674.0,
        -331.2,
        -0.5151,
    )
    # the frame's own volumes confirm the bundled multiplier: base / contracts = 0.0001
    row = json.loads(first)["result"][0]
    assert float(row["volume_24h_base"]) / float(row["volume_24h"]) == pytest.approx(
        gate.instrument("BTCUSDT").contract_size
    )


def test_docs_examples_trades_liquidations_pong(gate):
    """Gate futures WS v4 documentation examples (not live traffic): the samples hold no trade,
    liquidation or pong frame. Contracts renamed from the docs' BTC_USD to BTC_USDT."""
    dec = gate.new_decoder()
    trades = (
        b'{"channel":"futures.trades","event":"update","time":1541503698,"time_ms":1541503698123,"result":['
        b'{"size":-108,"id":27753479,"create_time":1545136464,"create_time_ms":1545136464123,"price":"96.4",'
        b'"contract":"BTC_USDT"},'
        b'{"size":"25","id":27753480,"create_time":1545136465,"price":"96.5","contract":"BTC_USDT"},'
        b'{"size":3,"id":27753481,"create_time":1545136465,"create_time_ms":1545136465000,"price":"90",'
        b'"contract":"BTC_USDT","is_internal":true}]}'
    )
    sell, buy = dec.decode(trades, 5)
    assert sell == Trade("gateio", "perp", "BTCUSDT", 1545136464123 * MS, 5, 96.4, 108 * 0.0001, "sell", "27753479")
    assert buy == Trade("gateio", "perp", "BTCUSDT", 1545136465 * S, 5, 96.5, 25 * 0.0001, "buy", "27753480")
    assert dec.internal_trades == 1  # insurance-fund/ADL takeover: not a market match

    # 2026-08 docs: rows batched per contract, size a string (X-Gate-Size-Decimal), time in ms
    liqs = (
        b'{"channel":"futures.public_liquidates","event":"update","time":1541505434,"time_ms":1541505434123,'
        b'"result":[{"price":"215.1","size":"-124.5","time":1541486601123,"contract":"BTC_USDT"},'
        b'{"price":"215.2","size":"10","time":1541486601456,"contract":"BTC_USDT"}]}'
    )
    long_liq, short_liq = dec.decode(liqs, 6)
    qty = 124.5 * 0.0001
    assert long_liq == Liquidation("gateio", "perp", "BTCUSDT", 1541486601123 * MS, 6, "long", 215.1, qty, 215.1 * qty)
    assert (short_liq.side, short_liq.qty, short_liq.ts) == ("short", 10 * 0.0001, 1541486601456 * MS)
    # older docs: integer size, time in seconds
    (old,) = dec.decode(
        b'{"channel":"futures.public_liquidates","event":"update","time":1541505434,"time_ms":1541505434123,'
        b'"result":[{"price":"215.1","size":-124,"time":1541486601,"contract":"BTC_USDT"}]}',
        7,
    )
    assert (old.side, old.ts, old.qty) == ("long", 1541486601 * S, 124 * 0.0001)

    pong = b'{"time":1545404023,"time_ms":1545404023123,"channel":"futures.pong","event":"","result":null}'
    assert dec.decode(pong, 8) == [Control("pong")]
    unsub = (
        b'{"time":1545404900,"time_ms":1545404900123,"channel":"futures.tickers","event":"unsubscribe",'
        b'"result":{"status":"success"}}'
    )
    assert dec.decode(unsub, 9) == [Control("unsubscribed", "futures.tickers")]
    err = (
        b'{"time":1,"channel":"futures.trades","event":"subscribe",'
        b'"error":{"code":2,"message":"unknown contract X"},"result":null}'
    )
    assert dec.decode(err, 10) == [Control("error", "futures.trades subscribe: unknown contract X (code 2)")]
    # docs: an empty side is an empty price string and size 0 -> no BBO, counted
    one_sided = (
        b'{"channel":"futures.book_ticker","event":"update",'
        b'"result":{"t":1,"u":2,"s":"BTC_USDT","b":"","B":0,"a":"9","A":1}}'
    )
    assert dec.decode(one_sided, 11) == [] and dec.one_sided_bbo == 1
    upgrade = (
        b'{"time":1782378978,"time_ms":1782378978107,"channel":"futures.system","event":"update","result":'
        b'{"type":"upgrade","msg":"The connection will soon be closed for a service upgrade. Please reconnect."}}'
    )
    assert dec.decode(upgrade, 12) == [
        Control("info", "upgrade: The connection will soon be closed for a service upgrade. Please reconnect.")
    ]
    assert dec.errors.total == 0


def test_rest_contracts_become_instruments(gate):
    """Gate API v4 docs example row for /futures/usdt/contracts, plus an inverse and a delisted row."""
    body = json.dumps(
        [
            {
                "name": "BTC_USDT",
                "type": "direct",
                "quanto_multiplier": "0.0001",
                "order_price_round": "0.1",
                "mark_price": "37985.6",
                "in_delisting": False,
            },
            {"name": "BTC_USD", "type": "inverse", "quanto_multiplier": "0"},
            {"name": "OLD_USDT", "type": "direct", "quanto_multiplier": "1", "status": "delisted"},
        ]
    ).encode()
    (btc,) = gate.parse_instruments("https://api.gateio.ws/api/v4/futures/usdt/contracts", body)
    assert btc == Instrument("gateio", "BTC_USDT", "BTCUSDT", "perp", "BTC", "USDT", "linear", 0.0001, 0.1)
    assert gate.instruments_urls() == ["https://api.gateio.ws/api/v4/futures/usdt/contracts"]
    assert gate.parse_instruments("https://api.gateio.ws/api/v4/futures/usdt/order_book?contract=X", body) == []


def test_bundled_instruments():
    reg = InstrumentRegistry.bundled()
    sizes = {i.symbol: i.contract_size for i in reg.instruments("gateio")}
    assert sizes == {"BTCUSDT": 0.0001, "ETHUSDT": 0.01, "SOLUSDT": 1.0, "XRPUSDT": 10.0, "ARUSDT": 0.1}
    assert all(i.native == i.base + "_USDT" and i.contract_type == "linear" for i in reg.instruments("gateio"))
    assert get_venue("gateio").infer_instrument("WIF_USDT") is None  # sizes are per contract: never guessed


# ---- 2. replay every sample session ----------------------------------------------------------------
def _replay(samples: Path, name: str) -> Replayer:
    r = Replayer(_sample_registry())
    r.feed(convert_files(sample_groups(samples / "gateio_futures")[name], "gateio"))
    return r


def test_every_sample_session_replays(samples):
    assert set(sample_groups(samples / "gateio_futures")) == {CF, "ccxt_static__futures_tickers_BTC_USDT.recv.jsonl"}
    rep = _replay(samples, CF).report()
    assert rep["decode_errors"] == {} and rep["unknown_frames"] == 0
    assert rep["controls"] == {"ack": 22}
    ev = rep["events"]
    assert (ev["bbo"], ev["candle"], ev["trade"], ev["book"]) == (75, 1, 0, 326)  # 316 diffs + 10 snapshots
    book = rep["book"]
    # DIA_USDT had no diff after its snapshot: it waits to bridge; the 9 others rebuild
    assert (book["books"], book["valid_books"], book["gaps"], book["updates"]) == (10, 9, 0, 326)
    assert rep["bbo_check"]["matched"] > 10 and rep["bbo_check"]["mismatched"] == 0

    rep = _replay(samples, "ccxt_static__futures_tickers_BTC_USDT.recv.jsonl").report()
    assert rep["decode_errors"] == {} and rep["controls"] == {"ack": 1}
    assert {k: v for k, v in rep["events"].items() if v} == {
        "mark_price": 2,
        "funding": 2,
        "open_interest": 2,
        "ticker": 2,
    }


# ---- 3. injected gap ------------------------------------------------------------------------------------
def test_injected_gap_resyncs_only_that_book(samples):
    recs = convert_files(sample_groups(samples / "gateio_futures")[CF], "gateio")
    diffs = [i for i, r in enumerate(recs) if r.kind == "ws" and '"s":"OMG_USDT","t"' in r.data]
    dropped = diffs[len(diffs) // 2]
    r = Replayer(_sample_registry())
    r.feed(recs[:dropped] + recs[dropped + 1 :])
    omg = r.engine.book("gateio", "OMG_USDT")
    assert omg.gaps == 1 and not omg.valid and ("gateio", "perp", "OMG_USDT") in r.engine.pending_resync
    others = [b for (_, _m, native), b in r.engine.books.items() if native not in ("OMG_USDT", "DIA_USDT")]
    assert len(others) == 8 and all(b.gaps == 0 and b.valid for b in others)
    # a new REST snapshot whose id the last buffered diff bridges (U <= id + 1 <= u) resyncs it
    last = r.decoder("gateio").decode(recs[diffs[-1]].data.encode(), 0)[0]
    body = json.dumps(
        {
            "id": last.first_seq - 1,
            "current": 1.0,
            "update": 1.0,
            "bids": [{"p": "0.01", "s": 5}],
            "asks": [{"p": "99", "s": 5}],
        }
    ).encode()
    (snap,) = r.venues["gateio"].parse_rest(
        "https://api.gateio.ws/api/v4/futures/usdt/order_book?contract=OMG_USDT&limit=100&with_id=true", body, 0
    )
    assert r.engine.apply(snap) == Applied.APPLIED
    assert omg.resyncs == 1 and omg.valid and omg.seq == last.seq
    assert ("gateio", "perp", "OMG_USDT") not in r.engine.pending_resync


# ---- 4. malformed frames ------------------------------------------------------------------------------
def test_malformed_frames_are_counted_never_raised(gate):
    dec = gate.new_decoder()
    good = (
        b'{"time":1,"time_ms":1000,"channel":"futures.trades","event":"update","result":'
        b'[{"size":2,"id":9,"create_time":1,"create_time_ms":1000,"price":"50000.5","contract":"BTC_USDT"}]}'
    )
    assert dec.decode(good[:40], 1) == []  # truncated JSON
    assert dec.decode(good.replace(b'"50000.5"', b'"abc"'), 1) == []  # not a number
    assert dec.decode(good.replace(b'"id":9', b'"id":{"x":1}'), 1) == []  # wrong type
    assert dec.decode(good.replace(b"BTC_USDT", b"NOPE_USDT"), 1) == []  # not in the registry
    assert dec.decode(good.replace(b'"size":2', b'"size":0'), 1) == []  # no aggressor side
    assert dec.decode(b'{"channel":"futures.order_book_update","event":"update","result":{"s":"BTC_USDT"}}', 1) == []
    url = "https://api.gateio.ws/api/v4/futures/usdt/order_book?contract=BTC_USDT&limit=100"
    with pytest.raises(Exception, match="no_book_id"):  # the Replayer counts REST failures by type
        gate.parse_rest(url, b'{"asks":[],"bids":[]}', 1)
    assert dec.errors.counts == {"malformed": 1, "schema": 3, "unknown_instrument": 1, "bad_side": 1}
    (t,) = dec.decode(good, 2)
    assert (t.price, t.qty, t.side, t.ts) == (50000.5, 2 * 0.0001, "buy", 1000 * MS)
    # a channel we never subscribe to is not an error
    assert dec.decode(b'{"channel":"futures.contract_stats","event":"update","result":[]}', 3) == []
    assert dec.unknown_frames == 1 and dec.errors.total == 6


# ---- 5. subscribe / unsubscribe / ping messages --------------------------------------------------------
def test_subscribe_messages_match_the_captured_ones(gate, samples):
    sent = [
        json.loads(line.split(": ", 1)[1])
        for line in (samples / "gateio_futures" / f"{CF}.ws.1.0").read_text().splitlines()
        if " <- " in line
    ]
    contracts = [m["payload"][1] for m in sent if m["channel"] == "futures.candlesticks"]
    insts = [gate.lookup(c) for c in contracts]
    subs = [Subscription("candle", i, interval="1m") for i in insts]
    subs += [Subscription("trade", i) for i in insts] + [Subscription("book", i) for i in insts]
    subs += [Subscription("bbo", i) for i in insts]
    ours = [json.loads(m) for m in subscribe.messages("subscribe", subs, now=lambda: 1684930165.9)]
    # cryptofeed (2023) sent order_book_update without the optional level; we ask for 100 levels
    # explicitly, the depth of the REST snapshot
    expected = [
        {**m, "payload": [*m["payload"], "100"]} if m["channel"] == "futures.order_book_update" else m for m in sent
    ]

    def key(m: dict) -> tuple:
        return m["channel"], m["payload"]

    assert sorted(ours, key=key) == sorted(expected, key=key)
    assert len(ours) == 22

    # ccxt (2026) futures.tickers subscribe; ccxt adds a request id, which Gate echoes and we do not need
    sent_ccxt = samples / "gateio_futures" / "ccxt_static__futures_tickers_BTC_USDT.sent.jsonl"
    (ccxt,) = (json.loads(x) for x in sent_ccxt.read_text().splitlines())
    btc = gate.instrument("BTCUSDT")
    ticker_subs = [Subscription(k, btc) for k in ("mark_price", "funding", "open_interest", "ticker")]
    (msg,) = subscribe.messages("subscribe", ticker_subs, now=lambda: ccxt["time"])
    assert json.loads(msg) == {k: v for k, v in ccxt.items() if k != "id"}


def test_unsubscribe_ping_and_endpoints(gate):
    btc = gate.instrument("BTCUSDT")
    subs = [Subscription("book", btc, depth=20), Subscription("liquidation", btc), Subscription("candle", btc)]
    assert subscribe.messages("unsubscribe", subs, now=lambda: 7) == [
        '{"time":7,"channel":"futures.public_liquidates","event":"unsubscribe","payload":["BTC_USDT"]}',
        '{"time":7,"channel":"futures.order_book_update","event":"unsubscribe","payload":["BTC_USDT","100ms","20"]}',
        '{"time":7,"channel":"futures.candlesticks","event":"unsubscribe","payload":["1m","BTC_USDT"]}',
    ]
    (live,) = gate.unsubscribe_messages([Subscription("trade", btc)])
    assert json.loads(live)["event"] == "unsubscribe" and isinstance(json.loads(live)["time"], int)
    assert subscribe.ping(now=lambda: 1545404023.5) == '{"time":1545404023,"channel":"futures.ping"}'
    assert set(json.loads(gate.ping_message())) == {"time", "channel"} and gate.ping_interval_s
    plans = gate.plan_connections([Subscription(s, btc) for s in sorted(gate.streams["perp"])])
    assert [p.url for p in plans] == ["wss://fx-ws.gateio.ws/v4/ws/usdt"]
    assert len(plans[0].subscribe) == 6  # tickers shared by mark_price/funding/open_interest/ticker
    assert gate.book_snapshot_url(btc) == (
        "https://api.gateio.ws/api/v4/futures/usdt/order_book?contract=BTC_USDT&limit=100&with_id=true"
    )
    assert gate.open_interest_url(btc) is None  # OI comes with futures.tickers
    assert (gate.exchange, gate.book_sync.mode, gate.book_sync.rest_offset) == ("gate", SyncMode.REST_DIFF, 1)
    many = [
        Subscription("trade", Instrument("gateio", f"C{i}_USDT", f"C{i}USDT", "perp", f"C{i}", "USDT"))
        for i in range(250)
    ]
    assert [len(json.loads(m)["payload"]) for m in gate.subscribe_messages(many)] == [100, 100, 50]
