"""Simulated Kraken Futures REST data through the real path: a running simulator, the shared
``RestClient`` and ``fetch``/``fetch_range``. Bodies have the documented shape (rest_samples/kraken_futures)
on all three services (derivatives v3/v4, charts candles, charts analytics), parameters behave like
Kraken's (inclusive seconds, 2000 candles with ``more_candles``, ``since`` required on analytics, the
whole funding history at once), history pages join up, ``apiLimitExceeded`` is retried and an unknown
symbol fails at once with Kraken's error."""

from __future__ import annotations

import json
import time
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from cryptoflow.errors import VenueError
from cryptoflow.events import BookSnapshot, Candle, Funding, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.feed.rest import RestClient
from cryptoflow.feed.venue_data import fetch, fetch_range, time_key
from cryptoflow.sim.runner import Simulator
from cryptoflow.symbols import Instrument
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import Endpoints
from cryptoflow.venues.kraken_futures.rest import KrakenFuturesRestData, iso_ns
from cryptoflow.venues.rest_data import DataKind, DataQuery

from .shapes import same_shape, shape

V = "kraken_futures"
K = DataKind
SAMPLES = Path(__file__).parents[1] / "venues" / "rest_samples" / "kraken_futures"
S = 1_000_000_000
MIN = 60 * S


@pytest.fixture
async def run() -> Any:
    sim = Simulator(venues=[V], symbols=["BTCUSDT"], rate=0.5, seed=17)
    await sim.start()
    client = RestClient(retries=3)
    ep = sim.endpoints()[V]
    api = KrakenFuturesRestData(get_venue(V, endpoints=Endpoints(ws=ep["ws"], rest=ep["rest"])))
    try:
        yield sim, client, api
    finally:
        await client.close()
        await sim.stop()


def _get(sim: Simulator, path: str, query: str = "") -> tuple[int, Any]:
    resp = sim.servers[V].sim.rest("GET", path, parse_qs(query), b"")
    assert resp is not None, path
    return resp.status, json.loads(resp.body)


def _sample(name: str) -> Any:
    return json.loads((SAMPLES / f"{name}.json").read_text())


