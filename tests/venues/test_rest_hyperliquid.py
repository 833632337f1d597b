"""Hyperliquid REST data: ``POST /info`` bodies and weights, parsers on recorded bodies (provenance in
rest_samples/hyperliquid/SOURCE.md), ``null`` / 422 refusals and 429 throttling."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from cryptoflow.errors import ConfigError
from cryptoflow.events import BookSnapshot, Candle, Funding, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.symbols import Instrument, InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.hyperliquid_rest import HyperliquidRestData
from cryptoflow.venues.rest_data import DataKind, DataQuery, RestDataError, rest_data_for

SAMPLES = Path(__file__).parent / "rest_samples" / "hyperliquid"
MS = 1_000_000
H = 3_600_000  # ms
T_RECV = 1_790_000_000_123 * MS


def body(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.fixture(scope="module")
def api() -> HyperliquidRestData:
    a = rest_data_for(get_venue("hyperliquid", registry=InstrumentRegistry.bundled()))
    assert isinstance(a, HyperliquidRestData)
    return a


@pytest.fixture(scope="module")
def btc(api: HyperliquidRestData) -> Instrument:
    return api.venue.instrument("BTCUSDT")


# ---- requests ------------------------------------------------------------------------------------
def test_requests_are_info_posts_with_documented_weights(api: HyperliquidRestData, btc: Instrument) -> None:
    start, end = 1_700_000_000_000 * MS, 1_700_003_600_000 * MS  # one hour
    call = api.request(api.check(DataQuery(DataKind.CANDLES, btc, "1m", start, end)))
    assert (call.method, call.url) == ("POST", "https://api.hyperliquid.xyz/info#candleSnapshot")
    assert call.json_body == {"type": "candleSnapshot", "req": {"coin": "BTC", "interval": "1m",
                                                                "startTime": 1_700_000_000_000,
                                                                "endTime": 1_700_003_599_999}}
    assert call.weight == 20 + 1  # 60 candles: 20 + 1 per 60 items
    full = api.request(api.check(DataQuery(DataKind.CANDLES, btc, "1m", start_ns=start)))
    assert full.json_body["req"]["endTime"] - full.json_body["req"]["startTime"] == 5000 * 60_000 - 1
    assert full.weight == 20 + 84
    fund = api.request(api.check(DataQuery(DataKind.FUNDING_HISTORY, btc, start_ns=start, end_ns=start + 100 * H * MS)))
    assert fund.json_body == {"type": "fundingHistory", "coin": "BTC", "startTime": 1_700_000_000_000,
                              "endTime": 1_700_000_000_000 + 100 * H - 1}
    assert fund.weight == 20 + 5  # 100 hourly rates: 20 + 1 per 20 items
    book = api.request(api.check(DataQuery(DataKind.ORDERBOOK, btc)))
    assert (book.url, book.json_body, book.weight) == ("https://api.hyperliquid.xyz/info#l2Book",
                                                       {"type": "l2Book", "coin": "BTC"}, 2)
    assert api.request(api.check(DataQuery(DataKind.TICKER, btc))).json_body == {"type": "metaAndAssetCtxs"}
    assert api.request(api.check(DataQuery(DataKind.TRADES, btc))).json_body == {"type": "recentTrades", "coin": "BTC"}
    assert api.request(api.check(DataQuery(DataKind.INSTRUMENTS))).json_body == {"type": "meta"}
    # the token bucket can always hold the heaviest request
    assert api.rate_limit[1] >= full.weight


def test_a_kind_hyperliquid_lacks_names_the_venues_with_it(api: HyperliquidRestData, btc: Instrument) -> None:
    # the registry fills as venue modules are imported; this file imported only hyperliquid's
    importlib.import_module("cryptoflow.venues.deribit.rest")
    with pytest.raises(ConfigError, match=r"hyperliquid has no 'options_summary' data; venues with it: .*deribit"):
        api.check(DataQuery(DataKind.OPTIONS_SUMMARY, btc))
    with pytest.raises(ConfigError, match="period '6h' not offered; use one of 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 8h"):
        api.check(DataQuery(DataKind.CANDLES, btc, "6h"))


# ---- parsers -------------------------------------------------------------------------------------
def test_candle_snapshot_kpepe(api: HyperliquidRestData) -> None:
    kpepe = api.venue.lookup("kPEPE")  # priced and sized per 1000 PEPE
    recs = api.parse(api.check(DataQuery(DataKind.CANDLES, kpepe, "1h")), body("candle_snapshot.json"), T_RECV)
    assert len(recs) == 24 and all(isinstance(r, Candle) for r in recs)
    c = recs[0]
    assert (c.symbol, c.open_time, c.ts, c.closed) == ("1000PEPEUSDT", 1_684_699_200_000 * MS,
                                                       1_684_702_800_000 * MS, True)
    assert (c.open, c.high, c.low, c.close, c.volume, c.trades) == (0.001601, 0.001616, 0.001601, 0.001604,
                                                                    520665683.0, 709)
    assert c.quote_volume is None  # Hyperliquid sends no quote volume
    assert recs[-1].open_time == 1_684_782_000_000 * MS and recs[-1].close == 0.00154


def test_funding_history_rates_and_their_interval(api: HyperliquidRestData, btc: Instrument) -> None:
    q = api.check(DataQuery(DataKind.FUNDING_HISTORY, btc))
    recs = api.parse(q, body("funding_history.json"), T_RECV)
    assert len(recs) == 34 and all(isinstance(r, Funding) for r in recs)
    assert (recs[0].ts, recs[0].rate) == (1_683_849_600_048 * MS, -0.00061334)
    assert recs[16].rate == 0.0001
    assert {r.interval_hours for r in recs} == {8.0}  # mid-2023: settled every 8 hours
    # today's settlements are hourly (rows built like the recorded ones, an hour apart)
    hourly = [{"coin": "BTC", "fundingRate": "0.0000125", "premium": "-0.0001", "time": 1_786_536_000_031 + i * H}
              for i in range(3)]
    recs = api.parse(q, json.dumps(hourly).encode(), T_RECV)
    assert [r.interval_hours for r in recs] == [1.0, 1.0, 1.0] and recs[1].ts == (1_786_536_000_031 + H) * MS


def test_l2_book(api: HyperliquidRestData) -> None:
    dydx = api.venue.lookup("DYDX")
    (b,) = api.parse(api.check(DataQuery(DataKind.ORDERBOOK, dydx)), body("l2_book.json"), T_RECV)
    assert isinstance(b, BookSnapshot) and b.symbol == "DYDXUSDT" and b.ts == 1_689_630_203_930 * MS
    assert len(b.bid_prices) == len(b.ask_prices) == 20
    assert (b.bid_prices[0], b.bid_qtys[0], b.ask_prices[0], b.ask_qtys[0]) == (2.111, 134.4, 2.1124, 352.3)
    assert b.bid_prices[-1] == 1.81
    (top,) = api.parse(api.check(DataQuery(DataKind.ORDERBOOK, dydx, limit=3)), body("l2_book.json"), T_RECV)
    assert top.ask_prices == [2.1124, 2.1125, 2.1128]


def test_meta_and_asset_ctxs(api: HyperliquidRestData) -> None:
    eth = api.venue.instrument("ETHUSDT")
    recs = api.parse(api.check(DataQuery(DataKind.TICKER, eth)), body("meta_and_asset_ctxs.json"), T_RECV)
    by_type = {type(r): r for r in recs}
    assert by_type[MarkPrice] == MarkPrice("hyperliquid", "perp", "ETHUSDT", T_RECV, T_RECV, 2123.7, 2124.6)
    f = by_type[Funding]
    assert (f.rate, f.interval_hours) == (0.0000125, 1.0)
    assert f.next_funding_time == 1_790_002_800_000 * MS  # the next full hour after receipt
    oi = by_type[OpenInterest]
    assert oi.oi_base == 605822.2557999999 and oi.oi_notional == pytest.approx(605822.2557999999 * 2123.7)
    t = by_type[Ticker24h]
    assert (t.last, t.open, t.volume, t.quote_volume) == (2123.95, 2094.6, 281686.8234999999, 591989409.9392402)
    assert t.price_change_pct == pytest.approx((2123.95 / 2094.6 - 1) * 100)
    only = api.parse(api.check(DataQuery(DataKind.OPEN_INTEREST, eth)), body("meta_and_asset_ctxs.json"), T_RECV)
    assert only == [oi]
    sol = api.venue.instrument("SOLUSDT")
    with pytest.raises(RestDataError, match="SOL is not in the main dex universe"):
        api.parse(api.check(DataQuery(DataKind.TICKER, sol)), body("meta_and_asset_ctxs.json"), T_RECV)


def test_recent_trades_oldest_first(api: HyperliquidRestData, btc: Instrument) -> None:
    recs = api.parse(api.check(DataQuery(DataKind.TRADES, btc)), body("recent_trades.json"), T_RECV)
    assert len(recs) == 4 and all(isinstance(r, Trade) for r in recs)
    first = recs[0]
    assert (first.ts, first.price, first.qty, first.side, first.trade_id) == (
        1_786_539_552_700 * MS, 64097.0, 0.00033, "buy", "604438142537043")
    assert [r.side for r in recs[1:]] == ["sell"] * 3
    latest = api.parse(api.check(DataQuery(DataKind.TRADES, btc, limit=1)), body("recent_trades.json"), T_RECV)
    assert [r.qty for r in latest] == [0.06683]


def test_meta_lists_instruments(api: HyperliquidRestData) -> None:
    recs = api.parse(api.check(DataQuery(DataKind.INSTRUMENTS)), body("meta.json"), T_RECV)
    syms = {r.native: r.symbol for r in recs}
    assert len(syms) == 28 and syms["BTC"] == "BTCUSDT" and syms["kPEPE"] == "1000PEPEUSDT"


# ---- refusals and throttling ---------------------------------------------------------------------
def test_null_and_422_fail_at_once_429_retries(api: HyperliquidRestData, btc: Instrument) -> None:
    assert api.classify(200, {}, b"null")[:2] == ("fail", "hyperliquid answered null (a coin it does not list?)")
    with pytest.raises(RestDataError, match="answered null"):
        api.parse(api.check(DataQuery(DataKind.CANDLES, btc, "1m")), b"null", T_RECV)
    msg = b"Failed to deserialize the JSON body into the target type: missing field `req`"
    assert api.classify(422, {}, msg) == ("fail", "HTTP 422: " + msg.decode(), None)
    assert api.classify(429, {}, b"")[0] == "retry"
    assert api.classify(500, {}, b"null")[0] == "retry"
    assert api.classify(200, {}, body("l2_book.json")) == ("ok", "", None)
