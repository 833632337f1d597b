"""Simulated Gate.io USDT futures REST data through the real path: a running simulator, the shared
``RestClient`` and ``fetch``/``fetch_range``. Bodies have the documented shape (rest_samples/gateio),
parameters behave like Gate's (inclusive seconds, ``limit`` refused next to ``from``/``to``, per-request
caps, newest-first lists), history pages join up without gaps or doubles, a 429 is retried and an
unknown contract fails at once with Gate's label."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from cryptoflow.errors import VenueError
from cryptoflow.events import BookSnapshot, Candle, Funding, MarkPrice, OpenInterest, Ticker24h, Trade, VenueMetric
from cryptoflow.feed.rest import RestClient
from cryptoflow.feed.venue_data import fetch, fetch_range, time_key
from cryptoflow.sim.runner import Simulator
from cryptoflow.symbols import Instrument
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import Endpoints
from cryptoflow.venues.gateio.rest import GateioRestData
from cryptoflow.venues.rest_data import DataKind, DataQuery

from .shapes import shape

V = "gateio"
K = DataKind
SAMPLES = Path(__file__).parents[1] / "venues" / "rest_samples" / "gateio"
S = 1_000_000_000
MIN = 60 * S
# fields the documented response schema lists but its example leaves out (the simulator sends them)
DOCUMENTED_EXTRAS = {
    "trades": {"create_time_ms"},
    "tickers": {"change_price"},
    "contract_stats": {"long_taker_size", "short_taker_size", "long_users", "short_users"},
}


def _shape_problems(sim_row: dict[str, Any], real_row: dict[str, Any], extras: set[str]) -> list[str]:
    a, b = shape(sim_row), shape(real_row)
    out = [f"missing {k}" for k in b.keys() - a.keys()]
    out += [f"extra {k}" for k in a.keys() - b.keys() - extras]
    out += [f"{k}: {a[k]} vs {b[k]}" for k in a.keys() & b.keys() if a[k] != b[k]]
    return out


@pytest.fixture
async def run() -> Any:
    sim = Simulator(venues=[V], symbols=["BTCUSDT"], rate=0.5, seed=13)
    await sim.start()
    client = RestClient(retries=3)
    ep = sim.endpoints()[V]
    api = GateioRestData(get_venue(V, endpoints=Endpoints(ws=ep["ws"], rest=ep["rest"])))
    try:
        yield sim, client, api
    finally:
        await client.close()
        await sim.stop()


def _get(sim: Simulator, path: str, query: str = "") -> tuple[int, Any]:
    resp = sim.servers[V].sim.rest("GET", f"/api/v4/futures/usdt{path}", parse_qs(query), b"")
    assert resp is not None, path
    return resp.status, json.loads(resp.body)


async def test_bodies_have_the_documented_shape_and_gate_semantics(run: Any) -> None:
    sim, _client, _api = run
    for name, path, query in (
        ("candles", "/candlesticks", "contract=BTC_USDT&interval=1m&limit=3"),
        ("premium_index", "/premium_index", "contract=BTC_USDT&interval=1h&limit=3"),
        ("funding_history", "/funding_rate", "contract=BTC_USDT&limit=3"),
        ("insurance", "/insurance", "limit=3"),
        ("contract_stats", "/contract_stats", "contract=BTC_USDT&interval=5m&limit=3"),
        ("tickers", "/tickers", "contract=BTC_USDT"),
        ("trades", "/trades", "contract=BTC_USDT&limit=3"),
        ("orderbook", "/order_book", "contract=BTC_USDT&limit=5&with_id=true"),
    ):
        status, body = _get(sim, path, query)
        real = json.loads((SAMPLES / f"{name}.json").read_text())
        assert status == 200 and body, name
        row, real_row = (body, real) if name == "orderbook" else (body[0], real[0])
        assert _shape_problems(row, real_row, DOCUMENTED_EXTRAS.get(name, set())) == [], name
        if name != "orderbook":
            assert len(body) == (1 if name == "tickers" else 3), name

    now_s = time.time_ns() // S
    t0 = (now_s - 3 * 3600) // 60 * 60
    # candlesticks: inclusive from/to, oldest first; limit conflicts with a range; at most 2000 points
    _, rows = _get(sim, "/candlesticks", f"contract=BTC_USDT&interval=1m&from={t0}&to={t0 + 300}")
    assert [r["t"] for r in rows] == [t0 + 60 * k for k in range(6)]
    status, err = _get(sim, "/candlesticks", f"contract=BTC_USDT&interval=1m&from={t0}&limit=5")
    assert status == 400 and err["label"] == "INVALID_PARAM_VALUE"
    status, err = _get(sim, "/candlesticks", f"contract=BTC_USDT&interval=1m&from={t0 - 2000 * 60}&to={t0}")
    assert status == 400 and "2000" in err["message"]
    assert _get(sim, "/candlesticks", "contract=BTC_USDT&interval=2m")[1]["label"] == "INVALID_PARAM_VALUE"
    assert _get(sim, "/candlesticks", "interval=1m") == (
        400, {"label": "MISSING_REQUIRED_PARAM", "message": "Missing required parameter: contract"})
    assert _get(sim, "/funding_rate", "contract=NOPE_USDT") == (
        400, {"label": "CONTRACT_NOT_FOUND", "message": "Contract not found"})
    # funding, insurance, trades: newest first; funding settles every 8 h on Gate's BTC_USDT
    _, fund = _get(sim, "/funding_rate", "contract=BTC_USDT&limit=4")
    ts = [r["t"] for r in fund]
    assert ts == sorted(ts, reverse=True) and {b - a for a, b in zip(ts[1:], ts, strict=False)} == {8 * 3600}
    # contract_stats: from + limit, oldest first, limit <= 100
    _, stats = _get(sim, "/contract_stats", f"contract=BTC_USDT&interval=15m&from={t0 + 1}&limit=4")
    q0 = -(-(t0 + 1) // 900) * 900  # the first period starting at or after `from`
    assert [r["time"] for r in stats] == [q0 + 900 * k for k in range(4)]
    assert _get(sim, "/contract_stats", "contract=BTC_USDT&limit=101")[0] == 400
    _, trades = _get(sim, "/trades", "contract=BTC_USDT&limit=5")
    assert [r["create_time"] for r in trades] == sorted((r["create_time"] for r in trades), reverse=True)
    # over the limit: Gate's 429 with its label and rate-limit headers
    resp = sim.servers[V].sim.throttled_response("/api/v4/futures/usdt/candlesticks")
    assert resp.status == 429 and json.loads(resp.body)["label"] == "TOO_MANY_REQUESTS"
    assert resp.headers["X-Gate-RateLimit-Limit"] == "200"
    assert int(resp.headers["X-Gate-RateLimit-Reset-Timestamp"]) > now_s * 1000  # ms


def _check(r: object, fair: float) -> None:
    assert r.venue == V and r.symbol in ("BTCUSDT", "USDT")  # type: ignore[attr-defined]
    if isinstance(r, Candle):
        assert r.low <= min(r.open, r.close) <= max(r.open, r.close) <= r.high
        assert 0.7 * fair < r.close < 1.4 * fair and r.volume > 0 and r.quote_volume
    elif isinstance(r, Ticker24h | Trade | MarkPrice):
        price = r.last if isinstance(r, Ticker24h) else r.price if isinstance(r, Trade) else r.mark_price
        assert abs(price / fair - 1) < 0.03, (r, fair)
    elif isinstance(r, BookSnapshot):
        assert r.bid_prices[0] < r.ask_prices[0] and abs(r.bid_prices[0] / fair - 1) < 0.03
        assert r.bid_prices == sorted(r.bid_prices, reverse=True) and r.seq is not None
    elif isinstance(r, Funding):
        assert abs(r.rate) <= 0.0075
    elif isinstance(r, OpenInterest):
        assert r.oi_base and r.oi_contracts and r.oi_base == pytest.approx(r.oi_contracts * 0.0001)
    elif isinstance(r, VenueMetric):
        if r.metric in ("long_account", "short_account"):
            assert 0 < r.value < 1
        elif r.metric == "insurance_fund_balance":
            assert r.value > 1e6
        elif r.metric == "premium_index":
            assert abs(r.value) < 0.01
        else:
            assert r.value >= 0


async def test_every_kind_pages_throttle_and_unknown_contract(run: Any) -> None:
    sim, client, api = run
    fair = sim.market.fair_price("BTCUSDT")
    btc = api.venue.instrument("BTCUSDT")
    for kind in (K.TICKER, K.ORDERBOOK, K.TRADES, K.OPEN_INTEREST, K.INSURANCE_FUND):
        recs = await fetch(client, api, DataQuery(kind, btc, limit=10))
        assert recs, kind
        for r in recs:
            _check(r, fair)
    assert {type(r) for r in await fetch(client, api, DataQuery(K.TICKER, btc))} == {
        Ticker24h, MarkPrice, Funding, OpenInterest}
    (inst,) = await fetch(client, api, DataQuery(K.INSTRUMENTS))
    assert (inst.native, inst.contract_size) == ("BTC_USDT", btc.contract_size)  # type: ignore[union-attr]

    now = time.time_ns()
    # >= 3 pages, one point per period: count == span / period, strictly increasing, nothing doubled
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
                _check(r, fair)
    # several metrics per time, and funding: complete, ordered, in range
    for kind, period, step, n_metrics in ((K.LONG_SHORT_RATIO, "1h", 60 * MIN, 3),
                                          (K.TAKER_VOLUME, "15m", 15 * MIN, 3),
                                          (K.FUNDING_HISTORY, None, 8 * 60 * MIN, 1)):  # fmt: skip
        end = (now - 60 * MIN) // step * step
        start = end - 60 * step
        pages = [p async for p in fetch_range(client, api, DataQuery(kind, btc, period, start, end))]
        recs = [r for p in pages for r in p.records]
        keys = [(time_key(r), getattr(r, "metric", "")) for r in recs]
        assert keys == sorted(set(keys)) and all(start <= k[0] < end for k in keys), kind
        assert len(recs) == 60 * n_metrics, (kind, len(recs))
        for r in recs:
            _check(r, fair)

    # an armed throttle fault: Gate's 429 twice, retried at the reset time, then served
    srv = sim.servers[V]
    srv.inject("throttle", 2)
    t0, r0 = client.throttled, client.retried
    recs = await fetch(client, api, DataQuery(K.CANDLES, btc, "1m", limit=5))
    assert len(recs) == 5 and client.throttled - t0 == 2 and client.retried - r0 == 2
    assert srv.faults.done["throttle"] == 2

    # an unknown contract: Gate's label surfaces at once, no retry
    nope = Instrument(V, "NOPE_USDT", "NOPEUSDT", "perp", "NOPE", "USDT", "linear", 1.0)
    n0, r0 = client.requests, client.retried
    with pytest.raises(VenueError, match="Gate CONTRACT_NOT_FOUND: Contract not found"):
        await fetch(client, api, DataQuery(K.OPEN_INTEREST_HISTORY, nope, "5m", limit=5))
    assert client.requests - n0 == 1 and client.retried == r0
