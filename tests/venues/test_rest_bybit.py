"""Bybit v5 REST data: request URLs with Bybit's parameters, parsers on documented/captured bodies
(provenance in rest_samples/bybit/SOURCE.md), error bodies, and throttle classification."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from cryptoflow.errors import ConfigError
from cryptoflow.events import BookSnapshot, Candle, Funding, MarkPrice, OpenInterest, Ticker24h, Trade, VenueMetric
from cryptoflow.symbols import Instrument, InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.bybit.rest import BybitRestData
from cryptoflow.venues.rest_data import DataKind, DataQuery, RestDataError, rest_data_for

SAMPLES = Path(__file__).parent / "rest_samples" / "bybit"
MS = 1_000_000
T_RECV = 1_786_540_400_000 * MS


def body(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.fixture(scope="module")
def api() -> BybitRestData:
    venue = get_venue("bybit", registry=InstrumentRegistry.bundled())
    a = rest_data_for(venue)
    assert isinstance(a, BybitRestData)
    return a


@pytest.fixture(scope="module")
def perp(api: BybitRestData) -> Instrument:
    return api.venue.instrument("BTCUSDT", "perp")


@pytest.fixture(scope="module")
def spot(api: BybitRestData) -> Instrument:
    return api.venue.instrument("BTCUSDT", "spot")


def query(api: BybitRestData, q: DataQuery) -> tuple[str, dict[str, str]]:
    url = urlsplit(api.request(api.check(q)).url)
    return url.path, {k: v[0] for k, v in parse_qs(url.query).items()}


# ---- requests ------------------------------------------------------------------------------------
def test_requests_use_bybit_paths_and_parameters(api: BybitRestData, perp: Instrument, spot: Instrument) -> None:
    start, end = 1_700_000_000_000 * MS, 1_700_000_600_000 * MS
    path, p = query(api, DataQuery(DataKind.CANDLES, perp, "1h", start, end, limit=5000))
    assert path == "/v5/market/kline"
    # our end is exclusive, Bybit's inclusive; the limit is capped at the documented 1000
    assert p == {"category": "linear", "symbol": "BTCUSDT", "interval": "60", "start": "1700000000000",
                 "end": "1700000599999", "limit": "1000"}
    assert query(api, DataQuery(DataKind.CANDLES, spot, "1d"))[1]["category"] == "spot"
    assert query(api, DataQuery(DataKind.CANDLES, spot, "1d"))[1]["interval"] == "D"

    path, p = query(api, DataQuery(DataKind.OPEN_INTEREST_HISTORY, perp, "15m", start, end))
    assert (path, p["intervalTime"], p["startTime"], p["endTime"], p["limit"]) == (
        "/v5/market/open-interest", "15min", "1700000000000", "1700000599999", "200")
    path, p = query(api, DataQuery(DataKind.LONG_SHORT_RATIO, perp, "4h", end_ns=end))
    assert (path, p["period"], p["limit"], "startTime" in p) == ("/v5/market/account-ratio", "4h", "500", False)
    path, p = query(api, DataQuery(DataKind.PREMIUM_INDEX, perp, "5m", limit=10))
    assert (path, p["interval"], p["limit"]) == ("/v5/market/premium-index-price-kline", "5", "10")
    # funding: a lone startTime is an error at Bybit, so the end of one page is added
    path, p = query(api, DataQuery(DataKind.FUNDING_HISTORY, perp, start_ns=start))
    assert path == "/v5/market/funding/history"
    assert int(p["endTime"]) - int(p["startTime"]) == 200 * 3_600_000 - 1

    # spot caps: 200 book levels, 60 trades; linear 500 / 1000
    assert query(api, DataQuery(DataKind.ORDERBOOK, spot, limit=500))[1]["limit"] == "200"
    assert query(api, DataQuery(DataKind.ORDERBOOK, perp, limit=500))[1]["limit"] == "500"
    assert query(api, DataQuery(DataKind.TRADES, spot))[1]["limit"] == "60"
    assert query(api, DataQuery(DataKind.TRADES, perp))[1]["limit"] == "1000"
    assert query(api, DataQuery(DataKind.OPEN_INTEREST, perp)) == (
        "/v5/market/tickers", {"category": "linear", "symbol": "BTCUSDT"})
    assert query(api, DataQuery(DataKind.INSURANCE_FUND, perp)) == ("/v5/market/insurance", {"coin": "USDT"})
    assert query(api, DataQuery(DataKind.INSURANCE_FUND)) == ("/v5/market/insurance", {})
    assert query(api, DataQuery(DataKind.INSTRUMENTS))[1] == {"category": "linear", "limit": "1000"}
    assert api.request(api.check(DataQuery(DataKind.TICKER, perp))).url.startswith("https://api.bybit.com/")


def test_unknown_kind_and_period_name_what_is_accepted(api: BybitRestData, perp: Instrument) -> None:
    with pytest.raises(ConfigError, match="offers: instruments, ticker"):
        api.check(DataQuery(DataKind.VOLATILITY_INDEX, perp))
    with pytest.raises(ConfigError, match="use one of 5m, 15m, 30m, 1h, 4h, 1d"):
        api.check(DataQuery(DataKind.OPEN_INTEREST_HISTORY, perp, "1m"))
    with pytest.raises(ConfigError, match="perp markets, not spot"):
        api.check(DataQuery(DataKind.FUNDING_HISTORY, api.venue.instrument("BTCUSDT", "spot")))


# ---- parsers ------------------------------------------------------------------------------------
def test_linear_ticker_yields_ticker_mark_funding_and_oi(api: BybitRestData, perp: Instrument) -> None:
    recs = api.parse(DataQuery(DataKind.TICKER, perp), body("tickers_linear.json"), T_RECV)
    ticker, mark, funding, oi = recs
    ts = 1786540397684 * MS  # the response's time
    assert isinstance(ticker, Ticker24h)
    assert (ticker.venue, ticker.market, ticker.symbol) == ("bybit", "perp", "BTCUSDT")
    assert (ticker.ts, ticker.ts_recv, ticker.last, ticker.open, ticker.high, ticker.low) == (
        ts, T_RECV, 63958.6, 64283.9, 64477.0, 63183.1)
    assert ticker.volume == 61874.639 and ticker.quote_volume == 3947254153.7179
    assert ticker.price_change == pytest.approx(-325.3) and ticker.price_change_pct == pytest.approx(-0.506)
    assert isinstance(mark, MarkPrice) and (mark.mark_price, mark.index_price) == (63958.6, 63986.67)
    assert isinstance(funding, Funding) and funding.rate == 0.0000544
    assert funding.next_funding_time == 1786550400000 * MS and funding.interval_hours is None  # not in REST rows
    assert isinstance(oi, OpenInterest) and (oi.oi_base, oi.oi_notional) == (57798.137, 3696687925.13)
    # the open_interest kind reads the same body and keeps only the open interest
    (only,) = api.parse(DataQuery(DataKind.OPEN_INTEREST, perp), body("tickers_linear.json"), T_RECV)
    assert only == oi


def test_spot_ticker_has_no_perp_fields(api: BybitRestData, spot: Instrument) -> None:
    (t,) = api.parse(DataQuery(DataKind.TICKER, spot), body("tickers_spot.json"), T_RECV)
    assert isinstance(t, Ticker24h) and t.market == "spot" and t.ts == 1673859087947 * MS
    assert (t.last, t.open, t.high, t.low, t.volume) == (20533.13, 20393.48, 21128.12, 20318.89, 11801.27771)
    assert t.price_change_pct == pytest.approx(0.68)


def test_orderbook_and_trades(api: BybitRestData, spot: Instrument) -> None:
    (book,) = api.parse(DataQuery(DataKind.ORDERBOOK, spot), body("orderbook_spot.json"), T_RECV)
    assert isinstance(book, BookSnapshot) and book.ts == 1716863718905 * MS  # cts: matching-engine time
    assert (book.bid_prices, book.bid_qtys, book.ask_prices, book.ask_qtys) == (
        [65485.47], [47.081829], [65557.7], [16.606555])
    assert book.seq == 230704
    (trade,) = api.parse(DataQuery(DataKind.TRADES, spot), body("recent_trade_spot.json"), T_RECV)
    assert trade == Trade("bybit", "spot", "BTCUSDT", 1672052955758 * MS, T_RECV, 16618.49, 0.00012, "buy",
                          "2100000000007764263")


def test_candles_oldest_first_in_base_units(api: BybitRestData, perp: Instrument) -> None:
    first, second = api.parse(DataQuery(DataKind.CANDLES, perp, "1m"), body("kline_linear.json"), T_RECV)
    assert isinstance(first, Candle) and first.open_time == 1670371140000 * MS  # Bybit sends newest first
    assert (first.open, first.high, first.low, first.close, first.volume, first.quote_volume) == (
        17074.0, 17077.5, 17074.0, 17077.0, 0.006, 102.457)
    assert first.ts == 1670371200000 * MS and first.closed and first.interval == "1m"
    assert second.open_time == 1670371200000 * MS and second.volume == 0.017
    # a candle still open at receive time is marked open and stamped at the receive time
    (_, still_open) = api.parse(DataQuery(DataKind.CANDLES, perp, "1m"), body("kline_linear.json"),
                                1670371230000 * MS)
    assert not still_open.closed and still_open.ts == 1670371230000 * MS


def test_statistics(api: BybitRestData, perp: Instrument) -> None:
    (f,) = api.parse(DataQuery(DataKind.FUNDING_HISTORY, perp), body("funding_history.json"), T_RECV)
    assert isinstance(f, Funding) and (f.ts, f.rate, f.next_funding_time) == (1672041600000 * MS, 0.0001, None)

    o1, o2 = api.parse(DataQuery(DataKind.OPEN_INTEREST_HISTORY, perp, "5m"), body("open_interest.json"), T_RECV)
    assert isinstance(o1, OpenInterest) and (o1.ts, o1.oi_base) == (1677832500000 * MS, 411484.61)
    assert (o2.ts, o2.oi_base, o2.oi_notional) == (1677832800000 * MS, 411496.22, None)

    recs = api.parse(DataQuery(DataKind.LONG_SHORT_RATIO, perp, "1h"), body("account_ratio.json"), T_RECV)
    assert all(isinstance(m, VenueMetric) and m.period == "1h" for m in recs)
    got = [(m.ts // MS, m.metric, round(m.value, 6)) for m in recs]  # type: ignore[union-attr]
    assert got == [
        (1696258800000, "long_account", 0.4927),
        (1696258800000, "long_short_ratio", round(0.4927 / 0.5073, 6)),
        (1696258800000, "short_account", 0.5073),
        (1696262400000, "long_account", 0.49),
        (1696262400000, "long_short_ratio", round(0.49 / 0.51, 6)),
        (1696262400000, "short_account", 0.51),
    ]

    p1, p2 = api.parse(DataQuery(DataKind.PREMIUM_INDEX, perp, "1d"), body("premium_index.json"), T_RECV)
    assert isinstance(p1, VenueMetric) and (p1.metric, p1.ts, p1.value, p1.period) == (
        "premium_index", 1652400000000 * MS, -0.000587, "1d")
    assert (p2.ts, p2.value) == (1652486400000 * MS, -0.000344)

    (fund,) = api.parse(DataQuery(DataKind.INSURANCE_FUND, perp), body("insurance.json"), T_RECV)
    assert isinstance(fund, VenueMetric) and (fund.metric, fund.symbol, fund.ts) == (
        "insurance_fund_balance", "USDT", 1714003200000 * MS)
    assert fund.value == pytest.approx(902178.57602476 + 14454.51626125 + 23.45018235 + 10002 + 10148045273.618073)


def test_instruments(api: BybitRestData) -> None:
    (btc,) = api.parse(DataQuery(DataKind.INSTRUMENTS), body("instruments_linear.json"), T_RECV)
    assert isinstance(btc, Instrument)
    assert (btc.native, btc.symbol, btc.market, btc.contract_size, btc.tick_size) == ("BTCUSDT", "BTCUSDT", "perp",
                                                                                       1.0, 0.1)


def test_error_body_raises_with_bybit_message(api: BybitRestData, perp: Instrument) -> None:
    for kind, period in ((DataKind.CANDLES, "1m"), (DataKind.TICKER, None), (DataKind.INSTRUMENTS, None)):
        q = DataQuery(kind, None if kind is DataKind.INSTRUMENTS else perp, period)
        with pytest.raises(RestDataError, match="retCode 10001: Not supported symbols"):
            api.parse(q, body("error_symbol.json"), T_RECV)


# ---- classification ------------------------------------------------------------------------------
def test_classify_throttles_retry_and_bad_requests_fail(api: BybitRestData) -> None:
    assert api.classify(200, {}, b'{"retCode":0,"retMsg":"OK","result":{}}') == ("ok", "", None)
    assert api.classify(200, {}, body("tickers_spot.json"))[0] == "ok"  # pretty-printed: decoded
    verdict, msg, wait = api.classify(200, {}, body("error_symbol.json"))
    assert (verdict, msg, wait) == ("fail", "retCode 10001: Not supported symbols", None)
    reset = str(int((time.time() + 2.0) * 1000))
    verdict, msg, wait = api.classify(200, {"X-Bapi-Limit-Status": "0", "X-Bapi-Limit-Reset-Timestamp": reset},
                                      b'{"retCode":10006,"retMsg":"Too many visits!","result":{}}')
    assert verdict == "retry" and "Too many visits!" in msg and wait is not None and 1.0 < wait <= 2.0
    # on a public endpoint without any reset header (pybit issue #340: a 123-byte body, the length of this one)
    msg = "Too many visits. Exceeded the API Rate Limit."
    slow = b'{"retCode":10006,"retMsg":"%s","result":{},"retExtInfo":{},"time":1769284803039}' % msg.encode()
    assert len(slow) == 123 and api.classify(200, {}, slow) == ("retry", f"retCode 10006: {msg}", None)
    verdict, _, wait = api.classify(403, {}, b"access too frequent")
    assert verdict == "retry" and wait == 600.0  # the documented 10-minute ban, when no reset time is sent
    assert api.classify(403, {}, b"<html>The request could not be satisfied</html>")[0] == "fail"
    assert api.classify(404, {}, b"")[0] == "fail"
    assert api.classify(503, {}, b"")[0] == "retry"
