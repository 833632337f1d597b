"""Seasonality: dominant periods by FFT periodogram, and an STL decomposition at the top period.

Periodogram: the series is linearly detrended and Hann-windowed, then ``|FFT|^2`` per frequency.
Peaks are ranked by power; significance of the top peak is Fisher's g test (the share of the
largest ordinate in the total, exact p-value for white noise). A period must repeat at least
``MIN_CYCLES`` times in the data to be reported.

STL (statsmodels ``STL``, robust) splits the series into trend + seasonal + remainder at the chosen
period; strengths follow Hyndman & Athanasopoulos: ``F_s = max(0, 1 - var(R) / var(S + R))``,
``F_t = max(0, 1 - var(R) / var(T + R))``. statsmodels is installed here; if it is missing the
documented fallback is a classical decomposition (centred moving-average trend, per-phase mean
seasonal), flagged in the result.
"""

from __future__ import annotations

import math

import numpy as np

from cryptoflow.analytics.explain import Result, Window, num

MIN_CYCLES = 3  # a period must fit this many times in the series
TOP_PERIODS = 5
SIGNIFICANCE = 0.01  # Fisher g-test level for "significant"


def fisher_g_pvalue(g: float, m: int) -> float:
    """P(max periodogram share >= g) for white noise with m ordinates (Fisher 1929).

    The exact alternating sum for m <= 50; beyond that its first term m (1 - g)^(m-1), an upper
    bound that is accurate where it matters (small p) and avoids the sum's cancellation."""
    if g <= 0:
        return 1.0
    if m > 50:
        return float(min(1.0, math.exp(math.log(m) + (m - 1) * math.log1p(-min(g, 1 - 1e-12)))))
    p = 0.0
    for k in range(1, min(m, int(1 / g)) + 1):
        term = math.comb(m, k) * (1 - k * g) ** (m - 1)
        p += term if k % 2 else -term
    return float(min(max(p, 0.0), 1.0))


def periodogram(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies in cycles per sample, power) of the detrended, Hann-windowed series (no DC)."""
    n = len(x)
    t = np.arange(n)
    slope, icpt = np.polyfit(t, x, 1)
    y = (x - (slope * t + icpt)) * np.hanning(n)
    power = np.abs(np.fft.rfft(y)) ** 2
    freqs = np.fft.rfftfreq(n)
    return freqs[1:], power[1:]


def fft_periods(x: np.ndarray, step_s: float = 1.0, top: int = TOP_PERIODS) -> Result:
    """Dominant periods (in samples and seconds), their power share, and the top peak's p-value."""
    formula = ("P(f) = |FFT(hann * detrended x)|^2; periods = 1/f at local maxima of P ranked by power; "
               "g = max P / sum P, Fisher p-value")
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n < 4 * MIN_CYCLES:
        return Result(name="fft_periods", value=None, formula=formula, window=Window(observations=n),
                      reading=f"need at least {4 * MIN_CYCLES} points")
    f, p = periodogram(x)
    keep = f * n >= MIN_CYCLES
    f, p = f[keep], p[keep]
    if not len(p) or p.sum() <= 0:
        return Result(name="fft_periods", value=None, formula=formula, window=Window(observations=n),
                      reading="flat series: no periodicity")
    peaks = np.flatnonzero((p >= np.roll(p, 1)) & (p >= np.roll(p, -1)))
    peaks = peaks[np.argsort(-p[peaks])][:top]
    total = float(p.sum())
    out = []
    for i in peaks:
        # refine the period by the power-weighted mean frequency of the peak and its neighbours
        j = np.arange(max(i - 1, 0), min(i + 2, len(p)))
        fr = float(np.sum(f[j] * p[j]) / np.sum(p[j]))
        out.append({"period_samples": num(1 / fr, 3), "period_s": num(step_s / fr, 3),
                    "power_share": num(p[i] / total, 4)})
    g = float(p.max() / total)
    pval = fisher_g_pvalue(g, len(p))
    best = out[0]
    return Result(name="fft_periods", value=best["period_s"], formula=formula, unit="seconds",
                  window=Window(observations=n, resolution=f"{step_s:g}s samples"),
                  inputs={"step_s": step_s, "min_cycles": MIN_CYCLES, "significance": SIGNIFICANCE},
                  reading=(f"dominant period {best['period_s']:g}s ({best['power_share']:.0%} of spectral power), "
                           f"{'significant' if pval < SIGNIFICANCE else 'not significant'} (p={pval:.2g})"),
                  details={"periods": out, "fisher_g": num(g, 4), "p_value": num(pval, 6),
                           "significant": pval < SIGNIFICANCE})


def _classical(x: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    kernel = np.ones(period) / period
    if period % 2 == 0:
        kernel = np.convolve(kernel, [0.5, 0.5])
    trend = np.convolve(x, kernel, mode="same")
    half = len(kernel) // 2
    trend[:half], trend[len(x) - half:] = trend[half], trend[len(x) - half - 1]
    detr = x - trend
    phase_mean = np.array([detr[i::period].mean() for i in range(period)])
    seasonal = np.resize(phase_mean - phase_mean.mean(), len(x))
    return trend, seasonal, x - trend - seasonal


def stl(x: np.ndarray, period: int, step_s: float = 1.0) -> Result:
    """STL decomposition at ``period`` samples: strengths of trend and seasonality, seasonal profile."""
    formula = "x = T + S + R (STL, robust); F_s = max(0, 1 - var(R)/var(S+R)); F_t = max(0, 1 - var(R)/var(T+R))"
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if period < 2 or len(x) < 2 * period + 1:
        return Result(name="stl", value=None, formula=formula, window=Window(observations=len(x)),
                      reading=f"need a period >= 2 and at least two full cycles ({2 * period + 1} points)")
    method = "STL (statsmodels, robust)"
    try:
        from statsmodels.tsa.seasonal import STL

        fit = STL(x, period=period, robust=True).fit()
        trend, seasonal, resid = np.asarray(fit.trend), np.asarray(fit.seasonal), np.asarray(fit.resid)
    except ImportError:
        method = "classical decomposition (statsmodels not installed)"
        trend, seasonal, resid = _classical(x, period)
    vr = float(np.var(resid))
    fs = max(0.0, 1 - vr / float(np.var(seasonal + resid))) if np.var(seasonal + resid) > 0 else 0.0
    ft = max(0.0, 1 - vr / float(np.var(trend + resid))) if np.var(trend + resid) > 0 else 0.0
    profile = np.array([seasonal[i::period].mean() for i in range(period)])
    return Result(name="stl", value=num(fs, 4), formula=formula, unit="seasonal strength in [0, 1]",
                  window=Window(observations=len(x), resolution=f"{step_s:g}s samples"),
                  inputs={"period_samples": period, "period_s": period * step_s, "method": method},
                  reading=f"seasonal strength {fs:.2f}, trend strength {ft:.2f} at period {period * step_s:g}s",
                  details={"seasonal_strength": num(fs, 4), "trend_strength": num(ft, 4),
                           "seasonal_amplitude": num(profile.max() - profile.min()),
                           "peak_phase": int(np.argmax(profile)), "trough_phase": int(np.argmin(profile)),
                           "profile": [num(v, 6) for v in profile[:500]], "method": method})


__all__ = ["MIN_CYCLES", "fft_periods", "fisher_g_pvalue", "periodogram", "stl"]
