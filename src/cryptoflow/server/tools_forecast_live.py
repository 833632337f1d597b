"""Forecast toolset, part two: the model registry and the live forecasts of the streaming controller.

Live forecasts come from the controller running in this server process (``ctx.forecasts``) or, when
the controller runs as its own process (the collector daemon), from the ``forecast/live.json`` and
alert JSONL files it writes into the data directory; ``source`` says which.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from cryptoflow.events import INTERVALS_NS
from cryptoflow.server.context import ServerContext
from cryptoflow.server.models_forecast import (
    UNITS,
    EventOut,
    PerformanceOut,
    RegistryModelOut,
    RegistryResult,
    SeriesOut,
    StreamAlertOut,
    StreamForecastResult,
    StreamInfoOut,
    StreamingAlertsResult,
    forecast_out,
    num,
)
from cryptoflow.server.params import Interval, TimeArg, VenueId, iso, parse_time, symbol_arg, to_ns, tool
from cryptoflow.streaming.config import TARGETS

Target = Literal["price", "volatility", "funding", "open_interest", "spread"]
AlertKind = Literal["drift", "retrain", "stale", "error", "collector"]
PUBLIC_TARGET = {v: k for k, v in TARGETS.items()}
STATE_FRESH_S = 600.0  # a live.json older than this (and a dead pid) means that controller is gone


def no_live(ctx: ServerContext) -> ToolError:
    return ToolError(
        f"no live forecasts for {ctx.data_dir}: no streaming controller runs in this server and none has written "
        "forecast/live.json there. Live forecasts are configured as [[streaming.streams]] (symbol, venue, target, "
        "interval) in the collector's config file and run with the collector daemon or `serve --collect`. For a "
        "one-off forecast use the forecast tool; collector health: streaming_status")


def _key_parts(key: str) -> dict[str, str] | None:
    parts = key.split(":")
    if len(parts) != 5:
        return None
    return dict(zip(("venue", "symbol", "market", "target", "interval"), parts, strict=True))


def _matches(key: str | None, want: dict[str, str]) -> bool:
    if not want:
        return True
    parts = _key_parts(key or "")
    return parts is not None and all(parts[k] == v for k, v in want.items())


def _controller_state(ctx: ServerContext) -> tuple[str, bool, dict[str, Any]]:
    """(source, controller running, live.json-shaped status)."""
    ctl = ctx.forecasts
    if ctl is not None:
        return "in_process", ctl.running, ctl.status()
    from cryptoflow.collector.health import pid_alive
    from cryptoflow.streaming.controller import read_state

    st = read_state(ctx.data_dir)
    if st is None:
        raise no_live(ctx)
    fresh = (time.time_ns() - st["updated_ns"]) / 1e9 < max(STATE_FRESH_S, 3 * st["settings"].get(
        "forecast_interval_seconds", 60.0))
    return "state_file", bool(st["running"]) and pid_alive(st["pid"]) and fresh, st


def _alerts(ctx: ServerContext) -> tuple[str, bool, str | None, list[dict[str, Any]]]:
    ctl = ctx.forecasts
    if ctl is not None:
        return "in_process", ctl.running, None if ctl.alert_file is None else str(ctl.alert_file), list(
            ctl.sink.recent)
    from cryptoflow.streaming.controller import tail_alerts

    try:
        _, running, st = _controller_state(ctx)
        path = st.get("alert_file")
    except ToolError:
        running, path = False, str(ctx.data_dir / "forecast" / "alerts.jsonl")
        if not Path(path).exists():
            raise
    return "alert_file", running, path, tail_alerts(Path(path), 2000) if path else []


def registry_tool(server: MCPServer, ctx: ServerContext) -> None:
    @tool(server)
    async def model_registry(
        view: Annotated[Literal["models", "performance", "events"], Field(description=(
            "models: fitted models with parameters, training windows and saved artifacts; performance: backtest "
            "scores over time; events: drift checks, retrains and tuning runs"))] = "models",
        symbol: Annotated[str | None, Field(max_length=40, description="only this symbol")] = None,
        venue: Annotated[VenueId | None, Field(description="only this venue")] = None,
        target: Annotated[Target | None, Field(description="only this target")] = None,
        interval: Annotated[Interval | None, Field(description="only this bar interval")] = None,
        model: Annotated[str | None, Field(max_length=40, description="only this model (models/performance)")] = None,
        limit: Annotated[int, Field(ge=1, le=200, description="most recent entries to return")] = 50,
    ) -> RegistryResult:
        """The model registry, persisted under the data directory (survives restarts): which models were
        fitted on which series with which parameters and training windows, how their backtests scored
        over time (rMAE vs naive, MASE, coverage, grade), and drift / retrain / tuning events. forecast and
        backtest_forecast record here, and the router reads it: a model that beat naive significantly on a
        series is preferred there."""
        want = {k: v for k, v in {"venue": venue, "symbol": symbol_arg(symbol) if symbol else None,
                                  "target": TARGETS[target] if target else None, "interval": interval}.items() if v}
        name = None
        if model:
            from cryptoflow.server.tools_forecast import model_arg

            name = model_arg(model, auto=False)
        reg = await asyncio.to_thread(ctx.forecast_registry)
        if reg is None:
            raise ToolError(f"no model registry in {ctx.data_dir / 'forecast'} yet: nothing has been forecast or "
                            "backtested with this data directory; run forecast or backtest_forecast first")
        cap = 5000
        out = RegistryResult(view=view, path=str(reg.path), truncated=False)
        if view == "models":
            rows = [r for r in await asyncio.to_thread(reg.list_models, None, None, cap)
                    if _matches(r["series_key"], want) and name in (None, r["model"])]
            out.models = [RegistryModelOut(
                id=r["id"], series_key=r["series_key"], model=r["model"],
                target=PUBLIC_TARGET.get(r["target"], r["target"]), interval=r["interval"], horizon=r["horizon"],
                params=r["params"] or {}, n_train=r["n_train"], train_start=iso(r["train_start_ns"]),
                train_end=iso(r["train_end_ns"]), created=iso(r["created_ns"]) or "", status=r["status"],
                has_artifact=bool(r["artifact"])) for r in rows[:limit]]
        elif view == "performance":
            rows = [r for r in await asyncio.to_thread(reg.performance_history, None, name, cap)
                    if _matches(r["series_key"], want)]
            rows = rows[-limit:] if len(rows) > limit else rows
            out.performance = [PerformanceOut(
                ts=iso(r["ts_ns"]) or "", series_key=r["series_key"], model=r["model"], horizon=r["horizon"],
                strategy=r["strategy"], origins=r["n_origins"], rmae=num(r["rmae"]), mase=num(r["mase"]),
                coverage_80=num(r["coverage80"]), coverage_95=num(r["coverage95"]), dm_p_better=num(r["p_better"]),
                grade=r["grade"]) for r in rows]
        else:
            rows = [r for r in await asyncio.to_thread(reg.events, None, None, cap) if _matches(r["series_key"], want)]
            out.events = [EventOut(ts=iso(r["ts_ns"]) or "", series_key=r["series_key"], kind=r["kind"],
                                   severity=r["severity"], details=r["payload"] or {}) for r in rows[:limit]]
        out.truncated = len(rows) > limit
        return out


def stream_tools(server: MCPServer, ctx: ServerContext) -> None:
    @tool(server)
    async def get_stream_forecast(
        stream_id: Annotated[str | None, Field(max_length=120, description=(
            "a live stream id (the error lists them); or identify the stream by the arguments below"))] = None,
        symbol: Annotated[str | None, Field(max_length=40, description="canonical symbol")] = None,
        venue: Annotated[VenueId | None, Field(description="venue id")] = None,
        target: Annotated[Target | None, Field(description="forecast target")] = None,
        interval: Annotated[Interval | None, Field(description="bar interval")] = None,
    ) -> StreamForecastResult:
        """The latest live forecast of a stream the streaming controller follows (refreshed every forecast
        interval while collecting; drift checked every drift interval, HIGH drift retrains). Carries the
        model, its reason, intervals, the backtest against naive, the last drift report and how many
        retrains happened. For any other series use the forecast tool."""
        source, running, st = _controller_state(ctx)
        streams = st["streams"]
        infos = [StreamInfoOut(stream_id=s["stream_id"], venue=s["spec"]["venue"], symbol=s["spec"]["symbol"],
                               market=s["spec"]["market"], target=s["spec"]["target"], interval=s["spec"]["interval"],
                               has_forecast=s["latest"] is not None) for s in streams]
        ids = ", ".join(i.stream_id for i in infos) or "none configured"
        if stream_id is not None:
            chosen = [s for s in streams if s["stream_id"] == stream_id]
            if not chosen:
                raise ToolError(f"stream_id={stream_id!r} is not a live stream; live streams: {ids}")
        else:
            want = {k: v for k, v in {"symbol": symbol_arg(symbol) if symbol else None, "venue": venue,
                                      "target": target, "interval": interval}.items() if v}
            chosen = [s for s in streams if all(s["spec"][k] == v for k, v in want.items())]
            if len(chosen) != 1:
                raise ToolError(f"{len(chosen)} live streams match {want or 'no arguments'}: pass stream_id, one of: "
                                f"{ids}. Series not followed live: use the forecast tool")
        s = chosen[0]
        latest = s["latest"]
        if latest is None:
            errors = [a for a in _alerts(ctx)[3] if a.get("stream_id") == s["stream_id"] and a["kind"] == "error"]
            why = f"; last error: {errors[-1]['message']}" if errors else " (the first refresh may still run)"
            raise ToolError(f"stream {s['stream_id']} has no forecast yet{why}. get_streaming_alerts shows its alerts")
        spec = s["spec"]
        ts_ns = latest.get("ts_ns") or []
        step = INTERVALS_NS[spec["interval"]]
        series = SeriesOut(symbol=spec["symbol"], venue=spec["venue"], market=spec["market"], target=spec["target"],
                           interval=spec["interval"], unit=UNITS[spec["target"]], bars=latest["n_points"],
                           first_ts=None, last_ts=iso(int(ts_ns[0]) - step) if ts_ns else None, last_value=None,
                           filled_fraction=None)
        drift = latest.get("drift")
        return StreamForecastResult(
            source=source, stream_id=s["stream_id"], made_at=iso(int(latest["made_at"] * 1e9)) or "",
            age_s=round(time.time() - latest["made_at"], 1), refit=bool(latest.get("refit")),
            n_points=latest["n_points"], forecast=forecast_out(series, latest, [iso(int(t)) for t in ts_ns]),
            drift_severity=drift["severity"] if drift else None, drift=drift, retrains=latest.get("retrains", 0),
            controller_running=running, streams=infos)

    @tool(server)
    async def get_streaming_alerts(
        limit: Annotated[int, Field(ge=1, le=500, description="most recent alerts to return")] = 50,
        stream_id: Annotated[str | None, Field(max_length=120, description="only this live stream")] = None,
        kinds: Annotated[list[AlertKind] | None, Field(max_length=5, description=(
            "only these kinds: drift, retrain, stale, error, collector"))] = None,
        since: TimeArg = None,
    ) -> StreamingAlertsResult:
        """Alerts of the live forecasts (newest last): drift (MEDIUM/HIGH, with the recommendation),
        retrain (after HIGH drift), stale (a stream's newest bar is too old), error (a forecast failed)
        and collector (connections down, silent streams, dropped events). Also written to a JSONL file
        in the data directory and optionally POSTed to a webhook. Collector status: streaming_status."""
        start_ns = to_ns(parse_time(since, "since")) if since else None
        source, running, path, rows = _alerts(ctx)
        if stream_id is not None and (ctx.forecasts is not None or source == "alert_file"):
            known = {a.get("stream_id") for a in rows} | (set(ctx.forecasts.specs) if ctx.forecasts else set())
            if stream_id not in known:
                raise ToolError(f"stream_id={stream_id!r} is not a live stream; streams with alerts or followed: "
                                f"{', '.join(sorted(k for k in known if k)) or 'none'}")
        sel = [a for a in rows if a and (stream_id is None or a.get("stream_id") == stream_id)
               and (kinds is None or a.get("kind") in kinds) and (start_ns is None or a.get("ts_ns", 0) >= start_ns)]
        core = ("ts_ns", "kind", "severity", "stream_id", "message")
        return StreamingAlertsResult(
            source=source, alert_file=path, controller_running=running, truncated=len(sel) > limit,
            alerts=[StreamAlertOut(ts=iso(int(a["ts_ns"])) or "", kind=a["kind"], severity=a["severity"],
                                   stream_id=a.get("stream_id"), message=a["message"],
                                   details={k: v for k, v in a.items() if k not in core}) for a in sel[-limit:]])


__all__ = ["registry_tool", "stream_tools"]
