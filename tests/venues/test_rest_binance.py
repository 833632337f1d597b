"""Binance REST data (USD-M + spot): parsers on captured and documented bodies, field by field;
request building (Binance's parameter names, inclusive ms bounds, weights); error and throttle
classification. Sample provenance: tests/venues/rest_samples/binance_*/SOURCE.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryptoflow.errors import ConfigError
from cryptoflow.events import BookSnapshot, Candle, Funding, OpenInterest, Ticker24h, Trade, VenueMetric
from cryptoflow.symbols import InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.binance_rest import BinanceSpotRest, BinanceUsdmRest
from cryptoflow.venues.rest_data import DataKind, DataQuery, RestDataError

SAMPLES = Path(__file__).parent / "rest_samples"
MS = 1_000_000
RECV = 1_800_000_000_000_000_000  # a receive time after every sample


@pytest.fixture(scope="module")
def usdm() -> BinanceUsdmRest:
    return BinanceUsdmRest(get_venue("binance_usdm", registry=InstrumentRegistry.bundled()))


@pytest.fixture(scope="module")
def spot() -> BinanceSpotRest:
    return BinanceSpotRest(get_venue("binance_spot", registry=InstrumentRegistry.bundled()))


def _body(venue: str, name: str) -> bytes:
    return (SAMPLES / venue / f"{name}.json").read_bytes()


def _parse(api, kind: DataKind, native: str | None, name: str, **kw):  # type: ignore[no-untyped-def]
    inst = api.venue.lookup(native) if native else None
    q = api.check(DataQuery(kind, inst, **kw))
    return api.parse(q, _body(api.venue_id, name), RECV)


# ---- captured bodies ------------------------------------------------------------------------------
def test_usdm_instruments_captured_exchange_info(usdm):
    insts = _parse(usdm, DataKind.INSTRUMENTS, None, "instruments")
    # perpetuals only: BTCSTUSDT (contractType "") and BTCUSDT_210924 (CURRENT_QUARTER) are left out
    assert [i.native for i in insts] == ["BTCUSDT", "ETHUSDT", "SUSHIUSDT"]
    btc = insts[0]
    assert (btc.symbol, btc.market, btc.base, btc.quote, btc.contract_size, btc.tick_size) == (
        "BTCUSDT", "perp", "BTC", "USDT", 1.0, 0.01,
    )  # fmt: skip


def test_usdm_orderbook_captured_depth(usdm):
    (book,) = _parse(usdm, DataKind.ORDERBOOK, "SUSHIUSDT", "orderbook", limit=5)
    assert isinstance(book, BookSnapshot) and (book.venue, book.market, book.symbol) == (
        "binance_usdm", "perp", "SUSHIUSDT",
    )  # fmt: skip
    assert book.bid_prices == [7.611, 7.608, 7.607, 7.606, 7.605]
    assert book.bid_qtys == [6.0, 161.0, 285.0, 581.0, 1234.0]
    assert book.ask_prices[0] == 7.612 and book.ask_qtys[0] == 297.0 and len(book.ask_prices) == 5
    assert book.ts == 1626992741261 * MS and book.seq == 600859605926  # T (transaction time), lastUpdateId


def test_spot_orderbook_captured_depth(spot):
    (book,) = _parse(spot, DataKind.ORDERBOOK, "NKNUSDT", "orderbook", limit=3)
    assert book.bid_prices == [0.3521, 0.352, 0.3519] and book.bid_qtys[:2] == [672.0, 1144.0]
    assert book.ask_prices[0] == 0.3525 and book.ask_qtys[0] == 3959.0
    assert book.ts == RECV  # spot snapshots carry no time: stamped with the receive time


# ---- documented examples --------------------------------------------------------------------------
def test_ticker_both_products(usdm, spot):
    (t,) = _parse(usdm, DataKind.TICKER, "BTCUSDT", "ticker")
    assert isinstance(t, Ticker24h)
    assert (t.last, t.open, t.high, t.low, t.volume, t.quote_volume) == (4.000002, 99.0, 100.0, 0.1, 8913.3, 15.3)
    assert (t.price_change, t.price_change_pct, t.ts) == (-94.999998, -95.96, 1499869899040 * MS)
    (s,) = _parse(spot, DataKind.TICKER, "BNBBTC", "ticker")
    assert (s.symbol, s.market, s.last, s.volume) == ("BNBBTC", "spot", 4.000002, 8913.3)


def test_trades_aggressor_side_and_ids(usdm, spot):
    (tr,) = _parse(usdm, DataKind.TRADES, "BTCUSDT", "trades")
    assert tr == Trade("binance_usdm", "perp", "BTCUSDT", 1499865549590 * MS, RECV, 4.000001, 12.0, "sell", "28457")
    (st,) = _parse(spot, DataKind.TRADES, "BTCUSDT", "trades")
    assert (st.market, st.side, st.qty) == ("spot", "sell", 12.0)  # isBuyerMaker: the seller was the taker


def test_candles_base_volume_and_closed(usdm, spot):
    (c,) = _parse(usdm, DataKind.CANDLES, "BTCUSDT", "candles", period="1m")
    assert isinstance(c, Candle) and c.interval == "1m" and c.open_time == 1499040000000 * MS
    assert (c.open, c.high, c.low, c.close) == (0.0163479, 0.8, 0.015758, 0.015771)
    assert (c.volume, c.quote_volume, c.trades, c.closed) == (148976.11427815, 2434.19055334, 308, True)
    assert c.ts == c.open_time + 60_000 * MS  # a REST candle is stamped at its close
    (sc,) = _parse(spot, DataKind.CANDLES, "BTCUSDT", "candles", period="1h")
    assert (sc.market, sc.interval, sc.volume) == ("spot", "1h", 148976.11427815)


def test_funding_history(usdm):
    f1, f2 = _parse(usdm, DataKind.FUNDING_HISTORY, "BTCUSDT", "funding_history")
    assert isinstance(f1, Funding) and (f1.rate, f1.ts) == (-0.0375, 1570608000000 * MS)
    assert (f2.rate, f2.ts, f2.predicted_rate) == (0.0001, 1570636800000 * MS, None)


def test_open_interest_now_and_history(usdm):
    (oi,) = _parse(usdm, DataKind.OPEN_INTEREST, "BTCUSDT", "open_interest")
    assert isinstance(oi, OpenInterest) and (oi.oi_base, oi.oi_notional, oi.ts) == (10659.509, None, 1589437530011 * MS)
    h1, h2 = _parse(usdm, DataKind.OPEN_INTEREST_HISTORY, "BTCUSDT", "open_interest_history", period="5m")
    # the documented example quotes its timestamps; live responses send numbers: both parse
    assert (h1.ts, h1.oi_base, h1.oi_notional) == (1583127900000 * MS, 20403.637, 150570784.07809979)
    assert h2.ts - h1.ts == 300_000 * MS


def test_long_short_ratio(usdm):
    recs = _parse(usdm, DataKind.LONG_SHORT_RATIO, "BTCUSDT", "long_short_ratio", period="5m")
    assert all(isinstance(r, VenueMetric) and r.period == "5m" for r in recs)
    first = {r.metric: r.value for r in recs if r.ts == 1583139600000 * MS}
    assert first == {"long_short_ratio": 0.196, "long_account": 0.6622, "short_account": 0.3378}
    keys = [(r.ts, r.metric) for r in recs]
    assert keys == sorted(keys) and len(keys) == 6  # oldest first, one stable order within a time


def test_taker_volume(usdm):
    recs = _parse(usdm, DataKind.TAKER_VOLUME, "BTCUSDT", "taker_volume", period="5m")
    by = {(r.ts // MS, r.metric): r.value for r in recs}
    assert by[(1585614900000, "taker_buy_volume")] == 387.33
    assert by[(1585614900000, "taker_sell_volume")] == 248.503
    assert by[(1585614900000, "taker_buy_sell_ratio")] == 1.5586
    assert recs[0].ts == 1583139900000 * MS  # sorted oldest first whatever the body's order


def test_basis_perpetual_has_no_annualized_rate(usdm):
    recs = _parse(usdm, DataKind.BASIS, "BTCUSDT", "basis", period="5m")
    assert {r.metric: r.value for r in recs} == {"basis": 13.94054945, "basis_rate": 0.0004}  # "" is absent, not 0
    assert recs[0].ts == 1698742800000 * MS


def test_premium_index_close_per_period(usdm):
    (m,) = _parse(usdm, DataKind.PREMIUM_INDEX, "BTCUSDT", "premium_index", period="1m")
    assert (m.metric, m.value, m.ts, m.period) == ("premium_index", -0.00043659, 1691603820000 * MS, "1m")


def test_insurance_fund_one_symbol_and_all(usdm):
    one = _parse(usdm, DataKind.INSURANCE_FUND, "BTCUSDT", "insurance_fund")
    assert {r.symbol: r.value for r in one} == {
        "USDC": 299999998.6497832, "USDT": 793930579.315848, "BTC": 61.73143554, "BNFCR": 633223.99396922,
    }  # fmt: skip
    assert all(r.metric == "insurance_fund_balance" and r.ts == 1745366402000 * MS for r in one)
    (usdt,) = _parse(usdm, DataKind.INSURANCE_FUND, None, "insurance_fund_all")  # every fund, summed per asset
    assert usdt.symbol == "USDT" and usdt.value == pytest.approx(314151411.06482935 + 5166686.84431694)


# ---- errors, throttling -------------------------------------------------------------------------------
def test_error_body_raises_with_binance_message(usdm, spot):
    with pytest.raises(RestDataError, match=r"-1121: Invalid symbol\."):
        _parse(usdm, DataKind.CANDLES, "BTCUSDT", "error_symbol")
    with pytest.raises(RestDataError, match="Invalid symbol"):
        _parse(spot, DataKind.TICKER, "BTCUSDT", "error_symbol")


def test_classify_throttle_ban_and_bad_request(usdm):
    throttled = _body("binance_usdm", "error_throttled")
    verdict, msg, ra = usdm.classify(429, {"Retry-After": "7", "X-MBX-USED-WEIGHT-1M": "2410"}, throttled)
    assert (verdict, ra) == ("retry", 7.0) and "-1003" in msg and "2410" in msg
    assert usdm.classify(418, {"retry-after": "5"}, throttled)[:1] == ("retry",)
    verdict, msg, _ = usdm.classify(418, {"Retry-After": "7200"}, throttled)
    assert verdict == "fail" and "banned" in msg and "7200" in msg  # waiting out a long ban would extend it
    assert usdm.classify(403, {}, b"")[0] == "retry"  # WAF limit
    verdict, msg, _ = usdm.classify(400, {}, _body("binance_usdm", "error_symbol"))
    assert (verdict, msg) == ("fail", "Binance -1121: Invalid symbol.")
    assert usdm.classify(200, {}, b"[]") == ("ok", "", None)


# ---- requests -----------------------------------------------------------------------------------------
def test_request_urls_bounds_and_weights(usdm, spot):
    btc = usdm.venue.lookup("BTCUSDT")
    t0 = 1_700_000_000_000 * MS

    def call(api, kind, inst=btc, **kw):  # type: ignore[no-untyped-def]
        return api.request(api.check(DataQuery(kind, inst, **kw)))

    c = call(usdm, DataKind.CANDLES, period="5m", start_ns=t0, end_ns=t0 + 600_000 * MS, limit=2000)
    assert c.url == (
        "https://fapi.binance.com/fapi/v1/klines?symbol=BTCUSDT&interval=5m"
        "&startTime=1700000000000&endTime=1700000599999&limit=1500"
    )  # end exclusive -> endTime inclusive (-1 ms); limit capped at the documented 1500
    assert c.weight == 10.0 and call(usdm, DataKind.CANDLES, limit=99).weight == 1.0
    d = call(usdm, DataKind.ORDERBOOK, limit=30)
    assert d.url.endswith("/fapi/v1/depth?symbol=BTCUSDT&limit=50") and d.weight == 2.0  # next accepted limit
    assert call(usdm, DataKind.ORDERBOOK).weight == 20.0
    f = call(usdm, DataKind.FUNDING_HISTORY, start_ns=t0 + 1, end_ns=t0 + 3 * MS)
    assert "startTime=1700000000001&endTime=1700000000002" in f.url and f.endpoint_limit is not None
    b = call(usdm, DataKind.BASIS, period="1h", limit=10)
    assert b.url.endswith("/futures/data/basis?pair=BTCUSDT&contractType=PERPETUAL&period=1h&limit=10")
    assert b.endpoint_limit is not None and b.endpoint_limit[0] == "futures_data"
    assert call(usdm, DataKind.INSURANCE_FUND, inst=None).url.endswith("/fapi/v1/insuranceBalance")
    sbtc = spot.venue.lookup("BTCUSDT")
    assert call(spot, DataKind.ORDERBOOK, inst=sbtc, limit=200).weight == 25.0
    assert call(spot, DataKind.CANDLES, inst=sbtc, limit=5000).url.endswith("&limit=1000")


def test_unknown_kind_and_period_name_what_is_accepted(usdm, spot):
    sbtc = spot.venue.lookup("BTCUSDT")
    with pytest.raises(ConfigError, match=r"binance_spot has no 'funding_history'.*binance_usdm.*offers: instruments"):
        spot.check(DataQuery(DataKind.FUNDING_HISTORY, sbtc))
    with pytest.raises(ConfigError, match=r"period '1m' not offered; use one of 5m, 15m"):
        usdm.check(DataQuery(DataKind.LONG_SHORT_RATIO, usdm.venue.lookup("BTCUSDT"), period="1m"))
