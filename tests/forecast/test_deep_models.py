"""Optional deep/foundation models through the normal forecast API (skipped without darts + torch).

Run where the extra is installed (``pip install -e '.[dev,chronos]'``). Nothing is downloaded: the
Chronos-2 test builds a tiny randomly initialised checkpoint (config.json + model.safetensors, the
files darts' ``Chronos2Model(local_dir=...)`` reads) in a temporary directory, with HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("darts")
pytest.importorskip("torch")
pytest.importorskip("pytorch_lightning")

from cryptoflow.forecast.deep import bands_from_quantiles
from cryptoflow.forecast.models import make_model
from cryptoflow.forecast.service import forecast
from cryptoflow.forecast.targets import TargetSeries
from cryptoflow.forecast.zoo import ForecastError, get_spec, list_models

from .conftest import HOUR, T0, seasonal_ar

QUANTILES = [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]  # Chronos-2's grid, thinned


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # any hub access fails instead of downloading


def series(n: int = 260) -> TargetSeries:
    y = seasonal_ar(n, seed=5)
    return TargetSeries(y, "funding", "1h", T0 + HOUR * np.arange(n), key="sim:X:perp:funding:1h")


def check_forecast(res, h: int, last: float) -> None:
    assert len(res.point) == h and np.all(np.isfinite(res.point))
    assert set(res.intervals) == {"80", "95"}
    for lv in ("80", "95"):
        lo, hi = np.array(res.intervals[lv]["lower"]), np.array(res.intervals[lv]["upper"])
        assert lo.shape == hi.shape == (h,) and np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))
        assert np.all(lo <= np.array(res.point) + 1e-9) and np.all(np.array(res.point) <= hi + 1e-9)
    assert np.all(np.array(res.intervals["95"]["lower"]) <= np.array(res.intervals["80"]["lower"]) + 1e-9)
    assert np.all(np.array(res.intervals["95"]["upper"]) >= np.array(res.intervals["80"]["upper"]) - 1e-9)
    assert abs(res.point[0] - last) < 50  # on the series' scale (standardisation undone), not near 0
    bt = res.backtest
    assert bt["origins"] >= 20 and np.isfinite(bt["rmae"]) and bt["interval_method"] == "native"
    assert "Backtest over" in res.skill


def test_installed_flags_see_the_extra() -> None:
    by = {m["name"]: m for m in list_models()}
    for name in ("NBEATS", "NHiTS", "Chronos"):
        assert by[name]["installed"] and by[name]["install_hint"] is None
    assert not get_spec("NHiTS").exogenous  # the adapter does not feed covariates: the flag says so


def test_quantile_bands_interpolate_between_grid_points() -> None:
    q = np.array([[0.0, 4.0, 9.0, 10.0, 11.0, 16.0, 20.0]])
    fc = bands_from_quantiles([0.01, 0.05, 0.1, 0.5, 0.9, 0.95, 0.99], q, (80, 95))
    assert fc.mean[0] == 10.0 and fc.lo[80][0] == pytest.approx(9.0) and fc.hi[80][0] == pytest.approx(11.0)
    assert fc.lo[95][0] == pytest.approx(1.5) and fc.hi[95][0] == pytest.approx(18.5)  # 2.5% / 97.5% interpolated


@pytest.mark.parametrize("model", ["NHiTS", "NBEATS"])
def test_tiny_nbeats_nhits_forecast_through_the_service(model: str) -> None:
    s = series()
    tiny = {"n_epochs": 1, "num_stacks": 1, "num_blocks": 1, "num_layers": 1, "layer_widths": 8, "batch_size": 64,
            "input_chunk_length": 24}
    res = forecast(s, 6, model=model, params=tiny, strategy="walkforward", time_budget_s=60)
    assert res.model == model and res.reason == "requested by the caller"
    check_forecast(res, 6, float(s.values[-1]))
    assert res.backtest["refits"] <= 4  # walk-forward: a refit every 5 origins, trained models reused between
    assert res.fitted is not None and res.fitted.state()["quantiles"] == [0.025, 0.1, 0.5, 0.9, 0.975]


SMALL = {"TFT": {"hidden_size": 4, "lstm_layers": 1, "num_attention_heads": 1, "hidden_continuous_size": 4},
         "TCN": {"num_filters": 2, "kernel_size": 3}, "LSTM": {"hidden_dim": 4}, "GRU": {"hidden_dim": 4},
         "Transformer": {"d_model": 8, "nhead": 2, "num_encoder_layers": 1, "num_decoder_layers": 1,
                         "dim_feedforward": 8}}


@pytest.mark.parametrize("name", list(SMALL))
def test_other_darts_models_fit_and_roll_forward(name: str) -> None:
    """One epoch of each other darts adapter: quantile bands in order, on the data's scale, and ``forward``
    on a longer history reuses the fit (recurrent models sample paths: their output chunk is one step)."""
    z = seasonal_ar(220, seed=2)
    m = make_model(name, 1, False, {"n_epochs": 1, "input_chunk_length": 24, **SMALL[name]})
    for fc in (m.fit_predict(z[:-5], 6, (80, 95)), m.forward(z, 6, (80, 95))):
        assert fc.mean.shape == (6,) and np.all(np.isfinite(fc.mean)) and np.all(np.abs(fc.mean - 50) < 40)
        assert np.all(fc.lo[95] <= fc.lo[80] + 1e-9) and np.all(fc.lo[80] <= fc.hi[80])
        assert np.all(fc.hi[80] <= fc.hi[95] + 1e-9)


def save_tiny_chronos2(d: Path, seed: int = 0) -> Path:
    """A randomly initialised Chronos-2 with a few hundred parameters, saved like a hub checkpoint."""
    import torch
    from darts.models.forecasting.chronos2_model import _Chronos2Module
    from safetensors.torch import save_file

    cfg = {"chronos_config": {"context_length": 64, "input_patch_size": 8, "input_patch_stride": 8,
                              "output_patch_size": 8, "max_output_patches": 4, "quantiles": QUANTILES,
                              "time_encoding_scale": 64, "use_arcsinh": True, "use_reg_token": True},
           "d_model": 8, "d_kv": 4, "d_ff": 16, "num_layers": 1, "num_heads": 2, "dropout_rate": 0.0,
           "feed_forward_proj": "relu", "layer_norm_epsilon": 1e-6, "rope_theta": 10000.0}
    torch.manual_seed(seed)
    module = _Chronos2Module(**cfg, input_chunk_length=64, output_chunk_length=8)
    d.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(d / "model.safetensors"))
    (d / "config.json").write_text(json.dumps(cfg))
    return d


def test_tiny_chronos2_zero_shot_from_a_local_dir(tmp_path: Path) -> None:
    ckpt = save_tiny_chronos2(tmp_path / "chronos2")
    assert os.path.getsize(ckpt / "model.safetensors") < 200_000
    s = series(200)
    res = forecast(s, 8, model="Chronos", params={"local_dir": str(ckpt)})
    assert res.model == "Chronos"
    check_forecast(res, 8, float(s.values[-1]))
    assert res.fitted is not None and res.fitted.state()["quantiles"] == QUANTILES
    # the same checkpoint gives the same zero-shot forecast (nothing trained, nothing random at inference)
    again = forecast(s, 8, model="Chronos", params={"local_dir": str(ckpt)})
    assert np.allclose(again.point, res.point)
    # beyond the checkpoint's longest one-shot forecast (4 patches of 8), and without the files: refused
    with pytest.raises(ForecastError, match="at most 32 steps"):
        forecast(s, 40, model="Chronos", params={"local_dir": str(ckpt)}, n_origins=20)
    with pytest.MonkeyPatch.context() as mp:  # the default directory, as the MCP tools use it
        mp.setenv("CRYPTOFLOW_CHRONOS_DIR", str(ckpt))
        assert np.allclose(forecast(s, 8, model="Chronos").point, res.point)
    (tmp_path / "empty").mkdir()
    for bad in ({}, {"local_dir": str(tmp_path / "empty")}):
        with pytest.raises(ForecastError, match="never downloaded"):
            forecast(s, 8, model="Chronos", params=bad)
