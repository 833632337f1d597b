"""Gate.io USDT futures REST data: request URLs with Gate's parameters, parsers on captured/documented
bodies (provenance in rest_samples/gateio/SOURCE.md), contract sizes multiplied out, error bodies and
throttle classification."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from cryptoflow.errors import ConfigError
from cryptoflow.events import BookSnapshot, Candle, Funding, MarkPrice, OpenInterest, Ticker24h, Trade, VenueMetric
from cryptoflow.symbols import Instrument, InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.gateio.rest import GateioRestData
from cryptoflow.venues.rest_data import DataKind, DataQuery, RestDataError, rest_data_for

K = DataKind
SAMPLES = Path(__file__).parent / "rest_samples" / "gateio"
S = 1_000_000_000
T_RECV = 1_786_540_700 * S
MIN = 60 * S


def body(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.fixture(scope="module")
def api() -> GateioRestData:
    a = rest_data_for(get_venue("gateio", registry=InstrumentRegistry.bundled()))
    assert isinstance(a, GateioRestData)
    return a


@pytest.fixture(scope="module")
def btc(api: GateioRestData) -> Instrument:
    inst = api.venue.instrument("BTCUSDT")
    assert inst.contract_size == 0.0001  # quanto_multiplier of BTC_USDT
    return inst


def query(api: GateioRestData, q: DataQuery) -> tuple[str, dict[str, str]]:
    url = urlsplit(api.request(api.check(q)).url)
    return url.path, {k: v[0] for k, v in parse_qs(url.query).items()}


# ---- requests ----------------------------------------------------------------------------------
def test_requests_use_gate_paths_and_parameters(api: GateioRestData, btc: Instrument) -> None:
    start, end = 1_700_000_000 * S, 1_700_006_000 * S
    path, p = query(api, DataQuery(K.CANDLES, btc, "1m", start, end, limit=5000))
    # Gate's bounds are inclusive seconds; a ranged request must not carry `limit` (Gate rejects it)
    assert path == "/api/v4/futures/usdt/candlesticks"
    assert p == {"contract": "BTC_USDT", "interval": "1m", "from": "1700000000", "to": "1700005999"}
    # a lone start: one full page (2000 points) after it; no range: the latest `limit`, capped at 2000
    assert query(api, DataQuery(K.CANDLES, btc, "1h", start))[1]["to"] == str(1_700_000_000 + 1999 * 3600)
    assert query(api, DataQuery(K.CANDLES, btc, "5m", limit=9000))[1] == {
        "contract": "BTC_USDT", "interval": "5m", "limit": "2000"}
    assert query(api, DataQuery(K.PREMIUM_INDEX, btc, "8h", start + 1, end))[1]["from"] == "1700000001"
    path, p = query(api, DataQuery(K.FUNDING_HISTORY, btc, None, start, end))
    assert (path, p) == ("/api/v4/futures/usdt/funding_rate",
                         {"contract": "BTC_USDT", "limit": "1000", "from": "1700000000", "to": "1700005999"})
    # contract_stats has no `to`: from + limit (<= 100)
    path, p = query(api, DataQuery(K.OPEN_INTEREST_HISTORY, btc, "15m", start, end, limit=500))
    assert (path, p) == ("/api/v4/futures/usdt/contract_stats",
                         {"contract": "BTC_USDT", "interval": "15m", "limit": "100", "from": "1700000000"})
    assert query(api, DataQuery(K.ORDERBOOK, btc, limit=20))[1] == {
        "contract": "BTC_USDT", "limit": "20", "with_id": "true"}
    assert query(api, DataQuery(K.TRADES, btc, limit=5000))[1]["limit"] == "1000"
    assert query(api, DataQuery(K.OPEN_INTEREST, btc)) == ("/api/v4/futures/usdt/tickers", {"contract": "BTC_USDT"})
    assert query(api, DataQuery(K.INSURANCE_FUND, None, limit=10)) == ("/api/v4/futures/usdt/insurance",
                                                                        {"limit": "10"})
    assert query(api, DataQuery(K.INSTRUMENTS))[0] == "/api/v4/futures/usdt/contracts"


def test_unknown_kinds_and_periods_name_what_is_accepted(api: GateioRestData, btc: Instrument) -> None:
    with pytest.raises(ConfigError, match=r"gateio has no 'volatility_index' data.*gateio offers: instruments"):
        api.check(DataQuery(K.VOLATILITY_INDEX, btc))
    with pytest.raises(ConfigError, match=r"period '1m' not offered; use one of 5m, 15m, 30m, 1h, 4h, 1d"):
        api.check(DataQuery(K.LONG_SHORT_RATIO, btc, "1m"))


# ---- parsers -------------------------------------------------------------------------------------
def test_captured_order_book_in_base_units() -> None:
    # RDNT_USDT is not in the bundled registry: a contract of 10 RDNT shows the conversion
    rdnt = Instrument("gateio", "RDNT_USDT", "RDNTUSDT", "perp", "RDNT", "USDT", "linear", 10.0)
    api = GateioRestData(get_venue("gateio", registry=InstrumentRegistry([rdnt])))
    (snap,) = api.parse(DataQuery(K.ORDERBOOK, rdnt, limit=3), body("orderbook.json"), T_RECV)
    assert isinstance(snap, BookSnapshot) and snap.symbol == "RDNTUSDT" and snap.seq == 203083287
    assert snap.ts == 1_684_930_166_350_000_000  # "update": 1684930166.35 (the book's last change)
    assert snap.bid_prices == [0.2969, 0.2968, 0.2967] and snap.bid_qtys[:2] == [53020.0, 96400.0]
    assert snap.ask_prices[:2] == [0.2974, 0.2975] and snap.ask_qtys[:2] == [8030.0, 5000.0]


def test_candles_premium_funding_insurance(api: GateioRestData, btc: Instrument) -> None:
    (c,) = api.parse(DataQuery(K.CANDLES, btc, "1m"), body("candles.json"), T_RECV)
    assert isinstance(c, Candle) and c.open_time == 1_539_852_480 * S and c.ts == c.open_time + MIN and c.closed
    assert (c.open, c.high, c.low, c.close) == (1.032, 1.032, 1.032, 1.032)
    assert c.volume == pytest.approx(9.7151)  # 97151 contracts x 0.0001 BTC
    assert c.quote_volume == 3580.0
    # a range: points outside [start, end) are dropped
    assert api.parse(DataQuery(K.CANDLES, btc, "1m", 1_539_852_481 * S, T_RECV), body("candles.json"), T_RECV) == []
    (pi,) = api.parse(DataQuery(K.PREMIUM_INDEX, btc, "1h"), body("premium_index.json"), T_RECV)
    assert isinstance(pi, VenueMetric) and (pi.metric, pi.value, pi.ts, pi.period) == (
        "premium_index", 0.0, 1_539_852_480 * S, "1h")
    (f,) = api.parse(DataQuery(K.FUNDING_HISTORY, btc), body("funding_history.json"), T_RECV)
    assert isinstance(f, Funding) and (f.ts, f.rate, f.predicted_rate) == (1_543_968_000 * S, 0.000157, None)
    (ins,) = api.parse(DataQuery(K.INSURANCE_FUND, None, limit=100), body("insurance.json"), T_RECV)
    assert isinstance(ins, VenueMetric) and (ins.symbol, ins.metric, ins.value, ins.ts) == (
        "USDT", "insurance_fund_balance", 83.0031, 1_543_968_000 * S)


def test_ticker_gives_mark_funding_oi_and_24h(api: GateioRestData, btc: Instrument) -> None:
    recs = api.parse(DataQuery(K.TICKER, btc), body("tickers.json"), T_RECV)
    by_type = {type(r): r for r in recs}
    assert set(by_type) == {MarkPrice, Funding, OpenInterest, Ticker24h}
    mark, fund, oi, tick = by_type[MarkPrice], by_type[Funding], by_type[OpenInterest], by_type[Ticker24h]
    assert (mark.mark_price, mark.index_price) == (6534.0, 6531.0)  # type: ignore[attr-defined]
    assert (fund.rate, fund.predicted_rate) == (0.0001, 0.0001)  # type: ignore[attr-defined]
    assert oi.oi_contracts == 32323904 and oi.oi_base == pytest.approx(3232.3904)  # type: ignore[attr-defined]
    assert oi.oi_notional == pytest.approx(3232.3904 * 6534)  # type: ignore[attr-defined]
    assert (tick.last, tick.high, tick.low, tick.price_change_pct) == (6432, 6790, 6278, 4.43)  # type: ignore[attr-defined]
    assert all(r.ts == T_RECV for r in recs)  # the REST row carries no time of its own
    (only,) = api.parse(DataQuery(K.OPEN_INTEREST, btc), body("tickers.json"), T_RECV)
    assert only == oi


def test_trades_and_instruments(api: GateioRestData, btc: Instrument) -> None:
    rows = json.loads(body("trades.json"))
    rows.append({"id": 121234232, "create_time": 1514764801.25, "create_time_ms": 1514764801.257,
                 "contract": "BTC_USDT", "size": "30", "price": "100.2"})  # live bodies: seconds.mmm
    t1, t2 = api.parse(DataQuery(K.TRADES, btc), json.dumps(rows[::-1]).encode(), T_RECV)  # newest first
    assert isinstance(t1, Trade) and (t1.trade_id, t1.side, t1.price, t1.ts) == (
        "121234231", "sell", 100.123, 1_514_764_800 * S)
    assert t1.qty == pytest.approx(0.01)  # |-100| contracts x 0.0001
    assert (t2.trade_id, t2.side, t2.ts) == ("121234232", "buy", 1_514_764_801_257_000_000)  # type: ignore[attr-defined]
    (inst,) = api.parse(DataQuery(K.INSTRUMENTS), body("contracts.json"), T_RECV)
    assert isinstance(inst, Instrument)
    assert (inst.native, inst.symbol, inst.contract_size, inst.tick_size) == ("BTC_USDT", "BTCUSDT", 0.0001, 0.1)


def test_contract_stats(api: GateioRestData, btc: Instrument) -> None:
    (oi,) = api.parse(DataQuery(K.OPEN_INTEREST_HISTORY, btc, "5m"), body("contract_stats.json"), T_RECV)
    assert isinstance(oi, OpenInterest) and oi.ts == 1_603_865_400 * S
    assert (oi.oi_contracts, oi.oi_notional) == (124724.0, 1511.0) and oi.oi_base == pytest.approx(12.4724)
    ls = api.parse(DataQuery(K.LONG_SHORT_RATIO, btc, "5m"), body("contract_stats.json"), T_RECV)
    assert [(m.metric, round(m.value, 6)) for m in ls] == [  # type: ignore[attr-defined]
        ("long_short_ratio", 0.5), ("long_account", 0.333333), ("short_account", 0.666667)]
    # the documented example has no taker sizes: only Gate's own taker ratio, no invented volumes
    (tr,) = api.parse(DataQuery(K.TAKER_VOLUME, btc, "5m"), body("contract_stats.json"), T_RECV)
    assert (tr.metric, tr.value) == ("taker_buy_sell_ratio", 100.0)  # type: ignore[attr-defined]

    full = body("contract_stats_full.json")
    tv = api.parse(DataQuery(K.TAKER_VOLUME, btc, "5m"), full, T_RECV)
    first = {m.metric: m.value for m in tv if m.ts == 1_786_539_900 * S}  # type: ignore[attr-defined]
    assert first["taker_buy_volume"] == pytest.approx(16.0) and first["taker_sell_volume"] == pytest.approx(20.0)
    assert first["taker_buy_sell_ratio"] == pytest.approx(0.8)
    assert [m.ts for m in tv] == sorted(m.ts for m in tv)  # type: ignore[attr-defined]
    ls = api.parse(DataQuery(K.LONG_SHORT_RATIO, btc, "5m"), full, T_RECV)
    last = {m.metric: m.value for m in ls if m.ts == 1_786_540_200 * S}  # type: ignore[attr-defined]
    assert last == {"long_short_ratio": 1.5, "long_account": 0.6, "short_account": 0.4}  # shares from user counts
    # contract_stats takes no end: the parser drops what is at or after end_ns
    q = DataQuery(K.OPEN_INTEREST_HISTORY, btc, "5m", 1_786_539_900 * S, 1_786_540_200 * S)
    (only,) = api.parse(q, full, T_RECV)
    assert only.oi_contracts == 658_000_000 and only.oi_base == pytest.approx(65_800.0)  # type: ignore[attr-defined]


# ---- errors and throttling ---------------------------------------------------------------------
def test_error_bodies_and_classification(api: GateioRestData, btc: Instrument) -> None:
    with pytest.raises(RestDataError, match="gateio: CONTRACT_NOT_FOUND: Contract not found"):
        api.parse(DataQuery(K.CANDLES, btc, "1m"), body("error_contract.json"), T_RECV)
    verdict, msg, wait = api.classify(400, {}, body("error_contract.json"))
    assert (verdict, msg, wait) == ("fail", "Gate CONTRACT_NOT_FOUND: Contract not found", None)
    throttled = b'{"label":"TOO_MANY_REQUESTS","message":"Request Rate limit Exceeded"}'
    reset_ms = int((time.time() + 2.0) * 1000)  # Gate sends the reset time in ms (API v4 docs)
    headers = {"x-gate-ratelimit-requests-remain": "0", "x-gate-ratelimit-limit": "200",
               "x-gate-ratelimit-reset-timestamp": str(reset_ms)}
    verdict, msg, wait = api.classify(429, headers, throttled)
    assert verdict == "retry" and "TOO_MANY_REQUESTS" in msg and "remaining 0/200" in msg
    assert wait is not None and 1.0 < wait <= 2.0
    assert api.classify(502, {}, b"bad gateway")[0] == "retry"
    assert api.classify(200, {}, body("candles.json")) == ("ok", "", None)
