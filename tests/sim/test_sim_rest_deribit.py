"""Simulated Deribit REST market data through the real path (``RestClient`` + ``fetch`` /
``fetch_range`` + ``DeribitRestData``): every kind, multi-page history, Deribit's parameter semantics
(inclusive ms bounds, newest pages kept, depths, counts), bodies shaped like the captured/documented
ones in tests/venues/rest_samples/deribit, throttling and errors."""

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
from cryptoflow.venues.deribit.rest import DeribitRestData
from cryptoflow.venues.rest_data import DataKind, DataQuery
from tests.sim.shapes import same_shape

SAMPLES = Path(__file__).parents[1] / "venues" / "rest_samples" / "deribit"
MS = 1_000_000
MIN = 60_000_000_000
HOUR = 60 * MIN
# get_book_summary_by_currency rows: the documented example's keys, and every key the docs' row schema
# lists (https://docs.deribit.com/api-reference/market-data/public-get_book_summary_by_currency)
DOC_ROW = {"volume", "underlying_price", "underlying_index", "quote_currency", "price_change", "open_interest",
           "mid_price", "mark_price", "low", "last", "interest_rate", "instrument_name", "high", "creation_timestamp",
           "bid_price", "base_currency", "ask_price"}  # fmt: skip
SCHEMA_ROW = DOC_ROW | {"estimated_delivery_price", "volume_usd", "volume_notional", "current_funding", "funding_8h",
                        "mark_iv"}  # fmt: skip


@dataclass
class Run:
    sim: Simulator
    api: DeribitRestData
    client: RestClient
    rest: str

    def inst(self, symbol: str = "BTCUSDT") -> Instrument:
        return self.api.venue.instrument(symbol)

    def fair(self, symbol: str = "BTCUSDT") -> float:
        assert self.sim.market is not None
        return self.sim.market.fair_price(symbol)


@pytest.fixture
async def run() -> AsyncIterator[Run]:
    sim = Simulator(venues=["deribit"], symbols=["BTCUSDT", "ETHUSDT", "SOLUSDT"], rate=2.0, seed=11)
    await sim.start()
    client = RestClient(retries=3)
    try:
        ep = sim.endpoints()["deribit"]
        api = DeribitRestData(get_venue("deribit", endpoints=Endpoints(ws=ep["ws"], rest=ep["rest"] + "/api/v2")))
        yield Run(sim, api, client, ep["rest"] + "/api/v2")
    finally:
        await client.close()
        await sim.stop()


async def get(r: Run, path: str, status: int = 200) -> Any:
    async with aiohttp.ClientSession() as s, s.get(f"{r.rest}{path}") as resp:
        assert resp.status == status, await resp.read()
        return json.loads(await resp.read())


