"""Running a collector against a store: the ``cryptoflow collect`` daemon, reused by the demo,
the benchmark and ``cryptoflow serve --collect``.

SIGINT/SIGTERM stop it gracefully: connections close, then every buffer is flushed, so
nothing received is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptoflow.collector.config import CollectorConfig
from cryptoflow.collector.core import Collector
from cryptoflow.collector.gc_tuning import GcTuning
from cryptoflow.store import BatchWriter, Lake, apply_retention, compact, create_compat_views
from cryptoflow.store.writer import limit_heap_arenas

log = logging.getLogger(__name__)

COMPACT_EVERY_S = 600.0
# The writer's DuckDB: one thread (appends of a few thousand rows per table gain nothing from
# more, which would compete with the event loop on 2 cores) and a bounded buffer pool.
WRITER_THREADS = 1
WRITER_MEMORY_LIMIT = "512MB"
# How long the busy event loop may keep the GIL while the flush thread waits for it. Every DuckDB
# insert takes the GIL back a dozen-odd times (Arrow scan set-up, results); at Python's default 5 ms
# each wait, a flush of ten tables behind a saturated loop took ~0.6 s instead of ~0.15 s (measured),
# and flushes that lag past the interval pile rows up in memory. 0.5 ms costs the loop a few forced
# switches per millisecond, and only while the flush thread is waiting.
GIL_SWITCH_INTERVAL_S = 0.0005


@dataclass
class CollectorRuntime:
    """A started collector with its lake and writer (``stop()`` flushes and closes them)."""

    config: CollectorConfig
    lake: Lake
    writer: BatchWriter
    collector: Collector
    views: list[str] = field(default_factory=list)
    backfiller: Any = None  # collector.backfill.Backfiller while a backfill-on-start runs (progress)
    gc_tuning: GcTuning = field(default_factory=GcTuning)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @classmethod
    async def start(cls, config: CollectorConfig) -> CollectorRuntime:
        started_ns = time.time_ns()
        limit_heap_arenas()  # before the lake's and the writer's threads exist: see limit_heap_arenas
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))
        lake = Lake.open(Path(config.data_dir), catalog=config.catalog, data_path=config.data_path)
        lake.limit_resources(threads=WRITER_THREADS, memory_limit=WRITER_MEMORY_LIMIT)
        writer = BatchWriter(lake, max_pending_rows=config.max_buffered_events * 2)
        collector = Collector(config, writer)
        await collector.start()
        combos = sorted(
            {(sub.instrument.symbol, sess.venue.id, sub.instrument.market)
             for sess in collector.sessions for sub in sess.subscriptions}
        )
        views = await asyncio.to_thread(create_compat_views, lake, combos)
        rt = cls(config, lake, writer, collector, views)
        rt._tasks.append(asyncio.create_task(rt._maintenance(), name="compaction"))
        rt.gc_tuning.apply()
        if config.backfill_since:
            rt._tasks.append(asyncio.create_task(rt._backfill(started_ns), name="backfill"))
        return rt

    async def _backfill(self, until_ns: int) -> None:
        """History for the configured symbols and venues (``backfill_since``), next to live collection.

        It ends where this collector started: from then on the websocket streams deliver the same
        periods, and stopping there keeps every minute stored once."""
        from cryptoflow.collector.backfill import Backfiller, parse_when

        cfg = self.config
        assert cfg.backfill_since is not None
        try:
            bf = self.backfiller = Backfiller(self.lake, self.collector.venues)
            tasks, skipped = bf.plan(cfg.symbols, cfg.backfill_streams, parse_when(cfg.backfill_since), until_ns,
                                     interval=cfg.candle_interval, markets=cfg.markets)
            log.info("backfill on start: %d series (%d combinations not offered)", len(tasks), len(skipped))
            rep = await bf.run(tasks)
            log.info("backfill on start done: %d new rows in %.1f s (%d series failed)", rep.rows_new, rep.seconds,
                     len(rep.failed))
        except Exception:  # task boundary: a failed backfill must not stop collection
            log.exception("backfill on start failed")

    async def _maintenance(self) -> None:
        """Every ``COMPACT_EVERY_S``: retention (if configured), then compaction (which also reclaims
        the files retention emptied)."""
        ages = self.config.retention_ages()
        while True:
            await asyncio.sleep(COMPACT_EVERY_S)
            try:
                if ages:
                    await asyncio.to_thread(apply_retention, self.lake, ages)
                await asyncio.to_thread(compact, self.lake)
            except Exception:  # task boundary: maintenance failing must not stop collection
                log.exception("maintenance failed; will retry")

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.collector.stop()
        await asyncio.to_thread(self.writer.close)
        self.lake.close()
        self.gc_tuning.restore()


async def run_until_signalled(config: CollectorConfig, seconds: float | None = None) -> dict[str, Any]:
    """Collect until SIGINT/SIGTERM (or ``seconds``), then stop gracefully; returns health."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    rt = await CollectorRuntime.start(config)
    t0 = time.monotonic()
    try:
        if seconds is None:
            await stop.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), seconds)
    finally:
        await rt.stop()
    report = rt.collector.health_report()
    report["elapsed_s"] = round(time.monotonic() - t0, 1)
    return report
