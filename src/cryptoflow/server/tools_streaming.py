"""Toolset ``streaming``: control the collector inside this server process, watch any collector.

Only a collector started in this process (``start_streaming`` or ``cryptoflow serve --collect``)
can be started, stopped or reconfigured here. A collector running as its own process (``cryptoflow
collect``) is observed through the ``health.json`` it writes into the data directory; the tools
say so instead of pretending to control it.
"""

from __future__ import annotations

import os
import time
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from cryptoflow.errors import ConfigError
from cryptoflow.server.context import ServerContext
from cryptoflow.server.models_history import (
    Alert,
    StreamHealthOut,
    StreamingActionResult,
    StreamingStatus,
    VenueHealthOut,
)
from cryptoflow.server.params import READ_ONLY, Market, VenuesArg, symbols_arg, tool
from cryptoflow.server.tools_venue_data import backfill_jobs

StreamKind = Literal["trade", "bbo", "book", "mark_price", "funding", "open_interest", "liquidation", "ticker",
                     "candle"]
StreamsArg = Annotated[list[StreamKind] | None, Field(max_length=9, description="stream kinds (default: all)")]
MarketsArg = Annotated[list[Market] | None, Field(max_length=2, description="perp and/or spot (default: both)")]
FlushArg = Annotated[float | None, Field(gt=0, le=60, description="seconds between store writes")]
CONTROLS = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
STOPS = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)
STALE_S = 60.0
MAX_ALERTS = 50


def alerts_of(rep: dict[str, Any]) -> list[Alert]:
    """Problems worth a look in a collector health report, errors first."""
    out: list[Alert] = []
    for vid, v in rep.get("venues", {}).items():
        if v["connected"] < v["connections"]:
            out.append(Alert(level="error", venue=vid, message=f"{v['connections'] - v['connected']} of "
                                                               f"{v['connections']} connections down"))
        if v["books_valid"] < v["books"]:
            out.append(Alert(level="warning", venue=vid, message=f"{v['books'] - v['books_valid']} books resyncing"))
        n = sum(v["decode_errors"].values())
        if n:
            out.append(Alert(level="warning", venue=vid, message=f"{n} undecodable frames: {v['decode_errors']}"))
        if v["gaps"]:
            out.append(Alert(level="warning", venue=vid, message=f"{v['gaps']} book gaps, {v['resyncs']} resyncs"))
    for s in rep.get("streams", []):
        age = s.get("last_event_age_s")
        if age is not None and age > STALE_S and s["stream"] != "liquidation":
            out.append(Alert(level="warning", venue=s["venue"], stream=s["stream"],
                             message=f"no {s['stream']} event for {age:.0f} s"))
    store = rep.get("store") or {}
    if store.get("behind"):
        out.append(Alert(level="warning", message=f"the store is falling behind: {store['reason']}"))
    dropped = rep.get("counters", {}).get("dropped_backpressure", 0)
    if dropped:
        out.append(Alert(level="error", message=f"{dropped} events dropped: the store is not keeping up"))
    out += [Alert(level="warning", message=u) for u in rep.get("unsupported", [])[:10]]
    out.sort(key=lambda a: a.level != "error")
    return out


def status_of(ctx: ServerContext, max_streams: int = 100) -> StreamingStatus:
    """The in-process collector's live health, else the other process's health.json."""
    rt = ctx.runtime
    if rt is not None and rt.collector.running:
        rep, state, controllable, note = rt.collector.health_report(), "running_in_process", True, None
    else:
        ext = ctx.external_collector()
        if ext is None:
            state = "stopped" if rt is not None else "never_started"
            return StreamingStatus(state=state, controllable=True, data_dir=str(ctx.data_dir),
                                   backfills=backfill_jobs(ctx), note=(
                "no collector writes to this data directory; start one with start_streaming (in this process) "
                "or `cryptoflow collect` / `cryptoflow serve --collect`"))
        rep = ext
        state = "running_other_process" if ext["alive"] else "stopped"
        controllable = False
        note = (f"collector pid {ext['pid']} runs in another process (health.json, {ext['last_report_age_s']} s "
                "old); start/stop/configure here control only a collector inside this server"
                if ext["alive"] else f"last report from pid {ext['pid']} is {ext['last_report_age_s']} s old: it "
                "is not running")
    streams = [StreamHealthOut(venue=s["venue"], stream=s["stream"], records=s["records"],
                               records_per_min=s.get("records_per_min"), last_event_age_s=s.get("last_event_age_s"),
                               status="no_data" if s.get("last_event_age_s") is None else
                               "stale" if s["last_event_age_s"] > STALE_S else "ok")
               for s in rep.get("streams", [])]
    venues = [VenueHealthOut(venue=k, connected=v["connected"], connections=v["connections"],
                             reconnects=v["reconnects"], gaps=v["gaps"], resyncs=v["resyncs"],
                             decode_errors=sum(v["decode_errors"].values()), books_valid=v["books_valid"],
                             books=v["books"]) for k, v in rep.get("venues", {}).items()]
    alerts = alerts_of(rep)
    return StreamingStatus(
        state=state, controllable=controllable, pid=rep.get("pid", os.getpid()), data_dir=str(ctx.data_dir),
        uptime_s=rep.get("uptime_s"), rows_written=rep.get("rows_written"), queue_depth=rep.get("queue_depth"),
        last_report_age_s=rep.get("last_report_age_s", 0.0), config=rep.get("config", {}), venues=venues,
        streams=streams[:max_streams], alerts=alerts[:MAX_ALERTS], backfills=backfill_jobs(ctx),
        truncated=len(streams) > max_streams or len(alerts) > MAX_ALERTS, note=note)


