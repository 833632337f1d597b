"""The collector daemon with live forecasts: ``cryptoflow collect`` when the config file has
``[streaming]`` streams. SIGINT/SIGTERM stop it gracefully: forecast loops first, then the collector
(connections close, buffers flush), so nothing received is lost."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from typing import Any

from cryptoflow.collector.config import CollectorConfig
from cryptoflow.streaming.config import StreamingConfig
from cryptoflow.streaming.controller import StreamingController


async def run_streaming(collector_config: CollectorConfig, config: StreamingConfig,
                        seconds: float | None = None) -> dict[str, Any]:
    """Collect and forecast until SIGINT/SIGTERM (or ``seconds``); returns the collector's health
    report with the live-forecast status under ``"forecasts"``."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    ctl = StreamingController(config, collector_config.data_dir, catalog=collector_config.catalog)
    t0 = time.monotonic()
    await ctl.start(collector_config)
    try:
        if seconds is None:
            await stop.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), seconds)
    finally:
        await ctl.stop()
    assert ctl.runtime is not None
    report = ctl.runtime.collector.health_report()
    report["elapsed_s"] = round(time.monotonic() - t0, 1)
    report["forecasts"] = ctl.status(running=False)
    return report
