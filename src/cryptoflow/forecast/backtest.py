"""Rolling-origin backtests with five cross-validation strategies, and their metrics.

Every strategy produces *origins*: a forecast made at index ``origin`` from data ``[0, origin)``
only, predicting ``[origin, origin + h)``. ``refit`` origins estimate the model on
``[train_start, train_end)``; the others reuse the last estimate and only feed it the newer history
(``Forecaster.forward``), which is how a deployed model behaves between retrains.

- ``expanding``: refit at every origin on all data before it (capped at ``max_train`` points).
- ``sliding``: refit at every origin on the last ``window`` points.
- ``blocked``: the evaluation span in ``folds`` contiguous blocks; one fit per block on data before it.
- ``purged``: blocked, plus ``purge`` points dropped between train and test (labels that overlap
  the test window) and ``embargo`` points left untested after each block (so blocks are not serially
  dependent). Training is forward-only: train indices always precede test indices.
- ``walkforward``: origins every ``step``; refit every ``retrain_every`` origins.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cryptoflow.forecast import intervals as iv
from cryptoflow.forecast.metrics import coverage, diebold_mariano, grade, pinball, point_metrics
from cryptoflow.forecast.models import Forecaster, make_model
from cryptoflow.forecast.targets import TargetSeries
from cryptoflow.forecast.zoo import ForecastError, get_spec

log = logging.getLogger(__name__)
Strategy = Literal["expanding", "sliding", "blocked", "purged", "walkforward"]
STRATEGIES: tuple[str, ...] = ("expanding", "sliding", "blocked", "purged", "walkforward")


@dataclass(frozen=True, slots=True)
class Origin:
    train_start: int
    train_end: int
    origin: int
    refit: bool
    fold: int = 0


def make_origins(n: int, h: int, strategy: str = "expanding", n_origins: int = 20, step: int | None = None,
                 min_train: int = 30, window: int | None = None, folds: int = 4, purge: int = 0, embargo: int = 0,
                 retrain_every: int = 5) -> list[Origin]:
    """The origins of one backtest, ending with the last full test window at the end of the data.
    ``step`` defaults to ``h`` (non-overlapping test windows) and shrinks when the data are short."""
    if strategy not in STRATEGIES:
        raise ForecastError(f"unknown CV strategy {strategy!r}; strategies are: {', '.join(STRATEGIES)}")
    if h < 1 or n_origins < 1:
        raise ForecastError("horizon and number of origins must be at least 1")
    avail = n - h - min_train - (purge if strategy == "purged" else 0)
    if strategy == "purged":
        avail -= embargo * (folds - 1)
    if avail < 0:
        raise ForecastError(f"{n} points are too few for horizon {h} with at least {min_train} training points")
    step = step or h
    if n_origins > 1 and (n_origins - 1) * step > avail:
        step = max(1, avail // (n_origins - 1))
        n_origins = min(n_origins, avail // step + 1)
    if strategy in ("expanding", "sliding", "walkforward"):
        out: list[Origin] = []
        first = n - h - step * (n_origins - 1)
        last_fit = first
        for k in range(n_origins):
            t = first + step * k
            refit = strategy != "walkforward" or k % max(1, retrain_every) == 0
            if refit:
                last_fit = t
            start = max(0, last_fit - window) if (window and strategy != "expanding") else 0
            fold = k // max(1, retrain_every) if strategy == "walkforward" else k
            out.append(Origin(start, last_fit, t, refit, fold))
        return out
    folds = max(1, min(folds, n_origins))
    per = max(1, n_origins // folds)
    span = (per - 1) * step + h  # test points covered by one block
    total = folds * span + (folds - 1) * (embargo if strategy == "purged" else 0)
    start0 = n - total
    gap = purge if strategy == "purged" else 0
    if start0 - gap < min_train:
        raise ForecastError(f"{n} points are too few for {folds} blocks of {per} origins (horizon {h})")
    out = []
    for f in range(folds):
        s = start0 + f * (span + (embargo if strategy == "purged" else 0))
        train_end = s - gap
        tr_start = max(0, train_end - window) if window else 0
        out.extend(Origin(tr_start, train_end, s + j * step, j == 0, f) for j in range(per))
    return out


MAX_TRAIN_BY_SPEED = {"instant": 2000, "fast": 1000, "medium": 500, "slow": 300}


def default_max_train(model: str) -> int:
    """Most recent points a model is fitted on by default: older crypto data rarely helps (regimes
    change) and it keeps a 20-origin backtest of a medium model near a few seconds."""
    spec = get_spec(model)
    return 1000 if spec.family == "ml" else MAX_TRAIN_BY_SPEED[spec.speed]


@dataclass
class BacktestResult:
    """Per-origin forecasts and the metrics computed from them (all in target space)."""

    model: str
    strategy: str
    h: int
    levels: tuple[int, ...]
    origins: np.ndarray
    actual: np.ndarray
    pred: np.ndarray
    naive: np.ndarray
    lo: dict[int, np.ndarray]
    hi: dict[int, np.ndarray]
    scale: np.ndarray
    last: np.ndarray
    interval_method: str
    errors_i: np.ndarray  # actual - pred in interval space (log for positive targets)
    step: int
    seconds: float
    refits: int
    metrics: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    fitted: Forecaster | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-able headline: what a user checks first."""
        return {"model": self.model, "strategy": self.strategy, "horizon": self.h, "origins": len(self.origins),
                "step": self.step, "refits": self.refits, "interval_method": self.interval_method,
                "seconds": round(self.seconds, 4), **self.metrics, "warnings": self.warnings}