def _not_here(ctx: ServerContext, action: str) -> ToolError:
    ext = ctx.external_collector()
    if ext is not None and ext["alive"]:
        return ToolError(
            f"cannot {action}: no collector runs in this server process. The collector writing {ctx.data_dir} "
            f"is pid {ext['pid']}, a separate process: control it there (`kill -TERM {ext['pid']}` stops it "
            "gracefully). start_streaming, stop_streaming and configure_streaming control only a collector "
            "started in this server (start_streaming or `cryptoflow serve --collect`); streaming_status shows "
            "the other one.")
    return ToolError(f"cannot {action}: no collector runs in this server process; start one with start_streaming")


def register(server: MCPServer, ctx: ServerContext) -> None:
    @tool(server, annotations=CONTROLS)
    async def start_streaming(symbols: Annotated[list[str], Field(min_length=1, max_length=50)],
                              venues: VenuesArg = None, streams: StreamsArg = None, markets: MarketsArg = None,
                              flush_interval_s: FlushArg = None,
                              book_deltas: Annotated[bool | None, Field(description=(
                                  "also store every order-book update, so get_orderbook(at=...) can rebuild any "
                                  "past book at full depth (the largest table by far)"))] = None,
                              ) -> StreamingActionResult:
        """Start collecting live data in this server process: the listed symbols from the venues (default:
        all eight) and streams (default: all), written to the store every flush interval. Live tools then
        answer from memory. Refused when a collector already runs here (use configure_streaming) or in
        another process on the same data directory."""
        overrides = {"symbols": symbols_arg(symbols), "venues": venues, "streams": streams, "markets": markets,
                     "flush_interval_s": flush_interval_s, "store_book_deltas": book_deltas}
        try:
            cfg = ctx.collector_config(**{k: v for k, v in overrides.items() if v is not None})
            rt = await ctx.start_collector(cfg)
        except ConfigError as e:
            raise ToolError(f"start_streaming: {e}") from None
        n = len(rt.collector.sessions)
        return StreamingActionResult(action="start", status=status_of(ctx), message=(
            f"collector started in this process: {len(cfg.symbols)} symbols x {len(cfg.venues)} venues over {n} "
            f"connections, writing to {ctx.data_dir} every {cfg.flush_interval_s:g} s"
            + (", book updates included" if cfg.store_book_deltas else "")))

    @tool(server, annotations=STOPS)
    async def stop_streaming() -> StreamingActionResult:
        """Stop the collector running in this server process gracefully: connections close, then every
        buffered event is flushed to the store. It cannot stop a collector running as another process."""
        if ctx.runtime is None or not ctx.runtime.collector.running:
            raise _not_here(ctx, "stop the collector")
        rep = await ctx.stop_collector()
        return StreamingActionResult(action="stop", status=status_of(ctx), message=(
            f"collector stopped after {rep['uptime_s']} s; {rep['rows_written']:,} rows written, buffers flushed"))

    @tool(server, annotations=READ_ONLY)
    async def streaming_status(max_streams: Annotated[int, Field(ge=1, le=500)] = 100) -> StreamingStatus:
        """State of collection: running here, in another process (read from its health.json) or stopped;
        per-venue connections, reconnects, book gaps and decode errors; per-stream records, rate and age of
        the last event; and alerts (down connections, stale streams, dropped events)."""
        return status_of(ctx, max_streams)

    @tool(server, annotations=CONTROLS)
    async def configure_streaming(
        symbols: Annotated[list[str] | None, Field(max_length=50)] = None, venues: VenuesArg = None,
        streams: StreamsArg = None, markets: MarketsArg = None, flush_interval_s: FlushArg = None,
    ) -> StreamingActionResult:
        """Change the in-process collector at run time. A new flush interval applies immediately; new
        symbols, venues, streams or markets restart the collector (flushing first: nothing received is
        lost, collection pauses for the restart). Only for a collector started in this server."""
        rt = ctx.runtime
        if rt is None or not rt.collector.running:
            raise _not_here(ctx, "reconfigure the collector")
        changes: dict[str, Any] = {k: v for k, v in {
            "symbols": symbols_arg(symbols) if symbols else None, "venues": venues, "streams": streams,
            "markets": markets}.items() if v is not None and v != getattr(rt.config, k)}
        if flush_interval_s is not None:
            rt.config.flush_interval_s = flush_interval_s
        if not changes:
            return StreamingActionResult(action="configure", status=status_of(ctx), message=(
                f"flush interval now {rt.config.flush_interval_s:g} s (applied live)" if flush_interval_s is not None
                else "nothing to change"))
        current = {k: getattr(rt.config, k) for k in ("symbols", "venues", "streams", "markets", "flush_interval_s")}
        try:
            cfg = ctx.collector_config(**{**current, **changes})
        except ConfigError as e:
            raise ToolError(f"configure_streaming: {e}") from None
        t0 = time.monotonic()
        await ctx.stop_collector()
        await ctx.start_collector(cfg)
        return StreamingActionResult(action="configure", status=status_of(ctx), message=(
            f"collector restarted with {', '.join(f'{k}={v}' for k, v in changes.items())} "
            f"(paused {time.monotonic() - t0:.1f} s)"))
