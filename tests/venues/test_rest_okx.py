"""OKX v5 REST data: request URLs with OKX's parameters and cursors, parsers on documented and
captured bodies (provenance in rest_samples/okx/SOURCE.md), error bodies and throttle classification."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from cryptoflow.errors import ConfigError
from cryptoflow.events import METRICS, BookSnapshot, Candle, Funding, OpenInterest, Ticker24h, Trade, VenueMetric
from cryptoflow.symbols import Instrument, InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.okx.rest import OkxRestData
from cryptoflow.venues.rest_data import DataKind, DataQuery, RestDataError, rest_data_for

SAMPLES = Path(__file__).parent / "rest_samples" / "okx"
MS = 1_000_000
T_RECV = 1_786_540_500_000 * MS


def body(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.fixture(scope="module")
def api() -> OkxRestData:
    a = rest_data_for(get_venue("okx", registry=InstrumentRegistry.bundled()))
    assert isinstance(a, OkxRestData)
    return a


@pytest.fixture(scope="module")
def perp(api: OkxRestData) -> Instrument:
    return api.venue.instrument("BTCUSDT", "perp")  # ctVal 0.01 BTC


@pytest.fixture(scope="module")
def spot(api: OkxRestData) -> Instrument:
    return api.venue.instrument("BTCUSDT", "spot")


@pytest.fixture(scope="module")
def inverse(api: OkxRestData) -> Instrument:
    inst = api.venue.infer_instrument("BTC-USD-SWAP")  # 100 USD a contract
    assert inst is not None
    return inst


def query(api: OkxRestData, q: DataQuery) -> tuple[str, dict[str, str]]:
    url = urlsplit(api.request(api.check(q)).url)
    return url.path, {k: v[0] for k, v in parse_qs(url.query).items()}


def parse(api: OkxRestData, kind: DataKind, inst: Instrument | None, name: str, period: str | None = None) -> list:
    return api.parse(api.check(DataQuery(kind, inst, period)), body(name), T_RECV)


# ---- requests ------------------------------------------------------------------------------------
def test_requests_use_okx_paths_cursors_and_limits(api: OkxRestData, perp: Instrument, spot: Instrument) -> None:
    start, end = 1_700_000_000_000 * MS, 1_700_000_600_000 * MS
    path, p = query(api, DataQuery(DataKind.CANDLES, perp, "1h", start, end, limit=5000))
    # after = strictly older than the (exclusive) end, before = strictly newer than start - 1 ms
    assert (path, p) == ("/api/v5/market/history-candles", {
        "instId": "BTC-USDT-SWAP", "bar": "1H", "before": "1699999999999", "after": "1700000600000", "limit": "300"})
    assert query(api, DataQuery(DataKind.CANDLES, spot, "1d"))[1]["bar"] == "1Dutc"  # UTC days, not UTC+8
    assert query(api, DataQuery(DataKind.CANDLES, spot, "1d"))[1]["instId"] == "BTC-USDT"
    # a lone start gets the end of one full page, else OKX would answer its newest page
    _, p = query(api, DataQuery(DataKind.CANDLES, perp, "5m", start_ns=start, limit=10))
    assert int(p["after"]) - int(p["before"]) == 10 * 300_000 + 1

    path, p = query(api, DataQuery(DataKind.OPEN_INTEREST_HISTORY, perp, "6h", start, end))
    assert (path, p) == ("/api/v5/rubik/stat/contracts/open-interest-history", {
        "instId": "BTC-USDT-SWAP", "period": "6Hutc", "begin": "1699999999999", "end": "1700000599999", "limit": "100"})
    path, p = query(api, DataQuery(DataKind.TAKER_VOLUME, perp, "15m", start, end))
    assert (path, p["period"], p["unit"]) == ("/api/v5/rubik/stat/taker-volume-contract", "15m", "0")  # coin units
    path, p = query(api, DataQuery(DataKind.LONG_SHORT_RATIO, perp, end_ns=end))
    assert (path, p["period"], "begin" in p) == ("/api/v5/rubik/stat/contracts/long-short-account-ratio-contract",
                                                  "5m", False)  # fmt: skip
    path, p = query(api, DataQuery(DataKind.FUNDING_HISTORY, perp, start_ns=start))
    assert (path, p["limit"], int(p["after"]) - int(p["before"])) == (
        "/api/v5/public/funding-rate-history", "400", 400 * 3_600_000 + 1)
    assert query(api, DataQuery(DataKind.PREMIUM_INDEX, perp, limit=7)) == (
        "/api/v5/public/premium-history", {"instId": "BTC-USDT-SWAP", "limit": "7"})

    assert query(api, DataQuery(DataKind.ORDERBOOK, perp, limit=1000)) == (
        "/api/v5/market/books", {"instId": "BTC-USDT-SWAP", "sz": "400"})
    assert query(api, DataQuery(DataKind.TRADES, spot))[1] == {"instId": "BTC-USDT", "limit": "500"}
    assert query(api, DataQuery(DataKind.OPEN_INTEREST, perp)) == (
        "/api/v5/public/open-interest", {"instType": "SWAP", "instId": "BTC-USDT-SWAP"})
    assert query(api, DataQuery(DataKind.OPTIONS_SUMMARY, perp)) == (
        "/api/v5/public/open-interest", {"instType": "OPTION", "instFamily": "BTC-USD"})
    assert query(api, DataQuery(DataKind.INSURANCE_FUND, perp)) == ("/api/v5/public/insurance-fund", {
        "instType": "SWAP", "instFamily": "BTC-USDT", "type": "regular_update", "limit": "1"})
    assert query(api, DataQuery(DataKind.INSTRUMENTS)) == ("/api/v5/public/instruments", {"instType": "SWAP"})


def test_strict_endpoint_limits_ride_on_the_calls(api: OkxRestData, perp: Instrument) -> None:
    """Trading statistics allow 5 (ratio, taker) or 10 (OI history) requests per 2 s; a bucket's
    burst + 2 s of refill must stay within 80% of that."""
    limits = {k: api.request(api.check(DataQuery(k, perp))).endpoint_limit
              for k in (DataKind.LONG_SHORT_RATIO, DataKind.TAKER_VOLUME, DataKind.OPEN_INTEREST_HISTORY,
                        DataKind.FUNDING_HISTORY, DataKind.TICKER)}  # fmt: skip
    for kind, documented in ((DataKind.LONG_SHORT_RATIO, 5), (DataKind.TAKER_VOLUME, 5),
                             (DataKind.OPEN_INTEREST_HISTORY, 10), (DataKind.FUNDING_HISTORY, 10)):  # fmt: skip
        lim = limits[kind]
        assert lim is not None and lim[2] + 2 * lim[1] <= 0.8 * documented, (kind, lim)
    assert limits[DataKind.TICKER] is None  # the venue bucket covers 20 / 2 s
    rate, burst = api.rate_limit
    assert burst + 2 * rate <= 0.8 * 20


def test_unknown_period_and_kind_name_what_is_accepted(api: OkxRestData, perp: Instrument) -> None:
    with pytest.raises(ConfigError, match=r"period '1m' not offered; use one of 5m, 15m, 30m, 1h"):
        api.check(DataQuery(DataKind.TAKER_VOLUME, perp, "1m"))
    with pytest.raises(ConfigError, match=r"okx has no 'basis' data.*okx offers: instruments, ticker"):
        api.check(DataQuery(DataKind.BASIS, perp))


# ---- parsers -------------------------------------------------------------------------------------
def test_ticker_linear_and_inverse(api: OkxRestData, perp: Instrument, inverse: Instrument) -> None:
    (t,) = parse(api, DataKind.TICKER, perp, "ticker.json")
    assert isinstance(t, Ticker24h) and (t.venue, t.market, t.symbol) == ("okx", "perp", "BTCUSDT")
    assert (t.last, t.open, t.high, t.low) == (63921.0, 64297.6, 64466.0, 63162.7)
    assert t.volume == 73998.8786  # volCcy24h: base units (vol24h 7399887.86 contracts x 0.01)
    assert t.quote_volume is None  # a linear ticker carries no quote volume
    assert t.ts == 1786540471710 * MS and t.ts_recv == T_RECV
    assert t.price_change == pytest.approx(63921.0 - 64297.6)
    (inv,) = parse(api, DataKind.TICKER, inverse, "ticker_inverse.json")
    assert (inv.symbol, inv.last, inv.volume, inv.quote_volume) == ("BTCUSD", 9999.99, 2222.0, 222200.0)


def test_book_in_base_units(api: OkxRestData, perp: Instrument, spot: Instrument) -> None:
    (b,) = parse(api, DataKind.ORDERBOOK, spot, "orderbook.json")
    assert isinstance(b, BookSnapshot) and b.ts == 1629966436396 * MS
    assert (b.bid_prices, b.bid_qtys, b.ask_prices, b.ask_qtys) == ([41006.3], [0.30178218], [41006.8], [0.60038921])
    (c,) = parse(api, DataKind.ORDERBOOK, perp, "orderbook.json")  # the same sizes read as contracts
    assert c.bid_qtys == [pytest.approx(0.0030178218)] and c.ask_qtys == [pytest.approx(0.0060038921)]


def test_trades_oldest_first_in_base_units(api: OkxRestData, perp: Instrument, spot: Instrument) -> None:
    a, b = parse(api, DataKind.TRADES, perp, "trades.json")
    assert isinstance(a, Trade) and (a.trade_id, b.trade_id) == ("2832749635", "2832749645")
    assert (a.price, a.qty, a.side, a.ts) == (63913.5, 0.01, "buy", 1786540435948 * MS)
    assert (b.price, b.qty, b.side) == (63913.4, pytest.approx(0.3495), "sell")
    s1, s2 = parse(api, DataKind.TRADES, spot, "trades_spot.json")
    assert (s1.trade_id, s1.price, s1.qty, s2.price) == ("242720719", 29964.1, 0.00001, 29963.2)


def test_candles(api: OkxRestData, perp: Instrument, spot: Instrument) -> None:
    c = parse(api, DataKind.CANDLES, perp, "candles.json", "1m")
    assert all(isinstance(x, Candle) for x in c) and len(c) == 2
    first = c[0]  # the page is newest first: the last row is the oldest
    assert (first.open, first.high, first.low, first.close) == (3.731, 3.799, 3.494, 3.72)
    assert (first.volume, first.quote_volume) == (67632347.24399722, 37632347.24399722)  # volCcy base, quote
    assert first.open_time == 1597026383085 * MS and first.interval == "1m" and first.closed
    (s,) = parse(api, DataKind.CANDLES, spot, "candles_spot.json", "1m")
    assert (s.open, s.close, s.volume, s.quote_volume) == (64040.2, 64038.2, 2.25101046, 144148.787477696)
    assert s.ts == min(s.open_time + 60_000 * MS, T_RECV)


def test_funding_history_realized_rate(api: OkxRestData, inverse: Instrument) -> None:
    a, b = parse(api, DataKind.FUNDING_HISTORY, inverse, "funding_history.json")
    assert isinstance(a, Funding) and a.ts < b.ts
    assert (a.ts, a.rate) == (1703030400000 * MS, 0.0002279755647389)  # realizedRate, not the predicted one
    assert (b.ts, b.rate) == (1703059200000 * MS, 0.0000746572360545)
    assert a.interval_hours == b.interval_hours == 8.0 and a.predicted_rate is None


def test_open_interest_now_and_history(api: OkxRestData, perp: Instrument) -> None:
    (o,) = parse(api, DataKind.OPEN_INTEREST, perp, "open_interest.json")
    assert isinstance(o, OpenInterest)
    assert (o.oi_contracts, o.oi_base, o.oi_notional, o.ts) == (5000.0, 555.55, None, 1597026383085 * MS)
    h = parse(api, DataKind.OPEN_INTEREST_HISTORY, perp, "open_interest_history.json", "5m")
    assert [x.ts for x in h] == [1701417500000 * MS, 1701417600000 * MS]
    assert (h[0].oi_contracts, h[0].oi_base, h[0].oi_notional) == (731377.57500501, 111.0, 8888888.0)


def test_ratios_taker_volume_premium(api: OkxRestData, perp: Instrument) -> None:
    ls = parse(api, DataKind.LONG_SHORT_RATIO, perp, "long_short_ratio.json", "1h")
    assert [(m.metric, m.value, m.period) for m in ls] == [("long_short_ratio", 0.1236, "1h"),
                                                          ("long_short_ratio", 1.1739, "1h")]  # fmt: skip
    tv = parse(api, DataKind.TAKER_VOLUME, perp, "taker_volume.json", "5m")
    assert [(m.metric, m.value) for m in tv] == [("taker_buy_volume", 300.0), ("taker_sell_volume", 100.0),
                                                 ("taker_buy_volume", 380.0), ("taker_sell_volume", 200.0)]  # fmt: skip
    (p,) = parse(api, DataKind.PREMIUM_INDEX, perp, "premium_index.json")
    assert (p.metric, p.value, p.ts, p.period) == ("premium_index", 0.0000578896878167, 1713925924000 * MS, "1m")
    assert all(isinstance(m, VenueMetric) and m.metric in METRICS and m.symbol == "BTCUSDT" for m in ls + tv + [p])


def test_insurance_fund_and_options_summary(api: OkxRestData, perp: Instrument) -> None:
    (f,) = parse(api, DataKind.INSURANCE_FUND, perp, "insurance_fund.json")
    assert (f.metric, f.symbol, f.value, f.ts) == ("insurance_fund_balance", "ETH", 1343.1308, 1704883083000 * MS)
    got = {m.metric: m for m in parse(api, DataKind.OPTIONS_SUMMARY, perp, "options_open_interest.json")}
    assert got["options_call_oi"].value == pytest.approx(40.0)  # 15.2 + 24.8 BTC
    assert got["options_put_oi"].value == pytest.approx(3.1)
    assert got["options_put_call_oi_ratio"].value == pytest.approx(3.1 / 40.0)
    assert {(m.market, m.symbol, m.ts) for m in got.values()} == {("option", "BTCUSDT", 1735000000001 * MS)}


def test_instruments_keep_live_swaps(api: OkxRestData) -> None:
    lin, inv = parse(api, DataKind.INSTRUMENTS, None, "instruments.json")
    assert (lin.native, lin.symbol, lin.contract_type, lin.contract_size, lin.tick_size) == (
        "BTC-USDT-SWAP", "BTCUSDT", "linear", 0.01, 0.1)
    assert (inv.native, inv.contract_type, inv.contract_size) == ("BTC-USD-SWAP", "inverse", 100.0)


# ---- errors --------------------------------------------------------------------------------------
def test_error_bodies_raise_with_okx_message(api: OkxRestData, perp: Instrument) -> None:
    for kind in (DataKind.TICKER, DataKind.CANDLES, DataKind.TAKER_VOLUME, DataKind.INSTRUMENTS):
        with pytest.raises(RestDataError, match=r"okx: 51001: Instrument ID.*doesn't exist"):
            api.parse(api.check(DataQuery(kind, None if kind is DataKind.INSTRUMENTS else perp)),
                      body("error_instrument.json"), T_RECV)  # fmt: skip
    with pytest.raises(RestDataError, match="unreadable"):
        api.parse(api.check(DataQuery(DataKind.TICKER, perp)), b"<html>502</html>", T_RECV)


def test_classify_throttle_retry_and_bad_request_fail(api: OkxRestData) -> None:
    verdict, message, _ = api.classify(429, {}, body("error_throttled.json"))
    assert verdict == "retry" and "50011" in message and "Too Many Requests" in message
    # 51001 arrives with HTTP 200: a failure, not data, and not worth retrying
    verdict, message, _ = api.classify(200, {}, body("error_instrument.json"))
    assert (verdict, message) == ("fail", "51001: Instrument ID, Instrument ID code or Spread ID doesn't exist.")
    assert api.classify(400, {}, b'{"code":"51000","msg":"Parameter bar error","data":[]}')[:2] == (
        "fail", "51000: Parameter bar error")
    assert api.classify(200, {}, b'{"code":"50013","msg":"Systems are busy. Please try again later.","data":[]}')[0] \
        == "retry"
    assert api.classify(503, {}, b"Service Unavailable")[0] == "retry"
    assert api.classify(200, {}, body("ticker.json")) == ("ok", "", None)
