"""Simulated Hyperliquid ``POST /info`` market data through the real path (``RestClient`` + ``fetch`` /
``fetch_range`` + ``HyperliquidRestData``): every kind, multi-page history, Hyperliquid's request
semantics (inclusive ms bounds, 5000 / 500 caps, ``null`` for unknown coins, 422 for malformed
bodies), bodies shaped like the recorded ones in tests/venues/rest_samples/hyperliquid, throttling."""

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
from cryptoflow.events import BookSnapshot, Candle, Funding, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.feed.rest import RestClient
from cryptoflow.feed.venue_data import fetch, fetch_range, time_key
from cryptoflow.sim.runner import Simulator
from cryptoflow.symbols import Instrument
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import Endpoints
from cryptoflow.venues.hyperliquid_rest import HyperliquidRestData
from cryptoflow.venues.rest_data import DataKind, DataQuery
from tests.sim.shapes import same_shape

SAMPLES = Path(__file__).parents[1] / "venues" / "rest_samples" / "hyperliquid"
MS = 1_000_000
MIN = 60_000_000_000
HOUR = 60 * MIN


@dataclass
class Run:
    sim: Simulator
    api: HyperliquidRestData
    client: RestClient
    info: str  # the simulator's /info URL

    def inst(self, symbol: str = "BTCUSDT") -> Instrument:
        return self.api.venue.instrument(symbol)

    @property
    def fair(self) -> float:
        assert self.sim.market is not None
        return self.sim.market.fair_price("BTCUSDT")


@pytest.fixture
async def run() -> AsyncIterator[Run]:
    sim = Simulator(venues=["hyperliquid"], symbols=["BTCUSDT", "ETHUSDT"], rate=2.0, seed=11)
    await sim.start()
    # request weights are charged as documented; the budget is raised so pages need not wait a minute
    client = RestClient(limits={"hyperliquid": (2000.0, 2000.0)}, retries=3)
    try:
        ep = sim.endpoints()["hyperliquid"]
        api = HyperliquidRestData(get_venue("hyperliquid", endpoints=Endpoints(ws=ep["ws"], rest=ep["rest"])))
        yield Run(sim, api, client, ep["rest"] + "/info")
    finally:
        await client.close()
        await sim.stop()


async def post(r: Run, req: dict[str, Any], status: int = 200) -> Any:
    async with aiohttp.ClientSession() as s, s.post(r.info, json=req) as resp:
        assert resp.status == status, await resp.read()
        raw = await resp.read()
        return json.loads(raw) if raw else None


