"""Ensembles: mean, median and inverse-error weighted combinations of zoo models.

Why backtest the combination itself: an ensemble is a model too, so its skill against naive and its
interval coverage are measured on the same rolling origins as its members. Inverse-error weights at
an origin use only member errors from earlier origins whose outcomes were already known (equal
weights until then), so the ensemble's backtest has no look-ahead either.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from copy import copy
from typing import Any, Literal

import numpy as np

from cryptoflow.forecast import intervals as iv
from cryptoflow.forecast.backtest import BacktestResult, backtest, score_backtest
from cryptoflow.forecast.router import profile
from cryptoflow.forecast.service import DEFAULT_LEVELS, final_fit, skill_sentence, with_calendar
from cryptoflow.forecast.targets import TargetSeries
from cryptoflow.forecast.zoo import ForecastError, get_spec

Method = Literal["mean", "median", "inverse_error"]
METHODS = ("mean", "median", "inverse_error")


def _weights(maes: np.ndarray) -> np.ndarray:
    inv = 1.0 / np.maximum(maes, 1e-300)
    return inv / inv.sum()


def _combine(stack: np.ndarray, method: str, w: np.ndarray | None) -> np.ndarray:
    """stack: members x h."""
    if method == "median":
        return np.median(stack, axis=0)
    if method == "inverse_error" and w is not None:
        return np.tensordot(w, stack, axes=1)
    return stack.mean(axis=0)


def combine_backtests(results: Sequence[BacktestResult], method: str = "mean", ispace: Any = None,
                      ) -> BacktestResult:
    """The ensemble's own backtest from members backtested on identical origins. ``ispace`` is the
    target transform (combination happens in interval space: log for positive targets)."""
    if method not in METHODS:
        raise ForecastError(f"unknown ensemble method {method!r}; methods are: {', '.join(METHODS)}")
    base = results[0]
    if any(not np.array_equal(r.origins, base.origins) or r.h != base.h for r in results):
        raise ForecastError("ensemble members must be backtested on the same origins and horizon")
    to_i = ispace.to_ispace if ispace is not None else (lambda x: x)
    from_i = ispace.from_ispace if ispace is not None else (lambda x: x)
    n_o, h = base.pred.shape
    ends = base.origins + h - 1
    abs_err = np.stack([np.nanmean(np.abs(r.actual - r.pred), axis=1) for r in results])  # members x origins
    out = copy(base)
    out.model = f"ensemble[{method}]({', '.join(r.model for r in results)})"
    out.pred = np.empty_like(base.pred)
    out.lo = {lv: np.full_like(base.pred, np.nan) for lv in base.levels}
    out.hi = {lv: np.full_like(base.pred, np.nan) for lv in base.levels}
    all_native = all(r.interval_method == "native" for r in results)
    for k in range(n_o):
        known = ends < base.origins[k]
        w = _weights(abs_err[:, known].mean(axis=1)) if method == "inverse_error" and known.any() else None
        out.pred[k] = from_i(_combine(np.stack([to_i(r.pred[k]) for r in results]), method, w))
        if all_native:
            for lv in base.levels:
                out.lo[lv][k] = from_i(_combine(np.stack([to_i(r.lo[lv][k]) for r in results]), method, w))
                out.hi[lv][k] = from_i(_combine(np.stack([to_i(r.hi[lv][k]) for r in results]), method, w))
    if not all_native:
        lo_i, hi_i = iv.sequential_bands("conformal", base.origins, h, to_i(out.pred), to_i(base.actual), base.levels)
        out.lo = {lv: from_i(lo_i[lv]) for lv in base.levels}
        out.hi = {lv: from_i(hi_i[lv]) for lv in base.levels}
    out.interval_method = "combined native" if all_native else "conformal"
    out.errors_i = to_i(base.actual) - to_i(out.pred)
    out.seconds = sum(r.seconds for r in results)
    out.refits = sum(r.refits for r in results)
    out.warnings = [w for r in results for w in r.warnings]
    out.fitted = None
    score_backtest(out, False)
    return out


def forecast_ensemble(series: TargetSeries, models: Sequence[str] | None = None, method: str = "inverse_error",
                      horizon: int = 12, levels: Sequence[int] = DEFAULT_LEVELS, n_origins: int = 20,
                      strategy: str = "expanding", time_budget_s: float | None = 30.0) -> dict[str, Any]:
    """Forecast with a combination of models; reports the ensemble's and each member's backtest.
    Default members: Naive, Theta and (when seasonal) SeasonalNaive - cheap and diverse."""
    t0 = time.perf_counter()
    prof = profile(series)
    names = [get_spec(m).name for m in (models or ["Naive", "Theta"] + (["SeasonalNaive"] if prof.season_length > 1
                                                                         else []))]
    if len(names) < 2:
        raise ForecastError("an ensemble needs at least two models")
    min_train = max(max(get_spec(n).min_length for n in names), 2 * prof.season_length + 2, 30)
    tf = series.transform
    members, finals = [], []
    for n in names:
        s = with_calendar(series, n)
        season = prof.season_length if get_spec(n).seasonal else 1
        bt = backtest(s, n, horizon, strategy, n_origins, levels=levels, season_length=season, min_train=min_train,
                      time_budget_s=time_budget_s)
        members.append(bt)
        point, bands, _ = final_fit(s, n, horizon, levels, season, {}, 1000, bt)
        finals.append((point, bands))
    ens = combine_backtests(members, method, tf)
    maes = np.array([np.nanmean(np.abs(m.actual - m.pred)) for m in members])
    w = _weights(maes) if method == "inverse_error" else None
    point = tf.from_ispace(_combine(np.stack([tf.to_ispace(p) for p, _ in finals]), method, w))
    bands: dict[str, dict[str, list[float]]] = {}
    for lv in levels:
        if ens.interval_method == "combined native":
            lo = _combine(np.stack([tf.to_ispace(b[lv][0]) for _, b in finals]), method, w)
            hi = _combine(np.stack([tf.to_ispace(b[lv][1]) for _, b in finals]), method, w)
        else:
            lo, hi = iv.conformal_band(tf.to_ispace(point), ens.errors_i, lv)
        bands[str(lv)] = {"lower": [float(x) for x in tf.from_ispace(lo)],
                          "upper": [float(x) for x in tf.from_ispace(hi)]}
    s = ens.summary()
    fts = series.future_ts(horizon)
    return {"key": series.key, "model": ens.model, "method": method, "members": names,
            "weights": None if w is None else dict(zip(names, (round(float(x), 4) for x in w), strict=True)),
            "horizon": horizon, "ts_ns": None if fts is None else [int(x) for x in fts],
            "point": [float(x) for x in point], "intervals": bands, "backtest": s, "skill": skill_sentence(s),
            "member_backtests": [{"model": m.model, "rmae": m.metrics["rmae"], "grade": m.metrics["grade"]}
                                 for m in members],
            "seconds": round(time.perf_counter() - t0, 4)}
