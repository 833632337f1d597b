"""Exogenous order-flow features from the lake, aligned to a target series' buckets without look-ahead.

Features (``FEATURES``), each the value *known at the end of bucket i* (exchange time ``ts_ns <
bucket start + interval``), forward-filled from the latest observation before that end:

- ``funding``: the latest funding rate (fraction per funding interval). Perps only.
- ``oi_change``: relative change of open interest over the bucket: OI known at the bucket's end /
  OI known at its start - 1 (base units; contracts or notional when a venue sends only those). Perps only.
- ``cvd_delta``: taker buy minus taker sell quantity of the trades inside the bucket (base units).
- ``cvd``: cumulative volume delta, the running sum of ``cvd_delta`` from the window's first bucket
  (its level depends on where the window starts; its changes do not).
- ``book_imbalance``: (bid qty - ask qty) / (bid qty + ask qty) over the top ``book_depth`` levels
  of the latest stored book snapshot before the bucket's end (-1 all asks .. +1 all bids).

Why "known at the bucket's end": a forecast made at the end of bucket i may use bucket i's
features, never later ones; deleting every row after bucket i leaves features 0..i unchanged (the
tests check exactly that). The ML models lag these columns further by the horizon (see ``ml.py``).

Buckets before a feature's first observation are unknown (NaN), never invented: ``attach_exog``
drops those leading buckets from the series (and says how many), so models see only real values.
Funding and OI are looked up to ``LOOKBACK_NS`` before the window, so a value set shortly before
it carries in. Data come from the named queries in ``store.queries`` (funding_history, oi_history,
trade_flow) and one parameterized per-bucket imbalance query below (a candidate for store/queries.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from cryptoflow.forecast.targets import TargetSeries, interval_ns
from cryptoflow.forecast.zoo import ForecastError

if TYPE_CHECKING:
    from cryptoflow.store.lake import Lake

log = logging.getLogger(__name__)

FEATURES: dict[str, str] = {
    "funding": "latest funding rate known at the bar's end (fraction per funding interval)",
    "oi_change": "relative change of open interest over the bar (OI at its end / OI at its start - 1)",
    "cvd_delta": "taker buy - taker sell quantity in the bar (base units)",
    "cvd": "cumulative volume delta from the first bar of the window (base units)",
    "book_imbalance": "(bid qty - ask qty) / (bid + ask qty) over the top book levels, latest snapshot in the bar",
}
PERP_ONLY = ("funding", "oi_change")
LOOKBACK_NS = 24 * 3_600_000_000_000
EPOCH = datetime(1970, 1, 1)
MAX_ROWS = 100_000  # store.queries' row limit

# Latest top-of-book imbalance per bucket. Identifiers are constants (ALIAS); values are bound.
IMBALANCE_SQL = """
    SELECT bucket AS ts_ns, arg_max(imbalance, ts_ns) AS imbalance, count(*) AS samples FROM (
      SELECT ts_ns // $step * $step AS bucket, ts_ns,
             (list_sum(bid_qtys[1:$depth]) - list_sum(ask_qtys[1:$depth]))
               / NULLIF(list_sum(bid_qtys[1:$depth]) + list_sum(ask_qtys[1:$depth]), 0) AS imbalance
      FROM {alias}.book_snapshots
      WHERE venue = $venue AND symbol = $symbol AND market = $market AND ts >= $start AND ts < $end)
    WHERE imbalance IS NOT NULL
    GROUP BY bucket ORDER BY bucket"""


@dataclass
class ExogFrame:
    """Feature columns aligned to ``ts_ns`` (bucket starts), NaN where not yet known, and a reason for
    every requested feature that could not be loaded."""

    ts_ns: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def first_known(self) -> int:
        """First bucket from which every column is known (len(ts_ns) if never)."""
        first = 0
        for v in self.columns.values():
            ok = np.flatnonzero(np.isfinite(v))
            first = max(first, int(ok[0]) if len(ok) else len(v))
        return first


def resolve_features(features: Sequence[str] | bool | None) -> tuple[list[str], bool]:
    """``True`` / ``["all"]`` -> every feature (those without data are then skipped, not an error);
    a list -> exactly those (each must load). Returns (names, strict)."""
    if features is True or (not isinstance(features, bool) and features and "all" in features):
        return list(FEATURES), False
    if not features:
        return [], True
    names = list(dict.fromkeys(str(f) for f in features))  # type: ignore[union-attr]
    unknown = [f for f in names if f not in FEATURES]
    if unknown:
        raise ForecastError(f"unknown exogenous feature(s) {', '.join(unknown)}; features are: "
                            f"{', '.join(FEATURES)} (or 'all')")
    return names, True


def known_before(obs_ts: np.ndarray, obs_v: np.ndarray, t: np.ndarray, step: int) -> np.ndarray:
    """Value of the latest per-bucket observation whose bucket ``[b, b + step)`` ends at or before each
    time in ``t`` (an as-of join on bucket ends): what was known at ``t``; NaN before the first."""
    keep = np.isfinite(obs_v)
    ts, v = np.asarray(obs_ts, dtype=np.int64)[keep], obs_v[keep]
    idx = np.searchsorted(ts + step, t, side="right") - 1
    out = np.full(len(t), np.nan)
    ok = idx >= 0
    out[ok] = v[idx[ok]]
    return out


def _rows(rows: list[dict[str, Any]], col: str) -> tuple[np.ndarray, np.ndarray]:
    ts = np.array([r["ts_ns"] for r in rows], dtype=np.int64)
    v = np.array([np.nan if r.get(col) is None else float(r[col]) for r in rows], dtype=np.float64)
    return ts, v


def _limit(start: int, end: int, step: int) -> int:
    return int(min(MAX_ROWS, (end - start) // step + 2))


def _funding(lake: Lake, venue: str, symbol: str, ends: np.ndarray, start: int, end: int, interval: str,
             step: int) -> np.ndarray | None:
    from cryptoflow.store import queries as q

    rows = q.funding_history(lake, symbol, venue, start, end, interval, _limit(start, end, step))
    if not rows:
        return None
    ts, v = _rows(rows, "rate")
    return known_before(ts, v, ends, step)


def _oi_change(lake: Lake, venue: str, symbol: str, starts: np.ndarray, ends: np.ndarray, start: int, end: int,
               interval: str, step: int) -> np.ndarray | None:
    from cryptoflow.store import queries as q

    rows = q.oi_history(lake, symbol, venue, start, end, interval, _limit(start, end, step))
    for col in ("oi_base", "oi_contracts", "oi_notional"):  # one unit for the whole window
        ts, v = _rows(rows, col)
        v[v <= 0] = np.nan
        if np.isfinite(v).any():
            at_end, at_start = known_before(ts, v, ends, step), known_before(ts, v, starts, step)
            return at_end / at_start - 1.0
    return None


def _cvd_delta(lake: Lake, venue: str, symbol: str, market: str, starts: np.ndarray, end: int, interval: str,
               step: int) -> np.ndarray | None:
    from cryptoflow.store import queries as q

    start = int(starts[0])
    rows = q.trade_flow(lake, symbol, interval, start, end, venue, market, _limit(start, end, step))
    if not rows:
        return None
    ts, d = _rows(rows, "delta")
    out = np.zeros(len(starts))
    pos = np.searchsorted(starts, ts)
    hit = (pos < len(starts)) & (starts[np.minimum(pos, len(starts) - 1)] == ts)
    out[pos[hit]] = d[hit]
    out[starts < ts.min()] = np.nan  # before the first stored trade: flow unknown, not zero
    return out


def _imbalance(lake: Lake, venue: str, symbol: str, market: str, ends: np.ndarray, start: int, end: int,
               step: int, depth: int) -> np.ndarray | None:
    import duckdb

    from cryptoflow.errors import StoreError
    from cryptoflow.store.queries import to_utc_naive
    from cryptoflow.store.schema import ALIAS
    from cryptoflow.store.views import check_market, check_symbol, check_venue

    if not 1 <= depth <= 1000:
        raise ForecastError(f"book_depth must be from 1 to 1000, got {depth}")
    params = {"venue": check_venue(venue), "symbol": check_symbol(symbol), "market": check_market(market),
              "step": step, "depth": int(depth), "start": to_utc_naive(max(start, 0), EPOCH),
              "end": to_utc_naive(end, EPOCH)}
    with lake.cursor() as cur:
        try:
            rows = cur.execute(IMBALANCE_SQL.format(alias=ALIAS), params).fetchall()
        except duckdb.Error as exc:
            raise StoreError(f"book imbalance query failed: {exc}") from exc
    if not rows:
        return None
    ts = np.array([r[0] for r in rows], dtype=np.int64)
    v = np.array([np.nan if r[1] is None else float(r[1]) for r in rows])
    return known_before(ts, v, ends, step)


def load_exog(lake: Lake, venue: str, symbol: str, market: str, interval: str, ts_ns: np.ndarray,
              features: Sequence[str] | bool | None = True, book_depth: int = 5) -> ExogFrame:
    """Order-flow features for the buckets starting at ``ts_ns`` (sorted, ``interval`` apart or more),
    each known at its bucket's end. A requested feature without data is an error when named
    explicitly, and listed in ``missing`` when asked for as ``True`` / ``'all'``."""
    names, strict = resolve_features(features)
    step = interval_ns(interval)
    starts = np.asarray(ts_ns, dtype=np.int64)
    if len(starts) == 0:
        raise ForecastError("no buckets to align exogenous features to")
    ends = starts + step
    end = int(ends[-1])
    back = int(starts[0]) - max(LOOKBACK_NS, step)
    frame = ExogFrame(starts)
    for name in names:
        col: np.ndarray | None
        if name in PERP_ONLY and market != "perp":
            col, why = None, f"{name} exists only for perpetuals"
        else:
            if name == "funding":
                col = _funding(lake, venue, symbol, ends, back, end, interval, step)
            elif name == "oi_change":
                col = _oi_change(lake, venue, symbol, starts, ends, back, end, interval, step)
            elif name in ("cvd_delta", "cvd"):
                col = _cvd_delta(lake, venue, symbol, market, starts, end, interval, step)
                if col is not None and name == "cvd":
                    known = np.isfinite(col)
                    col = np.where(known, np.cumsum(np.where(known, col, 0.0)), np.nan)
            else:
                col = _imbalance(lake, venue, symbol, market, ends, back, end, step, book_depth)
            why = f"no {name} data stored for {venue} {symbol} {market} in the window"
        if col is None or not np.isfinite(col).any():
            if strict:
                raise ForecastError(f"exogenous feature {name}: {why}")
            frame.missing[name] = why
            continue
        frame.columns[name] = col
    return frame


def attach_exog(lake: Lake, series: TargetSeries, venue: str, symbol: str, market: str,
                features: Sequence[str] | bool | None = True, book_depth: int = 5, min_points: int = 30,
                ) -> tuple[TargetSeries, list[str]]:
    """``series`` with order-flow columns added (see ``load_exog``), its leading buckets where a feature
    is not yet known dropped. Returns the new series and notes for the user (skipped features,
    dropped buckets)."""
    if series.ts_ns is None or series.interval is None:
        raise ForecastError("exogenous features need a series with bucket times and an interval")
    frame = load_exog(lake, venue, symbol, market, series.interval, series.ts_ns, features, book_depth)
    notes = [f"exogenous {k} not used: {why}" for k, why in frame.missing.items()]
    if not frame.columns:
        return series, notes
    first = frame.first_known()
    n = len(series)
    if n - first < min_points:
        late = max(frame.columns, key=lambda k: int(np.argmax(np.isfinite(frame.columns[k]))))
        raise ForecastError(f"exogenous feature {late} is known for only {n - first} of {n} bars "
                            f"(needs {min_points}); too few with it: drop it or collect longer")
    if first:
        notes.append(f"first {first} bars dropped: not every exogenous feature was known yet there")
    out = series.head(n, first)
    out.exog.update({k: v[first:] for k, v in frame.columns.items()})
    log.debug("exog %s for %s: %d bars from %d", list(frame.columns), series.key, len(out), first)
    return out, notes


def order_flow_columns(series: TargetSeries) -> list[str]:
    """The order-flow feature columns a series carries (calendar and other columns excluded)."""
    return [k for k in FEATURES if k in series.exog]
