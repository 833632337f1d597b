"""Forecasting: model zoo, router, rolling-origin backtests, ensembles, intervals, drift, registry,
tuning, explanations and live forecasts - every forecast with its evidence against naive.

Typical use (what the MCP forecast tools wrap)::

    series = load_target(lake, "price", "binance_usdm", "BTCUSDT", interval="1m")   # or TargetSeries(...)
    res = forecast(series, horizon=12, priority="fast", registry=Registry.open(data_dir))
    res.model, res.reason, res.point, res.intervals["80"], res.backtest["rmae"], res.skill

    backtest_forecast(series, "AutoETS", 12, strategy="walkforward")
    cross_validate(series, ["Naive", "Theta", "LightGBM"], 12, strategies=("expanding", "purged"))
    forecast_ensemble(series, ["Naive", "Theta", "SeasonalNaive"], "inverse_error")
    tune(series, "LightGBM", 12, n_trials=20, timeout_s=60)
    model_drift(series, "Naive");  explain_forecast(series, "LightGBM")
    list_models()                                   # zoo with installed / family / speed / intervals
    series, notes = attach_exog(lake, series, "binance_usdm", "BTCUSDT", "perp", ["funding", "cvd"])
    forecast(series, 12, model="LightGBM").exog     # order-flow features used (no look-ahead)

Honesty rules (see DESIGN "Forecasting honesty"): skill is always stated against the naive
forecast on the same rolling origins (>= 20, refit per origin, no look-ahead); improvements are
claimed only when a Diebold-Mariano test says so; the grade never comes from MAPE.

Heavy libraries (statsforecast, mlforecast, lightgbm, optuna, river, scipy, torch) are imported
inside the functions that use them: importing this package is cheap.
"""

from __future__ import annotations

from cryptoflow.forecast.backtest import STRATEGIES, BacktestResult, backtest, make_origins
from cryptoflow.forecast.drift import assess, model_drift
from cryptoflow.forecast.ensemble import forecast_ensemble
from cryptoflow.forecast.exog import FEATURES as EXOG_FEATURES
from cryptoflow.forecast.exog import attach_exog, load_exog
from cryptoflow.forecast.explain import explain_forecast
from cryptoflow.forecast.registry import Registry
from cryptoflow.forecast.router import RouteDecision, route
from cryptoflow.forecast.service import ForecastResult, backtest_forecast, cross_validate, forecast
from cryptoflow.forecast.targets import TargetSeries, bars_from_ticks, load_target, realized_volatility
from cryptoflow.forecast.tuning import tune
from cryptoflow.forecast.zoo import MODELS, ForecastError, ModelNotInstalledError, list_models

__all__ = [
    "EXOG_FEATURES",
    "MODELS",
    "STRATEGIES",
    "BacktestResult",
    "ForecastError",
    "ForecastResult",
    "ModelNotInstalledError",
    "Registry",
    "RouteDecision",
    "TargetSeries",
    "assess",
    "attach_exog",
    "backtest",
    "backtest_forecast",
    "bars_from_ticks",
    "cross_validate",
    "explain_forecast",
    "forecast",
    "forecast_ensemble",
    "list_models",
    "load_exog",
    "load_target",
    "make_origins",
    "model_drift",
    "realized_volatility",
    "route",
    "tune",
]
