"""A small synthetic lake for analytics and calculator tests (the benchmark's generator, 1 hour)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptoflow.benchmarks.analytics import fill_lake
from cryptoflow.store.lake import Lake

HOURS = 1.0
TRADES = 20_000


def make_small_lake(root: Path) -> dict[str, Any]:
    """Fill ``root`` once; returns the planted facts."""
    with Lake.open(root) as lake:
        return fill_lake(lake, hours=HOURS, trades=TRADES, seed=3)
