"""Statistical forecast baseline with an honest backtest, until the forecasting engine exists.

Two candidates: naive (last value) and AutoETS (statsforecast). Both are scored by a rolling-origin
backtest (``origins`` origins, refit per origin, no look-ahead): MAE, rMAE = MAE_model / MAE_naive,
MASE (scaled by the in-sample one-step naive MAE before the first origin), interval coverage vs
nominal, and a Diebold-Mariano test on absolute errors. AutoETS is used only when it beats naive
(rMAE < 1) *and* the DM test says so (p < ``DM_ALPHA``); otherwise the forecast is naive — on
random-walk-like prices that is the expected and honest outcome (DESIGN.md, Forecasting honesty).
"""

from __future__ import annotations

import math

import numpy as np

MIN_TRAIN = 30  # points before the first origin
MAX_TRAIN = 500  # most recent points each fit sees (bounds AutoETS's cost)
ORIGINS = 20
DM_ALPHA = 0.05
LEVELS = (80, 95)
_Z = {80: 1.2815516, 95: 1.9599640}


def _naive(y: np.ndarray, h: int) -> dict[str, np.ndarray]:
    d = np.diff(y)
    sd = float(d.std()) if len(d) > 1 else 0.0
    steps = np.sqrt(np.arange(1, h + 1))
    out = {"mean": np.full(h, y[-1])}
    for lv in LEVELS:
        out[f"lo-{lv}"] = y[-1] - _Z[lv] * sd * steps
        out[f"hi-{lv}"] = y[-1] + _Z[lv] * sd * steps
    return out


def _ets(y: np.ndarray, h: int, season_length: int) -> dict[str, np.ndarray]:
    from statsforecast.models import AutoETS

    model = AutoETS(season_length=season_length if season_length > 1 and len(y) > 2 * season_length else 1)
    return {k: np.asarray(v) for k, v in model.fit(y).predict(h, level=list(LEVELS)).items()}


def _dm_pvalue(d: np.ndarray) -> float:
    """Two-sided Diebold-Mariano p-value for a loss differential series (normal approximation)."""
    if len(d) < 3 or d.std(ddof=1) == 0:
        return 1.0
    stat = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    return float(math.erfc(abs(stat) / math.sqrt(2)))


def forecast_with_skill(y: np.ndarray, horizon: int, origins: int = ORIGINS, season_length: int = 1) -> dict:
    """Backtest both candidates, choose, and forecast ``horizon`` steps with intervals."""
    y = np.asarray(y, dtype=float)
    y = y[np.isfinite(y)]
    n = len(y)
    if n < MIN_TRAIN + origins + horizon - 1:
        raise ValueError(f"need at least {MIN_TRAIN + origins + horizon - 1} points for a {origins}-origin "
                         f"backtest at horizon {horizon}, have {n}")
    first = n - horizon - origins + 1
    scale = float(np.mean(np.abs(np.diff(y[:first])))) or 1e-12
    err = {"naive": [], "auto_ets": []}
    cover = {m: {lv: [] for lv in LEVELS} for m in err}
    for o in range(first, first + origins):
        train, actual = y[max(0, o - MAX_TRAIN):o], y[o:o + horizon]
        for name, fc in (("naive", _naive(train, horizon)), ("auto_ets", _ets(train, horizon, season_length))):
            err[name].append(np.abs(fc["mean"] - actual))
            for lv in LEVELS:
                cover[name][lv].append((actual >= fc[f"lo-{lv}"]) & (actual <= fc[f"hi-{lv}"]))
    skill = {}
    for name in err:
        e = np.concatenate(err[name])
        skill[name] = {"mae": float(e.mean()), "mase": float(e.mean() / scale),
                       "coverage": {f"{lv}%": float(np.concatenate(cover[name][lv]).mean()) for lv in LEVELS}}
    mae_naive = skill["naive"]["mae"]
    for name in skill:
        skill[name]["rmae"] = skill[name]["mae"] / mae_naive if mae_naive > 0 else 1.0
    d = np.concatenate(err["auto_ets"]) - np.concatenate(err["naive"])
    p = _dm_pvalue(d)
    beats = skill["auto_ets"]["rmae"] < 1.0 and p < DM_ALPHA
    chosen = "auto_ets" if beats else "naive"
    train = y[-MAX_TRAIN:]
    fc = _ets(train, horizon, season_length) if beats else _naive(train, horizon)
    return {"model": chosen, "forecast": {k: v.tolist() for k, v in fc.items()}, "last_value": float(y[-1]),
            "skill": skill, "dm_pvalue_ets_vs_naive": p, "origins": origins, "horizon": horizon,
            "reason": ("AutoETS beats naive (rMAE < 1, DM p < 0.05)" if beats else
                       "AutoETS does not beat naive significantly: the naive forecast is used")}
