"""What the tools share at run time: the data directory, a read-only lake, and the collector.

- The lake is opened read-only on first use (so the server starts instantly, and starts even
  before any collector has created the store) and kept open: DuckLake starts every query at the
  newest snapshot, so data another process commits is visible without reopening. If the catalog
  does not exist yet, each call retries, and the error says how to start collecting.
- Queries run in worker threads (``ctx.query(fn, ...)``), one DuckDB cursor per call, so a heavy
  query never blocks the event loop that serves other requests and the collector.
- A collector can run in this process (``serve --collect`` or the ``start_streaming`` tool): the
  "live" tools then read its in-memory latest state instead of the store. A collector in another
  process is only observed, through the ``health.json`` it writes into the data directory.
- Live forecasts (``streaming.StreamingController``) can run here next to that collector
  (``start_forecasts``); the forecast tools share one model registry (``forecast_registry``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from cryptoflow.errors import ConfigError, CryptoflowError, StoreError

if TYPE_CHECKING:
    from cryptoflow.collector.config import CollectorConfig
    from cryptoflow.collector.live import LiveState
    from cryptoflow.collector.run import CollectorRuntime
    from cryptoflow.forecast.registry import Registry
    from cryptoflow.store.lake import Lake
    from cryptoflow.streaming.config import StreamingConfig
    from cryptoflow.streaming.controller import StreamingController

log = logging.getLogger(__name__)

_T = TypeVar("_T")
EXTERNAL_FRESH_S = 30.0  # a health.json older than this means that collector is gone
COVERAGE_TTL_S = 15.0


class NoDataError(CryptoflowError):
    """The store does not exist yet, or holds nothing for the question asked."""


@dataclass
class ServerContext:
    """Shared state of one MCP server (one per process; tests may build several)."""

    data_dir: Path
    catalog: str | None = None
    base_config: CollectorConfig | None = None  # defaults for start_streaming (from --config)
    collect_on_start: bool = False  # serve --collect: start the collector in the lifespan
    runtime: CollectorRuntime | None = None
    live_override: LiveState | None = None  # tests and benchmarks: a LiveState without a collector
    keep_open: bool = False  # tests and benchmarks: keep the lake open between client sessions
    _lake: Lake | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _owns_runtime: bool = False
    _users: int = 0
    _coverage: tuple[float, list[dict[str, Any]]] | None = None
    _collector_lock: asyncio.Lock | None = None
    _starting: asyncio.Task[None] | None = None
    streaming_config: StreamingConfig | None = None  # live forecasts to start with serve --collect
    forecasts: StreamingController | None = None  # live forecasts running in this process
    _registry: Registry | None = field(default=None, repr=False)
    _registry_tried: bool = False
    backfills: dict[str, Any] = field(default_factory=dict)  # job id -> tools_venue_data.BackfillJob
    venue_rest: Any = None  # feed.rest.RestClient of get_venue_data, made on first use, closed by aclose

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser().resolve()

    # ---- lake --------------------------------------------------------------------------------
    def lake(self) -> Lake:
        """The read-only lake, opened on first use (call from a worker thread: opening takes ~0.3 s)."""
        with self._lock:
            if self._lake is None:
                from cryptoflow.store.lake import Lake

                try:
                    self._lake = Lake.open(self.data_dir, catalog=self.catalog, read_only=True)
                except StoreError as e:
                    raise NoDataError(
                        f"no store in {self.data_dir} yet ({e}). Start collecting with the start_streaming tool, "
                        "`cryptoflow serve --collect` or `cryptoflow collect --data-dir ...`"
                    ) from None
            return self._lake

    async def query(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """``fn(lake, *args, **kwargs)`` in a worker thread."""
        return await asyncio.to_thread(lambda: fn(self.lake(), *args, **kwargs))

    async def coverage(self) -> list[dict[str, Any]]:
        """Rows / first / last per (table, venue, market, symbol), cached for a few seconds."""
        from cryptoflow.analytics import queries_live

        now = time.monotonic()
        if self._coverage is not None and now - self._coverage[0] < COVERAGE_TTL_S:
            return self._coverage[1]
        rows = await self.query(queries_live.coverage, datetime(1970, 1, 1))
        self._coverage = (now, rows)
        return rows

    async def known_symbols(self, table: str | None = None) -> list[str]:
        return sorted({r["symbol"] for r in await self.coverage() if table is None or r["table_name"] == table})

    # ---- collector ---------------------------------------------------------------------------
    @property
    def live(self) -> LiveState | None:
        """The in-process collector's latest events, if one runs here."""
        if self.runtime is not None and self.runtime.collector.running:
            return self.runtime.collector.live
        return self.live_override

    def external_collector(self) -> dict[str, Any] | None:
        """The health report of a collector in another process writing this data dir, if it is alive."""
        from cryptoflow.collector.health import pid_alive, read_health

        rep = read_health(self.data_dir)
        if rep is None or (self.runtime is not None and rep.get("pid") == _pid()):
            return None
        rep["last_report_age_s"] = round((time.time_ns() - rep["updated_ns"]) / 1e9, 1)
        # ``running`` (when the collector writes it) tells a cleanly stopped collector from a live one
        rep["alive"] = (rep.get("running", True) and pid_alive(rep["pid"])
                        and rep["last_report_age_s"] < EXTERNAL_FRESH_S)
        return rep

    def _clock(self) -> asyncio.Lock:
        if self._collector_lock is None:
            self._collector_lock = asyncio.Lock()
        return self._collector_lock

    def collector_config(self, **overrides: Any) -> CollectorConfig:
        """The base config (``--config`` file or defaults) with this data dir and ``overrides``."""
        import msgspec

        from cryptoflow.collector.config import load_config

        base = msgspec.to_builtins(self.base_config) if self.base_config is not None else {}
        base.pop("endpoints", None)
        cfg = load_config(None, **{**base, "data_dir": str(self.data_dir), "catalog": self.catalog, **overrides})
        if self.base_config is not None and self.base_config.endpoints:
            cfg.endpoints = self.base_config.endpoints
        return cfg

    async def start_collector(self, config: CollectorConfig) -> CollectorRuntime:
        """Start a collector in this process; refuses when one runs here or in another process."""
        from cryptoflow.collector.run import CollectorRuntime

        async with self._clock():
            if self.runtime is not None and self.runtime.collector.running:
                raise ConfigError("a collector already runs in this process")
            ext = self.external_collector()
            if ext is not None and ext["alive"]:
                raise ConfigError(
                    f"a collector in another process (pid {ext['pid']}) already writes to {self.data_dir}; "
                    "the streaming tools control only a collector inside this server process. Stop that one "
                    f"first (kill -TERM {ext['pid']}) or use streaming_status to watch it"
                )
            self.runtime = await CollectorRuntime.start(config)
            self._owns_runtime = True
            self._coverage = None
            log.info("collector started in-process: %s", config.venues)
            return self.runtime

    async def stop_collector(self) -> dict[str, Any]:
        """Stop the in-process collector gracefully (connections closed, buffers flushed)."""
        async with self._clock():
            rt = self.runtime
            if rt is None or not rt.collector.running:
                raise ConfigError("no collector runs in this process")
            await rt.stop()
            report = rt.collector.health_report()
            self._coverage = None
            return report

    # ---- lifespan ----------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[ServerContext]:
        """The server lifespan: starts the collector for ``serve --collect``; the last user out stops
        what this context started and closes the lake."""
        self._users += 1
        try:
            if self.collect_on_start and self.runtime is None and self._starting is None:
                # in the background: the server answers at once while venues are connected
                self._starting = asyncio.create_task(self._start_logged(), name="collector-start")
            yield self
        finally:
            self._users -= 1
            if self._users == 0 and not self.keep_open:
                await self.aclose()

    async def _start_logged(self) -> None:
        try:
            await self.start_collector(self.collector_config())
        except Exception:  # task boundary: the server keeps serving the store without a collector
            log.exception("could not start the collector")
        if self.streaming_config is not None and self.streaming_config.streams:
            try:
                await self.start_forecasts(self.streaming_config)
            except Exception:  # task boundary: the other tools keep working without live forecasts
                log.exception("could not start live forecasts")

    # ---- forecasts ---------------------------------------------------------------------------
    def forecast_registry(self) -> Registry | None:
        """The model registry under ``<data_dir>/forecast/``, opened on first use (from a worker thread);
        read-only when the data dir cannot be written, None when there is none and none can be made."""
        with self._lock:
            if not self._registry_tried:
                from cryptoflow.forecast.registry import Registry

                self._registry_tried = True
                for ro in (False, True):
                    try:
                        self._registry = Registry.open(self.data_dir, read_only=ro)
                        break
                    except Exception as e:  # unwritable dir, or no registry yet: run without one
                        log.warning("forecast registry (read_only=%s) unavailable: %s", ro, e)
            return self._registry

    async def start_forecasts(self, config: StreamingConfig, *, collect: bool = False) -> StreamingController:
        """Start live forecasts in this process over the store; ``collect=True`` also starts the collector
        here (with the base config) when none runs. The controller watches that collector's health."""
        from cryptoflow.streaming.controller import StreamingController

        if self.forecasts is not None and self.forecasts.running:
            raise ConfigError("live forecasts already run in this process")
        if collect and (self.runtime is None or not self.runtime.collector.running):
            await self.start_collector(self.collector_config())
        registry = await asyncio.to_thread(self.forecast_registry)

        def health() -> dict[str, Any] | None:
            rt = self.runtime
            return rt.collector.health_report() if rt is not None and rt.collector.running else None

        ctl = StreamingController(config, self.data_dir, catalog=self.catalog, lake=self.lake, health=health,
                                  registry=registry if registry is not None and not registry.read_only else None)
        await ctl.start()
        self.forecasts = ctl
        return ctl

    async def stop_forecasts(self) -> None:
        """Stop live forecasts (the collector, if any, keeps running)."""
        ctl, self.forecasts = self.forecasts, None
        if ctl is not None:
            await ctl.stop()

    async def aclose(self) -> None:
        if self._starting is not None:
            with contextlib.suppress(BaseException):
                await self._starting  # let a start in progress finish, so it can be stopped cleanly
            self._starting = None
        if self.forecasts is not None:
            with contextlib.suppress(Exception):
                await self.stop_forecasts()
        if self._owns_runtime and self.runtime is not None and self.runtime.collector.running:
            with contextlib.suppress(Exception):
                await self.runtime.stop()
        if self._owns_runtime:
            self.runtime = None
            self._owns_runtime = False
        with self._lock:
            lake, self._lake = self._lake, None
        if lake is not None:
            await asyncio.to_thread(lake.close)
        with self._lock:
            registry, self._registry, self._registry_tried = self._registry, None, False
        if registry is not None:
            registry.close()
        rest, self.venue_rest = self.venue_rest, None
        if rest is not None:
            with contextlib.suppress(Exception):
                await rest.close()


def _pid() -> int:
    import os

    return os.getpid()
