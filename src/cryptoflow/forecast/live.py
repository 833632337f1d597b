"""Live forecasts: per-stream refresh, drift checks, drift-triggered retraining and alerts.

The controller is a pure asyncio piece driven by a *loader* callable (stream -> TargetSeries, sync or
async), so it runs the same against the collector's lake or a fake in tests. Every
``forecast_interval_seconds`` each stream is reloaded and forecast: the first time (and after a
retrain) with the full service (router + rolling backtest + fit), otherwise by applying the fitted
model to the new data (``forward``: cheap, no refit). Every ``drift_check_interval_seconds`` the
fitted model's one-step errors on data that arrived *after* its fit are compared with its one-step
errors just before the fit (``drift.assess``); HIGH drift retrains when ``auto_retrain`` is on (at
most once per ``retraining_config.min_interval_seconds``). Alerts - drift, retrain, errors, stale
streams - go to the log, a JSONL file and optionally a webhook (aiohttp POST, fire-and-forget).
CPU work runs in a worker thread so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cryptoflow.forecast.drift import assess, one_step_errors
from cryptoflow.forecast.registry import Registry
from cryptoflow.forecast.service import ForecastResult, forecast
from cryptoflow.forecast.targets import TargetSeries

log = logging.getLogger(__name__)
Loader = Callable[["StreamSpec"], TargetSeries | Awaitable[TargetSeries]]


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One forecast stream, e.g. ``StreamSpec("btc-price", "binance_usdm", "BTCUSDT", "price", "1m")``."""

    stream_id: str
    venue: str = ""
    symbol: str = ""
    target: str = "price"
    interval: str = "1m"
    market: str = "perp"
    horizon: int | None = None
    model: str = "auto"
    priority: str | None = None


@dataclass
class LiveSettings:
    """Named as in the original streaming config."""

    forecast_interval_seconds: float = 60.0
    drift_check_interval_seconds: float = 300.0
    auto_retrain: bool = True
    retraining_config: dict[str, Any] = field(default_factory=lambda: {
        "min_interval_seconds": 600.0, "reference_points": 200, "min_recent_points": 30, "backtest_origins": 20})
    forecasting_config: dict[str, Any] = field(default_factory=lambda: {
        "default_priority": "fast", "default_horizon": 12, "use_gpu": False, "cache_models": True})
    stale_after_seconds: float | None = 300.0
    alert_file: Path | None = None
    forecast_file: Path | None = None
    webhook_url: str | None = None


