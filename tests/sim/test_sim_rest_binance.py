"""Simulated Binance REST data (USD-M + spot) through the real path: a running simulator, the shared
``RestClient`` and ``fetch``/``fetch_range``. Bodies have the shape of the real/documented ones
(tests/venues/rest_samples/binance_*), parameters behave like Binance's, history pages join up
without gaps or doubles, throttling is retried and a bad symbol fails at once."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from cryptoflow.errors import VenueError
from cryptoflow.events import METRICS, BookSnapshot, Candle, Funding, OpenInterest, Ticker24h, Trade, VenueMetric
from cryptoflow.feed.rest import RestClient
from cryptoflow.feed.venue_data import fetch, fetch_range, time_key
from cryptoflow.sim.runner import Simulator
from cryptoflow.symbols import Instrument
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import Endpoints
from cryptoflow.venues.binance_rest import BinanceSpotRest, BinanceUsdmRest
from cryptoflow.venues.rest_data import DataKind, DataQuery

from .shapes import same_shape

SAMPLES = Path(__file__).parents[1] / "venues" / "rest_samples"
MIN = 60_000_000_000
MS = 1_000_000
K = DataKind


@asynccontextmanager
async def _sim(venue_id: str) -> AsyncIterator[tuple[Simulator, RestClient, object]]:
    sim = Simulator(venues=[venue_id], symbols=["BTCUSDT"], rate=0.5, seed=11)
    await sim.start()
    client = RestClient(retries=3)
    ep = sim.endpoints()[venue_id]
    venue = get_venue(venue_id, endpoints=Endpoints(ws=ep["ws"], rest=ep["rest"]))
    api = (BinanceUsdmRest if venue_id == "binance_usdm" else BinanceSpotRest)(venue)
    try:
        yield sim, client, api
    finally:
        await client.close()
        await sim.stop()


def _get(sim: Simulator, venue_id: str, path: str, query: str = "") -> tuple[int, object]:
    resp = sim.servers[venue_id].sim.rest("GET", path, parse_qs(query), b"")
    assert resp is not None, path
    return resp.status, json.loads(resp.body)


def _sample(venue_id: str, name: str) -> object:
    body = json.loads((SAMPLES / venue_id / f"{name}.json").read_text())
    if name in ("open_interest_history", "long_short_ratio", "taker_volume"):
        for row in body:  # documented with a quoted timestamp, sent as a number (rest_samples SOURCE.md)
            row["timestamp"] = int(row["timestamp"])
    return body


def _kline_types(row: list) -> list[str]:
    return [type(x).__name__ for x in row]


USDM_SHAPES = {
    "instruments": ("/fapi/v1/exchangeInfo", ""),
    "orderbook": ("/fapi/v1/depth", "symbol=BTCUSDT&limit=5"),
    "ticker": ("/fapi/v1/ticker/24hr", "symbol=BTCUSDT"),
    "trades": ("/fapi/v1/trades", "symbol=BTCUSDT&limit=3"),
    "candles": ("/fapi/v1/klines", "symbol=BTCUSDT&interval=1m&limit=3"),
    "funding_history": ("/fapi/v1/fundingRate", "symbol=BTCUSDT&limit=3"),
    "open_interest": ("/fapi/v1/openInterest", "symbol=BTCUSDT"),
    "open_interest_history": ("/futures/data/openInterestHist", "symbol=BTCUSDT&period=5m&limit=3"),
    "long_short_ratio": ("/futures/data/globalLongShortAccountRatio", "symbol=BTCUSDT&period=1h&limit=3"),
    "taker_volume": ("/futures/data/takerlongshortRatio", "symbol=BTCUSDT&period=15m&limit=3"),
    "basis": ("/futures/data/basis", "pair=BTCUSDT&contractType=PERPETUAL&period=5m&limit=3"),
    "premium_index": ("/fapi/v1/premiumIndexKlines", "symbol=BTCUSDT&interval=1h&limit=3"),
    "insurance_fund": ("/fapi/v1/insuranceBalance", "symbol=BTCUSDT"),
    "insurance_fund_all": ("/fapi/v1/insuranceBalance", ""),
    "error_symbol": ("/fapi/v1/klines", "symbol=NOPEUSDT&interval=1m"),
}
SPOT_SHAPES = {
    "instruments": ("/api/v3/exchangeInfo", ""),
    "orderbook": ("/api/v3/depth", "symbol=BTCUSDT&limit=5"),
    "ticker": ("/api/v3/ticker/24hr", "symbol=BTCUSDT"),
    "trades": ("/api/v3/trades", "symbol=BTCUSDT&limit=3"),
    "candles": ("/api/v3/klines", "symbol=BTCUSDT&interval=1m&limit=3"),
    "error_symbol": ("/api/v3/trades", "symbol=NOPEUSDT"),
}


@pytest.mark.parametrize("venue_id", ["binance_usdm", "binance_spot"])
async def test_bodies_have_the_real_shape_and_binance_semantics(venue_id: str) -> None:
    async with _sim(venue_id) as (sim, _client, _api):
        shapes = USDM_SHAPES if venue_id == "binance_usdm" else SPOT_SHAPES
        for name, (path, query) in shapes.items():
            status, body = _get(sim, venue_id, path, query)
            assert status == (400 if name.startswith("error") else 200), (name, body)
            real = _sample(venue_id, name)
            assert body, name
            assert same_shape(body, real) == [], (name, same_shape(body, real))
            if name in ("candles", "premium_index"):  # positional rows: every column's type
                assert _kline_types(body[0]) == _kline_types(real[0]), name  # type: ignore[index]
        assert _get(sim, venue_id, shapes["error_symbol"][0], "symbol=nopeusdt")[1] == {
            "code": -1121, "msg": "Invalid symbol.",
        }  # fmt: skip
        kl = shapes["candles"][0]
        # bounds are inclusive ms; with both bounds the first `limit` points from the start
        t0 = (time.time_ns() - 3 * 3600 * 10**9) // (5 * MIN) * (5 * MIN) // MS  # on the 5m grid
        status, rows = _get(sim, venue_id, kl, f"symbol=BTCUSDT&interval=1m&startTime={t0}&endTime={t0 + 300_000}")
        assert [r[0] for r in rows] == [t0 + k * 60_000 for k in range(6)]  # type: ignore[union-attr]
        assert rows[0][6] == t0 + 59_999  # type: ignore[index]  # close time = open + interval - 1 ms
        status, rows = _get(sim, venue_id, kl, f"symbol=BTCUSDT&interval=5m&startTime={t0}&limit=4")
        assert [r[0] for r in rows] == [t0 + k * 300_000 for k in range(4)]  # type: ignore[union-attr]
        status, rows = _get(sim, venue_id, kl, f"symbol=BTCUSDT&interval=1m&endTime={t0}&limit=2")
        assert [r[0] for r in rows] == [t0 - 60_000, t0]  # type: ignore[union-attr]  # the latest up to endTime
        assert _get(sim, venue_id, kl, "symbol=BTCUSDT&interval=7m")[1] == {"code": -1120, "msg": "Invalid interval."}
        status, err = _get(sim, venue_id, kl, "interval=1m")
        assert status == 400 and err["code"] == -1102 and "'symbol'" in err["msg"]  # type: ignore[index]
        status, err = _get(sim, venue_id, kl, "symbol=BTCUSDT&interval=1m&limit=ten")
        assert err["code"] == -1100  # type: ignore[index]
        resp = sim.servers[venue_id].sim.throttled_response(kl)
        assert resp.status == 429 and json.loads(resp.body)["code"] == -1003
        assert resp.headers["Retry-After"] == "1" and "X-MBX-USED-WEIGHT-1M" in resp.headers
        if venue_id == "binance_usdm":
            now_ms = time.time_ns() // MS
            status, rows = _get(sim, venue_id, "/futures/data/openInterestHist",
                                f"symbol=BTCUSDT&period=1d&startTime={now_ms - 40 * 86_400_000}&limit=500")
            oldest = min(r["timestamp"] for r in rows)  # type: ignore[index, union-attr]
            assert rows and oldest >= now_ms - 30 * 86_400_000  # statistics: the last 30 days only
            status, err = _get(sim, venue_id, "/futures/data/openInterestHist", "symbol=BTCUSDT&period=1m")
            assert err["code"] == -1130 and "'period'" in err["msg"]  # type: ignore[index]  # no 1m statistics
            spot_path = sim.servers[venue_id].sim.rest("GET", "/api/v3/klines", {"symbol": ["BTCUSDT"]}, b"")
            assert spot_path is None  # the server answers 404: USD-M does not serve spot paths


def _check(r: object, venue_id: str, market: str, fair: float) -> None:
    assert r.venue == venue_id  # type: ignore[attr-defined]
    if isinstance(r, Candle):
        assert r.symbol == "BTCUSDT" and r.low <= min(r.open, r.close) <= max(r.open, r.close) <= r.high
        assert 0.7 * fair < r.close < 1.4 * fair and r.volume > 0 and r.trades and r.trades > 0
    elif isinstance(r, Ticker24h | Trade):
        price = r.last if isinstance(r, Ticker24h) else r.price
        assert r.symbol == "BTCUSDT" and abs(price / fair - 1) < 0.03, (r, fair)
    elif isinstance(r, BookSnapshot):
        assert r.bid_prices[0] < r.ask_prices[0] and abs(r.bid_prices[0] / fair - 1) < 0.03
        assert r.bid_prices == sorted(r.bid_prices, reverse=True) and len(r.bid_prices) == 10
    elif isinstance(r, Funding):
        assert abs(r.rate) <= 0.0075 and r.ts % (8 * 60 * MIN) == 0  # settles at 00/08/16 UTC
    elif isinstance(r, OpenInterest):
        assert r.oi_base is not None and r.oi_base > 0
    elif isinstance(r, VenueMetric):
        assert r.metric in METRICS and r.market == market
        if r.metric == "long_account":
            assert 0 < r.value < 1
        if r.metric == "basis_rate":
            assert abs(r.value) < 0.01


async def test_usdm_every_kind_pages_throttle_and_bad_symbol() -> None:
    vid = "binance_usdm"
    async with _sim(vid) as (sim, client, api):
        assert sim.market is not None
        fair = sim.market.fair_price("BTCUSDT")
        btc = api.venue.instrument("BTCUSDT")
        for kind in (K.TICKER, K.ORDERBOOK, K.TRADES, K.OPEN_INTEREST, K.INSURANCE_FUND):
            recs = await fetch(client, api, DataQuery(kind, btc, limit=10))
            assert recs, kind
            for r in recs:
                _check(r, vid, "perp", fair)
        (usdt,) = await fetch(client, api, DataQuery(K.INSURANCE_FUND, btc))
        assert (usdt.symbol, usdt.metric) == ("USDT", "insurance_fund_balance") and usdt.value > 1e6
        insts = await fetch(client, api, DataQuery(K.INSTRUMENTS))
        tick = sim.market.tick(vid, "perp", "BTCUSDT")  # the tick the simulated book really quotes in
        assert [(i.native, i.market, i.tick_size) for i in insts] == [("BTCUSDT", "perp", tick)]

        now = time.time_ns()
        # >= 3 pages, one record per point: count == span / period, strictly increasing, nothing doubled
        for kind, period, step in ((K.CANDLES, "1m", MIN), (K.OPEN_INTEREST_HISTORY, "5m", 5 * MIN),
                                   (K.PREMIUM_INDEX, "1m", MIN)):  # fmt: skip
            limit = api.kinds[kind].max_limit
            end = (now - 30 * MIN) // step * step
            start = end - 3 * (limit - 1) * step
            pages = [p async for p in fetch_range(client, api, DataQuery(kind, btc, period, start, end))]
            keys = [time_key(r) for p in pages for r in p.records]
            assert len(pages) == 3 and len(keys) == (end - start) // step, (kind, len(pages), len(keys))
            assert keys == sorted(set(keys)) and keys[0] == start and keys[-1] == end - step
            for p in pages:
                for r in p.records[:20] + p.records[-20:]:
                    _check(r, vid, "perp", fair)
        # multi-metric statistics and funding: complete, ordered (time, metric) and in range
        for kind, period, n_metrics in ((K.LONG_SHORT_RATIO, "1h", 3), (K.TAKER_VOLUME, "15m", 3),
                                        (K.BASIS, "5m", 2), (K.FUNDING_HISTORY, None, 1)):  # fmt: skip
            step = {"1h": 60 * MIN, "15m": 15 * MIN, "5m": 5 * MIN, None: 8 * 60 * MIN}[period]
            end = (now - 60 * MIN) // step * step
            start = end - 60 * step
            pages = [p async for p in fetch_range(client, api, DataQuery(kind, btc, period, start, end))]
            recs = [r for p in pages for r in p.records]
            keys = [(time_key(r), getattr(r, "metric", "")) for r in recs]
            assert keys == sorted(set(keys)) and all(start <= k[0] < end for k in keys), kind
            assert len(recs) == 60 * n_metrics, (kind, len(recs))
            for r in recs:
                _check(r, vid, "perp", fair)

        # an armed throttle fault: Binance's 429 twice, retried after Retry-After, then served
        srv = sim.servers[vid]
        srv.inject("throttle", 2)
        t0, r0 = client.throttled, client.retried
        recs = await fetch(client, api, DataQuery(K.CANDLES, btc, limit=5))
        assert len(recs) == 5 and client.throttled - t0 == 2 and client.retried - r0 == 2
        assert srv.faults.done["throttle"] == 2

        # an unknown symbol: Binance's -1121 surfaces at once, no retry
        nope = Instrument(vid, "NOPEUSDT", "NOPEUSDT", "perp", "NOPE", "USDT")
        n0, r0 = client.requests, client.retried
        with pytest.raises(VenueError, match=r"Binance -1121: Invalid symbol\."):
            await fetch(client, api, DataQuery(K.OPEN_INTEREST_HISTORY, nope, "5m", limit=5))
        assert client.requests - n0 == 1 and client.retried == r0


async def test_spot_every_kind_pages_and_bad_symbol() -> None:
    vid = "binance_spot"
    async with _sim(vid) as (sim, client, api):
        assert sim.market is not None
        fair = sim.market.fair_price("BTCUSDT")
        btc = api.venue.instrument("BTCUSDT", "spot")
        for kind in (K.TICKER, K.ORDERBOOK, K.TRADES):
            recs = await fetch(client, api, DataQuery(kind, btc, limit=10))
            assert recs and all(r.market == "spot" for r in recs), kind  # type: ignore[attr-defined]
            for r in recs:
                _check(r, vid, "spot", fair)
        trades = await fetch(client, api, DataQuery(K.TRADES, btc, limit=50))
        ids = [int(t.trade_id) for t in trades]  # type: ignore[attr-defined]
        assert len(trades) == 50 and ids == sorted(set(ids))
        (inst,) = await fetch(client, api, DataQuery(K.INSTRUMENTS))
        assert (inst.native, inst.market, inst.base) == ("BTCUSDT", "spot", "BTC")  # type: ignore[union-attr]
        now = time.time_ns()
        end = (now - 30 * MIN) // (5 * MIN) * (5 * MIN)
        start = end - 3 * 999 * 5 * MIN
        pages = [p async for p in fetch_range(client, api, DataQuery(K.CANDLES, btc, "5m", start, end))]
        keys = [time_key(r) for p in pages for r in p.records]
        assert len(pages) == 3 and len(keys) == 2997 and keys == sorted(set(keys))
        with pytest.raises(VenueError, match="Invalid symbol"):
            await fetch(client, api, DataQuery(K.TICKER, Instrument(vid, "NOPEUSDT", "NOPEUSDT", "spot", "NOPE",
                                                                     "USDT", "spot")))  # fmt: skip
