"""Streaming: the controller that runs collection + periodic forecasts + drift checks + alerts.

Layering: built on collector/, store/ and forecast/ (``forecast.live.LiveForecaster`` does the
per-stream work); the MCP server (server/) holds a controller next to its in-process collector and
reads the ``live.json`` / alert JSONL files of a controller running as its own process.

    cfg = load_streaming_config("cryptoflow.toml")          # the file's [streaming] section
    ctl = StreamingController(cfg, data_dir)
    await ctl.start(collector_config)                      # or start() to watch a collector elsewhere
    ctl.latest("binance_usdm:BTCUSDT:perp:price:1m"); ctl.alerts(20)
    await ctl.stop()
"""

from __future__ import annotations

from cryptoflow.streaming.config import (
    TARGETS,
    AlertsConfig,
    ForecastingConfig,
    ForecastStream,
    RetrainingConfig,
    StreamingConfig,
    load_streaming_config,
)
from cryptoflow.streaming.controller import StreamingController, read_state, tail_alerts

__all__ = [
    "TARGETS",
    "AlertsConfig",
    "ForecastStream",
    "ForecastingConfig",
    "RetrainingConfig",
    "StreamingConfig",
    "StreamingController",
    "load_streaming_config",
    "read_state",
    "tail_alerts",
]
