"""The streaming controller: collection + periodic forecasts + drift checks + alerts, in one process.

Why a controller on top of ``forecast.live.LiveForecaster``: the live forecaster is a pure piece
driven by a loader; this puts it on the store. Each configured stream is loaded from the lake
(``forecast.targets.load_target``) every ``forecast_interval_seconds`` and forecast; drift is checked
every ``drift_check_interval_seconds`` (HIGH drift retrains when ``auto_retrain`` is on). Alerts -
drift, retrain, forecast errors, stale streams (no new bar), collector trouble (connections down,
streams silent) - go to the log, a JSONL file and optionally a webhook; a stale or failing stream is
re-alerted at most every ``alerts.repeat_after_seconds``, not at every refresh.

The controller can own the collector (the ``cryptoflow collect`` daemon: ``start(collector_config)``)
or watch one that runs next to it (the MCP server: pass ``health``). Either way it reads the store
through a read-only lake, so what it forecasts is exactly what was stored. After every round it
writes ``<data_dir>/forecast/live.json`` (atomic rename): the latest forecast per stream, so an MCP
server in another process can answer ``get_stream_forecast`` (and tail the alert file).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from cryptoflow.forecast.live import AlertSink, LiveForecaster, LiveSettings, StreamSpec
from cryptoflow.forecast.targets import TargetSeries, load_target
from cryptoflow.forecast.zoo import ForecastError
from cryptoflow.streaming.config import TARGETS, ForecastStream, StreamingConfig, min_bars

if TYPE_CHECKING:
    from cryptoflow.collector.config import CollectorConfig
    from cryptoflow.collector.run import CollectorRuntime
    from cryptoflow.forecast.registry import Registry
    from cryptoflow.store.lake import Lake

log = logging.getLogger(__name__)
STATE_FILE = "forecast/live.json"
COLLECTOR_SILENT_EXEMPT = ("liquidation",)  # sporadic by nature: silence is not a fault


def jsonable(x: Any) -> Any:
    """JSON default: numpy scalars and arrays as Python values, anything else as text."""
    if hasattr(x, "tolist"):
        return x.tolist()
    if hasattr(x, "item"):
        return x.item()
    return str(x)


class DedupAlertSink(AlertSink):
    """An ``AlertSink`` that says a persistent condition once: a stale, failing or collector alert with
    the same key is repeated at most every ``repeat_after_s`` (suppressed repeats are counted), and
    ``clear(key)`` re-arms it when the condition ends."""

    REPEATING = ("stale", "error", "collector")

    def __init__(self, path: Path | None, webhook_url: str | None, repeat_after_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(path, webhook_url)
        self.repeat_after_s, self.clock = repeat_after_s, clock
        self._last: dict[tuple[str, str | None, str], float] = {}
        self.suppressed = 0

    def emit(self, kind: str, stream_id: str | None, severity: str, message: str, **data: Any) -> dict[str, Any]:
        # a failing stream is re-alerted when its error changes (digits aside: "12 points are too few")
        key = (kind, stream_id, str(data.pop("dedup_key", re.sub(r"\d+", "#", message) if kind == "error" else "")))
        if kind in self.REPEATING:
            now = self.clock()
            last = self._last.get(key)
            if last is not None and now - last < self.repeat_after_s:
                self.suppressed += 1
                return {}
            self._last[key] = now
        return super().emit(kind, stream_id, severity, message, **data)

    def clear(self, kind: str, stream_id: str | None, dedup_key: str | None = None) -> None:
        """Re-arm one condition (``dedup_key``) or every condition of this kind and stream."""
        for k in [k for k in self._last if k[:2] == (kind, stream_id) and dedup_key in (None, k[2])]:
            del self._last[k]

    def active(self, kind: str, stream_id: str | None = None) -> list[str]:
        """Dedup keys of the ``kind`` conditions alerted and not cleared."""
        return [k[2] for k in self._last if k[0] == kind and k[1] == stream_id]


class StreamingController:
    """Live forecasts over the store (see the module docstring). ``lake``: a callable returning a
    read-only lake to share (default: open one here); ``health``: returns the health report of a
    collector running next to this controller, or None; ``registry``: shared registry, or None to
    open ``<data_dir>/forecast/registry.sqlite`` here."""

    def __init__(self, config: StreamingConfig, data_dir: Path | str, *, catalog: str | None = None,
                 lake: Callable[[], Lake] | None = None, health: Callable[[], dict[str, Any] | None] | None = None,
                 registry: Registry | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config.validate()
        self.data_dir = Path(data_dir)
        self.catalog = catalog
        self._lake_fn = lake
        self._own_lake: Lake | None = None
        self._health_fn = health
        self.clock = clock
        self.runtime: CollectorRuntime | None = None
        self._own_registry = registry is None
        self.registry = registry if registry is not None else self._open_registry()
        a = config.alerts
        self.alert_file = config.path(self.data_dir, a.file)
        self.sink = DedupAlertSink(self.alert_file, a.webhook_url, a.repeat_after_seconds, clock)
        self.specs = {s.stream_id: s for s in config.streams}
        settings = LiveSettings(
            forecast_interval_seconds=config.forecast_interval_seconds,
            drift_check_interval_seconds=config.drift_check_interval_seconds, auto_retrain=config.auto_retrain,
            retraining_config=msgspec.structs.asdict(config.retraining_config),
            forecasting_config=msgspec.structs.asdict(config.forecasting_config),
            stale_after_seconds=None,  # checked here, against the end of the newest bar (see _check_stale)
            alert_file=self.alert_file, forecast_file=config.path(self.data_dir, config.forecast_file),
            webhook_url=a.webhook_url)
        if settings.forecast_file is not None:
            settings.forecast_file.parent.mkdir(parents=True, exist_ok=True)
        self.live = LiveForecaster([self._spec(s) for s in config.streams], self._load, settings,
                                   registry=self.registry, sink=self.sink, clock=clock)
        self.state_file = self.data_dir / STATE_FILE
        self._last_bar_end_ns: dict[str, int] = {}
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self.started_ns: int | None = None
        self.rounds = 0
        self.drift_rounds = 0

    # ---- setup ------------------------------------------------------------------------------
    @staticmethod
    def _spec(s: ForecastStream) -> StreamSpec:
        return StreamSpec(s.stream_id, s.venue, s.symbol, TARGETS[s.target], s.interval, s.market, s.horizon,
                          s.model, s.priority)

    def _open_registry(self) -> Registry | None:
        from cryptoflow.forecast.registry import Registry

        try:
            return Registry.open(self.data_dir)
        except Exception as exc:  # a read-only data dir: forecasts still run, without memory
            log.warning("live forecasts run without a model registry: %s", exc)
            return None

    def lake(self) -> Lake:
        if self._lake_fn is not None:
            return self._lake_fn()
        if self._own_lake is None:
            from cryptoflow.store.lake import Lake

            self._own_lake = Lake.open(self.data_dir, catalog=self.catalog, read_only=True)
        return self._own_lake

    async def _load(self, spec: StreamSpec) -> TargetSeries:
        series = await asyncio.to_thread(lambda: load_target(  # opening the lake blocks too: in the thread
            self.lake(), spec.target, spec.venue, spec.symbol, spec.market, spec.interval,
            limit=self.config.history_bars))
        if series.ts_ns is not None and len(series.ts_ns):
            self._last_bar_end_ns[spec.stream_id] = int(series.ts_ns[-1]) + int(series.step_ns or 0)
        if self.live.state[spec.stream_id].result is None:  # the first fit backtests: say what it needs
            h = spec.horizon or self.config.forecasting_config.default_horizon
            need = min_bars(spec.model, h, self.config.retraining_config.backtest_origins)
            if len(series) < need:
                raise ForecastError(f"too little data: {len(series)} {spec.interval} bars of {spec.venue} "
                                    f"{spec.symbol} {spec.market} {spec.target}; a {h}-bar forecast with its "
                                    f"backtest needs {need}")
        return series

    # ---- lifecycle --------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return bool(self._tasks) and not all(t.done() for t in self._tasks)

    async def start(self, collector_config: CollectorConfig | None = None) -> None:
        """Start the loops; with ``collector_config`` also start (and own) a collector first."""
        if self.running:
            return
        if collector_config is not None:
            from cryptoflow.collector.run import CollectorRuntime

            self.runtime = await CollectorRuntime.start(collector_config)
            self._health_fn = self.runtime.collector.health_report
        self.started_ns = time.time_ns()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._forecast_loop(), name="live-forecasts"),
                       loop.create_task(self._drift_loop(), name="live-drift")]
        log.info("live forecasts: %d streams, every %gs (drift every %gs)", len(self.specs),
                 self.config.forecast_interval_seconds, self.config.drift_check_interval_seconds)

    async def stop(self) -> None:
        """Stop the loops (a refresh in progress finishes first), the owned collector, and close."""
        async with self._lock:
            for t in self._tasks:
                t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.runtime is not None:
            await self.runtime.stop()
        self._write_state(running=False)
        if self._own_lake is not None:
            await asyncio.to_thread(self._own_lake.close)
            self._own_lake = None
        if self._own_registry and self.registry is not None:
            self.registry.close()
            self.registry = None

    # ---- loops ------------------------------------------------------------------------------
    async def refresh_all(self) -> None:
        """One forecast round over every stream, then stale and collector checks."""
        for sid in self.specs:
            async with self._lock:
                out = await self.live.refresh(sid)
            if out is not None:
                self.sink.clear("error", sid)
        self._check_stale()
        self._check_collector()
        self.rounds += 1
        self._write_state()

    async def check_drift_all(self) -> None:
        for sid in self.specs:
            if self.live.state[sid].result is None:
                continue  # nothing fitted yet: no errors to compare
            async with self._lock:
                await self.live.check_drift(sid)
        self.drift_rounds += 1
        self._write_state()

    async def _forecast_loop(self) -> None:
        while True:
            await self.refresh_all()
            await asyncio.sleep(self.config.forecast_interval_seconds)

    async def _drift_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.drift_check_interval_seconds)
            await self.check_drift_all()

    # ---- checks -----------------------------------------------------------------------------
    def _check_stale(self) -> None:
        lim = self.config.stale_after_seconds
        if lim is None:
            return
        now_ns = int(self.clock() * 1e9)
        for sid, end_ns in self._last_bar_end_ns.items():
            age = (now_ns - end_ns) / 1e9
            s = self.specs[sid]
            if age > lim:
                self.sink.emit("stale", sid, "MEDIUM", (
                    f"newest {s.interval} bar of {s.venue} {s.symbol} {s.market} {s.target} ended {age:.0f}s ago "
                    f"(limit {lim:g}s): forecasts repeat old data; is the collector running? (streaming_status)"),
                    age_seconds=round(age, 1), venue=s.venue, symbol=s.symbol)
            else:
                self.sink.clear("stale", sid)

    def _check_collector(self) -> None:
        rep = self._health_fn() if self._health_fn is not None else None
        if not rep:
            return
        lim = self.config.stale_after_seconds
        problems: dict[str, tuple[str, str]] = {}
        for vid, v in rep.get("venues", {}).items():
            if v["connected"] < v["connections"]:
                problems[f"down:{vid}"] = ("HIGH", f"{vid}: {v['connections'] - v['connected']} of "
                                                   f"{v['connections']} connections down")
        for s in rep.get("streams", []):
            age = s.get("last_event_age_s")
            if lim is not None and age is not None and age > lim and s["stream"] not in COLLECTOR_SILENT_EXEMPT:
                problems[f"silent:{s['venue']}:{s['stream']}"] = (
                    "MEDIUM", f"collector: no {s['venue']} {s['stream']} event for {age:.0f}s")
        dropped = rep.get("counters", {}).get("dropped_backpressure", 0)
        if dropped:
            problems["dropped"] = ("HIGH", f"collector dropped {dropped} events: the store is not keeping up")
        for key, (sev, msg) in problems.items():
            self.sink.emit("collector", None, sev, msg, dedup_key=key)
        for key in self.sink.active("collector"):
            if key not in problems:
                self.sink.clear("collector", None, key)

    # ---- reading ----------------------------------------------------------------------------
    def latest(self, stream_id: str) -> dict[str, Any] | None:
        return self.live.latest(stream_id)

    def alerts(self, limit: int = 50, stream_id: str | None = None) -> list[dict[str, Any]]:
        return self.live.alerts(limit, stream_id)

    def status(self, running: bool | None = None) -> dict[str, Any]:
        """What ``live.json`` holds: settings, and per stream its spec and latest forecast."""
        streams = []
        for sid, s in self.specs.items():
            st = self.live.state[sid]
            streams.append({"stream_id": sid, "spec": msgspec.to_builtins(s), "latest": self.latest(sid),
                            "retrains": st.retrains, "last_bar_end_ns": self._last_bar_end_ns.get(sid)})
        return {"pid": os.getpid(), "updated_ns": time.time_ns(), "started_ns": self.started_ns,
                "running": self.running if running is None else running, "rounds": self.rounds,
                "drift_rounds": self.drift_rounds, "alert_file": None if self.alert_file is None
                else str(self.alert_file), "alerts_suppressed": self.sink.suppressed,
                "settings": msgspec.to_builtins(msgspec.structs.replace(self.config, streams=[])),
                "streams": streams}

    def _write_state(self, running: bool | None = None) -> None:
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.status(running), default=jsonable))
            os.replace(tmp, self.state_file)
        except OSError as exc:  # the in-memory state still answers in this process
            log.warning("cannot write %s: %s", self.state_file, exc)


def read_state(data_dir: Path | str) -> dict[str, Any] | None:
    """The ``live.json`` a controller (here or in another process) last wrote, or None."""
    try:
        return json.loads((Path(data_dir) / STATE_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def tail_alerts(path: Path, limit: int = 50, max_bytes: int = 4 << 20) -> list[dict[str, Any]]:
    """The last ``limit`` alerts of a JSONL alert file (reads at most the last ``max_bytes``)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            lines = f.read().splitlines()
    except OSError:
        return []
    if size > max_bytes:
        lines = lines[1:]  # the first line read may be cut
    out = []
    for ln in lines[-limit:]:
        try:
            out.append(json.loads(ln))
        except json.JSONDecodeError:
            continue
    return out
