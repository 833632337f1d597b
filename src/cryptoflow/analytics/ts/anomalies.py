"""Point anomalies in a series: z-score, IQR, isolation forest, CUSUM, and an ensemble vote.

Why several: each method misses something. A global z-score is blind once the level drifts, so
scores here are *rolling robust* (median and MAD of the trailing window, so an outlier does not
inflate its own yardstick); IQR fences are distribution-free; the isolation forest sees unusual
(value, change) pairs; CUSUM accumulates small sustained deviations a point test misses. The
ensemble flags a point when at least ``min_votes`` methods agree, which trades a little recall
for much better precision.
"""

from __future__ import annotations

import numpy as np

from cryptoflow.analytics.explain import Result, Window, num

#: Default thresholds.
Z_THRESHOLD = 3.5  # robust z (MAD-scaled) beyond which a point is anomalous
IQR_K = 3.0  # fences at Q1 - k*IQR and Q3 + k*IQR ("far out" in Tukey's terms)
ROLLING_WINDOW = 100  # trailing points of the rolling robust statistics
IFOREST_CONTAMINATION = 0.01  # expected anomaly share for the isolation forest
IFOREST_TREES = 100
CUSUM_K = 0.5  # CUSUM allowance (in robust sigmas)
CUSUM_H = 5.0  # CUSUM decision threshold (in robust sigmas)
MIN_VOTES = 2  # ensemble: methods that must agree
MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution x this = its standard deviation
IQR_TO_SIGMA = 1.349  # IQR of a normal distribution / this = its standard deviation
MAX_LISTED = 100
METHODS = ("zscore", "iqr", "isolation_forest", "cusum")


def _robust_scale(x: np.ndarray) -> tuple[float, float]:
    med = float(np.median(x))
    mad = float(np.median(np.abs(x - med))) * MAD_TO_SIGMA
    return med, mad if mad > 0 else (float(np.std(x)) or 1.0)


def rolling_robust_z(x: np.ndarray, window: int = ROLLING_WINDOW) -> np.ndarray:
    """z_t = (x_t - median(x_{t-w..t-1})) / (IQR(x_{t-w..t-1}) / 1.349); the first points use the
    global median/MAD (no trailing window yet). IQR/1.349 is the standard deviation of a normal
    distribution, and like the median it ignores the few outliers inside the window."""
    n = len(x)
    med, mad = _robust_scale(x)
    z = (x - med) / mad
    if n > window + 1:
        import pandas as pd

        r = pd.Series(x).rolling(window)
        rmed = r.median().shift(1).to_numpy()
        scale = ((r.quantile(0.75) - r.quantile(0.25)) / IQR_TO_SIGMA).shift(1).to_numpy()
        scale = np.where(scale > 0, scale, mad)
        z[window + 1:] = ((x - rmed) / scale)[window + 1:]
    return z


def zscore(x: np.ndarray, threshold: float = Z_THRESHOLD, window: int = ROLLING_WINDOW) -> np.ndarray:
    """Flags |rolling robust z| >= threshold."""
    return np.abs(rolling_robust_z(x, window)) >= threshold


def iqr(x: np.ndarray, k: float = IQR_K) -> np.ndarray:
    """Flags points outside [Q1 - k*IQR, Q3 + k*IQR] of the whole series."""
    q1, q3 = np.percentile(x, [25, 75])
    spread = q3 - q1
    return (x < q1 - k * spread) | (x > q3 + k * spread)


def isolation_forest(x: np.ndarray, contamination: float = IFOREST_CONTAMINATION, seed: int = 0) -> np.ndarray:
    """Flags points the forest isolates quickly, on features (value, change from previous, robust z)."""
    from sklearn.ensemble import IsolationForest

    dx = np.concatenate([[0.0], np.diff(x)])
    feats = np.column_stack([x, dx, rolling_robust_z(x)])
    model = IsolationForest(n_estimators=IFOREST_TREES, contamination=contamination, random_state=seed, n_jobs=1)
    return model.fit_predict(feats) == -1


