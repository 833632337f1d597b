"""Fetching venue REST data: one request, or a time range paged into windows.

The venue modules say *what* to ask and how to read the answer (``venues/rest_data.py``); this
module does the I/O through the shared ``RestClient`` (per-venue weight buckets, per-endpoint
buckets, retries with backoff on throttling/5xx, immediate errors on 4xx).

Paging by time. A history kind declares ``max_limit`` points per response; a range is cut into
windows of ``(max_limit - 1)`` periods so that one window can never hold more points than one
response (even where a venue's end bound is inclusive), and windows are fetched oldest first.
Should a venue still return a full page (irregular series such as funding), the window is split
in half and both halves fetched, so nothing is silently cut off. Each window's records are
filtered to ``[window start, window end)`` by their time key (a candle's open time, otherwise
``ts``), so windows never overlap and a resumed download never double-counts.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from cryptoflow.errors import ConfigError
from cryptoflow.events import Candle
from cryptoflow.feed.rest import RestClient
from cryptoflow.venues.rest_data import DataKind, DataQuery, Record, VenueRestData, period_ns

#: spacing assumed for paging kinds without a period (funding settles at most hourly).
_DEFAULT_STEP_NS = {DataKind.FUNDING_HISTORY: period_ns("1h"), DataKind.TRADES: period_ns("1s")}
_MIN_WINDOW_NS = 60_000_000_000  # never split a window below one minute


@dataclass(frozen=True, slots=True)
class Page:
    """The records of one fetched window ``[start_ns, end_ns)``."""

    start_ns: int
    end_ns: int
    records: list[Record]
    requests: int


def time_key(r: Record) -> int:
    """The time a record is paged and deduplicated by: a candle's open time, else ``ts``."""
    if type(r) is Candle:
        return r.open_time
    return r.ts  # type: ignore[union-attr]


def _order(r: Record) -> tuple[int, str]:
    return (time_key(r), getattr(r, "metric", ""))


def step_ns(api: VenueRestData, q: DataQuery) -> int:
    """Nominal spacing of a history series' points."""
    if q.period:
        return period_ns(q.period)
    step = _DEFAULT_STEP_NS.get(q.kind)
    if step is None:
        raise ConfigError(f"{api.venue_id} {q.kind.value}: no period to page by")
    return step


async def fetch(client: RestClient, api: VenueRestData, q: DataQuery) -> list[Record]:
    """One request for ``q`` (validated and defaulted by the venue), parsed."""
    q = api.check(q)
    call = api.request(q)
    client.set_limit(api.venue_id, *api.rate_limit, explicit=False)
    body = await client.request(
        api.venue_id,
        call.url,
        method=call.method,
        json_body=call.json_body,
        weight=call.weight,
        classify=api.classify,
        endpoint_limit=call.endpoint_limit,
    )
    return api.parse(q, body, time.time_ns())


async def fetch_range(
    client: RestClient, api: VenueRestData, q: DataQuery, *, now_ns: int | None = None
) -> AsyncIterator[Page]:
    """Pages covering ``[q.start_ns, q.end_ns)`` (end default: now), oldest first.

    ``q.end_ns`` is cut back to the last complete period so that every page holds only
    finished points (a resumed backfill then never needs to revisit a page)."""
    q = api.check(q)
    spec = api.kinds[q.kind]
    if not spec.history:
        raise ConfigError(f"{api.venue_id} {q.kind.value} has no history; use fetch()")
    if q.start_ns is None:
        raise ConfigError("a history request needs a start time")
    now = now_ns if now_ns is not None else time.time_ns()
    step = step_ns(api, q)
    end = min(q.end_ns if q.end_ns is not None else now, now // step * step)
    start = q.start_ns
    if spec.max_history_days is not None:
        start = max(start, now - int(spec.max_history_days * 86_400e9) + step)
    if spec.max_history_points is not None:
        start = max(start, now // step * step - spec.max_history_points * step)
    start = -(-start // step) * step  # align to the venue's period grid
    window = step * max(1, spec.max_limit - 1)
    lo = start
    while lo < end:
        hi = min(lo + window, end)
        async for page in _fetch_window(client, api, q, lo, hi):
            yield page
        lo = hi


async def _fetch_window(
    client: RestClient, api: VenueRestData, q: DataQuery, lo: int, hi: int
) -> AsyncIterator[Page]:
    sub = DataQuery(q.kind, q.inst, q.period, lo, hi, api.kinds[q.kind].max_limit)
    records = await fetch(client, api, sub)
    limit = api.kinds[q.kind].max_limit
    inside = [r for r in records if lo <= time_key(r) < hi]
    # full page (the venue may have cut it): count points in time, a time may carry several metrics
    if len({time_key(r) for r in inside}) >= limit and limit > 1 and hi - lo > _MIN_WINDOW_NS:
        mid = lo + (hi - lo) // 2
        async for page in _fetch_window(client, api, q, lo, mid):
            yield page
        async for page in _fetch_window(client, api, q, mid, hi):
            yield page
        return
    inside.sort(key=_order)
    yield Page(lo, hi, inside, 1)
