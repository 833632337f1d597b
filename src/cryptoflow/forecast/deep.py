"""Optional deep-learning and foundation models: darts (N-BEATS, N-HiTS, TFT, TCN, LSTM/GRU,
Transformer, Chronos-2), neuralforecast (PatchTST) and Prophet, imported only when used.

Why optional: torch alone is ~1 GB, and on near-random-walk prices these models do worse than naive
(measured: LightGBM and a small N-BEATS lost to the last price). When a library is missing,
``list_forecast_models`` shows ``installed=False`` and calling the model raises
``ModelNotInstalledError`` naming the extra (``pip install 'cryptoflow[deep]'`` etc.).

Intervals are native: darts models are trained with quantile regression (and Chronos-2 was
pre-trained on a fixed quantile grid), so the forecast is a set of quantiles per step; a central
``level`` % band is read off that quantile function by linear interpolation (Chronos-2 has no
2.5% quantile, so the 95% band interpolates between its 1% and 5% quantiles).

Chronos loads weights from a local directory only (``params["local_dir"]``, else the directory in
``$CRYPTOFLOW_CHRONOS_DIR`` - how the MCP tools reach it - holding ``config.json`` and
``model.safetensors``, the layout darts' ``Chronos2Model(local_dir=...)`` reads). darts would
download from the Hugging Face hub when a file is missing there, so the directory is checked first
and a missing file is an error: nothing is ever downloaded.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cryptoflow.forecast.models import Exog, Forecaster, ModelForecast
from cryptoflow.forecast.zoo import ForecastError, get_spec, require_installed

log = logging.getLogger(__name__)
DARTS_CLASSES = {"NBEATS": "NBEATSModel", "NHiTS": "NHiTSModel", "TFT": "TFTModel", "TCN": "TCNModel",
                 "LSTM": "RNNModel", "GRU": "RNNModel", "Transformer": "TransformerModel", "Chronos": "Chronos2Model"}
CHRONOS_FILES = ("config.json", "model.safetensors")
CHRONOS_DIR_ENV = "CRYPTOFLOW_CHRONOS_DIR"  # default checkpoint directory (what the MCP tools use)


def level_quantiles(levels: Sequence[int]) -> list[float]:
    """The quantiles a set of central interval levels needs, plus the median."""
    qs = {0.5}
    for lv in levels:
        a = round((1 - lv / 100) / 2, 6)
        qs.update((a, round(1 - a, 6)))
    return sorted(qs)


def bands_from_quantiles(q_levels: Sequence[float], q_values: np.ndarray, levels: Sequence[int]) -> ModelForecast:
    """``q_values`` is (h, len(q_levels)); the median is the point forecast and each level's band is
    read off the per-step quantile function (linear interpolation, clamped at the outer quantiles)."""
    ql = np.asarray(q_levels, dtype=np.float64)
    qv = np.sort(np.asarray(q_values, dtype=np.float64), axis=1)  # quantile crossing would invert bands

    def at(p: float) -> np.ndarray:
        return np.array([np.interp(p, ql, row) for row in qv])

    out = ModelForecast(at(0.5))
    for lv in levels:
        a = (1 - lv / 100) / 2
        out.lo[lv], out.hi[lv] = at(a), at(1 - a)
    return out


def check_chronos_dir(local_dir: Any) -> Path:
    """The checkpoint directory must hold both files darts reads; otherwise darts would try the hub."""
    if not local_dir:
        raise ForecastError(f"Chronos needs params['local_dir'] or ${CHRONOS_DIR_ENV}: a directory with config.json "
                            "and model.safetensors (weights are never downloaded)")
    d = Path(local_dir).expanduser()
    missing = [f for f in CHRONOS_FILES if not (d / f).is_file()]
    if missing:
        raise ForecastError(f"Chronos checkpoint directory {d} lacks {', '.join(missing)}; put a saved Chronos-2 "
                            "checkpoint there (weights are never downloaded)")
    return d


class DartsModel(Forecaster):
    """A darts model on one series with native quantile intervals.

    Trained models (N-BEATS, N-HiTS, ...) are fitted on the standardised series (a few epochs of SGD
    on raw levels like 30,000 would not converge) and predict the quantiles of ``level_quantiles``
    in one shot (output chunk = horizon); recurrent models (one step at a time) sample paths instead.
    Chronos-2 is zero-shot: "fit" loads the local checkpoint, the forecast conditions on the history.
    Defaults are small (``n_epochs`` 20); every darts constructor argument can be given in ``params``.
    """

    def __init__(self, name: str, season_length: int = 1, params: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.name = name
        self.params = {k: v for k, v in (params or {}).items() if k != "exog_lag"}
        self.season_length = season_length
        self.model: Any = None
        self.quantiles: list[float] = []
        self.built_h = 0
        self.mu, self.sd = 0.0, 1.0

    @property
    def zero_shot(self) -> bool:
        return self.name == "Chronos"

    def _trainer(self, p: dict[str, Any]) -> dict[str, Any]:
        kw = {"accelerator": "gpu" if p.pop("use_gpu", False) else "cpu", "enable_progress_bar": False,
              "logger": False, "enable_model_summary": False, "enable_checkpointing": False}
        kw.update(p.pop("pl_trainer_kwargs", {}))
        return kw

    def _build(self, h: int, levels: Sequence[int], n: int) -> Any:
        import darts.models as dm
        import torch
        from darts.utils.likelihood_models import QuantileRegression

        p = dict(self.params)
        torch.set_num_threads(int(p.pop("torch_threads", 1)))  # 2 cores here: more threads only contend
        cls = getattr(dm, DARTS_CLASSES[self.name])
        trainer = self._trainer(p)
        if self.zero_shot:
            d = check_chronos_dir(p.pop("local_dir", None) or os.environ.get(CHRONOS_DIR_ENV))
            cc = json.loads((d / "config.json").read_text())["chronos_config"]
            max_h = int(cc["output_patch_size"]) * int(cc["max_output_patches"])
            if h > max_h:
                raise ForecastError(f"this Chronos checkpoint forecasts at most {max_h} steps at once, asked {h}")
            self.quantiles = sorted(float(q) for q in cc["quantiles"])
            icl = min(int(p.pop("input_chunk_length", cc["context_length"])), int(cc["context_length"]), n)
            return cls(input_chunk_length=icl, output_chunk_length=h, local_dir=str(d),
                       likelihood=QuantileRegression(self.quantiles), pl_trainer_kwargs=trainer, **p)
        self.quantiles = level_quantiles(levels)
        icl = int(p.pop("input_chunk_length", max(4 * h, 2 * self.season_length, 24)))
        recurrent = self.name in ("LSTM", "GRU")
        if n < icl + h + 1:
            raise ForecastError(f"{self.name} needs at least {icl + h + 1} points (input chunk {icl} + horizon {h}); "
                                f"{n} points are too few")
        kw: dict[str, Any] = {"input_chunk_length": icl, "n_epochs": p.pop("n_epochs", 20),
                              "random_state": p.pop("random_state", 0),
                              "likelihood": QuantileRegression(self.quantiles), "pl_trainer_kwargs": trainer}
        if recurrent:
            kw.update(model=self.name, training_length=icl + h)
        else:
            kw["output_chunk_length"] = p.pop("output_chunk_length", h)
        if self.name == "TFT":  # no covariates here: its attention needs a future input, the relative index
            kw["add_relative_index"] = True
        kw.update(p)
        return cls(**kw)

    def fit(self, z: np.ndarray, X: Exog | None = None) -> DartsModel:
        super().fit(z, X)
        self.model = None  # built at predict time, when the horizon is known
        return self

    def _series(self, z: np.ndarray) -> Any:
        from darts import TimeSeries

        return TimeSeries.from_values(((np.asarray(z, dtype=np.float64) - self.mu) / self.sd).astype(np.float32))

    def _ensure_model(self, h: int, levels: Sequence[int]) -> None:
        if self.model is not None and h <= self.built_h and set(level_quantiles(levels)) <= set(self.quantiles):
            return
        if self._z is None:
            raise ForecastError(f"{self.name} must be fitted first")
        z = self._z
        if not self.zero_shot:
            self.mu, self.sd = float(np.mean(z)), float(np.std(z)) or 1.0
        self.model = self._build(h, levels, len(z))
        self.built_h = h
        try:
            self.model.fit(self._series(z))
        except ValueError as e:  # darts' own "series too short" and argument errors
            raise ForecastError(f"{self.name} could not be fitted: {e}") from e

    def forward(self, z: np.ndarray, h: int, levels: Sequence[int] = (80, 95), X: Exog | None = None,
                ) -> ModelForecast:
        self._ensure_model(h, levels)
        ts = self._series(z)
        ocl = getattr(self.model, "output_chunk_length", 1) or 1
        if h <= ocl:
            pred = self.model.predict(h, series=ts, predict_likelihood_parameters=True, verbose=False)
            fc = bands_from_quantiles(self.quantiles, pred.values(), levels)
        else:  # recurrent: sample paths step by step
            samples = self.model.predict(h, series=ts, num_samples=200, verbose=False).all_values()[:, 0, :]
            fc = ModelForecast(np.median(samples, axis=1).astype(np.float64))
            for lv in levels:
                a = (1 - lv / 100) / 2
                fc.lo[lv], fc.hi[lv] = (np.quantile(samples, q, axis=1).astype(np.float64) for q in (a, 1 - a))
        fc.mean = fc.mean * self.sd + self.mu
        for lv in fc.lo:
            fc.lo[lv] = fc.lo[lv] * self.sd + self.mu
            fc.hi[lv] = fc.hi[lv] * self.sd + self.mu
        return fc

    def state(self) -> dict[str, Any]:
        return {"quantiles": self.quantiles, "horizon_built": self.built_h,
                **{k: v for k, v in self.params.items() if isinstance(v, (int, float, str))}}


class ProphetModel(Forecaster):
    """Prophet on a synthetic daily index (our bars are regular); intervals from Prophet's sampling."""

    name = "Prophet"

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.params = {k: v for k, v in (params or {}).items() if k != "exog_lag"}

    def forward(self, z, h, levels=(80, 95), X=None):
        import pandas as pd
        from prophet import Prophet

        out = ModelForecast(np.empty(h))
        df = pd.DataFrame({"ds": pd.date_range("2000-01-01", periods=len(z), freq="h"), "y": z})
        for i, lv in enumerate(levels or (80,)):
            m = Prophet(interval_width=lv / 100, **self.params).fit(df)
            fc = m.predict(m.make_future_dataframe(periods=h, freq="h", include_history=False))
            if i == 0:
                out.mean = fc["yhat"].to_numpy(dtype=np.float64)
            out.lo[lv], out.hi[lv] = fc["yhat_lower"].to_numpy(np.float64), fc["yhat_upper"].to_numpy(np.float64)
        return out


