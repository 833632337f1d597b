"""Kraken Futures REST data: request URLs on the three services (derivatives v3/v4, charts, analytics),
parsers on captured/documented bodies (provenance in rest_samples/kraken_futures/SOURCE.md), contracts
turned into base units on linear and inverse products, funding amounts vs rates, error bodies and
throttle classification."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from cryptoflow.errors import ConfigError
from cryptoflow.events import BookSnapshot, Candle, Funding, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.symbols import Instrument, InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import Endpoints
from cryptoflow.venues.kraken_futures import instruments as kinst
from cryptoflow.venues.kraken_futures.rest import KrakenFuturesRestData, iso_ns
from cryptoflow.venues.rest_data import DataKind, DataQuery, RestDataError, rest_data_for

K = DataKind
SAMPLES = Path(__file__).parent / "rest_samples" / "kraken_futures"
S = 1_000_000_000
MS = 1_000_000
T_RECV = 1_786_540_700 * S
PI = kinst.infer("PI_XBTUSD")  # inverse: 1 contract = 1 USD


def body(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.fixture(scope="module")
def api() -> KrakenFuturesRestData:
    a = rest_data_for(get_venue("kraken_futures", registry=InstrumentRegistry.bundled()))
    assert isinstance(a, KrakenFuturesRestData)
    return a


@pytest.fixture(scope="module")
def pf(api: KrakenFuturesRestData) -> Instrument:
    return api.venue.instrument("BTCUSDT")  # PF_XBTUSD, 1 contract = 1 BTC


def split(api: KrakenFuturesRestData, q: DataQuery) -> tuple[str, str, dict[str, str]]:
    url = urlsplit(api.request(api.check(q)).url)
    return f"{url.scheme}://{url.netloc}", url.path, {k: v[0] for k, v in parse_qs(url.query).items()}


# ---- requests ----------------------------------------------------------------------------------
def test_requests_reach_all_three_services(api: KrakenFuturesRestData, pf: Instrument) -> None:
    host = "https://futures.kraken.com"
    assert split(api, DataQuery(K.TICKER, pf)) == (host, "/derivatives/api/v3/tickers/PF_XBTUSD", {})
    assert split(api, DataQuery(K.OPEN_INTEREST, pf))[1] == "/derivatives/api/v3/tickers/PF_XBTUSD"
    assert split(api, DataQuery(K.ORDERBOOK, pf))[1:] == ("/derivatives/api/v3/orderbook", {"symbol": "PF_XBTUSD"})
    assert split(api, DataQuery(K.TRADES, pf))[1:] == ("/derivatives/api/v3/history", {"symbol": "PF_XBTUSD"})
    assert split(api, DataQuery(K.FUNDING_HISTORY, pf, None, 1, 2))[1:] == (
        "/derivatives/api/v4/historicalfundingrates", {"symbol": "PF_XBTUSD"})  # no time parameters: all of it
    assert split(api, DataQuery(K.INSTRUMENTS))[1] == "/derivatives/api/v3/instruments"
    start, end = 1_676_392_800 * S, 1_676_396_400 * S
    # charts: epoch seconds, inclusive; a lone start gets one page (2000 candles) after it
    assert split(api, DataQuery(K.CANDLES, pf, "1m", start, end)) == (
        host, "/api/charts/v1/trade/PF_XBTUSD/1m", {"from": "1676392800", "to": "1676396399"})
    assert split(api, DataQuery(K.CANDLES, pf, "1h", start))[2]["to"] == str(1_676_392_800 + 1999 * 3600)
    _, path, p = split(api, DataQuery(K.OPEN_INTEREST_HISTORY, pf, "4h", start, end, limit=10_000))
    assert (path, p) == ("/api/charts/v1/analytics/PF_XBTUSD/open-interest",
                         {"since": "1676392800", "to": "1676396399", "interval": "14400"})
    # no range: the latest `limit` periods, from the wall clock
    _, _, p = split(api, DataQuery(K.CANDLES, pf, "5m", limit=12))
    now = time.time()
    assert now - 300 <= int(p["to"]) <= now + 1 and int(p["to"]) - int(p["from"]) < 12 * 300
    # a simulator's base has no /derivatives/api/v3: the same paths under it
    sim = KrakenFuturesRestData(get_venue("kraken_futures", endpoints=Endpoints(ws={"public": "ws://x"},
                                                                               rest="http://127.0.0.1:9")))
    assert sim.request(sim.check(DataQuery(K.TICKER, pf))).url == "http://127.0.0.1:9/derivatives/api/v3/tickers/PF_XBTUSD"


def test_unknown_kinds_and_periods_name_what_is_accepted(api: KrakenFuturesRestData, pf: Instrument) -> None:
    with pytest.raises(ConfigError, match=r"kraken_futures has no 'long_short_ratio' data; venues with it: .*"):
        api.check(DataQuery(K.LONG_SHORT_RATIO, pf, "1h"))
    with pytest.raises(ConfigError, match="period '3m' not offered; use one of 1m, 5m, 15m, 30m, 1h, 4h, 12h, 1d"):
        api.check(DataQuery(K.CANDLES, pf, "3m"))


# ---- parsers -------------------------------------------------------------------------------------
def test_inverse_ticker_turns_the_funding_amount_into_a_rate(api: KrakenFuturesRestData) -> None:
    recs = {type(r): r for r in api.parse(DataQuery(K.TICKER, PI), body("ticker.json"), T_RECV)}
    assert set(recs) == {MarkPrice, Funding, OpenInterest, Ticker24h}
    ts = iso_ns("2022-06-17T11:00:31.335Z")
    assert all(r.ts == ts for r in recs.values())  # type: ignore[attr-defined]
    mark, fund, oi, tick = recs[MarkPrice], recs[Funding], recs[OpenInterest], recs[Ticker24h]
    assert (mark.mark_price, mark.index_price) == (30209.9, 21087.8)  # type: ignore[attr-defined]
    # inverse: fundingRate is base per USD contract; the rate is amount x index
    assert fund.rate == pytest.approx(1.18588737106e-7 * 21087.8)  # type: ignore[attr-defined]
    assert fund.interval_hours == 1.0  # type: ignore[attr-defined]
    assert (oi.oi_contracts, oi.oi_notional) == (149655, 149655)  # type: ignore[attr-defined]  # USD contracts
    assert oi.oi_base == pytest.approx(149655 / 30209.9)  # type: ignore[attr-defined]
    assert (tick.last, tick.volume, tick.quote_volume, tick.price_change) == (49289, None, 40351.34, 0)  # type: ignore[attr-defined]


def test_linear_ticker(api: KrakenFuturesRestData, pf: Instrument) -> None:
    recs = {type(r): r for r in api.parse(DataQuery(K.TICKER, pf), body("ticker_pf.json"), T_RECV)}
    fund, oi, tick = recs[Funding], recs[OpenInterest], recs[Ticker24h]
    assert fund.rate == pytest.approx(-1.380384722222e-6, rel=1e-4)  # type: ignore[attr-defined]  # amount / index
    assert fund.predicted_rate == pytest.approx(-0.176917 / 21984.54)  # type: ignore[attr-defined]
    assert (oi.oi_contracts, oi.oi_base) == (1367.9, 1367.9)  # type: ignore[attr-defined]
    assert oi.oi_notional == pytest.approx(1367.9 * 21979.68641534714)  # type: ignore[attr-defined]
    assert (tick.last, tick.open, tick.volume, tick.quote_volume) == (21983.5, 21968.5, 1428.5, 31403908.0)  # type: ignore[attr-defined]
    assert tick.price_change == pytest.approx(15.0) and tick.price_change_pct == 0.0682  # type: ignore[attr-defined]
    (only,) = api.parse(DataQuery(K.OPEN_INTEREST, pf), body("ticker_pf.json"), T_RECV)
    assert only == oi
    assert api.parse(DataQuery(K.TICKER, PI), body("ticker_pf.json"), T_RECV) == []  # another symbol's ticker


def test_book_trades_funding(api: KrakenFuturesRestData, pf: Instrument) -> None:
    (book,) = api.parse(DataQuery(K.ORDERBOOK, pf, limit=2), body("orderbook.json"), T_RECV)
    assert isinstance(book, BookSnapshot) and book.ts == iso_ns("2020-08-27T17:03:33.196Z")
    assert (book.bid_prices, book.bid_qtys) == ([40178, 40174], [5, 4.2])
    assert (book.ask_prices, book.ask_qtys) == ([40186, 40190], [5.0183, 0.4183])
    t99, t100 = api.parse(DataQuery(K.TRADES, PI), body("history.json"), T_RECV)  # newest first on the wire
    assert isinstance(t99, Trade) and (t99.trade_id, t99.side, t99.price) == ("99", "buy", 3569)
    assert t99.ts == 1_550_135_277_844 * MS and t99.qty == pytest.approx(10000 / 3569)  # USD contracts -> BTC
    assert (t100.trade_id, t100.ts) == ("100", 1_550_136_333_920 * MS)  # type: ignore[attr-defined]
    rates = api.parse(DataQuery(K.FUNDING_HISTORY, pf), body("funding_history.json"), T_RECV)
    assert [(r.ts, r.rate) for r in rates] == [  # type: ignore[attr-defined]
        (iso_ns("2022-06-28T00:00:00Z"), -0.000016898883333333),  # relativeFundingRate, not the amount
        (iso_ns("2022-06-28T04:00:00Z"), -5.40935416667e-7),
        (iso_ns("2022-06-28T08:00:00Z"), -0.000008521190625),
    ]
    assert all(isinstance(r, Funding) and r.interval_hours == 1.0 for r in rates)
    q = DataQuery(K.FUNDING_HISTORY, pf, None, iso_ns("2022-06-28T04:00:00Z"), iso_ns("2022-06-28T08:00:00Z"))
    assert [r.rate for r in api.parse(q, body("funding_history.json"), T_RECV)] == [-5.40935416667e-7]  # type: ignore[attr-defined]
    q = DataQuery(K.FUNDING_HISTORY, pf, limit=1)  # no range: the latest `limit`
    assert [r.rate for r in api.parse(q, body("funding_history.json"), T_RECV)] == [-0.000008521190625]  # type: ignore[attr-defined]


def test_candles_oi_history_instruments(api: KrakenFuturesRestData, pf: Instrument) -> None:
    c1, c2 = api.parse(DataQuery(K.CANDLES, pf, "1m"), body("candles.json"), T_RECV)
    assert isinstance(c1, Candle) and c1.open_time == 1_676_392_800_000 * MS and c1.closed
    assert (c1.open, c1.high, c1.low, c1.close, c1.volume) == (21968.5, 21991.0, 21952.5, 21983.5, 12.4312)
    assert c2.open_time - c1.open_time == 60 * S  # type: ignore[attr-defined]
    o1, o2 = api.parse(DataQuery(K.OPEN_INTEREST_HISTORY, pf, "1h"), body("open_interest_history.json"), T_RECV)
    assert isinstance(o1, OpenInterest) and (o1.ts, o1.oi_contracts, o1.oi_base) == (1_676_392_800 * S, 1367.9, 1367.9)
    assert (o2.ts, o2.oi_base, o2.oi_notional) == (1_676_396_400 * S, 1362.4, None)  # type: ignore[attr-defined]
    insts = api.parse(DataQuery(K.INSTRUMENTS), body("instruments.json"), T_RECV)
    by_native = {i.native: i for i in insts}  # type: ignore[union-attr]
    assert len(insts) == 17 and {i.contract_type for i in insts} == {"inverse"}  # type: ignore[union-attr]
    assert (by_native["PI_XBTUSD"].symbol, by_native["PI_XBTUSD"].tick_size) == ("BTCUSD", 0.5)
    assert by_native["FI_XBTUSD_210924"].symbol == "BTCUSD_210924"


# ---- errors and throttling ---------------------------------------------------------------------
def test_error_bodies_and_classification(api: KrakenFuturesRestData, pf: Instrument) -> None:
    with pytest.raises(RestDataError, match="kraken_futures: 11 Argument invalid: symbol"):
        api.parse(DataQuery(K.FUNDING_HISTORY, pf), body("error_symbol_v4.json"), T_RECV)
    with pytest.raises(RestDataError, match="apiLimitExceeded"):
        api.parse(DataQuery(K.TICKER, pf), body("error_throttle.json"), T_RECV)
    assert api.classify(400, {}, body("error_symbol_v4.json")) == (
        "fail", "Kraken Futures: 11 Argument invalid: symbol", None)
    # Kraken reports errors inside 200 bodies: a throttle is retried, anything else fails at once
    assert api.classify(200, {}, body("error_throttle.json")) == ("retry", "Kraken Futures: apiLimitExceeded", None)
    assert api.classify(429, {"Retry-After": "2"}, body("error_throttle.json"))[::2] == ("retry", 2.0)
    not_found = b'{"result":"error","serverTime":"2024-01-01T00:00:00.000Z","error":"notFound"}'
    assert api.classify(200, {}, not_found) == ("fail", "Kraken Futures: notFound", None)
    assert api.classify(200, {}, body("ticker_pf.json")) == ("ok", "", None)
    assert api.classify(200, {}, body("candles.json")) == ("ok", "", None)
    assert api.classify(503, {}, b"<html>busy</html>")[0] == "retry"
