"""Forecast targets: what is forecast, on which scale the models work, and how ticks become bars.

Why the transforms: prices are modelled as log returns (stationary, scale-free) and reconstructed
to prices, so "the naive forecast" is the last price and intervals widen like a random walk's.
Strictly positive quantities (realized volatility, open interest, spread) are modelled in logs so
intervals stay positive; funding rates (signed, small) are modelled as they are.

Every series is put on a regular grid (one value per ``interval`` bucket); empty buckets are
filled with the last value and counted in ``filled`` so the router can see irregular data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from cryptoflow.events import INTERVALS_NS
from cryptoflow.forecast.zoo import ForecastError

if TYPE_CHECKING:
    from cryptoflow.store.lake import Lake

Target = Literal["price", "volatility", "funding", "oi", "spread", "level"]
TransformKind = Literal["log_return", "log", "none"]
TARGET_TRANSFORM: dict[str, TransformKind] = {
    "price": "log_return", "volatility": "log", "funding": "none", "oi": "log", "spread": "log", "level": "none",
}
# season lengths worth testing per bar interval (bars per hour / day / week)
SEASON_CANDIDATES: dict[str, tuple[int, ...]] = {
    "1s": (60,), "1m": (60, 1440), "3m": (20, 480), "5m": (12, 288), "15m": (4, 96), "30m": (48,),
    "1h": (24, 168), "2h": (12, 84), "4h": (6, 42), "1d": (7,),
}
GENERIC_SEASONS = (7, 12, 24)

Exog = dict[str, np.ndarray]


@dataclass(slots=True)
class TargetSeries:
    """One regular series in target space, plus optional aligned exogenous columns.

    ``values[i]`` is the value of bucket ``ts_ns[i]``; ``exog[name][i]`` is known at the end of that
    bucket. ``key`` identifies the series in the registry (venue:symbol:market:target:interval).
    """

    values: np.ndarray
    target: str = "level"
    interval: str | None = None
    ts_ns: np.ndarray | None = None
    exog: Exog = field(default_factory=dict)
    filled: np.ndarray | None = None
    key: str = "series"

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64)
        if self.values.ndim != 1:
            raise ForecastError("a series must be one-dimensional")
        if self.target not in TARGET_TRANSFORM:
            raise ForecastError(f"unknown target {self.target!r}; targets are: {', '.join(TARGET_TRANSFORM)}")
        if not np.all(np.isfinite(self.values)):
            raise ForecastError("series contains NaN or infinite values; fill or drop them first")
        if self.transform.kind in ("log_return", "log") and np.any(self.values <= 0):
            raise ForecastError(f"target {self.target} must be strictly positive (it is modelled in logs)")
        n = len(self.values)
        for k, v in self.exog.items():
            if len(v) != n:
                raise ForecastError(f"exogenous column {k!r} has {len(v)} values, the series {n}")

    @property
    def transform(self) -> Transform:
        return Transform(TARGET_TRANSFORM[self.target])

    @property
    def step_ns(self) -> int | None:
        if self.interval in INTERVALS_NS:
            return INTERVALS_NS[self.interval]
        if self.ts_ns is not None and len(self.ts_ns) > 1:
            return int(np.median(np.diff(self.ts_ns)))
        return None

    @property
    def filled_fraction(self) -> float:
        return 0.0 if self.filled is None or len(self.filled) == 0 else float(np.mean(self.filled))

    def __len__(self) -> int:
        return len(self.values)

    def head(self, end: int, start: int = 0) -> TargetSeries:
        """The sub-series ``[start, end)`` (used by the backtest: nothing after ``end`` is visible)."""
        return TargetSeries(
            self.values[start:end], self.target, self.interval,
            None if self.ts_ns is None else self.ts_ns[start:end],
            {k: v[start:end] for k, v in self.exog.items()},
            None if self.filled is None else self.filled[start:end], self.key)

    def future_ts(self, h: int) -> np.ndarray | None:
        step = self.step_ns
        if self.ts_ns is None or step is None or len(self.ts_ns) == 0:
            return None
        return int(self.ts_ns[-1]) + step * np.arange(1, h + 1, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Transform:
    """Target space <-> model space. ``log_return``: z_i = log y_{i+1} - log y_i (one shorter);
    ``log``: z = log y; ``none``: z = y. ``interval space`` (log for positive targets) is where
    errors are measured for conformal/bootstrap intervals, so they scale with the level."""

    kind: TransformKind

    def to_model(self, y: np.ndarray) -> np.ndarray:
        if self.kind == "log_return":
            return np.diff(np.log(y))
        if self.kind == "log":
            return np.log(y)
        return y

    def align(self, col: np.ndarray) -> np.ndarray:
        """Align an exogenous column (target-space length) with the model-space series."""
        return col[1:] if self.kind == "log_return" else col

    @property
    def cumulative(self) -> bool:
        return self.kind == "log_return"

    def to_ispace(self, y: np.ndarray) -> np.ndarray:
        return np.log(y) if self.kind in ("log_return", "log") else y

    def from_ispace(self, z: np.ndarray) -> np.ndarray:
        return np.exp(z) if self.kind in ("log_return", "log") else z

    def mean_to_target(self, z_mean: np.ndarray, y_hist: np.ndarray) -> np.ndarray:
        """Model-space point forecast -> target space (for log_return: last log price + cumulated returns)."""
        if self.kind == "log_return":
            return np.exp(np.log(y_hist[-1]) + np.cumsum(z_mean))
        if self.kind == "log":
            return np.exp(z_mean)
        return np.asarray(z_mean, dtype=np.float64)

    def band_to_target(self, z_mean: np.ndarray, z_lo: np.ndarray, z_hi: np.ndarray, y_hist: np.ndarray,
                       level: int) -> tuple[np.ndarray, np.ndarray]:
        """Model-space interval -> target space. For returns the per-step half-widths are turned into
        standard deviations and cumulated (independent steps, as in a random walk)."""
        if self.kind == "log_return":
            from scipy.stats import norm

            z = float(norm.ppf(0.5 + level / 200.0))
            sd = np.maximum(z_hi - z_lo, 0.0) / (2.0 * z)
            cum_sd = np.sqrt(np.cumsum(sd**2))
            centre = np.log(y_hist[-1]) + np.cumsum(z_mean)
            return np.exp(centre - z * cum_sd), np.exp(centre + z * cum_sd)
        if self.kind == "log":
            return np.exp(z_lo), np.exp(z_hi)
        return np.asarray(z_lo, dtype=np.float64), np.asarray(z_hi, dtype=np.float64)


def interval_ns(interval: str) -> int:
    if interval not in INTERVALS_NS:
        raise ForecastError(f"unknown interval {interval!r}; intervals are: {', '.join(INTERVALS_NS)}")
    return INTERVALS_NS[interval]


def bars_from_ticks(ts_ns: np.ndarray, values: np.ndarray, interval: str,
                    how: Literal["last", "mean", "sum", "max", "min"] = "last",
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resample irregular ticks to a regular grid of ``interval`` buckets (epoch-aligned).

    Returns (bucket start ns, value, filled mask). Empty buckets get the previous value
    (``sum`` -> 0), and are flagged in the mask so callers can judge regularity.
    """
    step = interval_ns(interval)
    ts = np.asarray(ts_ns, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    if len(ts) == 0:
        raise ForecastError("no ticks to resample")
    order = np.argsort(ts, kind="stable")
    ts, v = ts[order], v[order]
    b = ts // step
    first, last = int(b[0]), int(b[-1])
    idx = b - first
    n = last - first + 1
    uniq, starts = np.unique(idx, return_index=True)
    if how == "last":
        ends = np.r_[starts[1:], len(idx)] - 1
        agg = v[ends]
    elif how == "sum":
        agg = np.add.reduceat(v, starts)
    elif how == "mean":
        agg = np.add.reduceat(v, starts) / np.diff(np.r_[starts, len(idx)])
    elif how == "max":
        agg = np.maximum.reduceat(v, starts)
    elif how == "min":
        agg = np.minimum.reduceat(v, starts)
    else:
        raise ForecastError(f"unknown aggregation {how!r}")
    out = np.full(n, np.nan)
    out[uniq] = agg
    filled = np.isnan(out)
    if how == "sum":
        out[filled] = 0.0
    else:
        pos = np.where(~filled, np.arange(n), 0)
        np.maximum.accumulate(pos, out=pos)
        out = out[pos]
    return (first + np.arange(n, dtype=np.int64)) * step, out, filled


def realized_volatility(ts_ns: np.ndarray, prices: np.ndarray, interval: str, sub_interval: str = "1m",
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Realized volatility per ``interval`` bar: sqrt of the sum of squared ``sub_interval`` log
    returns inside the bar (sampling on a sub-grid keeps bid-ask bounce out of tick returns)."""
    sub_ts, sub_p, _ = bars_from_ticks(ts_ns, prices, sub_interval, "last")
    r2 = np.r_[0.0, np.diff(np.log(sub_p)) ** 2]
    ts, rv2, filled = bars_from_ticks(sub_ts, r2, interval, "sum")
    return ts, np.sqrt(rv2), filled


def parkinson_volatility(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Range-based per-bar volatility (Parkinson 1980): sqrt(ln(H/L)^2 / (4 ln 2)); uses only OHLC."""
    hl = np.log(np.asarray(high, dtype=np.float64) / np.asarray(low, dtype=np.float64))
    return np.sqrt(hl**2 / (4.0 * np.log(2.0)))


def _rows_to_grid(rows: list[dict[str, Any]], col: str, interval: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts = np.array([r["ts_ns"] for r in rows], dtype=np.int64)
    v = np.array([np.nan if r[col] is None else float(r[col]) for r in rows])
    keep = np.isfinite(v)
    if not keep.any():
        raise ForecastError(f"no {col} values in range")
    return bars_from_ticks(ts[keep], v[keep], interval, "last")


def load_target(lake: Lake, target: str, venue: str, symbol: str, market: str = "perp", interval: str = "1m",
                start: Any = None, end: Any = None, limit: int = 5000) -> TargetSeries:
    """Build a target series from stored data (most recent ``limit`` buckets in range).

    price: trade closes; volatility: Parkinson range volatility of trade bars (positive floor for
    flat bars); funding: latest rate per bucket; oi: open interest in base units; spread: top-of-book
    spread (bps) from stored book snapshots.
    """
    from cryptoflow.store import queries as q

    key = f"{venue}:{symbol}:{market}:{target}:{interval}"
    if target in ("price", "volatility"):
        rows = q.ohlcv(lake, venue, symbol, market, interval, start, end, limit)
        if not rows:
            raise ForecastError(f"no trades stored for {venue} {symbol} {market} in range")
        if target == "price":
            ts, v, filled = _rows_to_grid(rows, "close", interval)
        else:
            ts0 = np.array([r["ts_ns"] for r in rows], dtype=np.int64)
            pv = parkinson_volatility(np.array([r["high"] for r in rows]), np.array([r["low"] for r in rows]))
            floor = max(float(np.median(pv[pv > 0])) * 0.05, 1e-9) if np.any(pv > 0) else 1e-9
            ts, v, filled = bars_from_ticks(ts0, np.maximum(pv, floor), interval, "last")
    elif target == "funding":
        ts, v, filled = _rows_to_grid(q.funding_history(lake, symbol, venue, start, end, interval, limit), "rate",
                                      interval)
    elif target == "oi":
        ts, v, filled = _rows_to_grid(q.oi_history(lake, symbol, venue, start, end, interval, limit), "oi_base",
                                      interval)
    elif target == "spread":
        snaps = q.book_snapshots(lake, venue, symbol, market, start, end, depth=1, limit=min(100_000, limit * 50))
        rows = [{"ts_ns": s["ts_ns"], "spread": _spread_bps(s)} for s in snaps]
        ts, v, filled = _rows_to_grid(rows, "spread", interval)
        v = np.maximum(v, 1e-6)
    else:
        raise ForecastError(f"target {target!r} cannot be loaded; use price, volatility, funding, oi or spread")
    return TargetSeries(v[-limit:], target, interval, ts[-limit:], {}, filled[-limit:], key)


def _spread_bps(snap: Mapping[str, Any]) -> float | None:
    bids, asks = snap.get("bid_prices") or [], snap.get("ask_prices") or []
    if not bids or not asks:
        return None
    mid = (bids[0] + asks[0]) / 2.0
    return (asks[0] - bids[0]) / mid * 1e4 if mid > 0 else None
