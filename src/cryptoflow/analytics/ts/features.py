"""40+ descriptive features of any series, grouped: statistical, distribution, trend, volatility,
autocorrelation, complexity.

Conventions (so a trader can read them):

- "returns" are first differences of the series when it can be <= 0 (spreads, funding, delta)
  and log returns when it is strictly positive (prices, volumes, OI);
- Hurst exponent (rescaled range) and DFA are computed on the returns' profile, so a random-walk
  price gives ~0.5, a persistent (trending) one > 0.5, a mean-reverting one < 0.5;
- sample entropy uses m = 2, r = 0.2 * std, on the most recent ``SAMPEN_MAX_POINTS`` returns
  (it is O(n^2)); permutation entropy uses order 3, normalised to [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from cryptoflow.analytics.explain import Result, Window, num

SAMPEN_MAX_POINTS = 1_000
SAMPEN_M = 2
SAMPEN_R = 0.2
PERM_ORDER = 3
ACF_LAGS = (1, 2, 5, 10)
LJUNG_BOX_LAGS = 10
HIST_BINS = 20
#: Reading bands of the R/S Hurst exponent: wider than 0.5 +- 0.05 because R/S is biased upward by
#: ~0.05 on a few thousand points (white noise reads ~0.55).
HURST_HIGH = 0.6
HURST_LOW = 0.4

GROUPS = ("statistical", "distribution", "trend", "volatility", "autocorrelation", "complexity")


def _acf(r: np.ndarray, lag: int) -> float:
    if len(r) <= lag + 1:
        return math.nan
    a = r - r.mean()
    den = float(np.dot(a, a))
    return float(np.dot(a[:-lag], a[lag:]) / den) if den > 0 else math.nan


def _longest_run(mask: np.ndarray) -> int:
    if not mask.any():
        return 0
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def hurst_rs(r: np.ndarray) -> float:
    """Hurst exponent by rescaled range over window sizes 8 .. n/2 (log-spaced): slope of log R/S on log n."""
    n = len(r)
    if n < 32:
        return math.nan
    sizes = np.unique(np.floor(np.logspace(np.log10(8), np.log10(n // 2), 10)).astype(int))
    rs = []
    for s in sizes:
        m = n // s
        blocks = r[: m * s].reshape(m, s)
        dev = np.cumsum(blocks - blocks.mean(axis=1, keepdims=True), axis=1)
        rng = dev.max(axis=1) - dev.min(axis=1)
        sd = blocks.std(axis=1)
        ok = sd > 0
        rs.append(np.mean(rng[ok] / sd[ok]) if ok.any() else np.nan)
    rs = np.array(rs)
    ok = np.isfinite(rs) & (rs > 0)
    return float(np.polyfit(np.log(sizes[ok]), np.log(rs[ok]), 1)[0]) if ok.sum() >= 3 else math.nan


def dfa_alpha(r: np.ndarray) -> float:
    """Detrended fluctuation analysis exponent of the returns (0.5 = uncorrelated)."""
    n = len(r)
    if n < 32:
        return math.nan
    y = np.cumsum(r - r.mean())
    sizes = np.unique(np.floor(np.logspace(np.log10(4), np.log10(n // 4), 10)).astype(int))
    fl = []
    for s in sizes:
        m = n // s
        seg = y[: m * s].reshape(m, s)
        t = np.arange(s)
        coef = np.polyfit(t, seg.T, 1)
        fit = np.outer(coef[0], t) + coef[1][:, None]
        fl.append(np.sqrt(np.mean((seg - fit) ** 2)))
    fl = np.array(fl)
    ok = fl > 0
    return float(np.polyfit(np.log(sizes[ok]), np.log(fl[ok]), 1)[0]) if ok.sum() >= 3 else math.nan


def sample_entropy(r: np.ndarray, m: int = SAMPEN_M, r_frac: float = SAMPEN_R) -> float:
    """-log(A/B): B = pairs of length-m templates within r*std (Chebyshev), A = same for m+1."""
    x = r[-SAMPEN_MAX_POINTS:]
    n = len(x)
    tol = r_frac * float(x.std())
    if n < m + 10 or tol <= 0:
        return math.nan

    def pairs(k: int) -> int:
        t = np.lib.stride_tricks.sliding_window_view(x, k)[: n - m]
        d = np.max(np.abs(t[:, None, :] - t[None, :, :]), axis=2)
        return int((np.sum(d <= tol) - len(t)) // 2)

    b, a = pairs(m), pairs(m + 1)
    return float(-math.log(a / b)) if a > 0 and b > 0 else math.nan


def permutation_entropy(r: np.ndarray, order: int = PERM_ORDER) -> float:
    """Shannon entropy of ordinal patterns of length ``order``, normalised by log(order!)."""
    if len(r) < order + 10:
        return math.nan
    w = np.lib.stride_tricks.sliding_window_view(r, order)
    codes = np.argsort(w, axis=1) @ (order ** np.arange(order))
    _, counts = np.unique(codes, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum() / math.log(math.factorial(order)))


def _returns(x: np.ndarray) -> tuple[np.ndarray, str]:
    if np.all(x > 0):
        return np.diff(np.log(x)), "log returns"
    return np.diff(x), "differences"


def compute(x: np.ndarray) -> dict[str, dict[str, float | None]]:
    """Every feature, by group. NaN-free input of at least 10 points expected."""
    from scipy import stats

    n = len(x)
    r, _ = _returns(x)
    mean, sd = float(x.mean()), float(x.std(ddof=1)) if n > 1 else 0.0
    q = np.percentile(x, [5, 25, 50, 75, 95])
    t = np.arange(n)
    lin = stats.linregress(t, x) if n > 2 and np.ptp(x) > 0 else None
    hist, _ = np.histogram(x, bins=HIST_BINS)
    ph = hist[hist > 0] / n
    jb = stats.jarque_bera(x) if n > 2 else None
    cum = np.cumsum(r)
    peak = np.maximum.accumulate(np.concatenate([[0.0], cum]))
    trough = np.minimum.accumulate(np.concatenate([[0.0], cum]))
    absr = np.abs(r)
    roll = np.lib.stride_tricks.sliding_window_view(absr, min(20, len(absr))) if len(absr) >= 2 else None
    psd = np.abs(np.fft.rfft(x - mean))[1:] ** 2
    psd_p = psd / psd.sum() if psd.sum() > 0 else None
    lb = None
    if len(r) > LJUNG_BOX_LAGS + 2:
        acfs = np.array([_acf(r, k) for k in range(1, LJUNG_BOX_LAGS + 1)])
        qstat = float(len(r) * (len(r) + 2) * np.nansum(acfs**2 / (len(r) - np.arange(1, LJUNG_BOX_LAGS + 1))))
        lb = (qstat, float(stats.chi2.sf(qstat, LJUNG_BOX_LAGS)))
    acf_all = [_acf(r, k) for k in range(1, min(50, len(r) - 2))]
    zero_cross = next((k + 1 for k, a in enumerate(acf_all) if a <= 0), None)
    above = x > mean
    g: dict[str, dict[str, float | None]] = {
        "statistical": {
            "count": n, "mean": mean, "std": sd, "min": float(x.min()), "max": float(x.max()),
            "median": float(q[2]), "range": float(np.ptp(x)), "q05": float(q[0]), "q25": float(q[1]),
            "q75": float(q[3]), "q95": float(q[4]), "iqr": float(q[3] - q[1]),
            "coef_of_variation": sd / abs(mean) if mean else None,
            "mad": float(np.median(np.abs(x - q[2]))),
        },
        "distribution": {
            "skewness": float(stats.skew(x)) if sd > 0 else 0.0,
            "kurtosis_excess": float(stats.kurtosis(x)) if sd > 0 else 0.0,
            "jarque_bera": float(jb.statistic) if jb else None, "jarque_bera_p": float(jb.pvalue) if jb else None,
            "share_above_mean": float(above.mean()), "longest_run_above_mean": _longest_run(above),
            "longest_run_below_mean": _longest_run(~above),
            "outliers_3sd": int(np.sum(np.abs(x - mean) > 3 * sd)) if sd > 0 else 0,
            "histogram_entropy": float(-(ph * np.log(ph)).sum() / math.log(HIST_BINS)),
            "returns_skewness": float(stats.skew(r)) if len(r) > 2 and r.std() > 0 else None,
            "returns_kurtosis_excess": float(stats.kurtosis(r)) if len(r) > 3 and r.std() > 0 else None,
        },
        "trend": {
            "slope_per_step": float(lin.slope) if lin else 0.0, "r_squared": float(lin.rvalue**2) if lin else 0.0,
            "slope_t_stat": float(lin.slope / lin.stderr) if lin and lin.stderr > 0 else None,
            "net_change": float(x[-1] - x[0]),
            "net_change_pct": float((x[-1] / x[0] - 1) * 100) if x[0] else None,
            "mean_abs_change": float(np.mean(np.abs(np.diff(x)))),
            "efficiency_ratio": float(abs(x[-1] - x[0]) / np.sum(np.abs(np.diff(x)))) if np.ptp(x) > 0 else 0.0,
            "mean_crossings": int(np.sum(np.diff(above.astype(np.int8)) != 0)),
        },
        "volatility": {
            "returns_std": float(r.std(ddof=1)) if len(r) > 1 else None,
            "mean_abs_return": float(absr.mean()) if len(r) else None,
            "max_drawdown": float((np.concatenate([[0.0], cum]) - peak).min()) if len(r) else None,
            "max_runup": float((np.concatenate([[0.0], cum]) - trough).max()) if len(r) else None,
            "downside_deviation": float(np.sqrt(np.mean(np.minimum(r, 0) ** 2))) if len(r) else None,
            "upside_downside_ratio": float(np.sqrt(np.mean(np.maximum(r, 0) ** 2))
                                           / np.sqrt(np.mean(np.minimum(r, 0) ** 2)))
            if len(r) and np.any(r < 0) else None,
            "vol_of_vol": float(roll.mean(axis=1).std() / absr.mean())
            if roll is not None and absr.mean() > 0 else None,
            "largest_abs_return": float(absr.max()) if len(r) else None,
        },
        "autocorrelation": {
            **{f"acf_lag{k}": _acf(r, k) for k in ACF_LAGS},
            "acf_abs_lag1": _acf(absr, 1) if len(r) > 3 else None,
            "acf_sq_lag1": _acf(r**2, 1) if len(r) > 3 else None,
            "ljung_box_q10": lb[0] if lb else None, "ljung_box_p10": lb[1] if lb else None,
            "first_acf_zero_crossing": zero_cross, "level_acf_lag1": _acf(x, 1),
        },
        "complexity": {
            "hurst_exponent": hurst_rs(r), "dfa_alpha": dfa_alpha(r), "sample_entropy": sample_entropy(r),
            "permutation_entropy": permutation_entropy(r),
            "spectral_entropy": float(-(psd_p[psd_p > 0] * np.log(psd_p[psd_p > 0])).sum() / math.log(len(psd_p)))
            if psd_p is not None and len(psd_p) > 1 else None,
            "dominant_period_samples": float(n / (np.argmax(psd) + 1)) if len(psd) else None,
            "variance_ratio_5": float(np.var(np.convolve(r, np.ones(5), "valid")) / (5 * np.var(r)))
            if len(r) > 10 and np.var(r) > 0 else None,
        },
    }
    return {grp: {k: num(v, 8) if isinstance(v, float) else v for k, v in feats.items()} for grp, feats in g.items()}


def extract(x: np.ndarray, ts_ns: np.ndarray | None = None, groups: tuple[str, ...] = GROUPS,
            series: str = "series") -> Result:
    """All features of the chosen groups; ``value`` = the number of features computed."""
    formula = "see each group: moments and quantiles; linear fit; returns' volatility; ACF/Ljung-Box; Hurst (R/S), " \
              "DFA, sample/permutation/spectral entropy"
    bad = [g for g in groups if g not in GROUPS]
    if bad:
        raise ValueError(f"unknown feature group(s) {bad}; groups are: {', '.join(GROUPS)}")
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(x)
    window = Window(start_ns=int(ts_ns[0]) if ts_ns is not None and len(ts_ns) else None,
                    end_ns=int(ts_ns[-1]) + 1 if ts_ns is not None and len(ts_ns) else None,
                    observations=int(ok.sum()), resolution=series)
    if ok.sum() < 10:
        return Result(name="features", value=None, formula=formula, window=window,
                      reading=f"need at least 10 finite points, have {int(ok.sum())}")
    xs = x[ok]
    feats = {g: v for g, v in compute(xs).items() if g in groups}
    count = sum(len(v) for v in feats.values())
    h = feats.get("complexity", {}).get("hurst_exponent")
    kind = None if h is None else ("persistent/trending" if h > HURST_HIGH else "mean-reverting" if h < HURST_LOW
                                   else "random-walk-like")
    return Result(name="features", value=count, formula=formula, unit="features", window=window,
                  inputs={"groups": list(groups), "returns": _returns(xs)[1],
                          "sample_entropy_points": SAMPEN_MAX_POINTS},
                  reading=None if h is None else f"Hurst {h:.2f}: {kind}",
                  details=feats)


FEATURE_FUNCS: dict[str, Callable[[np.ndarray], float]] = {
    "hurst_exponent": hurst_rs, "dfa_alpha": dfa_alpha, "sample_entropy": sample_entropy,
    "permutation_entropy": permutation_entropy,
}

__all__ = ["GROUPS", "compute", "dfa_alpha", "extract", "hurst_rs", "permutation_entropy", "sample_entropy"]
