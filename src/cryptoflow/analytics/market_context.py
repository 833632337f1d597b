"""Order-book shape and "now vs history" statistics: pure functions over lists of numbers.

Book conventions: levels best first; depth "within x bps" counts levels whose price lies within
x bps of the mid on each side; imbalance = (bid - ask) / (bid + ask) in [-1, 1], positive when
the bid side is heavier.

Price context: a current price against a series of bar closes: percentile (share of closes at or
below now), z-score against their mean and standard deviation, position in the high-low range,
change since the first bar, and realized volatility from log returns of the closes, annualized
with the bar length (sqrt of bars per year).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

SECONDS_PER_YEAR = 365.0 * 86400.0


@dataclass(frozen=True, slots=True)
class DepthBand:
    bps: float
    bid_qty: float
    ask_qty: float
    bid_notional: float
    ask_notional: float
    imbalance: float | None
    bid_levels: int
    ask_levels: int
    complete: bool  # False when the stored levels end inside the band (true depth is larger)


@dataclass(frozen=True, slots=True)
class PriceContext:
    now: float
    bars: int
    mean: float
    std: float | None
    zscore: float | None
    percentile: float  # 0..100, share of closes <= now
    low: float
    high: float
    range_position: float | None  # 0 at the low, 1 at the high
    change_pct: float | None  # vs the first close (None if it was 0)
    realized_vol_annualized: float | None


def imbalance(bid_qtys: Sequence[float], ask_qtys: Sequence[float], levels: int | None = None) -> float | None:
    """(bid - ask) / (bid + ask) over the top ``levels`` (all when None); None for an empty book."""
    b = sum(bid_qtys[:levels])
    a = sum(ask_qtys[:levels])
    return (b - a) / (b + a) if b + a > 0 else None


def depth_bands(
    bid_prices: Sequence[float], bid_qtys: Sequence[float], ask_prices: Sequence[float],
    ask_qtys: Sequence[float], bands_bps: Sequence[float],
) -> list[DepthBand]:
    """Size resting within each of ``bands_bps`` of the mid, per side."""
    if not bid_prices or not ask_prices:
        return []
    mid = (bid_prices[0] + ask_prices[0]) / 2.0
    out = []
    for bps in bands_bps:
        lo, hi = mid * (1 - bps / 1e4), mid * (1 + bps / 1e4)
        bq = bn = aq = an = 0.0
        nb = na = 0
        for p, q in zip(bid_prices, bid_qtys, strict=False):
            if p < lo:
                break
            bq, bn, nb = bq + q, bn + p * q, nb + 1
        for p, q in zip(ask_prices, ask_qtys, strict=False):
            if p > hi:
                break
            aq, an, na = aq + q, an + p * q, na + 1
        complete = (nb < len(bid_prices) or bid_prices[-1] < lo) and (na < len(ask_prices) or ask_prices[-1] > hi)
        out.append(DepthBand(bps, bq, aq, bn, an, (bq - aq) / (bq + aq) if bq + aq > 0 else None, nb, na,
                             complete))
    return out


def price_context(now: float, closes: Sequence[float], lows: Sequence[float], highs: Sequence[float],
                  bar_seconds: float) -> PriceContext:
    """Statistics of ``now`` against bars (``closes``, ``lows``, ``highs`` oldest first)."""
    n = len(closes)
    if n == 0:
        raise ValueError("price_context needs at least one bar")
    mean = sum(closes) / n
    std = math.sqrt(sum((c - mean) ** 2 for c in closes) / (n - 1)) if n > 1 else None
    low, high = min(min(lows), now), max(max(highs), now)
    rets = [math.log(b / a) for a, b in itertools.pairwise(closes) if a > 0 and b > 0]
    vol = None
    if len(rets) > 1:
        m = sum(rets) / len(rets)
        sd = math.sqrt(sum((r - m) ** 2 for r in rets) / (len(rets) - 1))
        vol = sd * math.sqrt(SECONDS_PER_YEAR / bar_seconds)
    return PriceContext(
        now=now, bars=n, mean=mean, std=std,
        zscore=(now - mean) / std if std else None,
        percentile=100.0 * sum(1 for c in closes if c <= now) / n,
        low=low, high=high,
        range_position=(now - low) / (high - low) if high > low else None,
        change_pct=(now / closes[0] - 1.0) * 100.0 if closes[0] else None,
        realized_vol_annualized=vol,
    )
