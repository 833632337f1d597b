"""Every venue's REST data, every kind it declares, through the real client against the simulator.

One contract for all venues (the per-venue files test formats and parsers in depth): each kind
yields the record type the kind promises, for the right venue and symbol, with values consistent
with the simulated market; history kinds page a range needing several requests into a complete,
strictly increasing series with nothing missing or doubled.
"""

from __future__ import annotations

import math
import time

import pytest

from cryptoflow.events import (
    METRICS,
    BookSnapshot,
    Candle,
    Funding,
    MarkPrice,
    OpenInterest,
    Ticker24h,
    Trade,
    VenueMetric,
)
from cryptoflow.feed.rest import RestClient
from cryptoflow.feed.venue_data import fetch, fetch_range, step_ns, time_key
from cryptoflow.sim.runner import Simulator
from cryptoflow.symbols import Instrument
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import Endpoints
from cryptoflow.venues.rest_data import DataKind, DataQuery, rest_data_classes

RECORD: dict[DataKind, tuple[type, ...]] = {
    DataKind.INSTRUMENTS: (Instrument,),
    DataKind.TICKER: (Ticker24h, MarkPrice, Funding, OpenInterest),  # some venues' tickers carry these too
    DataKind.ORDERBOOK: (BookSnapshot,),
    DataKind.TRADES: (Trade,),
    DataKind.CANDLES: (Candle,),
    DataKind.FUNDING_HISTORY: (Funding,),
    DataKind.OPEN_INTEREST: (OpenInterest,),
    DataKind.OPEN_INTEREST_HISTORY: (OpenInterest,),
    DataKind.LONG_SHORT_RATIO: (VenueMetric,),
    DataKind.TAKER_VOLUME: (VenueMetric,),
    DataKind.BASIS: (VenueMetric,),
    DataKind.PREMIUM_INDEX: (VenueMetric,),
    DataKind.INSURANCE_FUND: (VenueMetric,),
    DataKind.OPTIONS_SUMMARY: (VenueMetric,),
    DataKind.VOLATILITY_INDEX: (VenueMetric,),
}
# periodic history series: a range of N periods holds exactly N points
REGULAR = {DataKind.CANDLES, DataKind.OPEN_INTEREST_HISTORY, DataKind.LONG_SHORT_RATIO, DataKind.TAKER_VOLUME,
           DataKind.BASIS, DataKind.PREMIUM_INDEX, DataKind.VOLATILITY_INDEX}
VENUES = sorted(rest_data_classes())


def _check_record(r: object, kind: DataKind, venue: str, inst: Instrument | None, fair: float) -> None:
    assert isinstance(r, RECORD[kind]), (kind, type(r))
    if isinstance(r, Instrument):
        return
    assert r.venue == venue  # type: ignore[attr-defined]
    if kind not in (DataKind.INSURANCE_FUND,):
        assert inst is not None and r.symbol == inst.symbol, (kind, r)  # type: ignore[attr-defined]
    if isinstance(r, Candle):
        assert r.low <= min(r.open, r.close) <= max(r.open, r.close) <= r.high
        assert 0.6 * fair < r.close < 1.6 * fair and r.volume >= 0
    elif isinstance(r, Ticker24h | Trade):
        price = r.last if isinstance(r, Ticker24h) else r.price
        assert abs(price / fair - 1) < 0.05, (kind, price, fair)
    elif isinstance(r, BookSnapshot):
        assert r.bid_prices[0] < r.ask_prices[0] and abs(r.bid_prices[0] / fair - 1) < 0.05
    elif isinstance(r, Funding):
        assert abs(r.rate) <= 0.0075
    elif isinstance(r, OpenInterest):
        assert (r.oi_base or 0) > 0 or (r.oi_notional or 0) > 0 or (r.oi_contracts or 0) > 0
    elif isinstance(r, VenueMetric):
        assert r.metric in METRICS and math.isfinite(r.value)


@pytest.mark.parametrize("venue_id", VENUES)
async def test_every_kind_against_the_simulator(venue_id: str) -> None:
    sim = Simulator(venues=[venue_id], symbols=["BTCUSDT", "ETHUSDT"], rate=0.2, seed=3)
    await sim.start()
    # the venues' real budgets are tested per venue; here they would only make the test slow
    client = RestClient(retries=3, limits={venue_id: (5_000.0, 5_000.0)})
    try:
        ep = sim.endpoints()[venue_id]
        venue = get_venue(venue_id, endpoints=Endpoints(ws=ep["ws"], rest=ep["rest"]))
        api = rest_data_classes()[venue_id](venue)
        assert sim.market is not None
        fair = sim.market.fair_price("BTCUSDT")
        now = time.time_ns() - 5_000_000_000  # a loaded machine's simulator clock may lag a little
        for kind, spec in api.kinds.items():
            market = spec.markets[0]
            inst = None if kind is DataKind.INSTRUMENTS else venue.instrument("BTCUSDT", market)
            if not spec.history:
                recs = await fetch(client, api, DataQuery(kind, inst, limit=20))
                assert recs, f"{venue_id} {kind} returned nothing"
                for r in recs:
                    _check_record(r, kind, venue_id, inst, fair)
                continue
            q = api.check(DataQuery(kind, inst))
            step = step_ns(api, q)
            pages = 3 if kind in REGULAR else 1
            span = step * ((spec.max_limit - 1) * pages - 1) if kind in REGULAR else 20 * 86_400_000_000_000
            span = min(span, int(((spec.max_history_days or 30) - 1) * 86_400e9), 30 * 86_400_000_000_000)
            if spec.max_history_points:
                span = min(span, (spec.max_history_points - 1) * step)
            end = now // step * step
            start = end - span // step * step
            got = [p async for p in fetch_range(client, api, DataQuery(kind, inst, q.period, start, end))]
            recs = [r for p in got for r in p.records]
            assert recs, f"{venue_id} {kind} history returned nothing"
            keys = [(time_key(r), getattr(r, "metric", "")) for r in recs]
            assert keys == sorted(set(keys)), f"{venue_id} {kind}: not strictly increasing / duplicated"
            assert all(start <= time_key(r) < end for r in recs)
            if kind in REGULAR:
                per_time = len(keys) // len({k[0] for k in keys})
                assert len({k[0] for k in keys}) == (end - start) // step, (venue_id, kind, len(recs), per_time)
                if span >= step * (spec.max_limit - 1) * 3:
                    assert len(got) >= 3, (venue_id, kind, len(got))
            for r in recs[:50] + recs[-50:]:
                _check_record(r, kind, venue_id, inst, fair)
        # throttling: the venue's own 429 answer is retried and the request still succeeds
        srv = sim.servers[venue_id]
        srv.inject("throttle", 2)
        t0 = client.throttled
        inst = venue.instrument("BTCUSDT", api.kinds[DataKind.CANDLES].markets[0])
        recs = await fetch(client, api, DataQuery(DataKind.CANDLES, inst, limit=5))
        assert recs and client.throttled - t0 == 2 and srv.faults.done["throttle"] == 2
    finally:
        await client.close()
        await sim.stop()
