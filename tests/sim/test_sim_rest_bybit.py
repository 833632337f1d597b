"""Simulated Bybit v5 REST market data through the real path (``RestClient`` + ``fetch`` /
``fetch_range`` + ``BybitRestData``): every kind, multi-page history, Bybit's parameter semantics
(inclusive ms bounds, newest first, limits, cursors), response shapes against the documented/captured
bodies in tests/venues/rest_samples/bybit, throttling and errors."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cryptoflow.errors import VenueError
from cryptoflow.events import BookSnapshot, Candle, Funding, MarkPrice, OpenInterest, Ticker24h, Trade, VenueMetric
from cryptoflow.feed.rest import RestClient
from cryptoflow.feed.venue_data import fetch, fetch_range, time_key
from cryptoflow.sim.runner import Simulator
from cryptoflow.symbols import Instrument
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import Endpoints
from cryptoflow.venues.bybit.rest import BybitRestData
from cryptoflow.venues.rest_data import DataKind, DataQuery, period_ns
from tests.sim.shapes import same_shape

SAMPLES = Path(__file__).parents[1] / "venues" / "rest_samples" / "bybit"
MS = 1_000_000
MIN = 60_000_000_000


@dataclass
class Run:
    sim: Simulator
    api: BybitRestData
    client: RestClient
    rest: str  # the simulator's REST base URL

    def inst(self, market: str = "perp", symbol: str = "BTCUSDT") -> Instrument:
        return self.api.venue.instrument(symbol, market)

    @property
    def fair(self) -> float:
        assert self.sim.market is not None
        return self.sim.market.fair_price("BTCUSDT")


@pytest.fixture
async def run() -> AsyncIterator[Run]:
    sim = Simulator(venues=["bybit"], symbols=["BTCUSDT", "ETHUSDT"], rate=2.0, seed=11)
    await sim.start()
    client = RestClient(retries=3)
    try:
        ep = sim.endpoints()["bybit"]
        venue = get_venue("bybit", endpoints=Endpoints(ws=ep["ws"], rest=ep["rest"]))
        api = BybitRestData(venue)
        yield Run(sim, api, client, ep["rest"])
    finally:
        await client.close()
        await sim.stop()


async def get_json(r: Run, path: str) -> Any:
    async with aiohttp.ClientSession() as s, s.get(f"{r.rest}{path}") as resp:
        assert resp.status == 200
        return json.loads(await resp.read())


# ---- every kind ------------------------------------------------------------------------------
async def test_snapshot_kinds_both_markets(run: Run) -> None:
    fair = run.fair
    perp, spot = run.inst("perp"), run.inst("spot")
    recs = await fetch(run.client, run.api, DataQuery(DataKind.TICKER, perp))
    assert [type(x) for x in recs] == [Ticker24h, MarkPrice, Funding, OpenInterest]
    assert all((x.venue, x.market, x.symbol) == ("bybit", "perp", "BTCUSDT") for x in recs)  # type: ignore[union-attr]
    ticker, mark, funding, oi = recs
    assert isinstance(ticker, Ticker24h) and abs(ticker.last / fair - 1) < 0.02
    assert ticker.high is not None and ticker.low is not None and ticker.low <= ticker.last <= ticker.high
    assert isinstance(mark, MarkPrice) and abs(mark.mark_price / fair - 1) < 0.01
    assert mark.index_price is not None and abs(mark.index_price / fair - 1) < 0.01
    assert isinstance(funding, Funding) and abs(funding.rate) <= 0.0075 and funding.next_funding_time is not None
    assert isinstance(oi, OpenInterest) and oi.oi_base and oi.oi_base > 0
    assert oi.oi_notional == pytest.approx(oi.oi_base * mark.mark_price, rel=0.02)

    (st,) = await fetch(run.client, run.api, DataQuery(DataKind.TICKER, spot))
    assert isinstance(st, Ticker24h) and st.market == "spot" and abs(st.last / fair - 1) < 0.02

    (o,) = await fetch(run.client, run.api, DataQuery(DataKind.OPEN_INTEREST, perp))
    assert isinstance(o, OpenInterest) and o.oi_base and abs(o.oi_base / oi.oi_base - 1) < 0.05

    for inst in (perp, spot):
        (book,) = await fetch(run.client, run.api, DataQuery(DataKind.ORDERBOOK, inst, limit=5))
        assert isinstance(book, BookSnapshot) and book.market == inst.market and len(book.bid_prices) == 5
        assert book.bid_prices == sorted(book.bid_prices, reverse=True) and book.ask_prices == sorted(book.ask_prices)
        assert book.bid_prices[0] < book.ask_prices[0] and abs(book.bid_prices[0] / fair - 1) < 0.02

        trades = await fetch(run.client, run.api, DataQuery(DataKind.TRADES, inst, limit=1000))
        assert len(trades) == (60 if inst.market == "spot" else 1000)  # spot serves at most 60
        assert all(isinstance(t, Trade) and t.side in ("buy", "sell") and t.qty > 0 for t in trades)
        times = [t.ts for t in trades]  # type: ignore[union-attr]
        assert times == sorted(times) and abs(trades[-1].price / fair - 1) < 0.05  # type: ignore[union-attr]
        assert len({t.trade_id for t in trades}) == len(trades)  # type: ignore[union-attr]

    listed = await fetch(run.client, run.api, DataQuery(DataKind.INSTRUMENTS))
    assert {(i.symbol, i.market) for i in listed} == {("BTCUSDT", "perp"), ("ETHUSDT", "perp")}  # type: ignore[union-attr]
    (fund,) = await fetch(run.client, run.api, DataQuery(DataKind.INSURANCE_FUND))
    assert isinstance(fund, VenueMetric) and (fund.symbol, fund.metric) == ("USDT", "insurance_fund_balance")
    assert fund.value > 0


async def _series(run: Run, kind: DataKind, period: str | None, periods: int, step: int) -> tuple[list, int, int, int]:
    """Records of ``fetch_range`` over ``periods`` steps ending at the last whole step, and the
    number of requests it took."""
    now = time.time_ns()
    end = now // step * step
    start = end - periods * step
    before = run.client.requests
    pages = [p async for p in fetch_range(run.client, run.api, DataQuery(kind, run.inst(), period, start, end))]
    recs = [x for p in pages for x in p.records]
    keys = [(time_key(x), getattr(x, "metric", "")) for x in recs]
    assert keys == sorted(set(keys)), f"{kind}: not strictly increasing or doubled"
    assert all(start <= time_key(x) < end for x in recs)
    return recs, start, end, run.client.requests - before


async def test_history_ranges_come_back_complete(run: Run) -> None:
    fair = run.fair
    candles, start, end, n = await _series(run, DataKind.CANDLES, "1m", 2500, MIN)
    assert n >= 3 and len(candles) == 2500  # three pages of up to 999 candles, nothing missing
    assert [c.open_time for c in candles] == list(range(start, end, MIN))  # type: ignore[union-attr]
    assert all(isinstance(c, Candle) and c.closed and c.low <= min(c.open, c.close) for c in candles)
    assert abs(candles[-1].close / fair - 1) < 0.05  # type: ignore[union-attr]

    oi, start, end, n = await _series(run, DataKind.OPEN_INTEREST_HISTORY, "5m", 500, 5 * MIN)
    assert n >= 3 and [x.ts for x in oi] == list(range(start, end, 5 * MIN))  # type: ignore[union-attr]
    assert all(isinstance(x, OpenInterest) and x.oi_base and x.oi_base > 0 for x in oi)

    ratios, start, end, n = await _series(run, DataKind.LONG_SHORT_RATIO, "5m", 1200, 5 * MIN)
    assert n >= 3 and len(ratios) == 3 * 1200
    for long, ls, short in zip(ratios[::3], ratios[1::3], ratios[2::3], strict=True):
        assert (long.metric, ls.metric, short.metric) == ("long_account", "long_short_ratio", "short_account")
        assert long.value + short.value == pytest.approx(1.0, abs=2e-4)
        assert ls.value == pytest.approx(long.value / short.value)

    prem, start, end, n = await _series(run, DataKind.PREMIUM_INDEX, "1m", 2200, MIN)
    assert n >= 3 and len(prem) == 2200 and all(abs(x.value) < 0.01 for x in prem)  # type: ignore[union-attr]

    hours = run.sim.market.history.venue_spec("bybit").funding_interval_hours  # type: ignore[union-attr]
    step = int(hours * 3600e9)
    funding, start, end, n = await _series(run, DataKind.FUNDING_HISTORY, None, 20 * 24 // int(hours), step)
    assert [f.ts for f in funding] == list(range(start, end, step))  # type: ignore[union-attr]
    assert all(isinstance(f, Funding) and abs(f.rate) <= 0.0075 for f in funding)

    # spot candles page the same way
    spot = run.inst("spot")
    end = time.time_ns() // period_ns("1h") * period_ns("1h")
    pages = [p async for p in fetch_range(run.client, run.api,
                                          DataQuery(DataKind.CANDLES, spot, "1h", end - 48 * 3600 * 10**9, end))]
    got = [c for p in pages for c in p.records]
    assert len(got) == 48 and all(c.market == "spot" for c in got)  # type: ignore[union-attr]


# ---- Bybit's own semantics and shapes ------------------------------------------------------------
async def test_parameter_semantics(run: Run) -> None:
    t = (time.time_ns() // MIN - 30) * MIN // MS
    kline = "/v5/market/kline?category=linear&symbol=BTCUSDT&interval=1"
    body = await get_json(run, f"{kline}&start={t}&end={t + 240_000}")
    rows = body["result"]["list"]
    assert [int(x[0]) for x in rows] == [t + 240_000 - i * 60_000 for i in range(5)]  # inclusive, newest first
    body = await get_json(run, kline)
    assert len(body["result"]["list"]) == 200  # documented default
    body = await get_json(run, "/v5/market/recent-trade?category=spot&symbol=BTCUSDT")
    assert len(body["result"]["list"]) == 60

    # open interest: cursor pages continue exactly where the previous page ended
    base = "/v5/market/open-interest?category=linear&symbol=BTCUSDT&intervalTime=5min&limit=10"
    first = (await get_json(run, base))["result"]
    assert len(first["list"]) == 10 and first["nextPageCursor"].startswith("lastid%3D")
    second = (await get_json(run, f"{base}&cursor={first['nextPageCursor']}"))["result"]
    last_of_first = int(first["list"][-1]["timestamp"])
    assert int(second["list"][0]["timestamp"]) == last_of_first - 300_000
    body = await get_json(run, "/v5/market/account-ratio?category=linear&symbol=BTCUSDT&period=1h")
    assert len(body["result"]["list"]) == 50  # documented default

    # errors: HTTP 200 with retCode 10001
    for path, msg in (
        ("/v5/market/funding/history?category=linear&symbol=BTCUSDT&startTime=1700000000000", "endTime"),
        ("/v5/market/kline?category=inverse&symbol=BTCUSDT&interval=1", "Illegal category"),
        ("/v5/market/kline?category=linear&symbol=BTCUSDT&interval=7", "interval"),
        ("/v5/market/premium-index-price-kline?category=spot&symbol=BTCUSDT&interval=1", "Illegal category"),
        ("/v5/market/tickers?category=linear&symbol=NOPEUSDT", "Not supported symbols"),
    ):
        body = await get_json(run, path)
        assert body["retCode"] == 10001 and msg in body["retMsg"], (path, body)


@pytest.mark.parametrize(
    ("sample", "path"),
    [
        ("tickers_linear.json", "/v5/market/tickers?category=linear&symbol=BTCUSDT"),
        ("tickers_spot.json", "/v5/market/tickers?category=spot&symbol=BTCUSDT"),
        ("orderbook_spot.json", "/v5/market/orderbook?category=spot&symbol=BTCUSDT&limit=1"),
        ("recent_trade_spot.json", "/v5/market/recent-trade?category=spot&symbol=BTCUSDT&limit=1"),
        ("kline_linear.json", "/v5/market/kline?category=linear&symbol=BTCUSDT&interval=1&limit=2"),
        ("premium_index.json", "/v5/market/premium-index-price-kline?category=linear&symbol=BTCUSDT&interval=D"),
        ("funding_history.json", "/v5/market/funding/history?category=linear&symbol=BTCUSDT&limit=1"),
        ("open_interest.json", "/v5/market/open-interest?category=linear&symbol=BTCUSDT&intervalTime=5min&limit=2"),
        ("account_ratio.json", "/v5/market/account-ratio?category=linear&symbol=BTCUSDT&period=1h&limit=2"),
        ("insurance.json", "/v5/market/insurance?coin=USDT"),
        ("error_symbol.json", "/v5/market/kline?category=linear&symbol=NOPEUSDT&interval=1"),
    ],
)
async def test_bodies_have_the_documented_shape(run: Run, sample: str, path: str) -> None:
    real = json.loads((SAMPLES / sample).read_text())
    got = await get_json(run, path)
    assert same_shape(got, real) == []
    if "list" in real.get("result", {}):
        assert got["result"]["list"], "an empty list has no shape to compare"


# ---- throttling and errors -----------------------------------------------------------------------
async def test_throttle_is_retried_and_unknown_symbol_fails_at_once(run: Run) -> None:
    srv = run.sim.servers["bybit"]
    srv.inject("throttle", 2)
    t0 = time.monotonic()
    recs = await fetch(run.client, run.api, DataQuery(DataKind.CANDLES, run.inst(), "1m", limit=5))
    assert len(recs) == 5 and run.client.throttled == 2 and srv.faults.done["throttle"] == 2
    assert time.monotonic() - t0 < 5.0  # waited for Bybit's reset time, not the 10-minute ban

    ghost = Instrument("bybit", "NOPEUSDT", "NOPEUSDT", "perp", "NOPE", "USDT")
    before_requests, before_retried = srv.stats["rest_requests"], run.client.retried
    with pytest.raises(VenueError, match="retCode 10001: Not supported symbols"):
        await fetch(run.client, run.api, DataQuery(DataKind.CANDLES, ghost, "1m"))
    assert srv.stats["rest_requests"] == before_requests + 1 and run.client.retried == before_retried