async def test_bodies_have_the_documented_shape_and_kraken_semantics(run: Any) -> None:
    sim, _client, _api = run
    now_s = time.time_ns() // S
    t0 = (now_s - 3 * 3600) // 60 * 60
    _, tick = _get(sim, "/derivatives/api/v3/tickers/pf_xbtusd")  # symbols are case-insensitive
    assert same_shape(tick, _sample("ticker")) == [] and tick["ticker"]["symbol"] == "PF_XBTUSD"
    _, book = _get(sim, "/derivatives/api/v3/orderbook", "symbol=PF_XBTUSD")
    assert same_shape(book, _sample("orderbook")) == [] and len(book["orderBook"]["bids"]) > 5
    _, hist = _get(sim, "/derivatives/api/v3/history", "symbol=PF_XBTUSD")
    doc_row, row = _sample("history")["history"][0], hist["history"][0]
    assert set(row) - set(doc_row) == {"uid"} and same_shape({k: row[k] for k in doc_row}, doc_row) == []
    assert len(hist["history"]) == 100
    times = [iso_ns(t["time"]) for t in hist["history"]]
    ids = [t["trade_id"] for t in hist["history"]]
    assert times == sorted(times, reverse=True) and ids == sorted(ids, reverse=True)  # newest first, ids rise
    _, older = _get(sim, "/derivatives/api/v3/history", f"symbol=PF_XBTUSD&lastTime={hist['history'][50]['time']}")
    assert older["history"][0]["time"] == hist["history"][50]["time"]  # at or before lastTime
    _, fund = _get(sim, "/derivatives/api/v4/historicalfundingrates", "symbol=PF_XBTUSD")
    assert same_shape(fund, _sample("funding_history")) == []
    stamps = [iso_ns(r["timestamp"]) for r in fund["rates"]]
    assert len(stamps) > 30 * 24 and {b - a for a, b in pairwise(stamps)} == {3600 * S}
    status, err = _get(sim, "/derivatives/api/v4/historicalfundingrates", "symbol=PF_NOPEUSD")
    assert (status, err["status"], err["result"], err["errors"]) == (
        400, "BAD_REQUEST", "error", [{"code": 11, "message": "Argument invalid: symbol"}])
    # charts candles: inclusive seconds, oldest first, at most 2000 with more_candles
    _, c = _get(sim, "/api/charts/v1/trade/PF_XBTUSD/1m", f"from={t0}&to={t0 + 300}")
    assert same_shape(c, _sample("candles")) == [] and not c["more_candles"]
    assert [x["time"] // 1000 for x in c["candles"]] == [t0 + 60 * k for k in range(6)]
    _, c = _get(sim, "/api/charts/v1/trade/PF_XBTUSD/1m", f"from={t0 - 2500 * 60}&to={t0}")
    assert len(c["candles"]) == 2000 and c["more_candles"] and c["candles"][0]["time"] // 1000 == t0 - 2500 * 60
    assert _get(sim, "/api/charts/v1/trade/PF_XBTUSD/2m") == (400, {"error": "Invalid resolution"})
    _, mark = _get(sim, "/api/charts/v1/mark/PF_XBTUSD/1h", f"from={t0 - 7200}&to={t0}")
    assert mark["candles"] and {x["volume"] for x in mark["candles"]} == {"0.0"}  # mark candles: no volume
    # analytics: since is required; OHLC of the open interest per bucket
    _, oi = _get(sim, "/api/charts/v1/analytics/PF_XBTUSD/open-interest", f"since={t0 - 3600}&interval=900&to={t0}")
    assert shape(oi) == shape(_sample("open_interest_history")) and len(oi["result"]["data"][0]) == 4
    first = -(-(t0 - 3600) // 900) * 900  # buckets start on the interval grid, at or after `since`
    assert oi["result"]["timestamp"] == [first + 900 * k for k in range(len(oi["result"]["timestamp"]))]
    assert len(oi["result"]["timestamp"]) == (t0 - first) // 900 + 1 and not oi["result"]["more"]
    status, err = _get(sim, "/api/charts/v1/analytics/PF_XBTUSD/open-interest", "interval=900")
    assert status == 400 and err["errors"][0]["field"] == "since" and err["result"] is None
    assert _get(sim, "/api/charts/v1/analytics/PF_XBTUSD/open-interest", f"since={t0}&interval=7")[0] == 400
    assert _get(sim, "/derivatives/api/v3/tickers/PF_NOPEUSD")[1]["error"] == "notFound"
    resp = sim.servers[V].sim.throttled_response("/derivatives/api/v3/tickers/PF_XBTUSD")
    assert resp.status == 429 and json.loads(resp.body)["error"] == "apiLimitExceeded"


def _check(r: object, fair: float) -> None:
    assert r.venue == V and r.symbol == "BTCUSDT"  # type: ignore[attr-defined]
    if isinstance(r, Candle):
        assert r.low <= min(r.open, r.close) <= max(r.open, r.close) <= r.high
        assert 0.7 * fair < r.close < 1.4 * fair and r.volume > 0
    elif isinstance(r, Ticker24h | Trade | MarkPrice):
        price = r.last if isinstance(r, Ticker24h) else r.price if isinstance(r, Trade) else r.mark_price
        assert abs(price / fair - 1) < 0.03, (r, fair)
    elif isinstance(r, BookSnapshot):
        assert r.bid_prices[0] < r.ask_prices[0] and abs(r.bid_prices[0] / fair - 1) < 0.03
        assert r.bid_prices == sorted(r.bid_prices, reverse=True)
    elif isinstance(r, Funding):
        assert abs(r.rate) <= 0.0075 and r.interval_hours == 1.0
    elif isinstance(r, OpenInterest):
        assert r.oi_base and r.oi_base == r.oi_contracts  # PF_ contracts are 1 BTC


async def test_every_kind_pages_throttle_and_unknown_symbol(run: Any) -> None:
    sim, client, api = run
    fair = sim.market.fair_price("BTCUSDT")
    btc = api.venue.instrument("BTCUSDT")
    for kind in (K.TICKER, K.ORDERBOOK, K.TRADES, K.OPEN_INTEREST):
        recs = await fetch(client, api, DataQuery(kind, btc, limit=10))
        assert recs, kind
        for r in recs:
            _check(r, fair)
    recs = await fetch(client, api, DataQuery(K.TICKER, btc))
    assert {type(r) for r in recs} == {Ticker24h, MarkPrice, Funding, OpenInterest}
    (book,) = await fetch(client, api, DataQuery(K.ORDERBOOK, btc, limit=10))
    assert len(book.bid_prices) == 10  # type: ignore[attr-defined]
    trades = await fetch(client, api, DataQuery(K.TRADES, btc))
    assert len(trades) == 100 and [t.ts for t in trades] == sorted(t.ts for t in trades)  # type: ignore[attr-defined]
    insts = await fetch(client, api, DataQuery(K.INSTRUMENTS))
    assert [(i.native, i.contract_size) for i in insts] == [("PF_XBTUSD", 1.0)]  # type: ignore[union-attr]

    now = time.time_ns()
    # >= 3 pages, one point per period: count == span / period, strictly increasing, nothing doubled
    for kind, period, step in ((K.CANDLES, "1m", MIN), (K.OPEN_INTEREST_HISTORY, "5m", 5 * MIN)):
        limit = api.kinds[kind].max_limit
        end = (now - 30 * MIN) // step * step
        start = end - 3 * (limit - 1) * step
        pages = [p async for p in fetch_range(client, api, DataQuery(kind, btc, period, start, end))]
        keys = [time_key(r) for p in pages for r in p.records]
        assert len(pages) == 3 and len(keys) == (end - start) // step, (kind, len(pages), len(keys))
        assert keys == sorted(set(keys)) and keys[0] == start and keys[-1] == end - step
        for p in pages:
            for r in p.records[:20] + p.records[-20:]:
                _check(r, fair)
    # funding: the whole history comes in one answer, the range is cut from it (hourly)
    end = now // (60 * MIN) * (60 * MIN) - 2 * 60 * MIN
    start = end - 72 * 60 * MIN
    pages = [p async for p in fetch_range(client, api, DataQuery(K.FUNDING_HISTORY, btc, None, start, end))]
    recs = [r for p in pages for r in p.records]
    assert len(pages) == 1 and [r.ts for r in recs] == list(range(start, end, 60 * MIN))  # type: ignore[attr-defined]
    for r in recs:
        _check(r, fair)

    # an armed throttle fault: apiLimitExceeded twice (HTTP 429), retried, then served
    srv = sim.servers[V]
    srv.inject("throttle", 2)
    t0, r0 = client.throttled, client.retried
    recs = await fetch(client, api, DataQuery(K.CANDLES, btc, "1m", limit=5))
    # the latest 5 periods include the one still open, which the simulated past does not have yet
    assert 4 <= len(recs) <= 5 and client.throttled - t0 == 2 and client.retried - r0 == 2
    assert srv.faults.done["throttle"] == 2

    # an unknown symbol: Kraken's error (inside a 200 body) fails at once, no retry
    nope = Instrument(V, "PF_NOPEUSD", "NOPEUSDT", "perp", "NOPE", "USD", "linear", 1.0)
    n0, r0 = client.requests, client.retried
    with pytest.raises(VenueError, match="Kraken Futures: notFound"):
        await fetch(client, api, DataQuery(K.TICKER, nope))
    with pytest.raises(VenueError, match="Kraken Futures: 11 Argument invalid: symbol"):
        await fetch(client, api, DataQuery(K.FUNDING_HISTORY, nope))
    assert client.requests - n0 == 2 and client.retried == r0
