"""The time-series engine's questions on stored series: load one series, run one engine, Report.

``series`` is one of ``data.SERIES_KINDS`` (price, volume, trade_count, delta, spread_bps, funding,
open_interest, liquidations), bucketed by ``interval_s``. Same window rules as
``analytics.pipelines``: explicit ``start``/``end``, or ``lookback_s`` back from the newest row.
"""

from __future__ import annotations

import numpy as np

from cryptoflow.analytics import data
from cryptoflow.analytics.explain import Report, Window
from cryptoflow.analytics.ts import anomalies, changepoints, features, seasonality
from cryptoflow.errors import QueryError
from cryptoflow.store.lake import Lake
from cryptoflow.store.queries import TimeLike

NS = 1_000_000_000


def load(lake: Lake, series: str, venue: str, symbol: str, market: str, start: TimeLike, end: TimeLike,
         lookback_s: float, interval_s: float, min_points: int = 10) -> tuple[np.ndarray, np.ndarray, Window, str]:
    """(ts_ns, values, window, description) of one stored series; raises ``QueryError`` when too short."""
    if series not in data.SERIES_KINDS:
        raise QueryError(f"unknown series {series!r}; series are: {', '.join(data.SERIES_KINDS)}")
    if market == "spot" and series in ("funding", "open_interest", "liquidations"):
        raise QueryError(f"{series} exists for perps only")
    s, e = data.resolve_window(lake, data.SERIES_TABLES[series], symbol, venue, market, start, end, lookback_s)
    t, x = data.load_series(lake, series, venue, symbol, market, s, e, int(interval_s * NS))
    desc = f"{series} ({data.SERIES_KINDS[series]}), {interval_s:g}s buckets"
    if len(x) < min_points:
        raise QueryError(f"only {len(x)} {interval_s:g}s points of {series} for {venue} {market} {symbol} in the "
                         f"window; need {min_points}: widen the lookback or shorten the interval")
    return t, x, Window(start_ns=s, end_ns=e, observations=len(x), resolution=f"{interval_s:g}s buckets"), desc


def _inputs(series: str, venue: str, symbol: str, market: str, interval_s: float, **kw: object) -> dict:
    return {"series": series, "venue": venue, "symbol": symbol, "market": market, "interval_s": interval_s, **kw}


def detect_anomalies(lake: Lake, venue: str, symbol: str, series: str = "price", market: str = "perp",
                     start: TimeLike = None, end: TimeLike = None, lookback_s: float = 86_400, interval_s: float = 60,
                     methods: tuple[str, ...] = anomalies.METHODS, min_votes: int = anomalies.MIN_VOTES,
                     on_returns: bool | None = None) -> Report:
    """Anomalies of a series (or of its changes: prices are tested on their returns by default)."""
    t, x, w, desc = load(lake, series, venue, symbol, market, start, end, lookback_s, interval_s)
    use_returns = (series == "price") if on_returns is None else on_returns
    if use_returns:
        x, t, desc = np.diff(np.log(x)) if np.all(x > 0) else np.diff(x), t[1:], f"changes of {desc}"
    r = anomalies.detect(x, t, tuple(methods), min_votes, series=desc)
    return Report(name="anomalies", metrics={"anomalies": r}, window=w,
                  inputs=_inputs(series, venue, symbol, market, interval_s, on_returns=use_returns))


def detect_change_points(lake: Lake, venue: str, symbol: str, series: str = "price", market: str = "perp",
                         start: TimeLike = None, end: TimeLike = None, lookback_s: float = 86_400,
                         interval_s: float = 60, method: str = "pelt",
                         penalty: float = changepoints.PENALTY_BIC) -> Report:
    """Level shifts of a series by CUSUM, binary segmentation or PELT (or all three)."""
    t, x, w, desc = load(lake, series, venue, symbol, market, start, end, lookback_s, interval_s, min_points=30)
    r = changepoints.detect(x, t, method, penalty, series=desc)
    return Report(name="change_points", metrics={"change_points": r}, window=w,
                  inputs=_inputs(series, venue, symbol, market, interval_s, method=method))


def analyze_seasonality(lake: Lake, venue: str, symbol: str, series: str = "volume", market: str = "perp",
                        start: TimeLike = None, end: TimeLike = None, lookback_s: float = 7 * 86_400,
                        interval_s: float = 300, period_s: float | None = None) -> Report:
    """Dominant periods (FFT) and an STL decomposition at the top (or given) period."""
    _t, x, w, _desc = load(lake, series, venue, symbol, market, start, end, lookback_s, interval_s, min_points=24)
    fft = seasonality.fft_periods(x, interval_s)
    m = {"fft_periods": fft}
    notes = []
    period = period_s if period_s is not None else fft.value
    if period:
        p = round(period / interval_s)
        m["stl"] = seasonality.stl(x, p, interval_s)
    else:
        notes.append("no period to decompose at")
    return Report(name="seasonality", metrics=m, window=w, notes=notes,
                  inputs=_inputs(series, venue, symbol, market, interval_s, period_s=period_s))


def extract_features(lake: Lake, venue: str, symbol: str, series: str = "price", market: str = "perp",
                     start: TimeLike = None, end: TimeLike = None, lookback_s: float = 86_400, interval_s: float = 60,
                     groups: tuple[str, ...] = features.GROUPS) -> Report:
    """40+ features of a series (statistical, distribution, trend, volatility, autocorrelation, complexity)."""
    t, x, w, desc = load(lake, series, venue, symbol, market, start, end, lookback_s, interval_s)
    r = features.extract(x, t, tuple(groups), series=desc)
    return Report(name="features", metrics={"features": r}, window=w,
                  inputs=_inputs(series, venue, symbol, market, interval_s, groups=list(groups)))


__all__ = ["analyze_seasonality", "detect_anomalies", "detect_change_points", "extract_features", "load"]
