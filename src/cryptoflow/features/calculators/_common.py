"""Helpers shared by the built-in calculators (not scanned by the registry)."""

from __future__ import annotations

from cryptoflow.analytics.data import SERIES_KINDS
from cryptoflow.features.base import CalculatorError, Param
from cryptoflow.store.views import VENUE_IDS

VENUES = Param("venues", str, "all", "comma-separated venue ids, or 'all'")
SERIES = Param("series", str, "price", "stored series to analyse", choices=tuple(SERIES_KINDS))


def interval(default_s: float) -> Param:
    return Param("interval_s", float, float(default_s), "bucket width in seconds", ge=0.001, le=86_400.0)


def parse_venues(text: str) -> list[str] | None:
    """'all' -> None; 'okx, bybit' -> ['okx', 'bybit'] (checked)."""
    if text.strip().lower() in ("", "all"):
        return None
    out = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in out if v not in VENUE_IDS]
    if bad:
        raise CalculatorError(f"unknown venue(s) {bad}; venues are: {', '.join(VENUE_IDS)}")
    return out
