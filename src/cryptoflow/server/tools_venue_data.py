"""Toolset ``history`` (continued): venue REST data on demand, and history backfill in the background.

``get_venue_data`` asks a venue's public REST API directly (through the shared rate-limited client,
at the endpoints the server was configured with: the real venues, or the simulator with
``--endpoints``). Its description lists, per venue, the kinds that venue offers, so an assistant
never has to guess; asking a venue for a kind it lacks names the venues that have it.

``backfill_history`` starts a backfill job in this process and returns at once; progress shows
in ``streaming_status`` (``backfills``) and in this tool's ``job_id`` answer when called with
``job_id``. Jobs write through the in-process collector's lake when one runs, else through a
writable lake opened for the job (a collector in another process keeps writing meanwhile:
commits that race are retried).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from cryptoflow.errors import ConfigError, CryptoflowError
from cryptoflow.server.context import ServerContext
from cryptoflow.server.models_history import BackfillJobOut, VenueDataResult
from cryptoflow.server.params import MarketArg, TimeArg, VenueId, iso, parse_time, symbol_arg, to_ns, tool

log = logging.getLogger(__name__)

KindArg = Literal[
    "instruments", "ticker", "orderbook", "trades", "candles", "funding_history", "open_interest",
    "open_interest_history", "long_short_ratio", "taker_volume", "basis", "premium_index", "insurance_fund",
    "options_summary", "volatility_index",
]
BackfillStream = Literal["candles", "funding", "open_interest", "long_short_ratio", "taker_volume", "basis",
                         "premium_index", "volatility_index"]
STARTS_JOB = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True,
                             open_world_hint=True)
MAX_RECORDS = 5000
_TIME_FIELDS = frozenset({"ts", "ts_recv", "open_time", "next_funding_time"})
_ids = itertools.count(1)


@dataclass
class BackfillJob:
    job_id: str
    request: dict[str, Any]
    started: float = field(default_factory=time.time)
    finished: float | None = None
    state: str = "running"
    error: str | None = None
    backfiller: Any = None
    skipped: list[dict[str, str]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def out(self) -> BackfillJobOut:
        sts = list(self.backfiller.statuses) if self.backfiller is not None else []
        return BackfillJobOut(
            job_id=self.job_id, state=self.state, request=self.request,  # type: ignore[arg-type]
            started=_iso_s(self.started), finished=_iso_s(self.finished) if self.finished else None,
            windows_done=sum(s.windows_done for s in sts), windows_total=sum(s.windows_total for s in sts),
            rows_fetched=sum(s.rows_fetched for s in sts), rows_new=sum(s.rows_new for s in sts),
            requests=sum(s.requests for s in sts), series=[s.to_dict() for s in sts][:100],
            skipped=self.skipped[:50], error=self.error,
        )


def _iso_s(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def record_dict(r: object) -> dict[str, Any]:
    """A normalized record as JSON: struct fields, int-ns times as ISO strings, the record type."""
    d = msgspec.to_builtins(r)
    if isinstance(d, dict):
        for k in _TIME_FIELDS & d.keys():
            if isinstance(d[k], int):
                d[k] = iso(d[k])
        d.setdefault("kind", type(r).__name__.lower())
    return d  # type: ignore[no-any-return]


def _kinds_doc() -> str:
    from cryptoflow.venues.rest_data import kinds_by_venue

    return "\n".join(f"- {v}: {', '.join(ks)}" for v, ks in kinds_by_venue().items())


def backfill_jobs(ctx: ServerContext) -> list[BackfillJobOut]:
    return [j.out() for j in ctx.backfills.values()]


def _venue(ctx: ServerContext, venue_id: str) -> Any:
    from cryptoflow.venues import get_venue

    eps = ctx.base_config.endpoints if ctx.base_config is not None and ctx.base_config.endpoints else {}
    return get_venue(venue_id, endpoints=eps.get(venue_id))


def register(server: MCPServer, ctx: ServerContext) -> None:
    def client() -> Any:
        from cryptoflow.feed.rest import RestClient

        if ctx.venue_rest is None:  # kept on the context so the server's shutdown closes its HTTP session
            ctx.venue_rest = RestClient()
        return ctx.venue_rest

    async def get_venue_data(
        venue: VenueId, kind: KindArg, symbol: Annotated[str | None, Field(max_length=40, description=(
            "canonical symbol, e.g. BTCUSDT; not needed for instruments and insurance_fund"))] = None,
        market: MarketArg = "perp",
        period: Annotated[str | None, Field(max_length=4, description=(
            "candle interval or statistics period: 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d (venue-dependent; "
            "default: the venue's first)"))] = None,
        start: TimeArg = None, end: TimeArg = None,
        limit: Annotated[int, Field(ge=1, le=MAX_RECORDS, description="most records to return")] = 500,
    ) -> VenueDataResult:
        from cryptoflow.feed.venue_data import fetch, fetch_range
        from cryptoflow.venues.rest_data import DataKind, DataQuery, rest_data_for

        try:
            v = _venue(ctx, venue)
            api = rest_data_for(v)
            k = DataKind(kind)
            inst = v.instrument(symbol_arg(symbol), market) if symbol else None
            t0 = to_ns(parse_time(start, "start")) if start else None
            t1 = to_ns(parse_time(end, "end")) if end else None
            q = api.check(DataQuery(k, inst, period, t0, t1, limit))  # caps limit at the venue's maximum
        except (ConfigError, ValueError) as e:
            raise ToolError(f"get_venue_data: {e}") from None
        requests = 1
        note = None
        if t0 is not None and api.kinds[k].history:
            records: list[Any] = []
            requests = 0
            async for page in fetch_range(client(), api, DataQuery(k, inst, q.period, t0, t1)):
                records += page.records
                requests += page.requests
                if len(records) >= limit:
                    break
            truncated = len(records) > limit
            records = records[:limit]
        else:
            if t0 is not None:
                note = f"{venue} {kind} has no history: start/end ignored, current values returned"
            records = await fetch(client(), api, q)
            truncated = len(records) > limit
            records = records[-limit:]
        return VenueDataResult(
            venue=venue, symbol=inst.symbol if inst else None, kind=kind, period=q.period, count=len(records),
            records=[record_dict(r) for r in records], truncated=truncated, requests=requests, note=note)

    get_venue_data.__doc__ = (
        "Ask a venue's public REST API directly for data the streams do not carry (long/short ratios, taker "
        "volume, basis, open-interest history, insurance funds, options summaries, volatility index) or for "
        "history (candles, funding) - live from the venue, not from the store. With start (and end) history "
        "kinds are paged by time (up to limit records, oldest first); without, the latest values. Units: "
        "base-unit quantities, fractions for rates and ratios, ISO times. Kinds per venue:\n" + _kinds_doc()
    )
    tool(server)(get_venue_data)

    @tool(server, annotations=STARTS_JOB)
    async def backfill_history(
        symbols: Annotated[list[str] | None, Field(max_length=20, description="default: the nine default symbols")]
        = None,
        venues: Annotated[list[VenueId] | None, Field(max_length=8, description="default: all")] = None,
        streams: Annotated[list[BackfillStream] | None, Field(max_length=8, description=(
            "default: candles, funding, open_interest"))] = None,
        since: Annotated[str, Field(max_length=40, description="an age like 7d, 12h or an ISO 8601 UTC time")]
        = "7d",
        interval: Annotated[str, Field(max_length=4, description="candle interval")] = "1m",
        job_id: Annotated[str | None, Field(max_length=20, description=(
            "report on this earlier job instead of starting one"))] = None,
    ) -> BackfillJobOut:
        """Fill the store with REST history from the venues, in the background: returns a job at once; poll
        with job_id (or streaming_status, field backfills). Idempotent and resumable: ranges committed
        before are not fetched again and no row is stored twice (rows are marked source='rest'). Streams a
        venue does not offer are listed under skipped with the reason."""
        if job_id is not None:
            job = ctx.backfills.get(job_id)
            if job is None:
                raise ToolError(f"no backfill job {job_id!r}; jobs: {', '.join(ctx.backfills) or 'none yet'}")
            return job.out()
        from cryptoflow.collector.backfill import Backfiller, parse_streams, parse_when
        from cryptoflow.symbols import DEFAULT_SYMBOLS
        from cryptoflow.venues import VENUE_IDS

        try:
            syms = [symbol_arg(s) for s in (symbols or DEFAULT_SYMBOLS)]
            vids = list(venues or VENUE_IDS)
            names = parse_streams(streams)
            since_ns = parse_when(since, "since")
            vs = {v: _venue(ctx, v) for v in vids}
        except CryptoflowError as e:
            raise ToolError(f"backfill_history: {e}") from None
        running = [j for j in ctx.backfills.values() if j.state == "running"]
        if running:
            raise ToolError(f"backfill job {running[0].job_id} is still running; poll it with job_id or wait")
        jid = f"bf-{next(_ids)}"
        job = BackfillJob(jid, {"symbols": syms, "venues": vids, "streams": names, "since": since,
                                "interval": interval})
        ctx.backfills[jid] = job

        async def run() -> None:
            from cryptoflow.store.lake import Lake

            rt = ctx.runtime
            own = None
            try:
                lake = rt.lake if rt is not None and rt.collector.running else None
                if lake is None:
                    own = lake = await asyncio.to_thread(Lake.open, ctx.data_dir, ctx.catalog)
                bf = job.backfiller = Backfiller(lake, vs, client=client())
                tasks, job.skipped = bf.plan(syms, names, since_ns, interval=interval)
                rep = await bf.run(tasks)
                job.state = "failed" if rep.failed and len(rep.failed) == len(rep.statuses) else "done"
                if rep.failed:
                    job.error = f"{len(rep.failed)} of {len(rep.statuses)} series failed: {rep.failed[0].error}"
            except Exception as e:  # reported through the job, never lost
                job.state, job.error = "failed", f"{type(e).__name__}: {e}"
                log.exception("backfill job %s failed", jid)
            finally:
                job.finished = time.time()
                if own is not None:
                    await asyncio.to_thread(own.close)

        job.task = asyncio.create_task(run(), name=f"backfill-{jid}")
        await asyncio.sleep(0)
        return job.out()
