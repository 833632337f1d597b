"""Forecasters with one small interface, so the backtest, router and ensembles treat all alike.

A forecaster works in *model space* (see ``targets.Transform``): ``fit(z, X)``, ``predict(h, levels)``
from the end of the fitted data, and ``forward(z, h, levels)`` which applies the already estimated
parameters to a longer history without re-estimating (what walk-forward and blocked CV need between
refits). ``increments=True`` means ``z`` are steps of an integrated series (log returns of a price):
then "Naive" is the zero step and "RandomWalkWithDrift" the mean step, which is what those names
mean for the price itself.

Baselines and HAR are a few lines of numpy (microseconds, so a 20-origin backtest costs nothing);
the statistical models are statsforecast's numba-free classes, called directly on arrays (no
pandas); ML models live in ``ml.py``; optional deep/foundation models in ``deep.py``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cryptoflow.forecast.zoo import ForecastError, get_spec, require_installed

Exog = dict[str, np.ndarray]
_Z = {80: 1.2815515655446004, 95: 1.959963984540054, 90: 1.6448536269514722, 50: 0.6744897501960817,
      99: 2.5758293035489004}


def zq(level: int) -> float:
    """Two-sided normal quantile for a central ``level`` % interval."""
    if level in _Z:
        return _Z[level]
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 200.0))


@dataclass(slots=True)
class ModelForecast:
    """Point forecast and central intervals (per level) in model space; ``lo``/``hi`` empty when the
    model has no native intervals (they are then made by conformal calibration)."""

    mean: np.ndarray
    lo: dict[int, np.ndarray] = field(default_factory=dict)
    hi: dict[int, np.ndarray] = field(default_factory=dict)


def _gauss(mean: np.ndarray, sd: np.ndarray, levels: Sequence[int]) -> ModelForecast:
    return ModelForecast(mean, {lv: mean - zq(lv) * sd for lv in levels}, {lv: mean + zq(lv) * sd for lv in levels})


class Forecaster:
    """Base: subclasses implement ``fit`` and ``forward``; ``predict`` = forward on the fitted data."""

    name: str = "base"
    native_intervals: bool = True

    def __init__(self) -> None:
        self._z: np.ndarray | None = None
        self._X: Exog | None = None

    def fit(self, z: np.ndarray, X: Exog | None = None) -> Forecaster:
        self._z, self._X = np.asarray(z, dtype=np.float64), X
        return self

    def predict(self, h: int, levels: Sequence[int] = (80, 95)) -> ModelForecast:
        if self._z is None:
            raise ForecastError(f"{self.name} must be fitted before predict")
        return self.forward(self._z, h, levels, self._X)

    def forward(self, z: np.ndarray, h: int, levels: Sequence[int] = (80, 95), X: Exog | None = None) -> ModelForecast:
        raise NotImplementedError

    def fit_predict(self, z: np.ndarray, h: int, levels: Sequence[int] = (80, 95), X: Exog | None = None,
                    ) -> ModelForecast:
        return self.fit(z, X).predict(h, levels)

    def state(self) -> dict[str, Any]:
        """Estimated parameters worth recording in the registry (small, JSON-able)."""
        return {}


class Naive(Forecaster):
    """Last value, sd growing with sqrt(h); on increments the zero step with per-step sd."""

    name = "Naive"

    def __init__(self, increments: bool = False) -> None:
        super().__init__()
        self.increments = increments

    def forward(self, z, h, levels=(80, 95), X=None):
        steps = np.arange(1, h + 1)
        if self.increments:
            sd = float(np.sqrt(np.mean(z**2))) if len(z) else 0.0
            return _gauss(np.zeros(h), np.full(h, sd), levels)
        d = np.diff(z)
        sd = float(np.sqrt(np.mean(d**2))) if len(d) else 0.0
        return _gauss(np.full(h, z[-1]), sd * np.sqrt(steps), levels)


class SeasonalNaive(Forecaster):
    name = "SeasonalNaive"

    def __init__(self, season_length: int = 24) -> None:
        super().__init__()
        self.m = max(1, int(season_length))

    def forward(self, z, h, levels=(80, 95), X=None):
        m = self.m
        if len(z) < m + 1:
            return Naive().forward(z, h, levels)
        last = z[-m:]
        mean = last[np.arange(h) % m]
        res = z[m:] - z[:-m]
        sd = float(np.sqrt(np.mean(res**2)))
        k = np.arange(h) // m + 1
        return _gauss(mean, sd * np.sqrt(k), levels)


class RandomWalkWithDrift(Forecaster):
    name = "RandomWalkWithDrift"

    def __init__(self, increments: bool = False) -> None:
        super().__init__()
        self.increments = increments

    def forward(self, z, h, levels=(80, 95), X=None):
        steps = np.arange(1, h + 1)
        if self.increments:
            return _gauss(np.full(h, float(np.mean(z))), np.full(h, float(np.std(z, ddof=1))), levels)
        d = np.diff(z)
        drift = float(np.mean(d))
        sd = float(np.std(d, ddof=1))
        return _gauss(z[-1] + drift * steps, sd * np.sqrt(steps * (1 + steps / max(len(d), 1))), levels)


class WindowAverage(Forecaster):
    name = "WindowAverage"
    native_intervals = False

    def __init__(self, window_size: int = 24) -> None:
        super().__init__()
        self.window_size = max(1, int(window_size))

    def forward(self, z, h, levels=(80, 95), X=None):
        return ModelForecast(np.full(h, float(np.mean(z[-self.window_size:]))))


class HAR(Forecaster):
    """HAR (Corsi 2009) on log realized volatility: z_{t+1} = b0 + b1 z_t + b5 avg5 + b22 avg22.

    Strong, cheap and hard to beat for volatility; intervals from the residual sd, widened with the
    horizon towards the unconditional sd."""

    name = "HAR"

    def __init__(self, lags: tuple[int, int, int] = (1, 5, 22)) -> None:
        super().__init__()
        self.lags = lags
        self.coef: np.ndarray | None = None
        self.sigma = 0.0
        self.uncond_sd = 0.0

    def _features(self, z: np.ndarray) -> np.ndarray:
        cs = np.r_[0.0, np.cumsum(z)]
        n, cols = len(z), [np.ones(len(z))]
        for lag in self.lags:
            avg = np.full(n, np.nan)
            avg[lag - 1:] = (cs[lag:] - cs[:-lag]) / lag
            cols.append(avg)
        return np.column_stack(cols)

    def fit(self, z, X=None):
        super().fit(z, X)
        F = self._features(self._z)[:-1]
        target = self._z[1:]
        ok = np.all(np.isfinite(F), axis=1)
        if ok.sum() < 10:
            raise ForecastError(f"HAR needs at least {max(self.lags) + 10} points, got {len(z)}")
        self.coef, *_ = np.linalg.lstsq(F[ok], target[ok], rcond=None)
        res = target[ok] - F[ok] @ self.coef
        self.sigma = float(np.std(res, ddof=len(self.coef)))
        self.uncond_sd = float(np.std(self._z))
        return self

    def forward(self, z, h, levels=(80, 95), X=None):
        if self.coef is None:
            raise ForecastError("HAR must be fitted first")
        path = list(np.asarray(z[-max(self.lags):], dtype=np.float64))
        out = np.empty(h)
        for i in range(h):
            arr = np.asarray(path)
            x = np.r_[1.0, [arr[-lag:].mean() for lag in self.lags]]
            out[i] = float(x @ self.coef)
            path.append(out[i])
        sd = np.minimum(self.sigma * np.sqrt(np.arange(1, h + 1)), max(self.uncond_sd, self.sigma))
        return _gauss(out, sd, levels)

    def state(self):
        return {"coef": [round(float(c), 6) for c in (self.coef if self.coef is not None else [])],
                "sigma": self.sigma}


class GarchVol(Forecaster):
    """GARCH(p,q) / ARCH(p) on bar returns (column ``ret`` of the exogenous inputs), forecasting
    log volatility. Returns are standardised before fitting (statsforecast's optimiser assumes unit
    scale), and a level offset maps GARCH sigma onto the target's volatility measure."""

    native_intervals = False

    def __init__(self, p: int = 1, q: int = 1) -> None:
        super().__init__()
        self.p, self.q = p, q
        self.name = "ARCH" if q == 0 else "GARCH"
        self.coeff: np.ndarray | None = None
        self.offset = 0.0
        self.scale = 1.0

    def _ret(self, X: Exog | None) -> np.ndarray:
        if not X or "ret" not in X:
            raise ForecastError(f"{self.name} needs bar returns: use target='volatility' (which carries them)")
        return np.nan_to_num(np.asarray(X["ret"], dtype=np.float64))

    def _sigma2_path(self, r: np.ndarray) -> np.ndarray:
        c = self.coeff
        assert c is not None
        w, a = c[0], c[1:1 + self.p]
        b = c[1 + self.p:1 + self.p + self.q]
        s2 = np.full(len(r) + 1, np.var(r))
        for t in range(max(self.p, self.q), len(r) + 1):
            s2[t] = w + sum(a[i] * r[t - 1 - i] ** 2 for i in range(self.p)) + sum(
                b[j] * s2[t - 1 - j] for j in range(self.q))
        return s2

    def fit(self, z, X=None):
        from statsforecast.models import ARCH, GARCH

        super().fit(z, X)
        r = self._ret(X)
        self.scale = float(np.std(r)) or 1.0
        rs = r / self.scale
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = (ARCH(self.p) if self.q == 0 else GARCH(self.p, self.q)).fit(rs)
        self.coeff = np.asarray(m.model_["coeff"], dtype=np.float64)
        s2 = self._sigma2_path(rs)[1:]
        self.offset = float(np.mean(self._z - 0.5 * np.log(s2 * self.scale**2)))
        return self

    def forward(self, z, h, levels=(80, 95), X=None):
        if self.coeff is None:
            raise ForecastError(f"{self.name} must be fitted first")
        rs = self._ret(X) / self.scale
        s2_next = self._sigma2_path(rs)[-1]
        c = self.coeff
        persistence = float(np.sum(c[1:]))
        uncond = c[0] / (1 - persistence) if persistence < 0.999 else s2_next
        k = np.arange(h)
        s2 = uncond + (persistence**k) * (s2_next - uncond)
        return ModelForecast(0.5 * np.log(np.maximum(s2, 1e-300) * self.scale**2) + self.offset)

    def state(self):
        return {"coeff": [float(x) for x in (self.coeff if self.coeff is not None else [])], "scale": self.scale}


