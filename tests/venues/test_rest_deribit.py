"""Deribit REST data: request URLs with Deribit's methods and parameters, parsers on captured and
documented bodies (provenance in rest_samples/deribit/SOURCE.md), error bodies and throttling."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from cryptoflow.errors import ConfigError
from cryptoflow.events import BookSnapshot, Candle, Funding, MarkPrice, OpenInterest, Ticker24h, Trade, VenueMetric
from cryptoflow.symbols import Instrument, InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.deribit.rest import DeribitRestData
from cryptoflow.venues.rest_data import DataKind, DataQuery, RestDataError, rest_data_for

SAMPLES = Path(__file__).parent / "rest_samples" / "deribit"
MS = 1_000_000
T_RECV = 1_790_000_000_000 * MS  # after every sample


def body(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.fixture(scope="module")
def api() -> DeribitRestData:
    a = rest_data_for(get_venue("deribit", registry=InstrumentRegistry.bundled()))
    assert isinstance(a, DeribitRestData)
    return a


@pytest.fixture(scope="module")
def btc(api: DeribitRestData) -> Instrument:
    return api.venue.instrument("BTCUSDT")


def query(api: DeribitRestData, q: DataQuery) -> tuple[str, dict[str, str]]:
    url = urlsplit(api.request(api.check(q)).url)
    return url.path, {k: v[0] for k, v in parse_qs(url.query).items()}


# ---- requests ------------------------------------------------------------------------------------
def test_requests_use_deribit_methods_and_parameters(api: DeribitRestData, btc: Instrument) -> None:
    sol = api.venue.instrument("SOLUSDT")
    start, end = 1_700_000_000_000 * MS, 1_700_000_600_000 * MS
    path, p = query(api, DataQuery(DataKind.CANDLES, btc, "1d", start, end))
    assert path == "/api/v2/public/get_tradingview_chart_data"
    # our end is exclusive, Deribit's inclusive
    assert p == {"instrument_name": "BTC-PERPETUAL", "start_timestamp": "1700000000000",
                 "end_timestamp": "1700000599999", "resolution": "1D"}
    assert query(api, DataQuery(DataKind.CANDLES, sol, "6h", start, end))[1]["resolution"] == "360"
    assert query(api, DataQuery(DataKind.CANDLES, sol, "6h", start, end))[1]["instrument_name"] == "SOL_USDC-PERPETUAL"
    # a lone start asks for one full page (5000 bars) after it
    p = query(api, DataQuery(DataKind.CANDLES, btc, "1m", start_ns=start))[1]
    assert int(p["end_timestamp"]) - int(p["start_timestamp"]) == 5000 * 60_000 - 1
    path, p = query(api, DataQuery(DataKind.FUNDING_HISTORY, btc, start_ns=start, end_ns=end))
    assert (path, p["start_timestamp"], p["end_timestamp"]) == (
        "/api/v2/public/get_funding_rate_history", "1700000000000", "1700000599999")
    path, p = query(api, DataQuery(DataKind.VOLATILITY_INDEX, btc, "1h", start, end))
    assert (path, p["currency"], p["resolution"]) == ("/api/v2/public/get_volatility_index_data", "BTC", "3600")
    # depth rounds up to one Deribit accepts; the limit is capped at 10000
    assert query(api, DataQuery(DataKind.ORDERBOOK, btc, limit=15))[1] == {
        "instrument_name": "BTC-PERPETUAL", "depth": "20"}
    assert query(api, DataQuery(DataKind.ORDERBOOK, btc, limit=50_000))[1]["depth"] == "10000"
    assert query(api, DataQuery(DataKind.TRADES, btc, limit=5000))[1] == {
        "instrument_name": "BTC-PERPETUAL", "count": "1000", "sorting": "desc"}
    assert query(api, DataQuery(DataKind.OPEN_INTEREST, btc)) == (
        "/api/v2/public/ticker", {"instrument_name": "BTC-PERPETUAL"})
    # options are filed under the settlement currency: BTC for inverse, USDC for the linear coins
    assert query(api, DataQuery(DataKind.OPTIONS_SUMMARY, btc))[1] == {"currency": "BTC", "kind": "option"}
    assert query(api, DataQuery(DataKind.OPTIONS_SUMMARY, sol))[1] == {"currency": "USDC", "kind": "option"}


def test_unknown_kind_and_period_name_what_is_offered(api: DeribitRestData, btc: Instrument) -> None:
    with pytest.raises(ConfigError, match=r"deribit has no 'long_short_ratio'.*offers: instruments, ticker"):
        api.check(DataQuery(DataKind.LONG_SHORT_RATIO, btc))
    with pytest.raises(ConfigError, match=r"period '4h' not offered; use one of 1m, 3m, 5m, 15m, 30m, 1h, 2h, 6h"):
        api.check(DataQuery(DataKind.CANDLES, btc, "4h"))


# ---- parsers -------------------------------------------------------------------------------------
def test_ticker_gives_mark_funding_open_interest_and_24h_stats(api: DeribitRestData, btc: Instrument) -> None:
    recs = api.parse(api.check(DataQuery(DataKind.TICKER, btc)), body("ticker.json"), T_RECV)
    by_type = {type(r): r for r in recs}
    ts = 1_623_059_681_955 * MS
    assert by_type[MarkPrice] == MarkPrice("deribit", "perp", "BTCUSDT", ts, T_RECV, 36288.31, 36297.02)
    f = by_type[Funding]
    assert (f.rate, f.predicted_rate, f.interval_hours, f.next_funding_time) == (0.00002203, 0, 8.0, None)
    oi = by_type[OpenInterest]
    # 502,231,260 USD of inverse contracts at the 36,288.31 mark
    assert oi.oi_base == pytest.approx(502_231_260 / 36288.31) and oi.oi_notional == pytest.approx(502_231_260)
    assert oi.oi_contracts is None
    t = by_type[Ticker24h]
    assert (t.last, t.high, t.low, t.volume, t.quote_volume, t.price_change_pct) == (
        36289.5, 36824.5, 35213.5, 7831.26548117, 282615600, 0.2362)
    assert t.open is None and t.price_change is None  # Deribit sends neither
    only_oi = api.parse(api.check(DataQuery(DataKind.OPEN_INTEREST, btc)), body("ticker.json"), T_RECV)
    assert only_oi == [oi]


def test_order_book_amounts_become_base_units(api: DeribitRestData, btc: Instrument) -> None:
    (b,) = api.parse(api.check(DataQuery(DataKind.ORDERBOOK, btc, limit=5)), body("order_book.json"), T_RECV)
    assert isinstance(b, BookSnapshot)
    assert b.ts == 1_766_554_855_140 * MS and b.seq == 133_112_427_566
    assert b.bid_prices == [87002.5, 87002.0, 87001.5, 87001.0, 87000.5]
    assert b.ask_prices[0] == 87003.0 and len(b.ask_prices) == 5
    assert b.bid_qtys[0] == pytest.approx(199190.0 / 87002.5)  # USD -> BTC
    assert b.ask_qtys[0] == pytest.approx(125090.0 / 87003.0)


def test_trades_oldest_first_in_base_units(api: DeribitRestData) -> None:
    eth = api.venue.instrument("ETHUSDT")
    recs = api.parse(api.check(DataQuery(DataKind.TRADES, eth)), body("last_trades.json"), T_RECV)
    assert len(recs) == 10 and all(isinstance(r, Trade) for r in recs)
    first, last = recs[0], recs[-1]
    assert (first.ts, first.price, first.side, first.trade_id) == (1_766_332_040_636 * MS, 2968.3, "sell",
                                                                   "ETH-284830839")
    assert first.qty == pytest.approx(1.0 / 2968.3)
    assert (last.side, last.trade_id, last.qty) == ("buy", "ETH-284830854", pytest.approx(106.0 / 2968.3))
    recent = api.parse(api.check(DataQuery(DataKind.TRADES, eth, limit=2)), body("last_trades.json"), T_RECV)
    # same millisecond: the trade sequence orders them
    assert [t.trade_id for t in recent] == ["ETH-284830853", "ETH-284830854"]


def test_chart_data_candles(api: DeribitRestData, btc: Instrument) -> None:
    q = api.check(DataQuery(DataKind.CANDLES, btc, "1m"))
    recs = api.parse(q, body("chart_data.json"), T_RECV)
    assert len(recs) == 5 and all(isinstance(r, Candle) for r in recs)
    c = recs[0]
    assert (c.open_time, c.ts, c.interval) == (1_766_483_460_000 * MS, 1_766_483_520_000 * MS, "1m")
    assert (c.open, c.high, c.low, c.close) == (87451.0, 87456.5, 87451.0, 87456.5)
    assert (c.volume, c.quote_volume, c.closed) == (2.94375216, 257490.0, True)  # BTC and USD
    assert [r.open_time for r in recs] == [(1_766_483_460_000 + 60_000 * i) * MS for i in range(5)]
    # the latest N bars: asked from N whole bars before the current one (the venue adds the open one)
    p = query(api, DataQuery(DataKind.CANDLES, btc, "1m", limit=3))[1]
    start, end = int(p["start_timestamp"]), int(p["end_timestamp"])
    assert start % 60_000 == 0 and 3 * 60_000 <= end - start < 4 * 60_000
    latest = api.parse(api.check(DataQuery(DataKind.CANDLES, btc, "1m", limit=3)), body("chart_data.json"), T_RECV)
    assert [c.open_time for c in latest] == [r.open_time for r in recs[-3:]]
    # the still-open last bar is flagged
    live = api.parse(q, body("chart_data.json"), 1_766_483_730_000 * MS)
    assert live[-1].closed is False and live[-1].ts == 1_766_483_730_000 * MS


def test_funding_history_is_the_hourly_payment(api: DeribitRestData, btc: Instrument) -> None:
    recs = api.parse(api.check(DataQuery(DataKind.FUNDING_HISTORY, btc)), body("funding_rate_history.json"), T_RECV)
    assert [type(r) for r in recs] == [Funding] * 4
    assert [r.ts for r in recs] == [(1_569_891_600_000 + 3_600_000 * i) * MS for i in range(4)]
    assert recs[0].rate == -4.739622041017375e-7 and recs[-1].rate == 8.312033064379086e-7
    assert {r.interval_hours for r in recs} == {1.0} and {r.predicted_rate for r in recs} == {None}


def test_options_summary_metrics(api: DeribitRestData, btc: Instrument) -> None:
    recs = api.parse(api.check(DataQuery(DataKind.OPTIONS_SUMMARY, btc)), body("book_summary_option.json"), T_RECV)
    assert all(isinstance(r, VenueMetric) and r.market == "option" and r.symbol == "BTCUSDT" for r in recs)
    assert {r.ts for r in recs} == {1_710_000_000_000 * MS}
    m = {r.metric: r.value for r in recs}
    assert m["options_call_oi"] == 123.5 and m["options_put_oi"] == 88.0
    assert m["options_put_call_oi_ratio"] == pytest.approx(88.0 / 123.5)
    assert m["options_volume_24h"] == 15.0
    assert m["options_oi_weighted_iv"] == pytest.approx((123.5 * 55.2 + 88.0 * 54.8) / 211.5 / 100)
    # no ETH options in the body: nothing to report for ETH
    eth = api.venue.instrument("ETHUSDT")
    assert api.parse(api.check(DataQuery(DataKind.OPTIONS_SUMMARY, eth)), body("book_summary_option.json"), 0) == []


def test_volatility_index_percent_points_become_fractions(api: DeribitRestData, btc: Instrument) -> None:
    q = api.check(DataQuery(DataKind.VOLATILITY_INDEX, btc, "1m"))
    recs = api.parse(q, body("volatility_index_data.json"), T_RECV)
    assert [r.ts for r in recs] == [(1_598_019_300_000 + 60_000 * i) * MS for i in range(3)]
    assert [r.value for r in recs] == pytest.approx([0.00212860821, 0.00212987527, 0.00212992597])
    assert {(r.metric, r.period, r.market) for r in recs} == {("volatility_index", "1m", "option")}


# ---- errors and throttling -----------------------------------------------------------------------
def test_error_bodies_raise_with_deribits_message(api: DeribitRestData, btc: Instrument) -> None:
    err = body("error_invalid_params.json")
    for kind in (DataKind.TICKER, DataKind.CANDLES, DataKind.INSTRUMENTS, DataKind.VOLATILITY_INDEX):
        q = api.check(DataQuery(kind, None if kind is DataKind.INSTRUMENTS else btc))
        with pytest.raises(RestDataError, match="-32602 Invalid params") as e:
            api.parse(q, err, T_RECV)
        assert e.value.venue == "deribit"
    verdict, message, _ = api.classify(400, {}, err)
    assert (verdict, message) == ("fail", "-32602 Invalid params (wrong format param=instrument_name)")


def test_throttling_and_server_errors_are_retried(api: DeribitRestData) -> None:
    verdict, message, _ = api.classify(429, {}, body("error_too_many_requests.json"))
    assert (verdict, message) == ("retry", "10028 too_many_requests")
    assert api.classify(400, {}, body("error_too_many_requests.json"))[0] == "retry"  # the code decides
    assert api.classify(503, {"Retry-After": "2"}, b"<html>busy</html>") == ("retry", "HTTP 503: <html>busy</html>",
                                                                           2.0)
    assert api.classify(200, {}, body("ticker.json")) == ("ok", "", None)
