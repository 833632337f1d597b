"""Column containers that ``analytics.data`` fills from the lake: numpy arrays, time-ordered.

Kept apart from the SQL so pure analytics code and tests can build them without a lake.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class Trades:
    """Trades in time order. ``sign``: +1 aggressive buy, -1 aggressive sell (0 unknown)."""

    ts_ns: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    sign: np.ndarray
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.ts_ns)


@dataclass(frozen=True, slots=True)
class Quotes:
    """Best bid/ask updates in time order."""

    ts_ns: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_qty: np.ndarray
    ask_qty: np.ndarray
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.ts_ns)

    @property
    def mid(self) -> np.ndarray:
        return (self.bid + self.ask) / 2.0


@dataclass(frozen=True, slots=True)
class Books:
    """Book snapshots as (n, depth) matrices, best level first, NaN where a snapshot had fewer levels."""

    ts_ns: np.ndarray
    bid_px: np.ndarray
    bid_qty: np.ndarray
    ask_px: np.ndarray
    ask_qty: np.ndarray
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.ts_ns)


@dataclass(frozen=True, slots=True)
class VenueSeries:
    """One value series per venue: ``{venue: (ts_ns, values)}`` (funding, open interest)."""

    by_venue: dict[str, tuple[np.ndarray, np.ndarray]]
    extra: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(len(t) for t, _ in self.by_venue.values())


@dataclass(frozen=True, slots=True)
class Liquidations:
    """Liquidations in time order. ``long``: True when a long position was liquidated."""

    ts_ns: np.ndarray
    venue: np.ndarray
    long: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    notional: np.ndarray

    def __len__(self) -> int:
        return len(self.ts_ns)


@dataclass(frozen=True, slots=True)
class Bars:
    """OHLCV bars from trades (buckets without trades are absent)."""

    ts_ns: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    buy_volume: np.ndarray

    def __len__(self) -> int:
        return len(self.ts_ns)


__all__ = ["Bars", "Books", "Liquidations", "Quotes", "Trades", "VenueSeries"]
