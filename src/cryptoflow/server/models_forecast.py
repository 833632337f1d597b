"""Structured outputs of the forecast tools (see ``models`` for the conventions).

Every forecast carries its evidence: ``model`` and ``reason`` (why the router or the caller chose it),
80%/95% intervals per step, and ``backtest``: a rolling-origin backtest on the same series with
rMAE = MAE_model / MAE_naive (< 1 beats the last value), MASE, a Diebold-Mariano p-value, interval
coverage against nominal, and a grade S..F that never comes from MAPE alone.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from cryptoflow.server.models import Out

Severity = Literal["LOW", "MEDIUM", "HIGH"]
UNITS = {"price": "quote currency (trade close per bar)", "volatility": "fraction per bar (Parkinson range)",
         "funding": "rate per funding interval (fraction)", "open_interest": "base units", "spread": "bps"}


class SeriesOut(Out):
    symbol: str
    venue: str
    market: str
    target: str
    interval: str
    unit: str = Field(description="unit of the values (price: quote currency; spread: bps ...)")
    bars: int = Field(description="bars used (most recent)")
    first_ts: str | None
    last_ts: str | None
    last_value: float | None
    filled_fraction: float | None = Field(description="share of bars with no data (previous value carried)")


class CoverageOut(Out):
    level: int = Field(description="nominal interval level in percent")
    observed: float | None = Field(description="share of backtest actuals inside the interval (0..1)")
    n: int
    note: str


class BacktestOut(Out):
    model: str
    strategy: str
    horizon: int
    origins: int = Field(description="rolling origins (forecasts made from past data only)")
    refits: int
    rmae: float | None = Field(description="MAE of the model / MAE of the naive forecast on the same origins; "
                                           "< 1 beats naive, ~1 ties")
    mase: float | None
    mae: float | None
    mae_naive: float | None
    rmse: float | None = None
    smape: float | None = None
    directional_accuracy: float | None = None
    skill_vs_naive: float | None = Field(None, description="1 - rMAE")
    dm_p_better: float | None = Field(None, description="Diebold-Mariano p-value that the model beats naive; "
                                                        "skill is claimed only below 0.01")
    coverage: list[CoverageOut]
    interval_method: str
    grade: str = Field(description="S, A, B = significant skill; C = ties naive; D, F = worse than naive")
    verdict: str
    warnings: list[str] = []
    seconds: float | None = None


class StepOut(Out):
    step: int
    ts: str | None = Field(description="start of the forecast bar (its close/value is forecast)")
    value: float
    lower_80: float | None = None
    upper_80: float | None = None
    lower_95: float | None = None
    upper_95: float | None = None


class ForecastOut(Out):
    series: SeriesOut
    model: str
    reason: str = Field(description="why this model (router decision or the caller's choice)")
    horizon: int
    forecast: list[StepOut]
    interval_method: str
    backtest: BacktestOut
    skill: str = Field(description="the backtest in one sentence")
    season_length: int | None = None
    candidates: list[str] = []
    model_id: int | None = Field(None, description="registry id of the fitted model (model_registry)")
    exog: list[str] = Field([], description="order-flow features the model used (empty: none)")
    warnings: list[str] = []
    seconds: float

    def summary(self) -> str:
        last = self.forecast[-1]
        band = f" (80%: {last.lower_80:.6g}..{last.upper_80:.6g})" if last.lower_80 is not None else ""
        s = self.series
        return (f"{s.venue} {s.symbol} {s.target} {s.interval}: {self.model} -> {last.value:.6g} in {self.horizon} "
                f"bars{band}; backtest rMAE {self.backtest.rmae}, grade {self.backtest.grade}")


class MemberOut(Out):
    model: str
    rmae: float | None
    grade: str
    weight: float | None = None


class EnsembleOut(Out):
    series: SeriesOut
    model: str
    method: str
    members: list[MemberOut]
    horizon: int
    forecast: list[StepOut]
    backtest: BacktestOut
    skill: str
    seconds: float

    def summary(self) -> str:
        return (f"{self.model}: rMAE {self.backtest.rmae} (grade {self.backtest.grade}); members "
                + ", ".join(f"{m.model} {m.rmae}" for m in self.members))


class ModelInfoOut(Out):
    name: str
    family: str
    speed: str = Field(description="instant < 2 ms, fast < 20 ms, medium < 0.5 s, slow beyond (fit on 500 points)")
    installed: bool
    install_hint: str | None = Field(description="pip command that brings it, when not installed")
    intervals: str = Field(description="native (the model's own) or conformal (from backtest errors)")
    exogenous: bool
    seasonal: bool
    tunable: bool
    min_length: int
    description: str


class ModelListResult(Out):
    models: list[ModelInfoOut]
    installed: int
    total: int

    def summary(self) -> str:
        return f"{self.installed} of {self.total} models installed"


class BacktestResult(Out):
    series: SeriesOut
    reason: str
    backtest: BacktestOut
    skill: str
    exog: list[str] = Field([], description="order-flow features the model used (empty: none)")

    def summary(self) -> str:
        return self.skill


class CVRow(Out):
    model: str
    strategy: str
    rmae: float | None
    mase: float | None
    mae: float | None
    dm_p_better: float | None
    grade: str
    coverage_80: float | None
    coverage_95: float | None
    origins: int
    refits: int
    seconds: float


class CrossValidateResult(Out):
    series: SeriesOut
    horizon: int
    season_length: int
    results: list[CVRow] = Field(description="per strategy, best rMAE first")
    best: dict[str, str] = Field(description="strategy -> model with the lowest rMAE")

    def summary(self) -> str:
        return "; ".join(f"{k}: best {v}" for k, v in self.best.items())


class HoldoutOut(Out):
    rmae: float | None
    mase: float | None
    grade: str
    verdict: str


class TuneResult(Out):
    series: SeriesOut
    model: str
    best_params: dict[str, Any]
    cv_rmae: float | None = Field(description="best objective: rMAE of a short backtest before the hold-out")
    trials: int
    holdout_origins: int
    tuned: HoldoutOut
    default: HoldoutOut
    improved: bool = Field(description="tuned rMAE < default rMAE on the hold-out span the search never saw")
    note: str
    seconds: float

    def summary(self) -> str:
        return (f"{self.model} tuned over {self.trials} trials: hold-out rMAE {self.tuned.rmae} vs default "
                f"{self.default.rmae} ({'improved' if self.improved else 'not improved'})")


class DetectorOut(Out):
    name: str
    detected: bool
    first: int | None = Field(description="index in the recent window of the first alarm")


class DriftResult(Out):
    series: SeriesOut
    model: str
    reference_points: int
    recent_points: int
    severity: Severity
    recommendation: str
    error_ratio: float = Field(description="mean |error| recent / reference")
    detectors: list[DetectorOut]
    tests: dict[str, float | None]
    reasons: list[str]

    def summary(self) -> str:
        return f"drift {self.severity} (errors x{self.error_ratio:.2f}): {self.recommendation}"


class RegistryModelOut(Out):
    id: int
    series_key: str
    model: str
    target: str | None
    interval: str | None
    horizon: int | None
    params: dict[str, Any]
    n_train: int | None
    train_start: str | None
    train_end: str | None
    created: str
    status: str
    has_artifact: bool


class PerformanceOut(Out):
    ts: str
    series_key: str
    model: str
    horizon: int | None
    strategy: str | None
    origins: int | None
    rmae: float | None
    mase: float | None
    coverage_80: float | None
    coverage_95: float | None
    dm_p_better: float | None
    grade: str | None


class EventOut(Out):
    ts: str
    series_key: str | None
    kind: str
    severity: str | None
    details: dict[str, Any]


class RegistryResult(Out):
    view: str
    path: str
    models: list[RegistryModelOut] = []
    performance: list[PerformanceOut] = Field([], description="backtest scores over time, oldest first")
    events: list[EventOut] = []
    truncated: bool

    def summary(self) -> str:
        n = len(self.models) or len(self.performance) or len(self.events)
        return f"registry {self.view}: {n} entries"


class HorizonErrorOut(Out):
    step: int
    mae: float
    mae_naive: float
    rmae: float | None


class FeatureOut(Out):
    feature: str
    importance: float


class ExplainResult(Out):
    series: SeriesOut
    model: str
    horizon: int
    by_horizon: list[HorizonErrorOut]
    backtest: dict[str, Any]
    residuals: dict[str, Any] = Field(description="one-step error diagnostics: bias, Ljung-Box, ARCH, tails")
    findings: list[str]
    feature_importance: list[FeatureOut] = []
    feature_note: str | None = None
    state: dict[str, Any] = Field(description="estimated parameters of the fitted model")

    def summary(self) -> str:
        return f"{self.model}: " + "; ".join(self.findings)


class StreamInfoOut(Out):
    stream_id: str
    venue: str
    symbol: str
    market: str
    target: str
    interval: str
    has_forecast: bool


class StreamForecastResult(Out):
    source: Literal["in_process", "state_file"]
    stream_id: str
    made_at: str
    age_s: float
    refit: bool = Field(description="true when this refresh refitted (first fit or retrain), false when the "
                                    "fitted model was applied to new data")
    n_points: int
    forecast: ForecastOut
    drift_severity: Severity | None = None
    drift: dict[str, Any] | None = None
    retrains: int
    controller_running: bool
    streams: list[StreamInfoOut]

    def summary(self) -> str:
        return f"live {self.stream_id} ({self.age_s:.0f}s old): " + self.forecast.summary()


class StreamAlertOut(Out):
    ts: str
    kind: str = Field(description="drift, retrain, stale, error or collector")
    severity: str
    stream_id: str | None
    message: str
    details: dict[str, Any] = {}


class StreamingAlertsResult(Out):
    source: Literal["in_process", "alert_file"]
    alert_file: str | None
    alerts: list[StreamAlertOut] = Field(description="newest last")
    truncated: bool
    controller_running: bool

    def summary(self) -> str:
        return f"{len(self.alerts)} streaming alerts" + (
            f", last: {self.alerts[-1].kind} {self.alerts[-1].severity} {self.alerts[-1].message}" if self.alerts
            else "")


# ---- shaping the forecast library's dicts -------------------------------------------------------
def num(x: Any) -> float | None:
    """A float for JSON: None for missing, NaN or infinite values (never a silent 0)."""
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if f == f and abs(f) != float("inf") else None


def backtest_out(s: dict[str, Any]) -> BacktestOut:
    """``BacktestResult.summary()`` -> BacktestOut."""
    dm = s.get("dm") or {}
    return BacktestOut(
        model=s["model"], strategy=s["strategy"], horizon=s["horizon"], origins=s["origins"], refits=s["refits"],
        rmae=num(s.get("rmae")), mase=num(s.get("mase")), mae=num(s.get("mae")), mae_naive=num(s.get("mae_naive")),
        rmse=num(s.get("rmse")), smape=num(s.get("smape")), directional_accuracy=num(s.get("directional_accuracy")),
        skill_vs_naive=num(s.get("skill_vs_naive")), dm_p_better=num(dm.get("p_better")),
        coverage=[CoverageOut(level=int(lv), observed=num(c.get("observed")), n=int(c.get("n", 0)),
                              note=c.get("note", "")) for lv, c in (s.get("coverage") or {}).items()],
        interval_method=s.get("interval_method", ""), grade=s["grade"], verdict=s["verdict"],
        warnings=list(s.get("warnings") or []), seconds=num(s.get("seconds")))


def steps_out(point: list[float], ts: list[str | None], intervals: dict[str, dict[str, list[float]]],
              ) -> list[StepOut]:
    def band(lv: str, side: str, i: int) -> float | None:
        b = intervals.get(lv)
        return num(b[side][i]) if b and i < len(b[side]) else None

    return [StepOut(step=i + 1, ts=ts[i] if i < len(ts) else None, value=float(p),
                    lower_80=band("80", "lower", i), upper_80=band("80", "upper", i),
                    lower_95=band("95", "lower", i), upper_95=band("95", "upper", i)) for i, p in enumerate(point)]


def forecast_out(series: SeriesOut, r: dict[str, Any], ts: list[str | None]) -> ForecastOut:
    """``ForecastResult.as_dict()`` (or a live forecast dict) -> ForecastOut."""
    route = r.get("route") or {}
    return ForecastOut(series=series, model=r["model"], reason=r["reason"], horizon=r["horizon"],
                       forecast=steps_out(r["point"], ts, r.get("intervals") or {}),
                       interval_method=r.get("interval_method", ""), backtest=backtest_out(r["backtest"]),
                       skill=r["skill"], season_length=route.get("season_length"),
                       candidates=list(route.get("candidates") or []), model_id=r.get("model_id"),
                       exog=list(r.get("exog") or []), warnings=list(r.get("warnings") or []),
                       seconds=float(r.get("seconds") or 0.0))
