"""Settings of live forecasts, named as in the original streaming config.

They live in the ``[streaming]`` section of the same TOML/JSON file as the collector's ``[collector]``
section, so one file configures the daemon::

    [streaming]
    forecast_interval_seconds = 60
    drift_check_interval_seconds = 300
    auto_retrain = true
    retraining_config = { min_interval_seconds = 600, reference_points = 200, min_recent_points = 30 }
    forecasting_config = { default_priority = "fast", default_horizon = 12, use_gpu = false, cache_models = true }
    alerts = { file = "forecast/alerts.jsonl", webhook_url = "https://example.org/hook" }

    [[streaming.streams]]
    symbol = "BTCUSDT"
    venue = "binance_usdm"
    target = "price"          # price | volatility | funding | open_interest | spread
    interval = "1m"

Unknown keys are refused with the accepted ones (a typo in a 24/7 daemon's config must not be
silently ignored). Relative file paths are relative to the data directory.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from cryptoflow.errors import ConfigError
from cryptoflow.symbols import canonical_symbol
from cryptoflow.venues import VENUE_IDS

#: public target name (MCP tools, config) -> forecast library target
TARGETS: dict[str, str] = {"price": "price", "volatility": "volatility", "funding": "funding",
                           "open_interest": "oi", "spread": "spread"}
#: bar intervals the store can resample to
INTERVALS = ("1m", "5m", "15m", "1h", "4h", "1d")
PRIORITIES = ("fast", "accurate", "realtime")
PERP_ONLY = ("funding", "open_interest")


def min_bars(model: str, horizon: int, origins: int = 20) -> int:
    """Bars a forecast needs: the model's minimum training window (at least 30) plus ``origins``
    rolling backtest origins at step 1 and the horizon (the tools and the controller say so up front)."""
    from cryptoflow.forecast.zoo import get_spec

    ml = get_spec(model).min_length if model != "auto" else 3
    return max(ml, 30) + horizon + origins - 1


class RetrainingConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    min_interval_seconds: float = 600.0  # at most one drift-triggered retrain per stream this often
    reference_points: int = 200  # one-step errors before the fit that drift is measured against
    min_recent_points: int = 30  # new bars needed after a fit before drift is checked
    backtest_origins: int = 20  # rolling origins of the backtest behind every (re)fit


class ForecastingConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    default_priority: str = "fast"  # fast | accurate | realtime (router speed class)
    default_horizon: int = 12  # bars ahead, for streams without their own horizon
    use_gpu: bool = False  # passed to deep models (the router does not pick them for live streams)
    cache_models: bool = True  # save fitted models as registry artifacts


class AlertsConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    file: str | None = "forecast/alerts.jsonl"  # JSONL, one alert per line (None: log only)
    webhook_url: str | None = None  # POSTed as JSON, fire-and-forget
    repeat_after_seconds: float = 600.0  # the same stale/error alert of a stream is repeated at most this often


class ForecastStream(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One series forecast live: a (venue, symbol, market) and what of it, at which bar interval."""

    symbol: str
    venue: str
    target: str = "price"
    interval: str = "1m"
    market: str = "perp"
    horizon: int | None = None
    model: str = "auto"
    priority: str | None = None
    id: str | None = None  # default: venue:symbol:market:target:interval

    @property
    def stream_id(self) -> str:
        return self.id or f"{self.venue}:{self.symbol}:{self.market}:{self.target}:{self.interval}"

    def validate(self) -> ForecastStream:
        where = f"forecast stream {self.id or self.symbol}"
        if self.venue not in VENUE_IDS:
            raise ConfigError(f"{where}: unknown venue {self.venue!r}; venues are: {', '.join(VENUE_IDS)}")
        if self.target not in TARGETS:
            raise ConfigError(f"{where}: unknown target {self.target!r}; targets are: {', '.join(TARGETS)}")
        if self.interval not in INTERVALS:
            raise ConfigError(f"{where}: unknown interval {self.interval!r}; intervals are: {', '.join(INTERVALS)}")
        if self.market not in ("perp", "spot"):
            raise ConfigError(f"{where}: market must be perp or spot, got {self.market!r}")
        if self.target in PERP_ONLY and self.market != "perp":
            raise ConfigError(f"{where}: {self.target} exists only for perps: use market = \"perp\"")
        if self.priority is not None and self.priority not in PRIORITIES:
            raise ConfigError(f"{where}: priority must be one of {', '.join(PRIORITIES)}")
        if self.horizon is not None and not 1 <= self.horizon <= 500:
            raise ConfigError(f"{where}: horizon must be from 1 to 500 bars")
        if self.model != "auto":
            from cryptoflow.forecast.zoo import ForecastError, get_spec, require_installed

            try:
                spec = get_spec(self.model)  # the error lists the models ...
                require_installed(spec)  # ... or names the pip extra that brings it
            except ForecastError as e:
                raise ConfigError(f"{where}: {e}") from None
            return msgspec.structs.replace(self, symbol=canonical_symbol(self.symbol), model=spec.name)
        return msgspec.structs.replace(self, symbol=canonical_symbol(self.symbol))


class StreamingConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    forecast_interval_seconds: float = 60.0
    drift_check_interval_seconds: float = 300.0
    auto_retrain: bool = True
    retraining_config: RetrainingConfig = msgspec.field(default_factory=RetrainingConfig)
    forecasting_config: ForecastingConfig = msgspec.field(default_factory=ForecastingConfig)
    stale_after_seconds: float | None = 300.0  # a stream whose newest bar is older raises a stale alert
    forecast_file: str | None = "forecast/forecasts.jsonl"  # every refresh appended (None: off)
    history_bars: int = 2000  # most recent bars loaded per stream
    alerts: AlertsConfig = msgspec.field(default_factory=AlertsConfig)
    streams: list[ForecastStream] = msgspec.field(default_factory=list)

    def validate(self) -> StreamingConfig:
        if self.forecast_interval_seconds <= 0 or self.drift_check_interval_seconds <= 0:
            raise ConfigError("forecast_interval_seconds and drift_check_interval_seconds must be > 0")
        if self.forecasting_config.default_priority not in PRIORITIES:
            raise ConfigError(f"forecasting_config.default_priority must be one of {', '.join(PRIORITIES)}")
        if not 1 <= self.forecasting_config.default_horizon <= 500:
            raise ConfigError("forecasting_config.default_horizon must be from 1 to 500 bars")
        if not 100 <= self.history_bars <= 20_000:
            raise ConfigError("history_bars must be from 100 to 20000")
        self.streams = [s.validate() for s in self.streams]
        ids = [s.stream_id for s in self.streams]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ConfigError(f"forecast streams listed twice: {dup} (give each an id)")
        return self

    def path(self, data_dir: Path, rel: str | None) -> Path | None:
        """A configured file relative to the data directory (absolute paths are kept)."""
        if rel is None:
            return None
        p = Path(rel).expanduser()
        return p if p.is_absolute() else Path(data_dir) / p


def load_streaming_config(file: str | Path | None = None, **overrides: Any) -> StreamingConfig:
    """Defaults < the file's ``[streaming]`` section < ``overrides`` (None overrides are ignored)."""
    merged: dict[str, Any] = {}
    src = "settings"
    if file is not None:
        p = Path(file)
        src = str(p)
        try:
            text = p.read_text()
            data = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read config file {p}: {e}") from e
        merged.update(data.get("streaming", {}))
    merged.update({k: v for k, v in overrides.items() if v is not None})
    try:
        cfg = msgspec.convert(merged, StreamingConfig, strict=False)
    except msgspec.ValidationError as e:
        accepted = ", ".join(StreamingConfig.__struct_fields__)
        raise ConfigError(f"{src}: bad streaming setting: {e} (accepted: {accepted}; streams take "
                          f"{', '.join(ForecastStream.__struct_fields__)})") from None
    return cfg.validate()


__all__ = [
    "INTERVALS",
    "TARGETS",
    "AlertsConfig",
    "ForecastStream",
    "ForecastingConfig",
    "RetrainingConfig",
    "StreamingConfig",
    "load_streaming_config",
    "min_bars",
]
