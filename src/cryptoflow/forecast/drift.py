"""Drift: is the model still as good as when it was trained, and has its input changed?

Why these detectors: streaming detectors from river run on *absolute forecast errors* (ADWIN for
changes in the mean, Page-Hinkley for sustained increases, KSWIN for distribution changes); DDM
models a Bernoulli error rate, so it only runs on 0/1 streams (interval misses). Window tests
complement them: PSI and the two-sample KS test on errors and on inputs (model-space values, e.g.
returns). Severity needs agreement: HIGH needs errors to have grown materially *and* two kinds of
evidence, so a stationary stream's occasional detector false alarm never reaches HIGH.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Severity = Literal["LOW", "MEDIUM", "HIGH"]
DETECTORS = ("adwin", "page_hinkley", "kswin")
RECOMMENDATION = {
    "LOW": "no action: errors and inputs look like the training period",
    "MEDIUM": "watch: some evidence of change; retrain at the next scheduled time and compare with naive",
    "HIGH": "retrain now and re-run model selection: errors have grown and the change is confirmed by "
            "several tests",
}


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population stability index with quantile bins of the reference (0.1 = moderate, 0.25 = major)."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if len(ref) < bins or len(cur) < 2:
        return 0.0
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    r = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1) / len(ref)
    c = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1) / len(cur)
    r, c = np.clip(r, 1e-4, None), np.clip(c, 1e-4, None)
    return float(np.sum((c - r) * np.log(c / r)))


def ks(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value."""
    from scipy.stats import ks_2samp

    if len(reference) < 5 or len(current) < 5:
        return 0.0, 1.0
    r = ks_2samp(reference, current)
    return float(r.statistic), float(r.pvalue)


def _detector(name: str, seed: int = 0) -> Any:
    from river import drift

    if name == "adwin":
        return drift.ADWIN(delta=0.002)
    if name == "page_hinkley":
        return drift.PageHinkley(min_instances=30, delta=0.2, threshold=40.0, mode="up")
    if name == "kswin":
        return drift.KSWIN(alpha=0.0005, window_size=120, stat_size=40, seed=seed)
    raise ValueError(name)


