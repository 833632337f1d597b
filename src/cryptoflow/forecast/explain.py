"""Why a forecast looks the way it does, and where it goes wrong.

- feature importance for tree/linear ML models (SHAP values when ``shap`` is installed);
- error by horizon step (skill usually fades with h; on prices it is ~1 at every step);
- residual diagnostics on one-step errors: bias, autocorrelation left in the errors (Ljung-Box),
  volatility clustering left (Ljung-Box on squares, an ARCH test), and fat tails (Jarque-Bera).
  Leftover autocorrelation means the model missed structure; fat tails mean Gaussian intervals
  will under-cover at 95%+.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from cryptoflow.forecast.backtest import backtest
from cryptoflow.forecast.drift import one_step_errors
from cryptoflow.forecast.models import make_model
from cryptoflow.forecast.router import profile
from cryptoflow.forecast.service import with_calendar
from cryptoflow.forecast.targets import TargetSeries
from cryptoflow.forecast.zoo import get_spec


def ljung_box(x: np.ndarray, lags: int = 10) -> tuple[float, float]:
    """Ljung-Box Q statistic and p-value for autocorrelation up to ``lags``."""
    from scipy.stats import chi2

    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)] - np.nanmean(x)
    n = len(x)
    lags = min(lags, n // 4)
    if n < 10 or lags < 1 or float(x @ x) == 0:
        return 0.0, 1.0
    denom = float(x @ x)
    q = n * (n + 2) * sum((float(x[k:] @ x[:-k]) / denom) ** 2 / (n - k) for k in range(1, lags + 1))
    return float(q), float(chi2.sf(q, lags))


def residual_diagnostics(res: np.ndarray) -> dict[str, Any]:
    from scipy.stats import jarque_bera, kurtosis, skew

    r = np.asarray(res, dtype=np.float64)
    r = r[np.isfinite(r)]
    n = len(r)
    sd = float(r.std(ddof=1)) if n > 1 else 0.0
    bias_t = float(r.mean() / (sd / np.sqrt(n))) if sd > 0 else 0.0
    q, qp = ljung_box(r)
    q2, q2p = ljung_box(r**2)
    jb = jarque_bera(r) if n >= 8 else None
    acf = [float(np.corrcoef(r[k:], r[:-k])[0, 1]) if n > k + 2 and sd > 0 else 0.0 for k in (1, 2, 3)]
    findings = []
    if abs(bias_t) > 2.5:
        findings.append(f"errors are biased (mean {r.mean():.3g}, t={bias_t:.1f})")
    if qp < 0.01:
        findings.append("errors are autocorrelated: the model leaves predictable structure")
    if q2p < 0.01:
        findings.append("error size clusters (ARCH effect): interval width should vary with recent volatility")
    if jb is not None and jb.pvalue < 0.01:
        findings.append(f"fat tails (excess kurtosis {kurtosis(r):.1f}): Gaussian intervals under-cover extremes")
    return {"n": n, "mean": float(r.mean()) if n else None, "sd": sd, "bias_t": round(bias_t, 3),
            "skew": float(skew(r)) if n > 2 else None, "excess_kurtosis": float(kurtosis(r)) if n > 3 else None,
            "acf_1_3": [round(a, 4) for a in acf], "ljung_box": {"q": round(q, 3), "p": qp},
            "ljung_box_squared": {"q": round(q2, 3), "p": q2p},
            "jarque_bera_p": None if jb is None else float(jb.pvalue),
            "findings": findings or ["no problem found in the one-step errors"]}


def feature_importance(model: Any) -> dict[str, Any]:
    """Importance per feature for ML models; SHAP mean |value| when ``shap`` is installed."""
    if not hasattr(model, "feature_importance"):
        return {"available": False, "why": f"{model.name} is not a feature-based model"}
    out: dict[str, Any] = {"available": True, "method": "model importances (normalised)",
                           "importance": model.feature_importance()}
    if importlib.util.find_spec("shap") is None:
        out["shap"] = "not installed (pip install shap) - model importances shown instead"
    return out


def explain_forecast(series: TargetSeries, model: str = "auto", horizon: int = 12, n_origins: int = 20,
                     residual_points: int = 150, priority: str = "fast") -> dict[str, Any]:
    """Per-horizon error of a rolling backtest, residual diagnostics of one-step errors over the last
    ``residual_points`` (one fit, then forward passes) and feature importance of the final fit."""
    from cryptoflow.forecast.router import route

    if model == "auto":
        d = route(series, horizon, priority)
        name, season = d.model, d.season_length
    else:
        name = get_spec(model).name
        season = profile(series).season_length if get_spec(name).seasonal else 1
    s = with_calendar(series, name)
    bt = backtest(s, name, horizon, "expanding", n_origins, season_length=season)
    per_h = np.nanmean(np.abs(bt.actual - bt.pred), axis=0)
    per_naive = np.nanmean(np.abs(bt.actual - bt.naive), axis=0)
    n = len(s)
    k = min(residual_points, max(0, n - 60))
    tf = s.transform
    mdl = make_model(name, season, tf.cumulative, {"exog_lag": 1} if get_spec(name).family == "ml" else None)
    z_fit = tf.to_model(s.values[: n - k][-1000:])
    exog = {c: tf.align(v[: n - k][-1000:]) for c, v in s.exog.items()} or None
    mdl.fit(z_fit, exog)
    errs, _ = one_step_errors(mdl, s, n - k, n) if k >= 10 else (np.array([]), None)
    return {"key": s.key, "model": name, "horizon": horizon,
            "by_horizon": [{"step": i + 1, "mae": float(a), "mae_naive": float(b),
                            "rmae": float(a / b) if b > 0 else None} for i, (a, b) in enumerate(zip(per_h, per_naive,
                                                                                                   strict=True))],
            "backtest": {k2: bt.metrics[k2] for k2 in ("rmae", "mase", "grade", "verdict")},
            "residuals": residual_diagnostics(errs), "features": feature_importance(mdl),
            "state": mdl.state()}
