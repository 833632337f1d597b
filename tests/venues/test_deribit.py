"""Deribit: real frames decoded field by field, book chains, gaps, errors, messages, instruments.

Real traffic: ../shared/venue-samples/deribit (cryptofeed 2021 capture of option books/tickers
over .raw channels; nautilus single frames of BTC-PERPETUAL trades, ticker, quote, grouped book,
chart and an error). The samples hold no liquidation-flagged trade, no heartbeat frames and no
linear-perp frame: those tests build frames from Deribit's documented message shapes and say so.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cryptoflow.errors import ConfigError, UnknownSymbolError
from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.feed.book import Applied
from cryptoflow.feed.capture_convert import convert_files, sample_groups
from cryptoflow.feed.replay import Replayer
from cryptoflow.symbols import InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import FULL_SNAPSHOTS, BookUpdate, Control, Link, Subscription, SyncMode

MS = 1_000_000
CAPTURE = "cryptofeed__DERIBIT.ws.1.0"


@pytest.fixture
def deribit():
    return get_venue("deribit", registry=InstrumentRegistry.bundled())


@pytest.fixture
def folder(samples: Path) -> Path:
    return samples / "deribit"


def _json(path: Path) -> bytes:
    """A pretty-printed single-frame sample, compacted as the wire would carry it."""
    return json.dumps(json.loads(path.read_text()), separators=(",", ":")).encode()


def _capture_frames(folder: Path, needle: str) -> list[bytes]:
    return [
        line.split(": ", 1)[1].encode()
        for line in (folder / CAPTURE).read_text().splitlines()
        if needle in line and " <- " not in line
    ]


def _push(channel: str, data: object, compact: bool = True) -> bytes:
    """A subscription push; compact frames have the live key layout (the decoder's fast path)."""
    frame = {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}
    return json.dumps(frame, separators=(",", ":") if compact else None).encode()


# ---- real frames, field by field ------------------------------------------------------------------
def test_trades_inverse_amount_is_usd(deribit, folder):
    dec = deribit.new_decoder()
    t1, t2 = dec.decode(_json(folder / "nautilus__ws_trades.json"), 7)
    assert t1 == Trade(
        "deribit", "perp", "BTCUSDT", 1765531356452 * MS, 7, 92294.5, 10.0 / 92294.5, "sell", "403691824"
    )
    assert t2 == Trade(
        "deribit", "perp", "BTCUSDT", 1765531356452 * MS, 7, 92288.5, 750.0 / 92288.5, "sell", "403691825"
    )
    assert t2.qty == pytest.approx(0.00812669)  # 750 USD = 75 contracts of 10 USD
    # the pretty-printed file (other key layout) takes the generic envelope path: same result
    assert dec.decode((folder / "nautilus__ws_trades.json").read_bytes(), 7) == [t1, t2]
    assert dec.decode((folder / "nautilus__ws_trades.json").read_text(), 7) == [t1, t2]
    assert dec.errors.total == 0


def test_ticker_gives_mark_funding_oi_ticker(deribit, folder):
    dec = deribit.new_decoder()
    items = dec.decode(_json(folder / "nautilus__ws_ticker.json"), 8)
    ts = 1765541474086 * MS
    mark, funding, oi, tick = items
    assert mark == MarkPrice("deribit", "perp", "BTCUSDT", ts, 8, 92281.78, 92263.55)
    # rate = funding_8h (trailing 8 h), predicted = current_funding, continuous funding: no next time
    assert funding == Funding("deribit", "perp", "BTCUSDT", ts, 8, 0.00001742, 0.0, None, 8.0)
    # open_interest is USD on inverse perps: base = USD / mark, notional = USD; no contract count
    assert oi == OpenInterest("deribit", "perp", "BTCUSDT", ts, 8, None, 1132329370.0 / 92281.78, 1132329370.0)
    assert tick == Ticker24h(
        "deribit", "perp", "BTCUSDT", ts, 8, 92283.5, None, 93612.0, 89277.5, 11897.27640428, 1092371540.0, None, 2.3275
    )
    assert not any(isinstance(i, BBO) for i in items)  # BBOs come from the quote channel only


def test_quote_is_bbo_in_base_units(deribit, folder):
    (bbo,) = deribit.new_decoder().decode(_json(folder / "nautilus__ws_quote.json"), 9)
    assert bbo == BBO(
        "deribit", "perp", "BTCUSDT", 1765541767174 * MS, 9, 92288.0, 133440.0 / 92288.0, 92288.5, 99470.0 / 92288.5
    )
    assert bbo.update_id is None


def test_grouped_book_is_a_full_snapshot(deribit, folder):
    (upd,) = deribit.new_decoder().decode(_json(folder / "nautilus__ws_book_grouped_snapshot.json"), 10)
    assert isinstance(upd, BookUpdate)
    assert (upd.snapshot, upd.sync, upd.seq, upd.instrument, upd.symbol, upd.market) == (
        True,
        FULL_SNAPSHOTS,
        136725664747,
        "BTC-PERPETUAL",
        "BTCUSDT",
        "perp",
    )
    assert upd.ts == 1769246173071 * MS and len(upd.bids) == len(upd.asks) == 10
    assert upd.bids[0] == (89532.5, 254900.0 / 89532.5) and upd.asks[-1] == (89545.5, 29500.0 / 89545.5)


def test_chart_candle(deribit, folder):
    (c,) = deribit.new_decoder().decode(_json(folder / "nautilus__ws_chart.json"), 11)
    t = 1767200040000 * MS
    assert c == Candle(
        "deribit",
        "perp",
        "BTCUSDT",
        t,
        11,
        "1m",
        t,
        87490.0,
        87500.0,
        87465.0,
        87474.0,
        0.95978896,
        83970.0,
        None,
        False,
    )


def test_error_frame(deribit, folder):
    assert deribit.new_decoder().decode(_json(folder / "nautilus__ws_error.json"), 12) == [
        Control("error", "10028 too_many_requests (request 1)")
    ]


def test_capture_ack_option_books_and_skipped_option_tickers(deribit, folder):
    dec = deribit.new_decoder()
    (ack,) = _capture_frames(folder, '"id":0,"result"')
    assert dec.decode(ack, 1) == [Control("ack", "0")]
    snap_frame, change_frame = _capture_frames(folder, '"channel":"book.ETH-30JUL21-2800-C.raw"')[:2]
    (snap,) = dec.decode(snap_frame, 2)
    # options: amounts are ETH already; market "option", symbol = native name (books only)
    assert (snap.market, snap.symbol, snap.instrument, snap.snapshot, snap.seq) == (
        "option",
        "ETH-30JUL21-2800-C",
        "ETH-30JUL21-2800-C",
        True,
        13169025645,
    )
    assert snap.sync.mode == SyncMode.STREAM_SEQ and snap.sync.link == Link.PREV
    assert snap.bids == [(0.0015, 4714.0), (0.001, 861.0), (0.0005, 1.0)] and snap.asks[0] == (0.0025, 873.0)
    assert snap.ts == 1626993723632 * MS
    (chg,) = dec.decode(change_frame, 3)
    assert (chg.snapshot, chg.prev_seq, chg.seq, chg.bids, chg.asks) == (
        False,
        13169025645,
        13169031288,
        [(0.0015, 4737.0)],
        [],
    )
    delete = next(f for f in _capture_frames(folder, '"channel":"book.BTC-24SEP21-8000-P.raw"') if b'"delete"' in f)
    (d,) = dec.decode(delete, 4)
    assert d.asks == [(0.001, 0.0)] and (d.prev_seq, d.seq) == (33195894355, 33195894358)
    tick = _capture_frames(folder, '"channel":"ticker.ETH-30JUL21-2800-C.raw"')[0]
    assert dec.decode(tick, 5) == [] and dec.unknown_frames == 1  # option ticker: recognised, not stored
    assert dec.errors.total == 0


# ---- frames built from Deribit's documented shapes (no capture has them) --------------------------
def _trade(direction: str, amount: float, price: float, instrument: str = "BTC-PERPETUAL", **extra) -> dict:
    return {
        "trade_seq": 1,
        "trade_id": "9178",
        "timestamp": 1550736299753,
        "tick_direction": 3,
        "price": price,
        "instrument_name": instrument,
        "index_price": price,
        "direction": direction,
        "amount": amount,
        **extra,
    }


@pytest.mark.parametrize(
    "flag,direction,positions",
    [
        ("T", "sell", ["long"]),  # a liquidated taker selling was long
        ("T", "buy", ["short"]),
        ("M", "buy", ["long"]),  # a liquidated maker filled a buy: it sold, so it was long
        ("M", "sell", ["short"]),
        ("MT", "sell", ["long", "short"]),  # both sides liquidated: one long, one short
    ],
)
def test_liquidation_flag_gives_position_side(deribit, flag, direction, positions):
    """Documented field: liquidation "M" maker / "T" taker / "MT" both were under liquidation."""
    frame = _push("trades.BTC-PERPETUAL.100ms", [_trade(direction, 1000.0, 50000.0, liquidation=flag)])
    trade, *liqs = deribit.new_decoder().decode(frame, 1)
    assert isinstance(trade, Trade) and trade.side == direction and trade.qty == 0.02
    assert [liq.side for liq in liqs] == positions
    for liq in liqs:
        assert liq == Liquidation("deribit", "perp", "BTCUSDT", 1550736299753 * MS, 1, liq.side, 50000.0, 0.02, 1000.0)


def test_linear_perp_amounts_are_base_coins(deribit):
    dec = deribit.new_decoder()
    (t,) = dec.decode(_push("trades.SOL_USDC-PERPETUAL.100ms", [_trade("buy", 12.5, 150.0, "SOL_USDC-PERPETUAL")]), 1)
    assert (t.symbol, t.qty, t.price, t.side) == ("SOLUSDT", 12.5, 150.0, "buy")
    ticker = {
        "timestamp": 1,
        "instrument_name": "XRP_USDC-PERPETUAL",
        "mark_price": 2.0,
        "index_price": 2.001,
        "open_interest": 1000.0,
        "funding_8h": -0.0001,
        "current_funding": 0.0,
        "last_price": None,
        "state": "open",
    }
    mark, funding, oi = dec.decode(_push("ticker.XRP_USDC-PERPETUAL.100ms", ticker), 2)
    assert oi == OpenInterest("deribit", "perp", "XRPUSDT", 1 * MS, 2, None, 1000.0, 2000.0)
    assert funding.rate == -0.0001 and mark.mark_price == 2.0  # no last price: no Ticker24h


def test_heartbeats_and_responses(deribit):
    dec = deribit.new_decoder()
    (ping,) = dec.decode(b'{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}', 1)
    assert ping == Control("ping", "test_request", '{"jsonrpc":"2.0","id":2,"method":"public/test","params":{}}')
    assert dec.decode(b'{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"heartbeat"}}', 2) == [
        Control("info", "heartbeat")
    ]
    assert dec.decode(b'{"jsonrpc":"2.0","id":1,"result":"ok","usIn":1,"usOut":2,"usDiff":1,"testnet":false}', 3) == [
        Control("ack", "1")
    ]
    assert dec.decode(b'{"jsonrpc":"2.0","id":2,"result":{"version":"1.2.26"}}', 4) == [Control("pong", "2")]
    assert dec.decode(b'{"jsonrpc":"2.0","id":1000000,"result":["trades.BTC-PERPETUAL.100ms"]}', 5) == [
        Control("unsubscribed", "1000000")
    ]
    assert dec.errors.total == 0


# ---- replay of every sample session ---------------------------------------------------------------
_EXPECTED = {
    # events, controls, unknown frames, (books, book updates)
    "cryptofeed__DERIBIT": ({"book": 46}, {"ack": 1}, 89, (10, 46)),
    "nautilus__ws_book_grouped_snapshot.json": ({"book": 1}, {}, 0, (1, 1)),
    "nautilus__ws_chart.json": ({"candle": 1}, {}, 0, (0, 0)),
    "nautilus__ws_error.json": ({}, {"error": 1}, 0, (0, 0)),
    "nautilus__ws_quote.json": ({"bbo": 1}, {}, 0, (0, 0)),
    "nautilus__ws_ticker.json": ({"mark_price": 1, "funding": 1, "open_interest": 1, "ticker": 1}, {}, 0, (0, 0)),
    "nautilus__ws_trades.json": ({"trade": 2}, {}, 0, (0, 0)),
}


def test_every_sample_replays_cleanly(folder):
    groups = sample_groups(folder)
    assert set(groups) == set(_EXPECTED)
    for name, files in groups.items():
        events, controls, unknown, (books, updates) = _EXPECTED[name]
        r = Replayer()
        r.feed(convert_files(files, "deribit"))
        rep = r.report()
        assert rep["decode_errors"] == {}, name
        assert {k: v for k, v in rep["events"].items() if v} == events, name
        assert rep["controls"] == controls and rep["unknown_frames"] == unknown, name
        b = rep["book"]
        assert (b["books"], b["valid_books"], b["updates"], b["gaps"]) == (books, books, updates, 0), name


def test_injected_gap_resyncs_only_that_book(folder):
    recs = convert_files(sample_groups(folder)["cryptofeed__DERIBIT"], "deribit")
    needle = '"channel":"book.BTC-24SEP21-8000-P.raw"'
    mine = [i for i, r in enumerate(recs) if r.kind == "ws" and needle in r.data]
    dropped = mine[len(mine) // 2]
    assert '"type":"change"' in recs[dropped].data
    r = Replayer()
    r.feed(recs[:dropped] + recs[dropped + 1 :])
    key = ("deribit", "option", "BTC-24SEP21-8000-P")  # books are keyed (venue, market, instrument)
    book = r.engine.book("deribit", "BTC-24SEP21-8000-P", "option")
    assert book is not None and book.gaps == 1 and not book.valid
    assert key in r.engine.pending_resync
    others = [b for k, b in r.engine.books.items() if k != key]
    assert len(others) == 9 and all(b.valid and b.gaps == 0 for b in others)
    # resubscribing brings a new snapshot: replay the instrument's snapshot frame with a later id
    snap = json.loads(recs[mine[0]].data)
    snap["params"]["data"]["change_id"] = 33195898166
    (upd,) = get_venue("deribit", registry=r.registry).new_decoder().decode(json.dumps(snap).encode(), 0)
    assert r.engine.apply(upd) == Applied.APPLIED
    assert book.valid and book.resyncs == 1 and key not in r.engine.pending_resync


# ---- malformed frames -------------------------------------------------------------------------------
def test_malformed_frames_are_counted_never_raised(deribit):
    dec = deribit.new_decoder()
    good = _push("trades.BTC-PERPETUAL.100ms", [_trade("buy", 100.0, 50000.0)])
    assert good.startswith(b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.')
    assert dec.decode(good[:120], 1) == []  # truncated after the channel name (fast path)
    assert dec.decode(good[:40], 1) == []  # truncated before it (envelope path)
    assert dec.decode(good.replace(b'"price":50000.0', b'"price":"abc"'), 1) == []
    pretty = _push("trades.BTC-PERPETUAL.100ms", [_trade("buy", 100.0, 50000.0)], compact=False)
    assert dec.decode(pretty.replace(b'"price": 50000.0', b'"price": "abc"'), 1) == []
    assert dec.decode(good.replace(b'"direction":"buy"', b'"direction":"up"'), 1) == []
    assert dec.decode(good.replace(b"BTC-PERPETUAL", b"DOGE_USDC-PERPETUAL"), 1) == []  # not listed, not inferable
    assert dec.decode(_push("mystery.BTC-PERPETUAL", {}), 1) == []
    assert dec.decode(_push("chart.trades.BTC-PERPETUAL.7", {}), 1) == []
    book = {"type": "change", "timestamp": 1, "instrument_name": "BTC-PERPETUAL", "change_id": 2, "prev_change_id": 1}
    assert dec.decode(_push("book.BTC-PERPETUAL.100ms", {**book, "bids": [["move", 1.0, 1.0]], "asks": []}), 1) == []
    assert dec.decode(_push("book.BTC-PERPETUAL.100ms", {**book, "type": "delta", "bids": [], "asks": []}), 1) == []
    assert dec.errors.counts == {
        "malformed": 2,
        "schema": 2,
        "bad_side": 1,
        "unknown_instrument": 1,
        "unknown_channel": 1,
        "unknown_resolution": 1,
        "bad_book_action": 1,
        "bad_book_type": 1,
    }
    (t,) = dec.decode(good, 2)
    assert (t.symbol, t.price, t.qty, t.side) == ("BTCUSDT", 50000.0, 0.002, "buy")
    assert dec.decode(pretty, 3)[0] == Trade("deribit", "perp", "BTCUSDT", t.ts, 3, 50000.0, 0.002, "buy", "9178")


# ---- messages --------------------------------------------------------------------------------------
def test_connect_subscribe_unsubscribe_messages(deribit):
    btc = deribit.instrument("BTCUSDT")
    assert deribit.connect_messages() == [
        '{"jsonrpc":"2.0","id":1,"method":"public/set_heartbeat","params":{"interval":30}}'
    ]
    assert deribit.ping_interval_s is None and deribit.ping_message() is None  # the server drives heartbeats
    subs = [Subscription(s, btc) for s in ("trade", "liquidation", "bbo", "book", "mark_price", "funding", "ticker")]
    subs += [Subscription("open_interest", btc), Subscription("candle", btc, interval="1h")]
    subs.append(Subscription("book", deribit.instrument("ETHUSDT"), depth=5))
    (msg,) = deribit.subscribe_messages(subs)
    assert msg == (
        '{"jsonrpc":"2.0","id":10,"method":"public/subscribe","params":{"channels":["trades.BTC-PERPETUAL.100ms",'
        '"quote.BTC-PERPETUAL","book.BTC-PERPETUAL.100ms","ticker.BTC-PERPETUAL.100ms",'
        '"chart.trades.BTC-PERPETUAL.60","book.ETH-PERPETUAL.none.10.100ms"]}}'
    )
    (unsub,) = deribit.unsubscribe_messages(subs[:1])
    assert unsub == (
        '{"jsonrpc":"2.0","id":1000000,"method":"public/unsubscribe","params":{"channels":["trades.BTC-PERPETUAL.100ms"]}}'
    )
    plans = deribit.plan_connections(subs)
    assert [p.url for p in plans] == ["wss://www.deribit.com/ws/api/v2"] and plans[0].subscribe == (msg,)
    with pytest.raises(ConfigError, match="4h"):
        deribit.subscribe_messages([Subscription("candle", btc, interval="4h")])


def test_subscribe_shape_matches_the_capture(deribit, folder):
    """The 2021 capture subscribed .raw channels (auth needed today); ours are the same with .100ms."""
    sent = next(line for line in (folder / CAPTURE).read_text().splitlines() if " <- " in line).split(": ", 1)[1]
    theirs = json.loads(sent)
    kinds = {"book": "book", "trades": "trade", "ticker": "ticker"}
    subs = [Subscription(kinds[c.split(".")[0]], deribit.lookup(c.split(".")[1])) for c in theirs["params"]["channels"]]
    (ours,) = deribit.subscribe_messages(subs)
    mine = json.loads(ours)
    assert list(mine) == list(theirs) == ["jsonrpc", "id", "method", "params"]
    assert mine["method"] == theirs["method"] and mine["jsonrpc"] == theirs["jsonrpc"]
    channels = [c.replace(".raw", ".100ms") for c in theirs["params"]["channels"]]
    channels = list(dict.fromkeys(channels))
    assert mine["params"]["channels"] == channels


def test_many_channels_are_batched(deribit):
    insts = [deribit.lookup(f"BTC-{d}JAN30-{k}000-C") for d in (10, 11) for k in range(1, 76)]
    msgs = deribit.subscribe_messages([Subscription("book", i) for i in insts])
    assert [len(json.loads(m)["params"]["channels"]) for m in msgs] == [100, 50]
    assert [json.loads(m)["id"] for m in msgs] == [10, 11]


# ---- instruments ------------------------------------------------------------------------------------
def test_bundled_table_and_units(deribit):
    btc, eth, sol, xrp = (deribit.instrument(s) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"))
    assert (btc.native, btc.contract_type, btc.quote) == ("BTC-PERPETUAL", "inverse", "USD")
    assert (eth.native, sol.native, xrp.native) == ("ETH-PERPETUAL", "SOL_USDC-PERPETUAL", "XRP_USDC-PERPETUAL")
    assert btc.to_base(10.0, 50000.0) == 0.0002 and eth.to_base(3000.0, 3000.0) == 1.0
    assert sol.to_base(2.5, 150.0) == 2.5 and xrp.contract_type == "linear"
    for missing in ("ARUSDT", "BRETTUSDT", "POPCATUSDT", "WIFUSDT", "PNUTUSDT"):
        with pytest.raises(UnknownSymbolError, match="deribit does not list"):
            deribit.instrument(missing)


def test_infer_from_names(deribit):
    ada = deribit.infer_instrument("ADA-PERPETUAL")
    assert (ada.symbol, ada.market, ada.contract_type, ada.quote) == ("ADAUSDT", "perp", "inverse", "USD")
    fut = deribit.infer_instrument("BTC-24SEP21")
    assert (fut.market, fut.symbol, fut.contract_type) == ("future", "BTC-24SEP21", "inverse")
    opt = deribit.infer_instrument("XRP_USDC-27DEC24-0d625-C")
    assert (opt.market, opt.base, opt.quote, opt.contract_type) == ("option", "XRP", "USDC", "linear")
    assert deribit.infer_instrument("SOL_USDC-PERPETUAL") is None  # main-perp rule needs the listing
    assert deribit.infer_instrument("BTC-FS-27MAR26_PERP") is None


def test_parse_instruments_main_perp_rule(deribit):
    def row(name, base, quote, typ, period="perpetual", kind="future", active=True, tick=0.01):
        return {
            "instrument_name": name,
            "kind": kind,
            "base_currency": base,
            "quote_currency": quote,
            "counter_currency": quote,
            "settlement_period": period,
            "instrument_type": typ,
            "is_active": active,
            "contract_size": 10.0,
            "min_trade_amount": 10.0,
            "tick_size": tick,
        }

    body = {
        "jsonrpc": "2.0",
        "result": [
            row("BTC-PERPETUAL", "BTC", "USD", "reversed", tick=0.5),
            row("BTC_USDC-PERPETUAL", "BTC", "USDC", "linear"),
            row("BTC_USDT-PERPETUAL", "BTC", "USDT", "linear"),
            row("SOL_USDT-PERPETUAL", "SOL", "USDT", "linear"),
            row("SOL_USDC-PERPETUAL", "SOL", "USDC", "linear"),
            row("LINK_USDT-PERPETUAL", "LINK", "USDT", "linear"),
            row("BTC-27MAR26", "BTC", "USD", "reversed", period="month"),
            row("DOGE_USDC-PERPETUAL", "DOGE", "USDC", "linear", active=False),
        ],
        "usIn": 1,
        "usOut": 2,
        "usDiff": 1,
        "testnet": False,
    }
    url = deribit.instruments_urls()[0]
    assert url == "https://www.deribit.com/api/v2/public/get_instruments?currency=any&kind=future"
    insts = {i.native: i for i in deribit.parse_instruments(url, json.dumps(body).encode())}
    assert {n: i.symbol for n, i in insts.items()} == {
        "BTC-PERPETUAL": "BTCUSDT",
        "BTC_USDC-PERPETUAL": "BTCUSDC",
        "SOL_USDC-PERPETUAL": "SOLUSDT",
        "LINK_USDT-PERPETUAL": "LINKUSDT",
    }
    btc = insts["BTC-PERPETUAL"]
    assert (btc.contract_type, btc.contract_size, btc.quote, btc.tick_size) == ("inverse", 1.0, "USD", 0.5)
    assert insts["BTC_USDC-PERPETUAL"].contract_type == "linear"
    assert deribit.parse_instruments("https://www.deribit.com/api/v2/public/get_time", b"{}") == []