class StatsForecastModel(Forecaster):
    """Any statsforecast model class called on arrays; ``forward`` where the class supports it,
    otherwise a refit on the given history (said in ``state``). ``fit_window``: estimate on the
    most recent points only (``forward`` still filters the whole history given)."""

    def __init__(self, name: str, factory: Callable[[], Any], native_intervals: bool = True,
                 fit_window: int | None = None, note: str | None = None) -> None:
        super().__init__()
        self.name = name
        self.factory = factory
        self.native_intervals = native_intervals
        self.fit_window = fit_window
        self.note = note
        self.model: Any = None

    def _window(self, z: np.ndarray) -> np.ndarray:
        return z[-self.fit_window:] if self.fit_window else z

    def _out(self, res: dict[str, np.ndarray], levels: Sequence[int]) -> ModelForecast:
        mf = ModelForecast(np.asarray(res["mean"], dtype=np.float64))
        for lv in levels:
            if f"lo-{lv}" in res:
                mf.lo[lv] = np.asarray(res[f"lo-{lv}"], dtype=np.float64)
                mf.hi[lv] = np.asarray(res[f"hi-{lv}"], dtype=np.float64)
        return mf

    def _lv(self, levels: Sequence[int]) -> list[int] | None:
        return list(levels) if self.native_intervals and levels else None

    def fit(self, z, X=None):
        super().fit(z, X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model = self.factory().fit(y=self._window(self._z))
        return self

    def predict(self, h, levels=(80, 95)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._out(self.model.predict(h=h, level=self._lv(levels)), levels)

    def forward(self, z, h, levels=(80, 95), X=None):
        if self.model is None or not hasattr(self.model, "forward"):
            return self.fit_predict(z, h, levels, X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._out(self.model.forward(y=np.asarray(z, dtype=np.float64), h=h, level=self._lv(levels)),
                             levels)

    def fit_predict(self, z, h, levels=(80, 95), X=None):
        """Fit and predict, keeping the fitted model so ``forward`` (walk-forward, blocked CV, live
        refreshes) reuses it instead of silently refitting."""
        return self.fit(z, X).predict(h, levels)

    def state(self):
        out: dict[str, Any] = {k: v for k, v in (("fit_window", self.fit_window), ("note", self.note)) if v}
        m = getattr(self.model, "model_", None)
        if isinstance(m, dict):
            for k in ("method", "arma", "aicc", "aic"):
                v = m.get(k)
                if isinstance(v, (str, int, float)) or (isinstance(v, (list, tuple)) and len(v) < 10):
                    out[k] = v if not isinstance(v, float) else round(v, 4)
            return out
        return out


# AutoARIMA budget (issue 7: < 500 ms per auto fit). Measured on 2,000-point seasonal+AR(1) series,
# season 24, 2 cores: the old search (orders to 3+3, 20 models, all 500 capped points) took 750 ms
# median (2.0x AutoETS), over half of it the final exact-likelihood refit of the chosen
# (p,0,q)(1,1,1)_24 model, whose Kalman state holds ~2 x 24 lags and whose cost grows with the points
# fitted. So: estimate on the last 10 seasons (enough for one seasonal AR and MA coefficient), start
# the stepwise search at (1,d,1) instead of (2,d,2), orders p,q <= 2 (intraday bars rarely need more)
# and at most 10 models: ~0.9x AutoETS, and the known-answer backtests moved by < 0.01 rMAE
# (tests/forecast/test_zoo.py). Seasons beyond 24 bars are not fitted seasonally at all: season 60
# took 3 s to 5 min per fit here; MSTL is the model for long seasons (the router knows).
ARIMA_MAX_SEASON = 24
ARIMA_SEASONS_FITTED = 10
ARIMA_BUDGET = {"max_p": 2, "max_q": 2, "max_P": 1, "max_Q": 1, "max_order": 4, "nmodels": 10, "start_p": 1,
                "start_q": 1, "approximation": True}


def auto_arima(m: int, params: dict[str, Any]) -> StatsForecastModel:
    import statsforecast.models as sfm

    p = dict(params)
    seasonal = 1 < m <= ARIMA_MAX_SEASON
    window = p.pop("fit_window", max(200, ARIMA_SEASONS_FITTED * m) if seasonal else None)
    note = (f"season {m} is longer than {ARIMA_MAX_SEASON} bars: non-seasonal ARIMA (use MSTL for long seasons)"
            if m > ARIMA_MAX_SEASON else None)
    kw = {**ARIMA_BUDGET, "seasonal": seasonal, **p}
    kw["start_p"], kw["start_q"] = min(kw["start_p"], kw["max_p"]), min(kw["start_q"], kw["max_q"])
    return StatsForecastModel("AutoARIMA", lambda: sfm.AutoARIMA(season_length=m if seasonal else 1, **kw),
                              fit_window=window, note=note)


def _sf(name: str, m: int, params: dict[str, Any]) -> StatsForecastModel:
    import statsforecast.models as sfm

    seasonal = m if m > 1 else 1
    p = dict(params)
    if name == "AutoETS":
        return StatsForecastModel(name, lambda: sfm.AutoETS(season_length=seasonal, **p))
    if name == "AutoARIMA":
        return auto_arima(seasonal, p)
    if name == "AutoTheta":
        return StatsForecastModel(name, lambda: sfm.AutoTheta(season_length=seasonal, **p))
    if name == "Theta":
        return StatsForecastModel(name, lambda: sfm.Theta(season_length=seasonal, **p))
    if name == "Holt":
        return StatsForecastModel(name, lambda: sfm.Holt(**p))
    if name == "AutoCES":
        return StatsForecastModel(name, lambda: sfm.AutoCES(season_length=seasonal, **p))
    if name == "MSTL":
        seasons = p.pop("season_lengths", [seasonal])
        return StatsForecastModel(name, lambda: sfm.MSTL(season_length=seasons, **p))
    if name == "AutoTBATS":
        return StatsForecastModel(name, lambda: sfm.AutoTBATS(season_length=seasonal, **p))
    raise ForecastError(f"{name} is not a statsforecast model here")


def make_model(name: str, season_length: int = 1, increments: bool = False, params: dict[str, Any] | None = None,
               ) -> Forecaster:
    """A fresh, unfitted forecaster by zoo name. ``increments``: the model sees log returns of a
    price (so Naive/RandomWalkWithDrift keep their price meaning)."""
    spec = get_spec(name)
    require_installed(spec)
    p = dict(params or {})
    n = spec.name
    if n == "Naive":
        return Naive(increments)
    if n == "SeasonalNaive":
        return SeasonalNaive(p.get("season_length", season_length))
    if n == "RandomWalkWithDrift":
        return RandomWalkWithDrift(increments)
    if n == "WindowAverage":
        return WindowAverage(p.get("window_size", max(season_length, 12)))
    if n == "HAR":
        return HAR(tuple(p.get("lags", (1, 5, 22))))
    if n == "GARCH":
        return GarchVol(p.get("p", 1), p.get("q", 1))
    if n == "ARCH":
        return GarchVol(p.get("p", 1), 0)
    if spec.family == "ml":
        from cryptoflow.forecast.ml import MLModel

        return MLModel(n, season_length=season_length, params=p)
    if spec.family in ("deep", "foundation") or n == "Prophet":
        from cryptoflow.forecast.deep import make_deep_model

        return make_deep_model(n, season_length=season_length, params=p)
    return _sf(n, season_length, p)
