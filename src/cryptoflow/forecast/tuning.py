"""Hyper-parameter tuning with Optuna under a trial and time budget.

Why a held-out check: tuning on the same origins that are then reported would flatter the tuned
model. The objective is the rMAE of a short rolling backtest on the data *before* a final hold-out
span; the tuned and default parameters are then both backtested on the hold-out span only, and
both figures are reported (with the usual naive comparison and DM test).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from cryptoflow.forecast.backtest import backtest
from cryptoflow.forecast.router import profile
from cryptoflow.forecast.service import with_calendar
from cryptoflow.forecast.targets import TargetSeries
from cryptoflow.forecast.zoo import ForecastError, get_spec

log = logging.getLogger(__name__)


def _lgb(t: Any) -> dict[str, Any]:
    return {"n_estimators": t.suggest_int("n_estimators", 50, 400, log=True),
            "learning_rate": t.suggest_float("learning_rate", 0.01, 0.2, log=True),
            "num_leaves": t.suggest_int("num_leaves", 4, 63, log=True),
            "min_child_samples": t.suggest_int("min_child_samples", 5, 100, log=True),
            "n_lags": t.suggest_int("n_lags", 2, 24)}


SPACES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "LightGBM": _lgb,
    "XGBoost": lambda t: {"n_estimators": t.suggest_int("n_estimators", 50, 400, log=True),
                          "max_depth": t.suggest_int("max_depth", 2, 8),
                          "learning_rate": t.suggest_float("learning_rate", 0.01, 0.2, log=True)},
    "RandomForest": lambda t: {"n_estimators": t.suggest_int("n_estimators", 30, 200, log=True),
                               "max_depth": t.suggest_int("max_depth", 3, 16),
                               "min_samples_leaf": t.suggest_int("min_samples_leaf", 1, 30, log=True),
                               "n_lags": t.suggest_int("n_lags", 2, 24)},
    "Ridge": lambda t: {"alpha": t.suggest_float("alpha", 1e-3, 1e3, log=True),
                        "n_lags": t.suggest_int("n_lags", 1, 48)},
    "AutoETS": lambda t: {"model": t.suggest_categorical("model", ["ZZZ", "ANN", "AAN", "ZZN", "ANA", "AAA"]),
                          **({"damped": True} if t.suggest_categorical("damped", [False, True]) else {})},
    "AutoARIMA": lambda t: {"max_p": t.suggest_int("max_p", 1, 5), "max_q": t.suggest_int("max_q", 1, 5),
                            "max_d": t.suggest_int("max_d", 0, 2)},
    "AutoTheta": lambda t: {"decomposition_type": t.suggest_categorical("decomposition_type",
                                                                       ["multiplicative", "additive"])},
    "WindowAverage": lambda t: {"window_size": t.suggest_int("window_size", 2, 200, log=True)},
    "HAR": lambda t: {"lags": (1, t.suggest_int("weekly", 3, 10), t.suggest_int("monthly", 12, 60))},
    "SeasonalNaive": lambda t: {"season_length": t.suggest_categorical("season_length", [6, 12, 24, 48, 96, 168])},
}


def tune(series: TargetSeries, model: str, horizon: int = 12, n_trials: int = 20, timeout_s: float = 60.0,
         cv_origins: int = 8, holdout_origins: int = 20, strategy: str = "expanding", seed: int = 0,
         ) -> dict[str, Any]:
    """Search ``model``'s space (``SPACES``) for the lowest CV rMAE, then compare tuned vs default on
    a hold-out span that the search never saw."""
    import optuna

    spec = get_spec(model)
    if spec.name not in SPACES:
        raise ForecastError(f"no search space for {spec.name}; tunable models: {', '.join(SPACES)}")
    s = with_calendar(series, spec.name)
    season = profile(s).season_length if spec.seasonal else 1
    hold = holdout_origins * horizon
    if len(s) - hold < 100 + horizon * cv_origins:
        hold = max(5 * horizon, (len(s) - 100) // 3)
        holdout_origins = max(5, hold // horizon)
    search = s.head(len(s) - hold)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    t0 = time.perf_counter()

    def objective(trial: Any) -> float:
        params = SPACES[spec.name](trial)
        try:
            return float(backtest(search, spec.name, horizon, strategy, cv_origins, season_length=season,
                                  params=params).metrics["rmae"])
        except (ForecastError, ValueError) as exc:
            log.info("trial %d failed: %s", trial.number, exc)
            return float("inf")

    study.optimize(objective, n_trials=n_trials, timeout=timeout_s)
    best = SPACES[spec.name](optuna.trial.FixedTrial(study.best_params))
    tuned = backtest(s, spec.name, horizon, strategy, holdout_origins, season_length=season, params=best)
    default = backtest(s, spec.name, horizon, strategy, holdout_origins, season_length=season)
    return {"model": spec.name, "best_params": best, "cv_rmae": study.best_value, "trials": len(study.trials),
            "seconds": round(time.perf_counter() - t0, 3), "holdout_origins": len(tuned.origins),
            "holdout": {"tuned": {k: tuned.metrics[k] for k in ("rmae", "mase", "grade", "verdict")},
                        "default": {k: default.metrics[k] for k in ("rmae", "mase", "grade", "verdict")}},
            "improved": bool(tuned.metrics["rmae"] < default.metrics["rmae"]),
            "note": "CV objective on data before the hold-out; hold-out figures are out of sample for both"}
