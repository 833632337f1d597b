"""Collector settings: defaults, config file (TOML or JSON), CRYPTOFLOW_* environment variables,
then command-line options, each overriding the one before.

Every setting can be given in any of these places; unknown keys are refused with the list of
accepted ones, because a silently ignored typo in a 24/7 daemon's config is a missing dataset.
"""

from __future__ import annotations

import json
import os
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec

from cryptoflow.errors import ConfigError
from cryptoflow.symbols import DEFAULT_SYMBOLS, canonical_symbol
from cryptoflow.venues import VENUE_IDS
from cryptoflow.venues.base import STREAMS, Endpoints


class CollectorConfig(msgspec.Struct, kw_only=True):
    symbols: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_SYMBOLS))
    venues: list[str] = msgspec.field(default_factory=lambda: list(VENUE_IDS))
    streams: list[str] = msgspec.field(default_factory=lambda: list(STREAMS))
    markets: list[str] = msgspec.field(default_factory=lambda: ["perp", "spot"])
    data_dir: str = "./data"
    catalog: str | None = None  # DuckLake catalog URL (default: SQLite file in data_dir)
    data_path: str | None = None  # Parquet location (default: data_dir/lake/)
    flush_interval_s: float = 1.0
    book_sample_interval_s: float = 1.0
    book_depth: int = 20
    # every book update as received, for exact replay (store/book_deltas.py): the largest table by far
    store_book_deltas: bool = False
    book_checkpoint_interval_s: float = 60.0  # with book deltas: the whole book stored this often
    candle_interval: str = "1m"
    oi_poll_interval_s: float = 10.0
    stale_after_s: float | None = None  # per-connection silence before reconnect (default: venue's)
    max_lifetime_s: float | None = None  # override the venue's maximum connection lifetime
    max_buffered_events: int = 2_000_000  # beyond this, new events are dropped (counted, logged)
    max_buffered_mb: float = 200.0  # the same when the buffered rows hold this much memory
    health_interval_s: float = 60.0
    fetch_instruments: bool = True
    capture: str | None = None  # record raw frames to this capture file
    log_level: str = "INFO"
    endpoints: dict[str, Endpoints] | None = None  # venue -> endpoints (simulator, proxy, testnet)
    # REST history on start (e.g. "1d": the last day) so the first forecasts have data; None: off
    backfill_since: str | None = None
    backfill_streams: list[str] = msgspec.field(default_factory=lambda: ["candles", "funding", "open_interest"])
    # rows older than this per stream are deleted by the daemon's maintenance (e.g. {book_deltas = "2d"})
    retention: dict[str, str] = msgspec.field(default_factory=dict)

    def validate(self) -> CollectorConfig:
        bad = [v for v in self.venues if v not in VENUE_IDS]
        if bad:
            raise ConfigError(f"unknown venue(s) {bad}; venues are: {', '.join(VENUE_IDS)}")
        bad = [s for s in self.streams if s not in STREAMS]
        if bad:
            raise ConfigError(f"unknown stream(s) {bad}; streams are: {', '.join(STREAMS)}")
        bad = [m for m in self.markets if m not in ("perp", "spot")]
        if bad:
            raise ConfigError(f"unknown market(s) {bad}; markets are: perp, spot")
        if self.flush_interval_s <= 0 or self.book_sample_interval_s <= 0:
            raise ConfigError("flush_interval_s and book_sample_interval_s must be > 0 seconds")
        self.symbols = list(dict.fromkeys(canonical_symbol(s) for s in self.symbols))
        self.retention_ages()
        if self.backfill_since is not None:
            from cryptoflow.collector.backfill import parse_streams, parse_when

            parse_when(self.backfill_since, "backfill_since")
            self.backfill_streams = parse_streams(self.backfill_streams)
        return self


    def retention_ages(self) -> dict[str, timedelta]:
        """``retention`` as table -> age; unknown streams and unreadable ages are refused by name."""
        from cryptoflow.errors import QueryError
        from cryptoflow.store.schema import table_for

        out: dict[str, timedelta] = {}
        for stream, age in self.retention.items():
            try:
                table = table_for(stream)
            except QueryError as e:
                raise ConfigError(f"retention: {e}") from None
            out[table] = parse_age(age, f"retention.{stream}")
        return out