def score_backtest(res: BacktestResult, is_naive: bool) -> None:
    pm = point_metrics(res.actual, res.pred, res.naive, res.scale, res.last)
    loss_m = np.nanmean(np.abs(res.actual - res.pred), axis=1)
    loss_n = np.nanmean(np.abs(res.actual - res.naive), axis=1)
    dm = diebold_mariano(loss_m, loss_n, res.h, res.step)
    cov: dict[str, Any] = {}
    gaps = []
    for lv in res.levels:
        c, n = coverage(res.actual, res.lo[lv], res.hi[lv])
        cov[str(lv)] = {"nominal": lv / 100, "observed": None if c is None else round(c, 4), "n": n,
                        "pinball": pinball(res.actual, res.lo[lv], res.hi[lv], lv) if n else None,
                        "note": iv.coverage_note(lv, c, n)}
        if c is not None and n >= 20:
            gaps.append(abs(100 * c - lv))
    letter, verdict = grade(pm["rmae"], dm, max(gaps) if len(gaps) == len(res.levels) else None,
                            len(res.origins), is_naive)
    per_h = np.nanmean(np.abs(res.actual - res.pred), axis=0)
    res.metrics = {**{k: (round(v, 6) if isinstance(v, float) else v) for k, v in pm.items()},
                   "skill_vs_naive": round(1 - pm["rmae"], 4) if np.isfinite(pm["rmae"]) else None,
                   "dm": {k: (round(v, 5) if isinstance(v, float) else v) for k, v in dm.items()},
                   "coverage": cov, "grade": letter, "verdict": verdict,
                   "mae_by_horizon": [round(float(x), 8) for x in per_h]}


