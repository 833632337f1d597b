"""Fixtures for store tests: a real DuckLake (SQLite catalog, Parquet files) in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cryptoflow.store import BatchWriter, Lake

# 2024-01-01 00:00:00 UTC in ns; test times are offsets from here.
T0_NS = 1_704_067_200_000_000_000
T0 = datetime(2024, 1, 1)
SEC = 1_000_000_000


def at(seconds: float) -> int:
    """T0 + seconds, as int ns (kept µs-aligned so every time column round-trips exactly)."""
    return T0_NS + round(seconds * 1e6) * 1000


def dt_at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    lk = Lake.open(tmp_path / "data")
    try:
        yield lk
    finally:
        lk.close()


@pytest.fixture
def writer(lake: Lake) -> BatchWriter:
    return BatchWriter(lake)
