"""The model zoo: every forecasting model cryptoflow knows, whether it is installed, and what it can do.

The table is data, not code, so ``list_forecast_models`` and the router read the same facts. Speed
classes come from fits on 500 points on this 2-core machine (see ``cryptoflow bench forecast``):
``instant`` < 2 ms, ``fast`` < 20 ms, ``medium`` < 0.5 s, ``slow`` beyond. ``intervals`` says where
prediction intervals come from: ``native`` (the model's own distribution) or ``conformal`` (from the
rolling-origin backtest errors, with a coverage check). Installation is probed with
``importlib.util.find_spec`` so nothing heavy is imported to answer "is it there?".
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from cryptoflow.errors import CryptoflowError

Family = Literal["baseline", "statistical", "volatility", "ml", "deep", "foundation"]
Speed = Literal["instant", "fast", "medium", "slow"]
SPEED_RANK: dict[str, int] = {"instant": 0, "fast": 1, "medium": 2, "slow": 3}


class ForecastError(CryptoflowError):
    """A forecast could not be made as asked (bad input, too little data, unknown model)."""


class ModelNotInstalledError(ForecastError):
    """The model lives in an optional extra that is not installed; the message says which one."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What one zoo entry is and needs. ``requires`` are importable module names; ``extra`` is the
    pip extra that brings them (``None`` = core dependency)."""

    name: str
    family: Family
    speed: Speed
    intervals: Literal["native", "conformal"]
    exogenous: bool
    requires: tuple[str, ...]
    extra: str | None
    seasonal: bool
    min_length: int
    description: str

    @property
    def installed(self) -> bool:
        return all(_has_module(m) for m in self.requires)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["requires"] = list(self.requires)
        d["installed"] = self.installed
        d["install_hint"] = None if self.installed else install_hint(self)
        return d


@cache
def _has_module(name: str) -> bool:
    """Whether ``name`` is importable, without importing it. For a dotted name the file is looked up
    under the top package's directory (``find_spec`` of a submodule would import its parents, and
    importing darts takes seconds)."""
    top, _, rest = name.partition(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    if spec is None or not rest:
        return spec is not None
    sub = rest.replace(".", "/")
    return any((Path(loc) / f"{sub}.py").is_file() or (Path(loc) / sub / "__init__.py").is_file()
               for loc in spec.submodule_search_locations or ())


def install_hint(spec: ModelSpec) -> str:
    if spec.extra:
        return f"pip install 'cryptoflow[{spec.extra}]'"
    return "pip install " + " ".join(spec.requires)


_SF = ("statsforecast",)
_ML = ("mlforecast",)
# darts' torch models need its [torch] extra (torch + pytorch_lightning); Chronos-2 came in darts 0.38
_DARTS = ("darts", "torch", "pytorch_lightning")
_CHRONOS2 = "darts.models.forecasting.chronos2_model"


def _m(name: str, family: Family, speed: Speed, intervals: str, exog: bool, requires: tuple[str, ...],
       extra: str | None, seasonal: bool, min_length: int, description: str) -> ModelSpec:
    return ModelSpec(name, family, speed, intervals, exog, requires, extra, seasonal,  # type: ignore[arg-type]
                     min_length, description)


MODELS: dict[str, ModelSpec] = {s.name: s for s in [
    _m("Naive", "baseline", "instant", "native", False, _SF, None, False, 3,
       "last value (on prices: zero return, the random walk); the yardstick for every skill figure"),
    _m("SeasonalNaive", "baseline", "instant", "native", False, _SF, None, True, 6, "value one season ago"),
    _m("RandomWalkWithDrift", "baseline", "instant", "native", False, _SF, None, False, 5,
       "last value plus the average step"),
    _m("WindowAverage", "baseline", "instant", "conformal", False, _SF, None, False, 5,
       "mean of the last window"),
    _m("HAR", "volatility", "instant", "native", False, (), None, False, 40,
       "heterogeneous autoregression of log realized volatility on 1/5/22-bar averages (Corsi)"),
    _m("Theta", "statistical", "fast", "native", False, _SF, None, True, 10, "theta method"),
    _m("AutoTheta", "statistical", "fast", "native", False, _SF, None, True, 10, "theta variants, best by fit"),
    _m("Holt", "statistical", "fast", "native", False, _SF, None, False, 10, "additive trend smoothing"),
    _m("MSTL", "statistical", "fast", "native", False, _SF, None, True, 20,
       "multiple-season decomposition + AutoETS on the remainder"),
    _m("GARCH", "volatility", "fast", "conformal", False, _SF, None, False, 50,
       "GARCH(1,1) on bar returns; forecasts the conditional volatility"),
    _m("ARCH", "volatility", "fast", "conformal", False, _SF, None, False, 50, "ARCH(1) on bar returns"),
    _m("AutoETS", "statistical", "medium", "native", False, _SF, None, True, 10,
       "exponential smoothing state space, model chosen by AICc"),
    _m("AutoCES", "statistical", "medium", "native", False, _SF, None, True, 10, "complex exponential smoothing"),
    _m("AutoARIMA", "statistical", "medium", "native", False, _SF, None, True, 20,
       "ARIMA chosen by stepwise search under a model-count budget"),
    _m("AutoTBATS", "statistical", "slow", "native", False, _SF, None, True, 30,
       "trigonometric seasonality, Box-Cox, ARMA errors"),
    _m("LightGBM", "ml", "medium", "conformal", True, (*_ML, "lightgbm"), None, True, 60,
       "gradient boosting on lag, rolling, calendar and order-flow features (recursive)"),
    _m("RandomForest", "ml", "slow", "conformal", True, (*_ML, "sklearn"), None, True, 60,
       "random forest on the same features"),
    _m("Ridge", "ml", "medium", "conformal", True, (*_ML, "sklearn"), None, True, 40,
       "ridge regression on the same features"),
    _m("LinearRegression", "ml", "medium", "conformal", True, (*_ML, "sklearn"), None, True, 40,
       "least squares on the same features"),
    _m("XGBoost", "ml", "medium", "conformal", True, (*_ML, "xgboost"), "ml", True, 60,
       "XGBoost on the same features"),
    _m("CatBoost", "ml", "medium", "conformal", True, (*_ML, "catboost"), "ml", True, 60,
       "CatBoost on the same features"),
    *[_m(n, "deep", "slow", "native", False, _DARTS, "deep", False, 200, d) for n, d in [
        ("NBEATS", "N-BEATS (darts)"), ("NHiTS", "N-HiTS (darts)"), ("TFT", "temporal fusion transformer (darts)"),
        ("TCN", "temporal convolutional network (darts)"), ("LSTM", "LSTM recurrent network (darts)"),
        ("GRU", "GRU recurrent network (darts)"), ("Transformer", "vanilla transformer (darts)"),
    ]],
    _m("PatchTST", "deep", "slow", "native", False, ("neuralforecast", "torch"), "deep", False, 200,
       "PatchTST (neuralforecast)"),
    _m("Prophet", "statistical", "slow", "native", False, ("prophet",), "prophet", True, 50,
       "Prophet additive trend/seasonality"),
    _m("Chronos", "foundation", "slow", "native", False, (*_DARTS, _CHRONOS2), "chronos", False, 20,
       "Chronos-2 zero-shot, weights loaded from a local directory (never downloaded)"),
]}


def get_spec(name: str) -> ModelSpec:
    """Spec by name (case-insensitive); the error lists what exists."""
    spec = MODELS.get(name) or {k.lower(): v for k, v in MODELS.items()}.get(name.lower())
    if spec is None:
        raise ForecastError(f"unknown model {name!r}; models are: {', '.join(MODELS)} (or 'auto')")
    return spec


def require_installed(spec: ModelSpec) -> None:
    if not spec.installed:
        missing = [m for m in spec.requires if not _has_module(m)]
        raise ModelNotInstalledError(
            f"model {spec.name} needs {', '.join(missing)} which is not installed: {install_hint(spec)}")


def list_models(family: str | None = None, installed_only: bool = False) -> list[dict[str, Any]]:
    """Every zoo entry as a dict (name, family, speed, intervals, exogenous, installed, install_hint ...)."""
    out = [s.as_dict() for s in MODELS.values() if family in (None, s.family)]
    return [d for d in out if d["installed"]] if installed_only else out


def installed_names() -> frozenset[str]:
    return frozenset(n for n, s in MODELS.items() if s.installed)
