"""Machine-learning forecasters through mlforecast: LightGBM, random forest, ridge/linear (and
XGBoost/CatBoost when installed), on lag, rolling-window and calendar features plus exogenous
order-flow columns (funding, OI change, CVD, book imbalance ...).

Why exogenous columns are lagged by the horizon: their future values are unknown when the forecast
is made, so each enters as its value ``exog_lag`` bars earlier (the backtest and the service set
``exog_lag = horizon``); every feature used for step h is then known at the forecast origin - no
look-ahead. Steps beyond ``exog_lag`` hold the last known value. Threads are pinned to 1 (2 cores
here; LightGBM's default threading was 5x slower).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from cryptoflow.forecast.models import Exog, Forecaster, ModelForecast
from cryptoflow.forecast.zoo import ForecastError

DEFAULTS: dict[str, dict[str, Any]] = {
    "LightGBM": {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 20,
                 "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8},
    "RandomForest": {"n_estimators": 100, "max_depth": 8, "min_samples_leaf": 5},
    "Ridge": {"alpha": 1.0},
    "LinearRegression": {},
    "XGBoost": {"n_estimators": 200, "learning_rate": 0.05, "max_depth": 4},
    "CatBoost": {"iterations": 200, "learning_rate": 0.05, "depth": 4},
}
FEATURE_KEYS = ("n_lags", "windows", "exog_lag", "horizon", "season_length")


def estimator(name: str, params: dict[str, Any]) -> Any:
    """The regressor for ``name`` with defaults overridden by ``params`` (single-threaded, seeded)."""
    p = {**DEFAULTS.get(name, {}), **params}
    if name == "LightGBM":
        import lightgbm as lgb

        return lgb.LGBMRegressor(n_jobs=1, verbosity=-1, random_state=0, **p)
    if name == "RandomForest":
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(n_jobs=1, random_state=0, **p)
    if name == "Ridge":
        from sklearn.linear_model import Ridge

        return Ridge(**p)
    if name == "LinearRegression":
        from sklearn.linear_model import LinearRegression

        return LinearRegression(**p)
    if name == "XGBoost":
        import xgboost as xgb

        return xgb.XGBRegressor(n_jobs=1, random_state=0, **p)
    if name == "CatBoost":
        import catboost as cb

        return cb.CatBoostRegressor(thread_count=1, random_seed=0, verbose=False, **p)
    raise ForecastError(f"{name} is not an ML model")


def calendar_features(ts_ns: np.ndarray) -> Exog:
    """Hour-of-day and day-of-week as sine/cosine pairs (crypto trades 24/7 but activity does not)."""
    sec = np.asarray(ts_ns, dtype=np.int64) // 1_000_000_000
    hour = (sec % 86_400) / 3600.0
    dow = ((sec // 86_400) + 3) % 7  # 1970-01-01 was a Thursday
    return {"hour_sin": np.sin(2 * np.pi * hour / 24), "hour_cos": np.cos(2 * np.pi * hour / 24),
            "dow_sin": np.sin(2 * np.pi * dow / 7), "dow_cos": np.cos(2 * np.pi * dow / 7)}


class MLModel(Forecaster):
    """Recursive multi-step forecaster: mlforecast builds lags/rolling stats of the target; exogenous
    columns enter lagged by ``exog_lag``. Intervals are conformal (from the backtest)."""

    native_intervals = False

    def __init__(self, name: str, season_length: int = 1, params: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.name = name
        p = dict(params or {})
        self.season_length = int(p.pop("season_length", season_length))
        self.n_lags = int(p.pop("n_lags", 12))
        self.windows = [int(w) for w in p.pop("windows", [max(self.season_length, 12)])]
        self.exog_lag = max(1, int(p.pop("exog_lag", p.pop("horizon", 1))))
        self.est_params = p
        self.fc: Any = None
        self.exog_cols: list[str] = []

    def _lags(self) -> list[int]:
        lags = list(range(1, self.n_lags + 1))
        if self.season_length > self.n_lags:
            lags.append(self.season_length)
        return lags

    def _frame(self, z: np.ndarray, X: Exog | None) -> Any:
        import pandas as pd

        cols: dict[str, Any] = {"unique_id": np.zeros(len(z), dtype=np.int64), "ds": np.arange(len(z)), "y": z}
        for c in self.exog_cols:
            v = np.asarray((X or {})[c], dtype=np.float64)
            lagged = np.full(len(z), np.nan)
            lagged[self.exog_lag:] = v[:-self.exog_lag] if self.exog_lag < len(v) else np.nan
            cols[f"{c}_lag{self.exog_lag}"] = lagged
        return pd.DataFrame(cols)

    def _future(self, z: np.ndarray, X: Exog | None, h: int) -> Any:
        import pandas as pd

        if not self.exog_cols:
            return None
        n = len(z)
        cols: dict[str, Any] = {"unique_id": np.zeros(h, dtype=np.int64), "ds": np.arange(n, n + h)}
        for c in self.exog_cols:
            v = np.asarray((X or {})[c], dtype=np.float64)
            idx = np.minimum(np.arange(n, n + h) - self.exog_lag, n - 1)  # hold the last known value
            cols[f"{c}_lag{self.exog_lag}"] = v[idx]
        return pd.DataFrame(cols)

    def fit(self, z, X=None):
        from mlforecast import MLForecast
        from mlforecast.lag_transforms import RollingMean, RollingStd

        super().fit(z, X)
        self.exog_cols = sorted(X) if X else []
        df = self._frame(self._z, X)
        if self.exog_cols:
            df = df.iloc[self.exog_lag:]
        need = max(self._lags() + self.windows) + 10
        if len(df) < need:
            raise ForecastError(f"{self.name} needs at least {need} points with these lags, got {len(df)}")
        self.fc = MLForecast(
            models={self.name: estimator(self.name, self.est_params)}, freq=1, lags=self._lags(),
            lag_transforms={1: [t(w) for w in self.windows for t in (RollingMean, RollingStd)]}, num_threads=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.fc.fit(df, static_features=[])
        return self

    def forward(self, z, h, levels=(80, 95), X=None):
        if self.fc is None:
            raise ForecastError(f"{self.name} must be fitted first")
        z = np.asarray(z, dtype=np.float64)
        df = self._frame(z, X)
        if self.exog_cols:
            df = df.iloc[self.exog_lag:]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self.fc.predict(h, new_df=df, X_df=self._future(z, X, h))
        return ModelForecast(out[self.name].to_numpy(dtype=np.float64))

    def predict(self, h: int, levels: Sequence[int] = (80, 95)) -> ModelForecast:
        if self.fc is None or self._z is None:
            raise ForecastError(f"{self.name} must be fitted first")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self.fc.predict(h, X_df=self._future(self._z, self._X, h))
        return ModelForecast(out[self.name].to_numpy(dtype=np.float64))

    def feature_importance(self) -> dict[str, float]:
        """Importance per feature (gain-free split counts for LightGBM, impurity for forests, |coef|
        for linear models), normalised to sum 1."""
        if self.fc is None:
            return {}
        est = self.fc.models_[self.name]
        names = list(self.fc.ts.features_order_)
        raw = getattr(est, "feature_importances_", None)
        if raw is None and hasattr(est, "coef_"):
            raw = np.abs(np.ravel(est.coef_))
        if raw is None:
            return {}
        raw = np.asarray(raw, dtype=np.float64)
        total = raw.sum() or 1.0
        return dict(sorted(((n, float(v / total)) for n, v in zip(names, raw, strict=False)),
                           key=lambda kv: -kv[1]))

    def state(self) -> dict[str, Any]:
        return {"lags": self._lags(), "windows": self.windows, "exog": self.exog_cols, "exog_lag": self.exog_lag,
                **{k: v for k, v in self.est_params.items() if isinstance(v, (int, float, str))}}