def backtest(series: TargetSeries, model: str, h: int, strategy: str = "expanding", n_origins: int = 20,
             step: int | None = None, levels: Sequence[int] = (80, 95), window: int | None = None,
             max_train: int | Literal["auto"] | None = "auto", folds: int = 4, purge: int = 0, embargo: int = 0,
             retrain_every: int = 5, params: dict[str, Any] | None = None, season_length: int = 1,
             interval_method: str = "auto",
             min_train: int | None = None, time_budget_s: float | None = None) -> BacktestResult:
    """Rolling-origin backtest of one zoo model on ``series`` (see the module docstring).

    ``max_train`` caps each fit to the most recent points (fits stay bounded on long histories);
    "auto" = by speed class (see ``default_max_train``).
    ``time_budget_s``: once spent, later origins reuse the last fit (said in ``warnings``) rather
    than dropping origins. ``interval_method``: auto (native when the model has them, else
    conformal), native, conformal or bootstrap.
    """
    spec = get_spec(model)
    t0 = time.perf_counter()
    if max_train == "auto":
        max_train = default_max_train(model)
    tf = series.transform
    y = series.values
    n = len(y)
    mt = min_train or max(spec.min_length, 2 * season_length + 2, 30)
    origins = make_origins(n, h, strategy, n_origins, step, mt, window, folds, purge, embargo, retrain_every)
    lv = tuple(int(x) for x in levels)
    n_o = len(origins)
    o_arr = np.array([o.origin for o in origins])
    res = BacktestResult(spec.name, strategy, h, lv, o_arr, np.empty((n_o, h)), np.empty((n_o, h)),
                         np.empty((n_o, h)), {x: np.full((n_o, h), np.nan) for x in lv},
                         {x: np.full((n_o, h), np.nan) for x in lv}, np.empty(n_o), np.empty(n_o), "native",
                         np.empty((n_o, h)), int(np.diff(o_arr).min()) if n_o > 1 else h, 0.0, 0)
    p = dict(params or {})
    if spec.family == "ml":
        p.setdefault("exog_lag", h)
    exog = {k: tf.align(v) for k, v in series.exog.items()} if series.exog else None
    mdl: Forecaster | None = None
    over_budget = False
    for k, o in enumerate(origins):
        start = o.train_start
        if max_train and o.train_end - start > max_train:
            start = o.train_end - max_train
        y_hist = y[start:o.origin]
        z_hist = tf.to_model(y_hist)
        X_hist = {c: v[start:start + len(z_hist)] for c, v in exog.items()} if exog else None
        if (o.refit and not over_budget) or mdl is None:
            fit_len = len(tf.to_model(y[start:o.train_end]))
            mdl = make_model(spec.name, season_length, tf.cumulative, p)
            X_fit = {c: v[:fit_len] for c, v in X_hist.items()} if X_hist else None
            if fit_len == len(z_hist):
                fc = mdl.fit_predict(z_hist, h, lv, X_fit)
            else:
                fc = mdl.fit(z_hist[:fit_len], X_fit).forward(z_hist, h, lv, X_hist)
            res.refits += 1
        else:
            fc = mdl.forward(z_hist, h, lv, X_hist)
        if time_budget_s and not over_budget and time.perf_counter() - t0 > time_budget_s and k < n_o - 1:
            over_budget = True
            res.warnings.append(f"time budget {time_budget_s:g}s spent after {k + 1} origins: later origins "
                                "reuse the last fit (no look-ahead, fewer refits)")
        res.pred[k] = tf.mean_to_target(fc.mean, y_hist)
        for x in lv:
            if x in fc.lo:
                res.lo[x][k], res.hi[x][k] = tf.band_to_target(fc.mean, fc.lo[x], fc.hi[x], y_hist, x)
        res.actual[k] = y[o.origin:o.origin + h]
        res.naive[k] = y_hist[-1]
        res.last[k] = y_hist[-1]
        d = np.abs(np.diff(y_hist))
        res.scale[k] = float(d.mean()) if d.size and d.mean() > 0 else np.nan
    res.fitted = mdl
    res.errors_i = tf.to_ispace(res.actual) - tf.to_ispace(res.pred)
    has_native = all(np.isfinite(res.lo[x]).all() for x in lv)
    method = interval_method if interval_method != "auto" else ("native" if has_native else "conformal")
    if method == "native" and not has_native:
        res.warnings.append(f"{spec.name} has no native intervals: conformal used")
        method = "conformal"
    if method in ("conformal", "bootstrap"):
        lo_i, hi_i = iv.sequential_bands(method, o_arr, h, tf.to_ispace(res.pred), tf.to_ispace(res.actual), lv)  # type: ignore[arg-type]
        res.lo = {x: tf.from_ispace(lo_i[x]) for x in lv}
        res.hi = {x: tf.from_ispace(hi_i[x]) for x in lv}
    res.interval_method = method
    if n_o < 20:
        res.warnings.append(f"only {n_o} origins fit in {n} points: skill figures are rough")
    res.seconds = time.perf_counter() - t0
    score_backtest(res, spec.name == "Naive")
    return res