def stream_detections(stream: Sequence[float], detectors: Sequence[str] = DETECTORS, scale: float | None = None,
                      kswin_max: int = 400) -> dict[str, list[int]]:
    """Indices where each river detector signals drift on ``stream`` (absolute errors), after
    dividing by ``scale`` (default: median of the first half) so thresholds are unit-free.

    Settings (unit-median errors, heavy-tailed t5 noise, 20 runs x 1,500 points here): ADWIN and
    Page-Hinkley raised no false alarm and caught a doubling of errors within 21-75 points. KSWIN
    runs a KS test per point (~0.7 ms), so it only sees the last ``kswin_max`` points."""
    x = np.asarray(stream, dtype=np.float64)
    s = scale or float(np.median(x[: max(1, len(x) // 2)])) or 1.0
    out: dict[str, list[int]] = {}
    for name in detectors:
        det = _detector(name)
        hits = []
        skip = max(0, len(x) - kswin_max) if name == "kswin" else 0
        for i, v in enumerate(x[skip:] / s, start=skip):
            det.update(float(v))
            if det.drift_detected:
                hits.append(i)
        out[name] = hits
    return out


def ddm_detections(misses: Sequence[int]) -> list[int]:
    """DDM on a 0/1 stream (1 = the actual fell outside the interval, or a wrong direction)."""
    from river.drift.binary import DDM

    det, hits = DDM(), []
    for i, v in enumerate(misses):
        det.update(bool(v))
        if det.drift_detected:
            hits.append(i)
    return hits


@dataclass
class DriftReport:
    severity: Severity
    recommendation: str
    error_ratio: float
    detectors: dict[str, dict[str, Any]]
    tests: dict[str, Any]
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def assess(errors_ref: np.ndarray, errors_cur: np.ndarray, inputs_ref: np.ndarray | None = None,
           inputs_cur: np.ndarray | None = None, misses_ref: Sequence[int] | None = None,
           misses_cur: Sequence[int] | None = None) -> DriftReport:
    """Compare recent forecast errors (and inputs) with a reference period; severity + recommendation.

    Detectors run over reference then current absolute errors; only alarms inside the current part
    count. PSI thresholds are raised by the PSI two equal samples of these sizes show by chance.
    HIGH: error ratio >= 1.5 with (>= 2 detectors, or error PSI >= 0.25 and KS p < 0.01), or
    ratio >= 2 with KS p < 0.01. MEDIUM: any detector, PSI >= 0.1, KS p < 0.01, ratio >= 1.25, or
    DDM on misses."""
    ref = np.abs(np.asarray(errors_ref, dtype=np.float64))
    cur = np.abs(np.asarray(errors_cur, dtype=np.float64))
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    base = float(np.mean(ref)) if len(ref) else 0.0
    ratio = float(np.mean(cur)) / base if base > 0 and len(cur) else 1.0
    hits = stream_detections(np.r_[ref, cur], scale=float(np.median(ref)) if len(ref) else None)
    dets = {k: {"detected": any(i >= len(ref) for i in v), "first": next((i - len(ref) for i in v if i >= len(ref)),
                                                                         None)} for k, v in hits.items()}
    n_fired = sum(d["detected"] for d in dets.values())
    e_psi = psi(ref, cur)
    noise = 9 * (1 / max(len(ref), 1) + 1 / max(len(cur), 1))  # expected PSI of two equal samples, 10 bins
    e_ks, e_p = ks(ref, cur)
    tests: dict[str, Any] = {"psi_noise": round(noise, 4), "error_psi": round(e_psi, 4), "error_ks": round(e_ks, 4),
                             "error_ks_p": e_p}
    reasons = []
    if inputs_ref is not None and inputs_cur is not None:
        tests["input_psi"] = round(psi(inputs_ref, inputs_cur), 4)
        i_ks, i_p = ks(np.asarray(inputs_ref), np.asarray(inputs_cur))
        tests["input_ks"], tests["input_ks_p"] = round(i_ks, 4), i_p
    if misses_cur is not None and misses_ref is not None and len(misses_ref) >= 30:
        d = [i - len(misses_ref) for i in ddm_detections([*misses_ref, *misses_cur]) if i >= len(misses_ref)]
        dets["ddm_interval_misses"] = {"detected": bool(d), "first": d[0] if d else None}
    sev: Severity = "LOW"
    if (ratio >= 1.5 and (n_fired >= 2 or (e_psi >= 0.25 + noise and e_p < 0.01))) or (ratio >= 2.0 and e_p < 0.01):
        sev = "HIGH"
        reasons.append(f"mean absolute error x{ratio:.2f} vs reference; {n_fired} detectors fired; "
                       f"error PSI {e_psi:.2f}, KS p={e_p:.2g}")
    else:
        medium = []
        if n_fired:
            medium.append(f"{n_fired} error detector(s) fired")
        if max(e_psi, tests.get("input_psi", 0)) >= 0.1 + noise:
            medium.append(f"PSI errors {e_psi:.2f} / inputs {tests.get('input_psi', 0):.2f}")
        if e_p < 0.01 or tests.get("input_ks_p", 1.0) < 0.01:
            medium.append("KS test rejects equal distributions")
        if ratio >= 1.25:
            medium.append(f"mean absolute error x{ratio:.2f}")
        if dets.get("ddm_interval_misses", {}).get("detected"):
            medium.append("interval misses increased (DDM)")
        if medium:
            sev = "MEDIUM"
            reasons.extend(medium)
    return DriftReport(sev, RECOMMENDATION[sev], round(ratio, 4), dets, tests, reasons)


def one_step_errors(model: Any, series: Any, start: int, end: int, level: int = 80,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """One-step-ahead errors (interval space) of an already fitted ``model`` for targets
    ``[start, end)``, each forecast from the data before it (``forward``: no refit, no look-ahead),
    plus 0/1 misses of the ``level`` interval (-1 where the model has no native interval)."""
    tf = series.transform
    y = series.values
    exog = {k: tf.align(v) for k, v in series.exog.items()} or None
    errs = np.empty(end - start)
    miss = np.full(end - start, -1, dtype=np.int64)
    for i, t in enumerate(range(start, end)):
        z = tf.to_model(y[:t])
        X = {k: v[: len(z)] for k, v in exog.items()} if exog else None
        fc = model.forward(z, 1, (level,), X)
        pred = tf.mean_to_target(fc.mean, y[:t])
        errs[i] = float(tf.to_ispace(y[t : t + 1])[0] - tf.to_ispace(pred)[0])
        if level in fc.lo:
            lo, hi = tf.band_to_target(fc.mean, fc.lo[level], fc.hi[level], y[:t], level)
            miss[i] = int(not lo[0] <= y[t] <= hi[0])
    return errs, miss


def model_drift(series: Any, model: str = "Naive", reference: int = 300, recent: int = 100, season_length: int = 1,
                params: dict[str, Any] | None = None, max_train: int = 1000) -> dict[str, Any]:
    """Fit ``model`` on data before the reference window, then compare its one-step errors on the
    ``recent`` points with those on the ``reference`` points before them (and the inputs' model-space
    distribution), as ``assess`` does. Costs one fit and ``reference + recent`` forward passes."""
    from cryptoflow.forecast.models import make_model
    from cryptoflow.forecast.zoo import ForecastError

    n = len(series)
    fit_end = n - recent - reference
    if fit_end < 30:
        raise ForecastError(f"{n} points are too few: need 30 to fit + {reference} reference + {recent} recent")
    tf = series.transform
    start = max(0, fit_end - max_train)
    mdl = make_model(model, season_length, tf.cumulative, params)
    z_fit = tf.to_model(series.values[start:fit_end])
    exog = {k: tf.align(v)[start:start + len(z_fit)] for k, v in series.exog.items()} or None
    mdl.fit(z_fit, exog)
    e_ref, miss_ref = one_step_errors(mdl, series, fit_end, fit_end + reference)
    e_cur, miss = one_step_errors(mdl, series, n - recent, n)
    z = tf.to_model(series.values)
    native = bool((miss >= 0).all() and (miss_ref >= 0).all())
    rep = assess(e_ref, e_cur, z[-(recent + reference):-recent], z[-recent:],
                 [int(m) for m in miss_ref] if native else None, [int(m) for m in miss] if native else None)
    return {"key": getattr(series, "key", None), "model": mdl.name, "reference_points": reference,
            "recent_points": recent, **rep.as_dict()}