# ---- every kind ------------------------------------------------------------------------------
async def test_snapshot_kinds(run: Run) -> None:
    fair = run.fair()
    btc = run.inst()
    recs = await fetch(run.client, run.api, DataQuery(DataKind.TICKER, btc))
    by_type = {type(x): x for x in recs}
    assert set(by_type) == {MarkPrice, Funding, OpenInterest, Ticker24h} and len(recs) == 4
    assert all((x.venue, x.market, x.symbol) == ("deribit", "perp", "BTCUSDT") for x in recs)  # type: ignore[union-attr]
    mark, oi, t = by_type[MarkPrice], by_type[OpenInterest], by_type[Ticker24h]
    assert abs(mark.mark_price / fair - 1) < 0.01 and abs(t.last / fair - 1) < 0.02  # type: ignore[union-attr]
    assert oi.oi_base and oi.oi_base > 0 and oi.oi_notional == pytest.approx(oi.oi_base * mark.mark_price)  # type: ignore[union-attr]
    assert abs(by_type[Funding].rate) <= 0.0075 and by_type[Funding].interval_hours == 8.0  # type: ignore[union-attr]
    (o,) = await fetch(run.client, run.api, DataQuery(DataKind.OPEN_INTEREST, btc))
    assert isinstance(o, OpenInterest) and abs(o.oi_base / oi.oi_base - 1) < 0.05  # type: ignore[operator]

    for sym in ("BTCUSDT", "SOLUSDT"):  # inverse (USD amounts) and USDC-linear (coins)
        (book,) = await fetch(run.client, run.api, DataQuery(DataKind.ORDERBOOK, run.inst(sym), limit=5))
        assert isinstance(book, BookSnapshot) and book.symbol == sym and len(book.bid_prices) == 5
        assert book.bid_prices == sorted(book.bid_prices, reverse=True) and book.ask_prices == sorted(book.ask_prices)
        assert book.bid_prices[0] < book.ask_prices[0] and abs(book.bid_prices[0] / run.fair(sym) - 1) < 0.02
        # a BTC level of 1e5..1e9 USD would be wrong by the price: base units are a few coins at most
        assert 0 < book.bid_qtys[0] < 1e6 / run.fair(sym)

        trades = await fetch(run.client, run.api, DataQuery(DataKind.TRADES, run.inst(sym), limit=50))
        assert len(trades) == 50 and all(isinstance(x, Trade) and x.qty > 0 for x in trades)
        times = [x.ts for x in trades]  # type: ignore[union-attr]
        assert times == sorted(times) and len({x.trade_id for x in trades}) == 50  # type: ignore[union-attr]
        assert abs(trades[-1].price / run.fair(sym) - 1) < 0.05  # type: ignore[union-attr]

    listed = await fetch(run.client, run.api, DataQuery(DataKind.INSTRUMENTS))
    assert {(i.native, i.symbol) for i in listed} == {  # type: ignore[union-attr]
        ("BTC-PERPETUAL", "BTCUSDT"), ("ETH-PERPETUAL", "ETHUSDT"), ("SOL_USDC-PERPETUAL", "SOLUSDT")}

    for sym in ("BTCUSDT", "SOLUSDT"):  # BTC options, and SOL_USDC options filed under USDC
        opts = await fetch(run.client, run.api, DataQuery(DataKind.OPTIONS_SUMMARY, run.inst(sym)))
        m = {x.metric: x.value for x in opts}  # type: ignore[union-attr]
        assert set(m) == {"options_call_oi", "options_put_oi", "options_put_call_oi_ratio", "options_volume_24h",
                          "options_oi_weighted_iv"}
        assert all(isinstance(x, VenueMetric) and (x.market, x.symbol) == ("option", sym) for x in opts)
        assert m["options_call_oi"] > 0 and m["options_put_call_oi_ratio"] == pytest.approx(
            m["options_put_oi"] / m["options_call_oi"])
        assert 0.05 < m["options_oi_weighted_iv"] < 3.0  # a fraction, not percent points


async def _series(run: Run, kind: DataKind, period: str | None, periods: int, step: int) -> tuple[list, int, int, int]:
    """Records of ``fetch_range`` over ``periods`` steps ending at the last whole step, and requests."""
    end = time.time_ns() // step * step
    start = end - periods * step
    before = run.client.requests
    pages = [p async for p in fetch_range(run.client, run.api, DataQuery(kind, run.inst(), period, start, end))]
    recs = [x for p in pages for x in p.records]
    keys = [(time_key(x), getattr(x, "metric", "")) for x in recs]
    assert keys == sorted(set(keys)), f"{kind}: not strictly increasing or doubled"
    assert all(start <= time_key(x) < end for x in recs)
    return recs, start, end, run.client.requests - before


