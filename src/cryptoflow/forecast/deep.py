"""Optional deep-learning and foundation models: darts (N-BEATS, N-HiTS, TFT, TCN, LSTM/GRU,
Transformer, Chronos-2), neuralforecast (PatchTST) and Prophet, imported only when used.

Why optional: torch alone is ~1 GB, and on near-random-walk prices these models do worse than naive
(measured: LightGBM and a small N-BEATS lost to the last price). When a library is missing,
``list_forecast_models`` shows ``installed=False`` and calling the model raises
``ModelNotInstalledError`` naming the extra (``pip install 'cryptoflow[deep]'`` etc.).
Chronos loads weights from a local directory only (``params["local_dir"]``): nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cryptoflow.forecast.models import Exog, Forecaster, ModelForecast
from cryptoflow.forecast.zoo import ForecastError, get_spec, require_installed

DARTS_CLASSES = {"NBEATS": "NBEATSModel", "NHiTS": "NHiTSModel", "TFT": "TFTModel", "TCN": "TCNModel",
                 "LSTM": "RNNModel", "GRU": "RNNModel", "Transformer": "TransformerModel", "Chronos": "Chronos2Model"}


class DartsModel(Forecaster):
    """A darts global model on one series: probabilistic via quantile regression, so intervals come
    from sampled paths. Input/output chunk lengths default to 4x / 1x the horizon bucket."""

    def __init__(self, name: str, season_length: int = 1, params: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.name = name
        self.params = dict(params or {})
        self.season_length = season_length
        self.model: Any = None

    def _build(self, h: int) -> Any:
        import darts.models as dm
        from darts.utils.likelihood_models import QuantileRegression

        p = dict(self.params)
        p.pop("exog_lag", None)
        cls = getattr(dm, DARTS_CLASSES[self.name])
        if self.name == "Chronos":
            if "local_dir" not in p:
                raise ForecastError("Chronos needs params['local_dir'] with a saved checkpoint (no downloads)")
            return cls(input_chunk_length=p.pop("input_chunk_length", 64), output_chunk_length=max(h, 1), **p)
        icl = p.pop("input_chunk_length", max(4 * h, 2 * self.season_length, 24))
        kw: dict[str, Any] = {"input_chunk_length": icl, "n_epochs": p.pop("n_epochs", 20), "random_state": 0,
                              "likelihood": QuantileRegression([0.025, 0.1, 0.5, 0.9, 0.975]),
                              "pl_trainer_kwargs": {"accelerator": "gpu" if p.pop("use_gpu", False) else "cpu",
                                                    "enable_progress_bar": False}}
        if self.name in ("LSTM", "GRU"):
            kw.update(model=self.name, training_length=icl + h)
        else:
            kw["output_chunk_length"] = p.pop("output_chunk_length", h)
        kw.update(p)
        return cls(**kw)

    def fit(self, z: np.ndarray, X: Exog | None = None) -> DartsModel:
        super().fit(z, X)
        self.model = None  # built at predict time, when the horizon is known
        return self

    def forward(self, z: np.ndarray, h: int, levels: Sequence[int] = (80, 95), X: Exog | None = None,
                ) -> ModelForecast:
        from darts import TimeSeries

        ts = TimeSeries.from_values(np.asarray(z, dtype=np.float32))
        if self.model is None:
            self.model = self._build(h)
            self.model.fit(TimeSeries.from_values(np.asarray(self._z, dtype=np.float32)))
        samples = self.model.predict(h, series=ts, num_samples=200).all_values()[:, 0, :]  # h x samples
        out = ModelForecast(np.median(samples, axis=1).astype(np.float64))
        for lv in levels:
            a = (1 - lv / 100) / 2
            out.lo[lv], out.hi[lv] = (np.quantile(samples, q, axis=1).astype(np.float64) for q in (a, 1 - a))
        return out


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
    """neuralforecast's PatchTST with conformal-free native quantiles (MQLoss)."""

    name = "PatchTST"

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.params = {k: v for k, v in (params or {}).items() if k != "exog_lag"}

    def forward(self, z, h, levels=(80, 95), X=None):
        import pandas as pd
        from neuralforecast import NeuralForecast
        from neuralforecast.losses.pytorch import MQLoss
        from neuralforecast.models import PatchTST

        model = PatchTST(h=h, input_size=self.params.pop("input_size", 4 * h), loss=MQLoss(level=list(levels)),
                         max_steps=self.params.pop("max_steps", 200), **self.params)
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