class NeuralForecastModel(Forecaster):
    """neuralforecast's PatchTST with native quantiles (MQLoss)."""

    name = "PatchTST"

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.params = {k: v for k, v in (params or {}).items() if k != "exog_lag"}

    def forward(self, z, h, levels=(80, 95), X=None):
        import pandas as pd
        from neuralforecast import NeuralForecast
        from neuralforecast.losses.pytorch import MQLoss
        from neuralforecast.models import PatchTST

        p = dict(self.params)
        model = PatchTST(h=h, input_size=p.pop("input_size", 4 * h), loss=MQLoss(level=list(levels)),
                         max_steps=p.pop("max_steps", 200), **p)
        nf = NeuralForecast(models=[model], freq=1)
        nf.fit(pd.DataFrame({"unique_id": 0, "ds": np.arange(len(z)), "y": z}))
        fc = nf.predict()
        out = ModelForecast(fc["PatchTST-median"].to_numpy(np.float64))
        for lv in levels:
            out.lo[lv] = fc[f"PatchTST-lo-{lv}"].to_numpy(np.float64)
            out.hi[lv] = fc[f"PatchTST-hi-{lv}"].to_numpy(np.float64)
        return out


def make_deep_model(name: str, season_length: int = 1, params: dict[str, Any] | None = None) -> Forecaster:
    """Adapter for an optional model; raises ``ModelNotInstalledError`` (with the pip extra) if absent."""
    spec = get_spec(name)
    require_installed(spec)
    if spec.name == "Prophet":
        return ProphetModel(params)
    if spec.name == "PatchTST":
        return NeuralForecastModel(params)
    if spec.name in DARTS_CLASSES:
        return DartsModel(spec.name, season_length, params)
    raise ForecastError(f"{name} is not an optional deep/foundation model")
