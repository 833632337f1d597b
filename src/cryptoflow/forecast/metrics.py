"""Forecast accuracy, the Diebold-Mariano test and the S..F grade.

Why skill, not MAPE: on prices every model has a small MAPE (a 1% move is big), so MAPE says
nothing about whether the model beats doing nothing. The grade therefore comes from rMAE (MAE of
the model / MAE of the naive forecast on the same origins), whether a Diebold-Mariano test finds
the difference significant, and whether the intervals cover what they claim.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

SKILL_ALPHA = 0.01
GRADE_TEXT = {
    "S": "large, significant skill over naive with calibrated intervals",
    "A": "clear, significant skill over naive",
    "B": "small but significant skill over naive (or skill with poorly calibrated/unchecked intervals)",
    "C": "no demonstrable skill: ties with the naive forecast",
    "D": "worse than the naive forecast (or badly calibrated intervals)",
    "F": "much worse than the naive forecast",
}


def _nanmean(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def point_metrics(actual: np.ndarray, pred: np.ndarray, naive: np.ndarray, scale: np.ndarray,
                  last: np.ndarray) -> dict[str, float | None]:
    """MAE, RMSE, MAPE, sMAPE (percent), MASE (vs in-sample one-step naive per origin), rMAE (vs the
    naive forecast on the same origins), directional accuracy (share of predicted moves from the
    origin's last value whose sign matched the actual move; None when the model predicts no moves)."""
    e = actual - pred
    mae = _nanmean(np.abs(e))
    mae_naive = _nanmean(np.abs(actual - naive))
    with np.errstate(divide="ignore", invalid="ignore"):
        mape = 100 * _nanmean(np.abs(e) / np.abs(actual))
        smape = 100 * _nanmean(2 * np.abs(e) / (np.abs(actual) + np.abs(pred)))
        mase = _nanmean(np.abs(e).mean(axis=1) / scale)
    moved = np.sign(pred - last[:, None])
    real = np.sign(actual - last[:, None])
    mask = (moved != 0) & (real != 0)
    tol = 1e-12 * max(1.0, float(np.nanmax(np.abs(actual))))
    mask &= np.abs(pred - last[:, None]) > tol
    da = float(np.mean(moved[mask] == real[mask])) if mask.sum() >= 5 else None
    return {"mae": mae, "rmse": float(np.sqrt(_nanmean(e**2))), "mape": mape, "smape": smape, "mase": mase,
            "rmae": mae / mae_naive if mae_naive > 0 else (1.0 if mae == 0 else float("inf")),
            "mae_naive": mae_naive, "directional_accuracy": da, "directional_n": int(mask.sum())}


def pinball(actual: np.ndarray, lo: np.ndarray, hi: np.ndarray, level: int) -> float:
    """Mean pinball loss of the two interval bounds as quantiles (1-l)/2 and (1+l)/2."""
    a = (1 - level / 100) / 2
    out = []
    for q, b in ((a, lo), (1 - a, hi)):
        d = actual - b
        out.append(np.where(d >= 0, q * d, (q - 1) * d))
    return _nanmean(np.concatenate([o.ravel() for o in out]))


def coverage(actual: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[float | None, int]:
    """Share of actuals inside [lo, hi] over the entries where an interval exists, and how many."""
    ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(actual)
    n = int(ok.sum())
    if n == 0:
        return None, 0
    return float(np.mean((actual[ok] >= lo[ok]) & (actual[ok] <= hi[ok]))), n


def diebold_mariano(loss_model: np.ndarray, loss_base: np.ndarray, h: int = 1, step: int = 1) -> dict[str, Any]:
    """DM test (Harvey-Leybourne-Newbold small-sample form) on per-origin mean losses.

    Origins closer than ``h`` share test points, so the loss differentials are autocorrelated up to
    lag ceil(h/step)-1: the variance is Newey-West with that many lags. ``p_better`` is one-sided
    (model loss < base loss), ``p_two_sided`` the usual test.
    """
    from scipy.stats import t as tdist

    d = np.asarray(loss_model, dtype=np.float64) - np.asarray(loss_base, dtype=np.float64)
    d = d[np.isfinite(d)]
    n = len(d)
    lags = max(0, math.ceil(h / max(step, 1)) - 1)
    if n < 3 or float(np.max(np.abs(d), initial=0.0)) == 0.0:
        return {"statistic": 0.0, "p_better": 1.0, "p_worse": 1.0, "p_two_sided": 1.0, "n": n,
                "mean_loss_diff": 0.0, "lags": lags}
    dm = d - d.mean()
    var = float(dm @ dm) / n
    for k in range(1, min(lags, n - 1) + 1):
        var += 2 * (1 - k / (lags + 1)) * float(dm[k:] @ dm[:-k]) / n
    if var <= 0:
        var = float(dm @ dm) / n
    stat = d.mean() / math.sqrt(var / n) if var > 0 else 0.0
    hh = lags + 1
    stat *= math.sqrt(max((n + 1 - 2 * hh + hh * (hh - 1) / n) / n, 1e-12))
    return {"statistic": float(stat), "p_better": float(tdist.cdf(stat, n - 1)),
            "p_worse": float(tdist.sf(stat, n - 1)), "p_two_sided": float(2 * tdist.sf(abs(stat), n - 1)),
            "n": n, "mean_loss_diff": float(d.mean()), "lags": lags}


def grade(rmae: float, dm: Mapping[str, Any], coverage_gap: float | None, n_origins: int,
          is_naive: bool = False, alpha: float = SKILL_ALPHA) -> tuple[str, str]:
    """Letter and one-line verdict. Skill tiers need a DM test significant at ``alpha`` (1%: several
    models are usually tried on the same series, and at 5% one in twenty random-walk backtests
    "wins" by chance - seen here with AutoETS on a simulated random walk); interval calibration
    (largest |coverage - nominal| in points) caps the letter: <= 5 no cap, <= 10 A, <= 20 B, more D;
    unchecked coverage caps at B; fewer than 20 origins caps at B."""
    better = dm.get("p_better", 1.0) < alpha
    worse = dm.get("p_worse", 1.0) < alpha
    if is_naive:
        letter, why = "C", "this is the naive forecast itself: skill 1.0 by definition"
    elif not math.isfinite(rmae) or rmae > 1.25:
        letter, why = "F", f"rMAE {rmae:.3f}: much worse than naive"
    elif better and rmae <= 0.75:
        letter, why = "S", f"rMAE {rmae:.3f}, DM p={dm['p_better']:.3g}"
    elif better and rmae <= 0.90:
        letter, why = "A", f"rMAE {rmae:.3f}, DM p={dm['p_better']:.3g}"
    elif better and rmae < 1.0:
        letter, why = "B", f"rMAE {rmae:.3f}, DM p={dm['p_better']:.3g}"
    elif worse or rmae > 1.05:
        letter, why = "D", f"rMAE {rmae:.3f}: worse than naive" + (" (DM significant)" if worse else "")
    else:
        letter, why = "C", f"rMAE {rmae:.3f}, DM p={dm.get('p_better', 1.0):.3g}: not distinguishable from naive"
    order = "SABCDF"
    cap, note = "S", ""
    if coverage_gap is None:
        cap, note = "B", "; interval coverage unchecked"
    elif coverage_gap > 20:
        cap, note = "D", f"; intervals badly calibrated (off by {coverage_gap:.0f} pts)"
    elif coverage_gap > 10:
        cap, note = "B", f"; intervals off by {coverage_gap:.0f} pts"
    elif coverage_gap > 5:
        cap, note = "A", f"; intervals off by {coverage_gap:.0f} pts"
    if n_origins < 20:
        cap = max(cap, "B", key=order.index)
        note += f"; only {n_origins} origins"
    if order.index(cap) > order.index(letter):
        letter = cap
    return letter, f"{letter}: {GRADE_TEXT[letter]} ({why}{note})"
