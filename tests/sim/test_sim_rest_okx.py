"""The simulated OKX REST API through the real client path (``RestClient`` + ``fetch`` / ``fetch_range``):
every kind answers plausible records, history ranges page completely with OKX's cursors, the
bodies have the documented shape, a throttle (HTTP 429, 50011) is retried, an unknown instrument
(51001) fails at once with OKX's message."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
import pytest_asyncio

from cryptoflow.errors import VenueError
from cryptoflow.events import BookSnapshot, Candle, Funding, OpenInterest, Ticker24h, Trade, VenueMetric
from cryptoflow.feed.rest import RestClient
from cryptoflow.feed.venue_data import fetch, fetch_range, time_key
from cryptoflow.sim.runner import Simulator
from cryptoflow.symbols import Instrument
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import Endpoints
from cryptoflow.venues.okx.rest import OkxRestData
from cryptoflow.venues.rest_data import DataKind, DataQuery
from tests.sim.shapes import same_shape

pytestmark = pytest.mark.asyncio(loop_scope="module")  # one simulator for the whole module

V = "okx"
MS = 1_000_000
MIN = 60_000_000_000
SAMPLES = Path(__file__).parents[1] / "venues" / "rest_samples" / "okx"
SWAP = "BTC-USDT-SWAP"


class Env:
    def __init__(self, sim: Simulator, api: OkxRestData, client: RestClient) -> None:
        self.sim, self.api, self.client = sim, api, client
        assert sim.market is not None
        self.market = sim.market
        self.okx = sim.servers[V].sim
        self.perp = api.venue.instrument("BTCUSDT", "perp")
        self.spot = api.venue.instrument("BTCUSDT", "spot")

    def rest(self, path: str, **params: str) -> tuple[int, dict]:
        resp = self.okx.rest("GET", path, {k: [v] for k, v in params.items()}, b"")
        assert resp is not None, path
        return resp.status, orjson.loads(resp.body)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env():
    sim = Simulator(venues=[V], symbols=["BTCUSDT", "ETHUSDT"], rate=0.2, seed=11)
    await sim.start()
    client = RestClient(retries=3)
    try:
        ep = sim.endpoints()[V]
        api = OkxRestData(get_venue(V, endpoints=Endpoints(ws=ep["ws"], rest=ep["rest"])))
        yield Env(sim, api, client)
    finally:
        await client.close()
        await sim.stop()


# ---- every kind ------------------------------------------------------------------------------------
async def test_current_kinds_are_plausible(env: Env) -> None:
    fair = env.market.fair_price("BTCUSDT")
    for inst in (env.perp, env.spot):
        (t,) = await fetch(env.client, env.api, DataQuery(DataKind.TICKER, inst))
        assert isinstance(t, Ticker24h) and (t.venue, t.market, t.symbol) == (V, inst.market, "BTCUSDT")
        assert abs(t.last / fair - 1) < 0.02 and t.low <= t.last <= t.high and t.volume > 0
        (b,) = await fetch(env.client, env.api, DataQuery(DataKind.ORDERBOOK, inst, limit=25))
        assert isinstance(b, BookSnapshot) and len(b.bid_prices) == len(b.ask_prices) == 25
        assert b.bid_prices[0] < b.ask_prices[0] and abs(b.bid_prices[0] / fair - 1) < 0.02
        trades = await fetch(env.client, env.api, DataQuery(DataKind.TRADES, inst, limit=40))
        assert len(trades) == 40 and all(isinstance(x, Trade) and x.symbol == "BTCUSDT" for x in trades)
        assert [x.ts for x in trades] == sorted(x.ts for x in trades)  # OKX: newest first -> oldest first
        assert all(abs(x.price / fair - 1) < 0.02 and x.qty > 0 for x in trades)
        if inst.market == "perp":  # sizes were whole 0.01-BTC contracts on the wire
            assert all(abs(x.qty / 0.01 - round(x.qty / 0.01)) < 1e-6 for x in trades)
    (oi,) = await fetch(env.client, env.api, DataQuery(DataKind.OPEN_INTEREST, env.perp))
    assert isinstance(oi, OpenInterest) and oi.oi_base == pytest.approx(env.market.open_interest(V, "perp", "BTCUSDT"))
    assert oi.oi_contracts == pytest.approx(oi.oi_base / 0.01, rel=1e-6) and oi.oi_notional == pytest.approx(
        oi.oi_base * fair, rel=0.01)
    (fund,) = await fetch(env.client, env.api, DataQuery(DataKind.INSURANCE_FUND, env.perp))
    assert (fund.metric, fund.symbol) == ("insurance_fund_balance", "USDT") and fund.value > 1e6
    opts = {m.metric: m for m in await fetch(env.client, env.api, DataQuery(DataKind.OPTIONS_SUMMARY, env.perp))}
    chain = env.market.history.options_chain("BTC", env.market.now_ns)
    assert opts["options_call_oi"].value == pytest.approx(sum(o.open_interest for o in chain if o.call))
    assert opts["options_put_oi"].value == pytest.approx(sum(o.open_interest for o in chain if not o.call))
    assert all(m.market == "option" and m.symbol == "BTCUSDT" for m in opts.values())
    insts = await fetch(env.client, env.api, DataQuery(DataKind.INSTRUMENTS))
    assert {(i.native, i.contract_size) for i in insts} == {("BTC-USDT-SWAP", 0.01), ("ETH-USDT-SWAP", 0.1)}


# ---- history: pages, completeness, values ----------------------------------------------------------------
async def _range(env: Env, kind: DataKind, period: str | None, periods: int, step: int) -> tuple[list, int, int]:
    end = time.time_ns() // step * step
    start = end - periods * step
    pages = [p async for p in fetch_range(env.client, env.api, DataQuery(kind, env.perp, period, start, end))]
    return pages, start, end


async def test_history_ranges_page_completely(env: Env) -> None:
    h = env.market.history
    # candles: 3 windows of 299 minutes (300 per request), matching the model's bars
    pages, start, end = await _range(env, DataKind.CANDLES, "1m", 850, MIN)
    recs = [r for p in pages for r in p.records]
    assert len(pages) >= 3 and len(recs) == 850 and all(isinstance(r, Candle) for r in recs)
    opens = [r.open_time for r in recs]
    assert opens == sorted(set(opens)) and opens[0] == start and opens[-1] == end - MIN
    bars = h.candles(V, "perp", "BTCUSDT", MIN, start, end)
    assert [r.close for r in recs] == bars.close.tolist()
    assert [r.volume for r in recs] == pytest.approx(bars.volume.tolist(), abs=5.1e-7)  # volCcy, 6 decimals
    # open interest every 5 min: 3 requests of 100, base units from contracts x ctVal
    pages, start, end = await _range(env, DataKind.OPEN_INTEREST_HISTORY, "5m", 280, 5 * MIN)
    recs = [r for p in pages for r in p.records]
    assert len(pages) >= 3 and [r.ts for r in recs] == list(range(start, end, 5 * MIN))
    series = h.open_interest(V, "BTCUSDT", 5 * MIN, start, end)
    assert [r.oi_base for r in recs] == series.values["oi_base"].tolist()
    assert all(r.oi_contracts == pytest.approx(r.oi_base / 0.01) for r in recs)
    # long/short ratio through its 5-per-2-s bucket
    pages, start, end = await _range(env, DataKind.LONG_SHORT_RATIO, "15m", 250, 15 * MIN)
    recs = [r for p in pages for r in p.records]
    assert len(pages) >= 3 and [r.ts for r in recs] == list(range(start, end, 15 * MIN))
    assert [r.value for r in recs] == h.long_short(V, "BTCUSDT", 15 * MIN, start, end).values["ratio"].tolist()
    # premium index once a minute
    pages, start, end = await _range(env, DataKind.PREMIUM_INDEX, "1m", 250, MIN)
    recs = [r for p in pages for r in p.records]
    assert len(pages) >= 3 and [r.ts for r in recs] == list(range(start, end, MIN))
    assert all(isinstance(r, VenueMetric) and abs(r.value) < 0.01 for r in recs)


async def test_taker_volume_and_funding_history(env: Env) -> None:
    h = env.market.history
    pages, start, end = await _range(env, DataKind.TAKER_VOLUME, "1h", 40, 60 * MIN)
    recs = [r for p in pages for r in p.records]
    keys = [(time_key(r), r.metric) for r in recs]
    assert keys == sorted(set(keys)) and len({k[0] for k in keys}) == 40
    want = h.taker_volume(V, "BTCUSDT", 60 * MIN, start, end)
    assert [r.value for r in recs if r.metric == "taker_buy_volume"] == pytest.approx(want.values["buy"].tolist())
    assert [r.value for r in recs if r.metric == "taker_sell_volume"] == pytest.approx(want.values["sell"].tolist())
    q = DataQuery(DataKind.FUNDING_HISTORY, env.perp, None, time.time_ns() - 20 * 86_400 * 10**9)
    pages = [p async for p in fetch_range(env.client, env.api, q)]
    recs = [r for p in pages for r in p.records]
    want_f = h.funding(V, "BTCUSDT", pages[0].start_ns, pages[-1].end_ns)
    assert [(r.ts, r.rate) for r in recs] == want_f.rows("rate") and len(recs) in (59, 60, 61)
    assert all(isinstance(r, Funding) and r.interval_hours == 8.0 for r in recs)


async def test_cursors_limits_and_latest_1440(env: Env) -> None:
    now_ms = env.market.now_ns // MS
    t0 = (now_ms // 60_000 - 30) * 60_000
    # after / before are exclusive, pages newest first
    _, body = env.rest("/api/v5/market/history-candles", instId=SWAP, after=str(t0 + 5 * 60_000), before=str(t0))
    assert [int(row[0]) for row in body["data"]] == [t0 + k * 60_000 for k in (4, 3, 2, 1)]
    # a lone before: the newest page; limit clamped to 300
    _, body = env.rest("/api/v5/market/history-candles", instId=SWAP, before=str(t0 - 86_400_000), limit="1000")
    assert len(body["data"]) == 300 and int(body["data"][0][0]) == (now_ms // 60_000 - 1) * 60_000
    # statistics serve only the latest 1,440 points of a period
    _, body = env.rest("/api/v5/rubik/stat/contracts/long-short-account-ratio-contract", instId=SWAP,
                       period="5m", end=str(now_ms - 1441 * 300_000))  # fmt: skip
    assert body == {"code": "0", "msg": "", "data": []}
    _, body = env.rest("/api/v5/rubik/stat/taker-volume-contract", instId=SWAP, period="1H", limit="2")
    contracts = env.rest("/api/v5/rubik/stat/taker-volume-contract", instId=SWAP, period="1H", limit="2", unit="1")[1]
    coin = env.rest("/api/v5/rubik/stat/taker-volume-contract", instId=SWAP, period="1H", limit="2", unit="0")[1]
    assert body == contracts  # unit defaults to contracts
    assert float(contracts["data"][0][2]) == pytest.approx(float(coin["data"][0][2]) / 0.01, abs=0.01)
    # errors as OKX answers them
    assert env.rest("/api/v5/market/ticker", instId="FOO-USDT-SWAP") == (200, {
        "code": "51001", "msg": "Instrument ID, Instrument ID code or Spread ID doesn't exist.", "data": []})
    assert env.rest("/api/v5/market/history-candles", instId=SWAP, bar="7m")[0:2] == (400, {
        "code": "51000", "msg": "Parameter bar error", "data": []})
    assert env.rest("/api/v5/public/open-interest")[1]["code"] == "50014"
    assert env.rest("/api/v5/public/funding-rate-history", instId="BTC-USDT")[1]["code"] == "51000"  # spot


async def test_bodies_have_the_documented_shape(env: Env) -> None:
    now_ms = env.market.now_ns // MS
    cases = {  # sample file -> (path, params, keys the docs' field table has but its example omits)
        "ticker.json": ("/api/v5/market/ticker", {"instId": SWAP}, set()),
        "trades_spot.json": ("/api/v5/market/trades", {"instId": "BTC-USDT", "limit": "3"}, {"source"}),
        "orderbook.json": ("/api/v5/market/books", {"instId": SWAP, "sz": "5"}, set()),
        "candles.json": ("/api/v5/market/history-candles", {"instId": SWAP, "limit": "2"}, set()),
        "funding_history.json": ("/api/v5/public/funding-rate-history", {"instId": SWAP, "limit": "2"},
                                 {"formulaType"}),
        "open_interest.json": ("/api/v5/public/open-interest", {"instType": "SWAP", "instId": SWAP}, {"oiUsd"}),
        "options_open_interest.json": ("/api/v5/public/open-interest", {"instType": "OPTION", "instFamily": "BTC-USD"},
                                       set()),
        "open_interest_history.json": ("/api/v5/rubik/stat/contracts/open-interest-history", {"instId": SWAP},
                                       set()),
        "long_short_ratio.json": ("/api/v5/rubik/stat/contracts/long-short-account-ratio-contract",
                                  {"instId": SWAP}, set()),
        "taker_volume.json": ("/api/v5/rubik/stat/taker-volume-contract", {"instId": SWAP}, set()),
        "premium_index.json": ("/api/v5/public/premium-history", {"instId": SWAP, "before": str(now_ms - 600_000)},
                               set()),
        "insurance_fund.json": ("/api/v5/public/insurance-fund", {"instType": "SWAP", "instFamily": "BTC-USDT"},
                                set()),
    }  # fmt: skip
    for name, (path, params, extra) in cases.items():
        status, got = env.rest(path, **params)
        assert status == 200 and got["code"] == "0" and got["data"], name
        diffs = [d for d in same_shape(got, orjson.loads((SAMPLES / name).read_bytes()))
                 if not any(d.endswith(f"extra key {k!r}") for k in extra)]  # fmt: skip
        assert diffs == [], (name, diffs)


# ---- throttling and refusals ---------------------------------------------------------------------
async def test_throttle_is_retried(env: Env) -> None:
    srv = env.sim.servers[V]
    resp = env.okx.throttled_response("/api/v5/market/ticker")
    assert resp.status == 429 and orjson.loads(resp.body) == {"msg": "Too Many Requests", "code": "50011"}
    srv.inject("throttle", 2)
    before, done = env.client.throttled, srv.faults.done["throttle"]
    recs = await fetch(env.client, env.api, DataQuery(DataKind.CANDLES, env.perp, "1m", limit=5))
    assert len(recs) == 5 and env.client.throttled - before == 2 and srv.faults.done["throttle"] - done == 2


async def test_unknown_instrument_fails_at_once(env: Env) -> None:
    ghost = Instrument(V, "FOO-USDT-SWAP", "FOOUSDT", "perp", "FOO", "USDT", "linear", 1.0)
    for kind in (DataKind.TICKER, DataKind.CANDLES, DataKind.OPEN_INTEREST_HISTORY):
        requests, retried = env.client.requests, env.client.retried
        with pytest.raises(VenueError, match=r"51001: Instrument ID.*doesn't exist"):
            await fetch(env.client, env.api, DataQuery(kind, ghost))
        assert (env.client.requests - requests, env.client.retried - retried) == (1, 0), kind