# ---- every kind ------------------------------------------------------------------------------
async def test_snapshot_kinds(run: Run) -> None:
    fair, btc = run.fair, run.inst()
    recs = await fetch(run.client, run.api, DataQuery(DataKind.TICKER, btc))
    assert [type(x) for x in recs] == [MarkPrice, Funding, OpenInterest, Ticker24h]
    assert all((x.venue, x.market, x.symbol) == ("hyperliquid", "perp", "BTCUSDT") for x in recs)  # type: ignore[union-attr]
    mark, funding, oi, ticker = recs
    assert isinstance(mark, MarkPrice) and abs(mark.mark_price / fair - 1) < 0.01
    assert mark.index_price is not None and abs(mark.index_price / fair - 1) < 0.01
    assert isinstance(funding, Funding) and funding.interval_hours == 1.0 and abs(funding.rate) <= 0.0075
    assert isinstance(oi, OpenInterest) and oi.oi_base and oi.oi_notional == pytest.approx(oi.oi_base * mark.mark_price)
    assert isinstance(ticker, Ticker24h) and abs(ticker.last / fair - 1) < 0.02 and ticker.volume
    (o,) = await fetch(run.client, run.api, DataQuery(DataKind.OPEN_INTEREST, run.inst("ETHUSDT")))
    assert isinstance(o, OpenInterest) and o.symbol == "ETHUSDT" and o.oi_base and o.oi_base > 0

    (book,) = await fetch(run.client, run.api, DataQuery(DataKind.ORDERBOOK, btc))
    assert isinstance(book, BookSnapshot) and len(book.bid_prices) == len(book.ask_prices) == 20
    assert book.bid_prices == sorted(book.bid_prices, reverse=True) and book.ask_prices == sorted(book.ask_prices)
    assert book.bid_prices[0] < book.ask_prices[0] and abs(book.bid_prices[0] / fair - 1) < 0.02
    (top,) = await fetch(run.client, run.api, DataQuery(DataKind.ORDERBOOK, btc, limit=5))
    assert len(top.bid_prices) == 5  # type: ignore[union-attr]

    trades = await fetch(run.client, run.api, DataQuery(DataKind.TRADES, btc))
    assert len(trades) == 10 and all(isinstance(t, Trade) and t.side in ("buy", "sell") and t.qty > 0 for t in trades)
    times = [t.ts for t in trades]  # type: ignore[union-attr]
    assert times == sorted(times) and abs(trades[-1].price / fair - 1) < 0.05  # type: ignore[union-attr]

    listed = await fetch(run.client, run.api, DataQuery(DataKind.INSTRUMENTS))
    assert {(i.native, i.symbol) for i in listed} == {("BTC", "BTCUSDT"), ("ETH", "ETHUSDT")}  # type: ignore[union-attr]


async def _series(run: Run, kind: DataKind, period: str | None, periods: int, step: int) -> tuple[list, int, int, int]:
    end = time.time_ns() // step * step
    start = end - periods * step
    before = run.client.requests
    pages = [p async for p in fetch_range(run.client, run.api, DataQuery(kind, run.inst(), period, start, end))]
    recs = [x for p in pages for x in p.records]
    assert [time_key(x) for x in recs] == sorted({time_key(x) for x in recs}), f"{kind}: not increasing or doubled"
    assert all(start <= time_key(x) < end for x in recs)
    return recs, start, end, run.client.requests - before