async def test_history_ranges_come_back_complete(run: Run) -> None:
    candles, start, end, n = await _series(run, DataKind.CANDLES, "1m", 2 * 4999 + 100, MIN)
    assert n >= 3 and [c.open_time for c in candles] == list(range(start, end, MIN))  # type: ignore[union-attr]
    assert all(isinstance(c, Candle) and c.closed and c.low <= min(c.open, c.close) for c in candles)
    assert abs(candles[-1].close / run.fair() - 1) < 0.05 and candles[-1].volume > 0  # type: ignore[union-attr]

    funding, start, end, n = await _series(run, DataKind.FUNDING_HISTORY, None, 30 * 24, HOUR)
    assert n >= 2 and [f.ts for f in funding] == list(range(start, end, HOUR))  # type: ignore[union-attr]
    assert all(isinstance(f, Funding) and f.interval_hours == 1.0 and abs(f.rate) <= 0.0075 / 8 for f in funding)

    dvol, start, end, n = await _series(run, DataKind.VOLATILITY_INDEX, "1m", 2 * 999 + 100, MIN)
    assert n >= 3 and [x.ts for x in dvol] == list(range(start, end, MIN))  # type: ignore[union-attr]
    assert all(0.05 < x.value < 3.0 and x.period == "1m" for x in dvol)  # type: ignore[union-attr]