_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str, arg: str) -> timedelta:
    """``90s`` / ``30m`` / ``12h`` / ``7d`` / ``2w`` -> timedelta (> 0)."""
    t = str(text).strip().lower()
    if len(t) > 1 and t[-1] in _AGE_UNITS and t[:-1].replace(".", "", 1).isdigit() and float(t[:-1]) > 0:
        return timedelta(seconds=float(t[:-1]) * _AGE_UNITS[t[-1]])
    raise ConfigError(f"{arg}={text!r}: give a positive age like 90s, 30m, 12h, 7d or 2w")


_FIELDS = set(CollectorConfig.__struct_fields__)


def load_endpoints(path: str | Path) -> dict[str, Endpoints]:
    """The JSON ``cryptoflow simulate --json`` prints: {venue: {"ws": {name: url}, "rest": url}}."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"cannot read endpoints file {p}: {e}") from e
    if isinstance(raw, dict) and "endpoints" in raw:
        raw = raw["endpoints"]
    try:
        eps = msgspec.convert(raw, dict[str, Endpoints])
    except msgspec.ValidationError as e:
        raise ConfigError(
            f"{p}: not an endpoints map ({e}); expected {{venue: {{ws: {{name: url}}, rest: url}}}}"
        ) from e
    bad = [v for v in eps if v not in VENUE_IDS]
    if bad:
        raise ConfigError(f"{p}: unknown venue(s) {bad}; venues are: {', '.join(VENUE_IDS)}")
    return eps


def _from_env() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _FIELDS:
        val = os.environ.get("CRYPTOFLOW_" + key.upper())
        if val is None:
            continue
        if key in ("symbols", "venues", "streams", "markets", "backfill_streams"):
            out[key] = [x for x in val.replace(",", " ").split() if x]
        elif key == "retention":  # CRYPTOFLOW_RETENTION="book_deltas=2d trades=90d"
            out[key] = parse_retention([x for x in val.replace(",", " ").split() if x])
        else:
            out[key] = val
    return out


def parse_retention(items: list[str]) -> dict[str, str]:
    """``["book_deltas=2d", "trades=90d"]`` -> {stream: age} (checked by ``CollectorConfig.validate``)."""
    out: dict[str, str] = {}
    for item in items:
        stream, sep, age = item.partition("=")
        if not sep or not stream.strip() or not age.strip():
            raise ConfigError(f"retention {item!r}: write STREAM=AGE, e.g. book_deltas=2d")
        out[stream.strip()] = age.strip()
    return out


def load_config(file: str | Path | None = None, **overrides: Any) -> CollectorConfig:
    """Defaults < file < environment < overrides (None overrides are ignored)."""
    merged: dict[str, Any] = {}
    if file is not None:
        p = Path(file)
        try:
            text = p.read_text()
            data = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read config file {p}: {e}") from e
        # a [collector] section, or flat keys; a [streaming] table belongs to cryptoflow.streaming
        data = data.get("collector", {k: v for k, v in data.items() if k != "streaming"})
        unknown = sorted(set(data) - _FIELDS)
        if unknown:
            raise ConfigError(f"{p}: unknown setting(s) {unknown}; accepted: {', '.join(sorted(_FIELDS))}")
        merged.update(data)
    merged.update(_from_env())
    merged.update({k: v for k, v in overrides.items() if v is not None})
    try:
        cfg = msgspec.convert(merged, CollectorConfig, strict=False)
    except msgspec.ValidationError as e:
        raise ConfigError(f"bad setting: {e}") from e
    return cfg.validate()