class AlertSink:
    """Log + JSONL + optional webhook. Keeps the last 1,000 alerts in memory for the MCP tool."""

    def __init__(self, path: Path | None = None, webhook_url: str | None = None) -> None:
        self.path, self.webhook_url = path, webhook_url
        self.recent: deque[dict[str, Any]] = deque(maxlen=1000)
        self._tasks: set[asyncio.Task[None]] = set()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def emit(self, kind: str, stream_id: str | None, severity: str, message: str, **data: Any) -> dict[str, Any]:
        alert = {"ts_ns": time.time_ns(), "kind": kind, "stream_id": stream_id, "severity": severity,
                 "message": message, **data}
        self.recent.append(alert)
        log.log(logging.WARNING if severity in ("HIGH", "ERROR") else logging.INFO, "alert %s %s: %s", kind,
                stream_id, message)
        line = json.dumps(alert, default=str)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line + "\n")
        if self.webhook_url:
            try:
                task = asyncio.get_running_loop().create_task(self._post(line))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            except RuntimeError:
                log.info("no event loop: webhook skipped for %s", kind)
        return alert

    async def _post(self, body: str) -> None:
        import aiohttp

        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as s, s.post(
                    self.webhook_url or "", data=body, headers={"Content-Type": "application/json"}) as r:
                if r.status >= 400:
                    log.warning("webhook answered %s", r.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("webhook failed: %s", exc)


@dataclass
class _State:
    result: ForecastResult | None = None
    fit_len: int = 0
    fit_at: float = 0.0
    ref_errors: np.ndarray | None = None
    last_drift: dict[str, Any] | None = None
    latest: dict[str, Any] | None = None
    retrains: int = 0


class LiveForecaster:
    def __init__(self, streams: list[StreamSpec], loader: Loader, settings: LiveSettings | None = None,
                 registry: Registry | None = None, sink: AlertSink | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.streams = {s.stream_id: s for s in streams}
        self.loader = loader
        self.settings = settings or LiveSettings()
        self.registry = registry
        self.sink = sink or AlertSink(self.settings.alert_file, self.settings.webhook_url)
        self.clock = clock
        self.state: dict[str, _State] = {s: _State() for s in self.streams}
        self._tasks: list[asyncio.Task[None]] = []

    async def _load(self, spec: StreamSpec) -> TargetSeries:
        out = self.loader(spec)
        return await out if inspect.isawaitable(out) else out  # type: ignore[return-value]

    def _stale(self, spec: StreamSpec, series: TargetSeries) -> bool:
        lim = self.settings.stale_after_seconds
        if lim is None or series.ts_ns is None or len(series.ts_ns) == 0:
            return False
        age = self.clock() - float(series.ts_ns[-1]) / 1e9
        if age > lim:
            self.sink.emit("stale", spec.stream_id, "MEDIUM", f"last data {age:.0f}s old (limit {lim:.0f}s)",
                           age_seconds=round(age, 1))
            return True
        return False

    def _train(self, spec: StreamSpec, series: TargetSeries) -> ForecastResult:
        fc = self.settings.forecasting_config
        h = spec.horizon or int(fc.get("default_horizon", 12))
        res = forecast(series, h, spec.model, spec.priority or fc.get("default_priority", "fast"),
                       registry=self.registry,
                       n_origins=int(self.settings.retraining_config.get("backtest_origins", 20)),
                       save_artifact=bool(fc.get("cache_models", True)) and self.registry is not None)
        st = self.state[spec.stream_id]
        st.result, st.fit_len, st.fit_at = res, len(series), self.clock()
        ref_n = int(self.settings.retraining_config.get("reference_points", 200))
        start = max(2, len(series) - ref_n)
        st.ref_errors = one_step_errors(res.fitted, series, start, len(series))[0] if res.fitted else None
        return res

    def _refresh_sync(self, spec: StreamSpec, series: TargetSeries) -> dict[str, Any]:
        st = self.state[spec.stream_id]
        if st.result is None or st.result.fitted is None:
            res = self._train(spec, series)
            out = {**res.as_dict(), "refit": True}
        else:
            res = st.result
            tf = series.transform
            z = tf.to_model(series.values[-2000:])
            X = {k: tf.align(v[-2000:]) for k, v in series.exog.items()} or None
            fc = res.fitted.forward(z, res.horizon, (80, 95), X)
            point = tf.mean_to_target(fc.mean, series.values)
            fts = series.future_ts(res.horizon)
            out = {**res.as_dict(), "point": [float(x) for x in point], "refit": False,
                   "ts_ns": None if fts is None else [int(x) for x in fts],
                   "intervals": {str(lv): {"lower": [float(x) for x in lo], "upper": [float(x) for x in hi]}
                                 for lv in (80, 95) if lv in fc.lo
                                 for lo, hi in [tf.band_to_target(fc.mean, fc.lo[lv], fc.hi[lv], series.values, lv)]}
                   or res.intervals}
        out.update(stream_id=spec.stream_id, made_at=self.clock(), n_points=len(series))
        return out

    async def refresh(self, stream_id: str) -> dict[str, Any] | None:
        """Reload and forecast one stream; returns the forecast dict (None on failure: alerted)."""
        spec = self.streams[stream_id]
        try:
            series = await self._load(spec)
            self._stale(spec, series)
            out = await asyncio.to_thread(self._refresh_sync, spec, series)
        except Exception as exc:  # task boundary: alert and keep the loop alive
            log.exception("forecast for %s failed", stream_id)
            self.sink.emit("error", stream_id, "ERROR", f"forecast failed: {exc}")
            return None
        self.state[stream_id].latest = out
        if self.settings.forecast_file is not None:
            with self.settings.forecast_file.open("a", encoding="utf-8") as f:
                f.write(json.dumps({k: out[k] for k in ("stream_id", "made_at", "model", "point", "ts_ns", "refit",
                                                         "horizon")}, default=str) + "\n")
        return out

    def _drift_sync(self, spec: StreamSpec, series: TargetSeries) -> dict[str, Any] | None:
        st = self.state[spec.stream_id]
        if st.result is None or st.result.fitted is None or st.ref_errors is None:
            return None
        new = len(series) - st.fit_len
        if new < int(self.settings.retraining_config.get("min_recent_points", 30)):
            return None
        cur = one_step_errors(st.result.fitted, series, max(st.fit_len, len(series) - 500), len(series))[0]
        tf = series.transform
        z = tf.to_model(series.values)
        rep = assess(st.ref_errors, cur, z[-(new + len(st.ref_errors)):-new], z[-new:])
        return rep.as_dict()

    async def check_drift(self, stream_id: str) -> dict[str, Any] | None:
        """Compare the fitted model's errors since its fit with those before; retrain on HIGH."""
        spec = self.streams[stream_id]
        st = self.state[stream_id]
        try:
            series = await self._load(spec)
            rep = await asyncio.to_thread(self._drift_sync, spec, series)
            if rep is None:
                return None
            st.last_drift = rep
            if self.registry is not None:
                self.registry.record_event(series.key, "drift", rep["severity"], rep)
            if rep["severity"] != "LOW":
                self.sink.emit("drift", stream_id, rep["severity"], "; ".join(rep["reasons"]) or rep["recommendation"],
                               recommendation=rep["recommendation"], error_ratio=rep["error_ratio"])
            min_gap = float(self.settings.retraining_config.get("min_interval_seconds", 600.0))
            if rep["severity"] == "HIGH" and self.settings.auto_retrain and self.clock() - st.fit_at >= min_gap:
                res = await asyncio.to_thread(self._train, spec, series)
                st.retrains += 1
                st.latest = {**res.as_dict(), "refit": True, "stream_id": stream_id, "made_at": self.clock(),
                             "n_points": len(series)}
                if self.registry is not None:
                    self.registry.record_event(series.key, "retrain", "HIGH", {"model": res.model})
                self.sink.emit("retrain", stream_id, "HIGH", f"retrained after HIGH drift: {res.model} ({res.skill})",
                               model=res.model)
            return rep
        except Exception as exc:  # task boundary
            log.exception("drift check for %s failed", stream_id)
            self.sink.emit("error", stream_id, "ERROR", f"drift check failed: {exc}")
            return None

    async def _loop(self, every: float, fn: Callable[[str], Awaitable[Any]]) -> None:
        while True:
            for sid in list(self.streams):
                await fn(sid)
            await asyncio.sleep(every)

    def start(self) -> None:
        """Start the forecast and drift loops as tasks on the running loop."""
        self._tasks = [asyncio.get_running_loop().create_task(self._loop(s, f)) for s, f in (
            (self.settings.forecast_interval_seconds, self.refresh),
            (self.settings.drift_check_interval_seconds, self.check_drift))]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def latest(self, stream_id: str) -> dict[str, Any] | None:
        """The most recent forecast of a stream (what ``get_stream_forecast`` returns)."""
        if stream_id not in self.state:
            return None
        st = self.state[stream_id]
        return None if st.latest is None else {**st.latest, "drift": st.last_drift, "retrains": st.retrains}

    def alerts(self, limit: int = 50, stream_id: str | None = None) -> list[dict[str, Any]]:
        out = [a for a in self.sink.recent if stream_id in (None, a["stream_id"])]
        return out[-limit:]