# ---- Deribit's own semantics and shapes ----------------------------------------------------------
async def test_parameter_semantics(run: Run) -> None:
    t = (time.time_ns() // MIN - 30) * MIN // MS
    chart = "/public/get_tradingview_chart_data?instrument_name=BTC-PERPETUAL&resolution=1"
    res = (await get(run, f"{chart}&start_timestamp={t}&end_timestamp={t + 240_000}"))["result"]
    assert res["ticks"] == [t + i * 60_000 for i in range(5)] and res["status"] == "ok"  # both ends inclusive
    res = (await get(run, f"{chart}&start_timestamp={t - 6000 * 60_000}&end_timestamp={t}"))["result"]
    assert len(res["ticks"]) == 5000 and res["ticks"][-1] == t  # the newest 5000 bars of a longer range
    h = time.time_ns() // HOUR * HOUR // MS
    funding = "/public/get_funding_rate_history?instrument_name=BTC-PERPETUAL"
    res = (await get(run, f"{funding}&start_timestamp={h - 40 * 24 * 3_600_000}&end_timestamp={h}"))["result"]
    assert len(res) == 720 and res[-1]["timestamp"] == h  # the newest 720 hours
    assert res[-1]["interest_8h"] == pytest.approx(sum(x["interest_1h"] for x in res[-8:]))
    trades = "/public/get_last_trades_by_instrument?instrument_name=BTC-PERPETUAL&count=3"
    res = (await get(run, f"{trades}&sorting=desc"))["result"]
    times = [x["timestamp"] for x in res["trades"]]
    assert len(times) == 3 and times == sorted(times, reverse=True) and res["has_more"] is True
    book = (await get(run, "/public/get_order_book?instrument_name=ETH-PERPETUAL&depth=5"))["result"]
    assert len(book["bids"]) == len(book["asks"]) == 5 and book["instrument_name"] == "ETH-PERPETUAL"

    for path, code, reason in (
        ("/public/get_order_book?instrument_name=BTC-PERPETUAL&depth=7", -32602, ("wrong format", "depth")),
        ("/public/ticker?instrument_name=DOGE-PERPETUAL", -32602, ("wrong format", "instrument_name")),
        (f"{chart}&start_timestamp={t}", -32602, ("missing", "end_timestamp")),
        ("/public/get_volatility_index_data?currency=DOGE&start_timestamp=1&end_timestamp=2&resolution=60", -32602,
         ("wrong format", "currency")),
        ("/public/get_nothing", -32601, None),
    ):
        err = (await get(run, path, 400))["error"]
        assert err["code"] == code, (path, err)
        if reason is not None:
            assert (err["data"]["reason"], err["data"]["param"]) == reason


@pytest.mark.parametrize(
    ("sample", "path"),
    [
        ("ticker.json", "/public/ticker?instrument_name=BTC-PERPETUAL"),
        ("order_book.json", "/public/get_order_book?instrument_name=BTC-PERPETUAL&depth=20"),
        ("last_trades.json", "/public/get_last_trades_by_instrument?instrument_name=ETH-PERPETUAL&count=2"),
        ("chart_data.json", "/public/get_tradingview_chart_data?instrument_name=BTC-PERPETUAL&resolution=60"
                            "&start_timestamp={day_ago}&end_timestamp={now}"),
        ("funding_rate_history.json", "/public/get_funding_rate_history?instrument_name=BTC-PERPETUAL"
                                      "&start_timestamp={day_ago}&end_timestamp={now}"),
        ("volatility_index_data.json", "/public/get_volatility_index_data?currency=BTC&resolution=3600"
                                       "&start_timestamp={day_ago}&end_timestamp={now}"),
    ],
)
async def test_bodies_have_the_real_shape(run: Run, sample: str, path: str) -> None:
    now = time.time_ns() // MS
    real = json.loads((SAMPLES / sample).read_text())
    got = await get(run, path.format(now=now, day_ago=now - 86_400_000))
    real.pop("id", None)  # JSON-RPC over HTTP GET carries no request id
    assert {"usIn", "usOut", "usDiff", "testnet"} <= got.keys()  # the timing trailer of live answers
    trailer = {"usIn", "usOut", "usDiff", "testnet"}
    got, real = ({k: v for k, v in d.items() if k not in trailer} for d in (got, real))  # docs' examples omit it
    if sample == "ticker.json":  # the 2021 example predates stats.volume_notional (2025 bodies carry it)
        real["result"]["stats"]["volume_notional"] = 0.0
    assert same_shape(got, real) == [] and got["result"], got


async def test_error_and_option_row_shapes(run: Run) -> None:
    got = await get(run, "/public/ticker?instrument_name=NOPE-PERPETUAL", 400)
    assert same_shape(got, json.loads((SAMPLES / "error_invalid_params.json").read_text())) == []
    rows = (await get(run, "/public/get_book_summary_by_currency?currency=ETH&kind=option"))["result"]
    assert len(rows) == 72 and all(DOC_ROW <= r.keys() <= SCHEMA_ROW for r in rows)
    assert rows[0]["instrument_name"].startswith("ETH-") and rows[0]["instrument_name"][-2:] in ("-C", "-P")
    usdc = (await get(run, "/public/get_book_summary_by_currency?currency=USDC&kind=option"))["result"]
    assert usdc and {r["base_currency"] for r in usdc} == {"SOL"} and usdc[0]["instrument_name"].startswith("SOL_USDC-")


# ---- throttling and errors -----------------------------------------------------------------------
async def test_throttle_is_retried_and_unknown_instrument_fails_at_once(run: Run) -> None:
    srv = run.sim.servers["deribit"]
    real = json.loads((SAMPLES / "error_too_many_requests.json").read_text())
    throttled = json.loads(srv.sim.throttled_response("/api/v2/public/ticker").body)
    assert same_shape(throttled["error"], real["error"]) == []
    srv.inject("throttle", 2)
    recs = await fetch(run.client, run.api, DataQuery(DataKind.CANDLES, run.inst(), "1m", limit=5))
    assert len(recs) == 5 and run.client.throttled == 2 and srv.faults.done["throttle"] == 2

    ghost = Instrument("deribit", "DOGE-PERPETUAL", "DOGEUSDT", "perp", "DOGE", "USD", "inverse")
    before_requests, before_retried = srv.stats["rest_requests"], run.client.retried
    with pytest.raises(VenueError, match=r"-32602 Invalid params \(wrong format param=instrument_name\)"):
        await fetch(run.client, run.api, DataQuery(DataKind.TICKER, ghost))
    assert srv.stats["rest_requests"] == before_requests + 1 and run.client.retried == before_retried