def cusum(x: np.ndarray, k: float = CUSUM_K, h: float = CUSUM_H, window: int = ROLLING_WINDOW) -> np.ndarray:
    """Two-sided CUSUM on rolling robust z-scores; flags the points where an alarm fires (then resets).

    S+_t = max(0, S+_{t-1} + z_t - k), S-_t = max(0, S-_{t-1} - z_t - k); alarm when either > h.
    """
    z = np.clip(rolling_robust_z(x, window), -50, 50)
    flags = np.zeros(len(x), dtype=bool)
    sp = sn = 0.0
    for i, zi in enumerate(z.tolist()):
        sp = max(0.0, sp + zi - k)
        sn = max(0.0, sn - zi - k)
        if sp > h or sn > h:
            flags[i] = True
            sp = sn = 0.0
    return flags


def detect(x: np.ndarray, ts_ns: np.ndarray | None = None, methods: tuple[str, ...] = METHODS,
           min_votes: int = MIN_VOTES, z_threshold: float = Z_THRESHOLD, iqr_k: float = IQR_K,
           contamination: float = IFOREST_CONTAMINATION, series: str = "series") -> Result:
    """Run the chosen methods and the ensemble vote; ``value`` = number of ensemble anomalies."""
    formula = (f"zscore: |rolling robust z| >= {z_threshold:g}; iqr: outside Q1-{iqr_k:g}IQR..Q3+{iqr_k:g}IQR; "
               f"isolation_forest: contamination {contamination:g}; cusum: k={CUSUM_K:g}, h={CUSUM_H:g}; "
               f"ensemble: votes >= {min_votes}")
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"unknown method(s) {bad}; methods are: {', '.join(METHODS)}")
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(x)
    window = Window(start_ns=int(ts_ns[0]) if ts_ns is not None and len(ts_ns) else None,
                    end_ns=int(ts_ns[-1]) + 1 if ts_ns is not None and len(ts_ns) else None,
                    observations=int(ok.sum()), resolution=series)
    if ok.sum() < 10:
        return Result(name="anomalies", value=None, formula=formula, window=window,
                      reading=f"need at least 10 finite points, have {int(ok.sum())}")
    xs = x[ok]
    runners = {"zscore": lambda: zscore(xs, z_threshold), "iqr": lambda: iqr(xs, iqr_k),
               "isolation_forest": lambda: isolation_forest(xs, contamination), "cusum": lambda: cusum(xs)}
    flags = {m: runners[m]() for m in methods}
    votes = np.sum([f.astype(int) for f in flags.values()], axis=0)
    need = min(min_votes, len(methods))
    ens = votes >= need
    idx_all = np.flatnonzero(ok)
    z = rolling_robust_z(xs)
    listed = np.flatnonzero(ens)
    listed = listed[np.argsort(-np.abs(z[listed]))][:MAX_LISTED]
    points = [{"index": int(idx_all[i]), "ts_ns": int(ts_ns[idx_all[i]]) if ts_ns is not None else None,
               "value": num(xs[i]), "robust_z": num(z[i], 3), "votes": int(votes[i]),
               "methods": [m for m in methods if flags[m][i]]} for i in sorted(listed)]
    return Result(
        name="anomalies", value=int(ens.sum()), formula=formula, unit="points", window=window,
        inputs={"methods": list(methods), "min_votes": need, "z_threshold": z_threshold, "iqr_k": iqr_k,
                "contamination": contamination},
        reading=f"{int(ens.sum())} anomalies agreed by >= {need} of {len(methods)} methods",
        details={"by_method": {m: int(f.sum()) for m, f in flags.items()}, "points": points,
                 "ensemble_indices": idx_all[ens].tolist()[:1000]})


__all__ = ["METHODS", "cusum", "detect", "iqr", "isolation_forest", "rolling_robust_z", "zscore"]