async def test_history_ranges_come_back_complete(run: Run) -> None:
    # the venue keeps the newest 5000 candles per interval: an older start is clipped, not paged in vain
    candles, start, end, n = await _series(run, DataKind.CANDLES, "1m", 2 * 4999 + 100, MIN)
    newest = list(range(end - 5000 * MIN, end, MIN))
    assert n == 2 and [c.open_time for c in candles] == newest  # type: ignore[union-attr]
    assert all(isinstance(c, Candle) and c.closed and c.low <= min(c.open, c.close) and c.trades is not None
               for c in candles)
    assert abs(candles[-1].close / run.fair - 1) < 0.05  # type: ignore[union-attr]

    funding, start, end, n = await _series(run, DataKind.FUNDING_HISTORY, None, 30 * 24, HOUR)
    assert n >= 2 and len(funding) == 30 * 24
    # settled a few ms after each full hour, as the recorded ones are
    assert [f.ts // HOUR * HOUR for f in funding] == list(range(start, end, HOUR))  # type: ignore[union-attr]
    assert all(isinstance(f, Funding) and f.interval_hours == 1.0 and abs(f.rate) <= 0.0075 for f in funding)


# ---- Hyperliquid's own semantics and shapes ------------------------------------------------------
async def test_request_semantics(run: Run) -> None:
    t = (time.time_ns() // MIN - 30) * MIN // MS
    req = {"coin": "BTC", "interval": "1m", "startTime": t, "endTime": t + 240_000}
    rows = await post(run, {"type": "candleSnapshot", "req": req})
    assert [r["t"] for r in rows] == [t + i * 60_000 for i in range(5)]  # both ends inclusive, ascending
    assert all(r["T"] == r["t"] + 59_999 and r["s"] == "BTC" and r["i"] == "1m" for r in rows)
    rows = await post(run, {"type": "candleSnapshot", "req": {**req, "startTime": t - 6000 * 60_000, "endTime": t}})
    assert len(rows) == 5000 and rows[-1]["t"] == t  # at most 5000, the newest
    h = time.time_ns() // HOUR * HOUR // MS
    rows = await post(run, {"type": "fundingHistory", "coin": "ETH", "startTime": h - 30 * 24 * 3_600_000})
    assert len(rows) == 500 and rows[0]["time"] // 3_600_000 == h // 3_600_000 - 30 * 24  # the first 500
    assert all(0 <= r["time"] % 3_600_000 < 1000 for r in rows)

    assert await post(run, {"type": "candleSnapshot", "req": {**req, "coin": "NOPE"}}) is None  # unknown coin: null
    assert await post(run, {"type": "fundingHistory", "coin": "NOPE", "startTime": t}) is None
    for bad in ({"type": "candleSnapshot", "req": {**req, "interval": "7m"}},
                {"type": "candleSnapshot", "coin": "BTC"},
                {"type": "fundingHistory", "coin": "BTC"},
                {"type": "recentTrades"},
                {"type": "noSuchThing"}):  # fmt: skip
        assert "Failed to deserialize" in await post(run, bad, 422)


@pytest.mark.parametrize(
    ("sample", "req"),
    [
        ("candle_snapshot.json", {"type": "candleSnapshot", "req": {"coin": "BTC", "interval": "1h", "startTime": 0}}),
        ("funding_history.json", {"type": "fundingHistory", "coin": "BTC", "startTime": 0}),
        ("l2_book.json", {"type": "l2Book", "coin": "BTC"}),
        ("recent_trades.json", {"type": "recentTrades", "coin": "ETH"}),
    ],
)
async def test_bodies_have_the_recorded_shape(run: Run, sample: str, req: dict[str, Any]) -> None:
    real = json.loads((SAMPLES / sample).read_text())
    got = await post(run, req)
    assert got and same_shape(got, real) == []
    if sample == "funding_history.json":  # the recorded ones are 8 h apart (2023); today's are hourly
        assert got[1]["time"] - got[0]["time"] == pytest.approx(3_600_000, abs=1000)


async def test_meta_and_asset_ctxs_shape(run: Run) -> None:
    meta, ctxs = await post(run, {"type": "metaAndAssetCtxs"})
    real_meta, real_ctxs = json.loads((SAMPLES / "meta_and_asset_ctxs.json").read_text())
    assert [a["name"] for a in meta["universe"]] == ["BTC", "ETH"] and len(ctxs) == 2
    assert same_shape(ctxs, real_ctxs) == []
    assert same_shape(meta["universe"][0], real_meta["universe"][0]) == ["$: extra key 'marginTableId'"]  # newer API


# ---- throttling and errors -----------------------------------------------------------------------
async def test_throttle_is_retried_and_unknown_coin_fails_at_once(run: Run) -> None:
    srv = run.sim.servers["hyperliquid"]
    srv.inject("throttle", 2)
    recs = await fetch(run.client, run.api, DataQuery(DataKind.CANDLES, run.inst(), "1m", limit=5))
    assert len(recs) == 5 and run.client.throttled == 2 and srv.faults.done["throttle"] == 2
    assert [c.open_time for c in recs] == list(range(recs[0].open_time, recs[0].open_time + 5 * MIN, MIN))  # type: ignore[union-attr]

    ghost = Instrument("hyperliquid", "NOPE", "NOPEUSDT", "perp", "NOPE", "USDC")
    before_requests, before_retried = srv.stats["rest_requests"], run.client.retried
    with pytest.raises(VenueError, match=r"info#fundingHistory refused \(hyperliquid answered null"):
        await fetch(run.client, run.api, DataQuery(DataKind.FUNDING_HISTORY, ghost, start_ns=time.time_ns() - HOUR))
    assert srv.stats["rest_requests"] == before_requests + 1 and run.client.retried == before_retried
