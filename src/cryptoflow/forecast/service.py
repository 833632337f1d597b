"""The forecasting operations the MCP tools wrap: forecast, backtest, cross-validate.

Every forecast is delivered with its evidence: the model, why it was chosen, point forecasts,
80%/95% intervals, and a rolling-origin backtest on the same series (>= 20 origins, refit per
origin, no look-ahead) stating skill against the naive forecast (MASE, rMAE, Diebold-Mariano) and
interval coverage against nominal. Results are plain dicts (JSON-able) so tools only shape them.
Order-flow columns on the series (``forecast.exog.attach_exog``) are used by models that take
exogenous inputs and listed in ``exog``; a model that cannot use them says so in ``warnings``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cryptoflow.forecast import intervals as iv
from cryptoflow.forecast.backtest import BacktestResult, backtest, default_max_train
from cryptoflow.forecast.exog import order_flow_columns
from cryptoflow.forecast.models import Forecaster, make_model
from cryptoflow.forecast.registry import Registry
from cryptoflow.forecast.router import RouteDecision, profile, route
from cryptoflow.forecast.targets import TargetSeries
from cryptoflow.forecast.zoo import ForecastError, get_spec, require_installed

log = logging.getLogger(__name__)
DEFAULT_LEVELS = (80, 95)


@dataclass
class ForecastResult:
    """A forecast with its evidence. ``fitted`` (the model fitted on the full history) stays in
    memory for the live controller; ``as_dict`` drops it."""

    key: str
    target: str
    interval: str | None
    model: str
    reason: str
    horizon: int
    ts_ns: list[int] | None
    point: list[float]
    intervals: dict[str, dict[str, list[float]]]
    interval_method: str
    backtest: dict[str, Any]
    skill: str
    seconds: float
    route: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    model_id: int | None = None
    exog: list[str] = field(default_factory=list)
    fitted: Forecaster | None = None
    errors_i: np.ndarray | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("fitted", "errors_i")}


def skill_sentence(m: dict[str, Any]) -> str:
    """One honest sentence about a backtest (the line a user reads first)."""
    cov = m.get("coverage", {})
    covs = ", ".join(f"{lv}% covered {100 * c['observed']:.0f}%" for lv, c in cov.items()
                     if c.get("observed") is not None)
    p = m["dm"]["p_better"]
    p_txt = "p<1e-5" if p < 1e-5 else f"p={p:.3g}"
    return (f"Backtest over {m['origins']} rolling origins ({m['strategy']}, {m['refits']} refits): "
            f"rMAE {m['rmae']:.3f} vs naive (MASE {m['mase']:.3f}), DM {p_txt}; intervals {covs or 'unchecked'}. "
            f"Grade {m['verdict']}")


def final_fit(series: TargetSeries, name: str, h: int, levels: Sequence[int], season: int,
               params: dict[str, Any], max_train: int, bt: BacktestResult,
               ) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]], Forecaster]:
    tf = series.transform
    y = series.values[-max_train:] if max_train else series.values
    z = tf.to_model(y)
    X = {c: tf.align(v[-len(y):]) for c, v in series.exog.items()} or None
    p = dict(params)
    if get_spec(name).family == "ml":
        p.setdefault("exog_lag", h)
    mdl = make_model(name, season, tf.cumulative, p)
    fc = mdl.fit_predict(z, h, levels, X)
    point = tf.mean_to_target(fc.mean, y)
    bands: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for lv in levels:
        if bt.interval_method == "native" and lv in fc.lo:
            bands[lv] = tf.band_to_target(fc.mean, fc.lo[lv], fc.hi[lv], y, lv)
        else:
            lo, hi = iv.band(bt.interval_method, tf.to_ispace(point), bt.errors_i, lv)  # type: ignore[arg-type]
            bands[lv] = (tf.from_ispace(lo), tf.from_ispace(hi))
    return point, bands, mdl


def exog_used(series: TargetSeries, model: str) -> tuple[list[str], list[str]]:
    """Order-flow columns the model will use, and a warning when the series carries some that it
    cannot take (only models with ``exogenous=True`` in the zoo read them)."""
    flow = order_flow_columns(series)
    if not flow or get_spec(model).exogenous:
        return flow, []
    return [], [f"{model} takes no exogenous inputs: {', '.join(flow)} not used (ML models such as LightGBM "
                "use them)"]


def with_calendar(series: TargetSeries, model: str) -> TargetSeries:
    """ML models get hour/day-of-week features when timestamps are known."""
    if get_spec(model).family != "ml" or series.ts_ns is None or "hour_sin" in series.exog:
        return series
    from cryptoflow.forecast.ml import calendar_features

    return TargetSeries(series.values, series.target, series.interval, series.ts_ns,
                        {**series.exog, **calendar_features(series.ts_ns)}, series.filled, series.key)


def forecast(series: TargetSeries, horizon: int = 12, model: str = "auto", priority: str = "fast",
             levels: Sequence[int] = DEFAULT_LEVELS, registry: Registry | None = None, n_origins: int = 20,
             strategy: str = "expanding", interval_method: str = "auto", params: dict[str, Any] | None = None,
             max_train: int | Literal["auto"] | None = "auto", time_budget_s: float | None = 30.0,
             save_artifact: bool = False) -> ForecastResult:
    """Forecast ``horizon`` steps with ``model`` (or the router's pick), backtested on the same data.

    ``time_budget_s`` bounds the backtest's refits (slow models then reuse fits: said in warnings).
    With a ``registry`` the router sees past skill, and the backtest and fitted model are recorded.
    """
    t0 = time.perf_counter()
    if horizon < 1 or horizon > 1000:
        raise ForecastError(f"horizon must be from 1 to 1000 steps, got {horizon}")
    decision: RouteDecision | None = None
    if model == "auto":
        past = registry.skill(series.key, horizon) if registry else None
        decision = route(series, horizon, priority, past)
        name, reason, season = decision.model, decision.reason, decision.season_length
    else:
        spec = get_spec(model)
        require_installed(spec)
        name, reason = spec.name, "requested by the caller"
        season = profile(series).season_length if spec.seasonal else 1
    used, exog_warn = exog_used(series, name)
    series = with_calendar(series, name)
    mt = default_max_train(name) if max_train == "auto" else max_train
    bt = backtest(series, name, horizon, strategy, n_origins, levels=levels, season_length=season, params=params,
                  max_train=mt, interval_method=interval_method, time_budget_s=time_budget_s)
    point, bands, mdl = final_fit(series, name, horizon, levels, season, dict(params or {}), mt or 0, bt)
    summary = bt.summary()
    fts = series.future_ts(horizon)
    res = ForecastResult(
        series.key, series.target, series.interval, name, reason, horizon,
        None if fts is None else [int(x) for x in fts], [float(x) for x in point],
        {str(lv): {"lower": [float(x) for x in lo], "upper": [float(x) for x in hi]} for lv, (lo, hi) in bands.items()},
        bt.interval_method, summary, skill_sentence(summary), 0.0,
        decision.as_dict() if decision else None, [*exog_warn, *bt.warnings], exog=used, fitted=mdl,
        errors_i=bt.errors_i)
    if registry is not None and not registry.read_only:
        ts = series.ts_ns
        res.model_id = registry.register_model(
            series.key, name, target=series.target, interval=series.interval, horizon=horizon,
            params={**(params or {}), "season_length": season, **({"exog": used} if used else {})},
            state=mdl.state(),
            train_start_ns=None if ts is None else int(ts[-min(len(ts), mt or len(ts))]),
            train_end_ns=None if ts is None else int(ts[-1]), n_train=min(len(series), mt or len(series)),
            artifact=mdl if save_artifact else None)
        registry.record_backtest(series.key, name, summary, res.model_id)
    res.seconds = round(time.perf_counter() - t0, 4)
    return res


def backtest_forecast(series: TargetSeries, model: str = "auto", horizon: int = 12, priority: str = "fast",
                      strategy: str = "expanding", n_origins: int = 20, registry: Registry | None = None,
                      **kw: Any) -> dict[str, Any]:
    """Backtest one model (or the router's pick) and compare it with naive; records to the registry."""
    if model == "auto":
        d = route(series, horizon, priority, registry.skill(series.key, horizon) if registry else None)
        name, season, reason = d.model, d.season_length, d.reason
    else:
        name = get_spec(model).name
        season = profile(series).season_length if get_spec(name).seasonal else 1
        reason = "requested by the caller"
    used, exog_warn = exog_used(series, name)
    bt = backtest(with_calendar(series, name), name, horizon, strategy, n_origins, season_length=season, **kw)
    s = bt.summary()
    s["warnings"] = [*exog_warn, *s["warnings"]]
    if used:
        s["exog"] = used
    if registry is not None and not registry.read_only:
        registry.record_backtest(series.key, name, s)
    return {**s, "exog": used, "reason": reason, "skill": skill_sentence(s)}


def cross_validate(series: TargetSeries, models: Sequence[str], horizon: int = 12,
                   strategies: Sequence[str] = ("expanding",), n_origins: int = 20, **kw: Any) -> dict[str, Any]:
    """Several models x CV strategies on the same origins; a leaderboard by rMAE (naive = 1)."""
    season = profile(series).season_length
    rows = []
    for strat in strategies:
        for m in models:
            spec = get_spec(m)
            bt = backtest(with_calendar(series, spec.name), spec.name, horizon, strat, n_origins,
                          season_length=season if spec.seasonal else 1, **kw)
            s = bt.summary()
            rows.append({"model": spec.name, "strategy": strat, "rmae": s["rmae"], "mase": s["mase"],
                         "mae": s["mae"], "p_better": s["dm"]["p_better"], "grade": s["grade"],
                         "coverage80": s["coverage"].get("80", {}).get("observed"),
                         "coverage95": s["coverage"].get("95", {}).get("observed"),
                         "origins": s["origins"], "refits": s["refits"], "seconds": s["seconds"]})
    rows.sort(key=lambda r: (r["strategy"], r["rmae"]))
    return {"horizon": horizon, "season_length": season, "results": rows}
