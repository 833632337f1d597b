"""Change points (shifts in level) of a series: CUSUM, binary segmentation, PELT.

- CUSUM: sequential, two-sided, self-starting (the reference is the current segment's mean so
  far), on the series standardised by a noise scale robust to level shifts (MAD of first
  differences / sqrt(2)); the change is dated at the last time the alarming sum was zero (the
  classic CUSUM change-time estimate), and a new segment starts there.
- Binary segmentation: ruptures ``Binseg(model="l2")``, penalised.
- PELT: ruptures ``KernelCPD(kernel="linear")``, which with a penalty runs PELT on the l2 cost in
  C (DESIGN.md: ~2000x faster than ruptures' pure-Python ``Pelt``; same segmentation).

Penalty (both ruptures methods): ``pen = PENALTY_BIC * sigma^2 * log(n)`` with sigma the same robust
noise scale: a BIC-style price per extra change point. Series longer than ``MAX_POINTS`` are
averaged in blocks first (indices are mapped back; the resolution is reported).
"""

from __future__ import annotations

import numpy as np

from cryptoflow.analytics.explain import Result, Window, num

CUSUM_K = 0.5  # allowance, in noise sigmas (detects shifts of about 2k = 1 sigma and more)
CUSUM_H = 8.0  # decision threshold, in noise sigmas
CUSUM_WARMUP = 30  # points before the first alarm of a segment is possible
PENALTY_BIC = 3.0  # multiplier of sigma^2 log(n) in the penalty
MIN_SIZE = 10  # shortest segment, in (possibly block-averaged) points
MAX_POINTS = 5_000  # longer inputs are block-averaged to this many points
BINSEG_POINTS_PER_JUMP = 250  # binseg candidate spacing = n // this (change points found to within it)
METHODS = ("cusum", "binseg", "pelt")


def noise_sigma(x: np.ndarray) -> float:
    """Noise scale that a level shift does not inflate: 1.4826 * MAD(diff(x)) / sqrt(2)."""
    d = np.diff(x)
    if len(d) == 0:
        return 1.0
    mad = float(np.median(np.abs(d - np.median(d)))) * 1.4826 / np.sqrt(2)
    return mad if mad > 0 else (float(np.std(x)) or 1.0)


def cusum(x: np.ndarray, k: float = CUSUM_K, h: float = CUSUM_H, warmup: int = CUSUM_WARMUP) -> list[int]:
    """Indices where a new segment starts, by two-sided CUSUM with restarts."""
    sigma = noise_sigma(x)
    z = x / sigma
    out: list[int] = []
    start, n = 0, len(z)
    csum = np.concatenate([[0.0], np.cumsum(z)])
    while start + warmup < n:
        sp = sn = 0.0
        zero_p = zero_n = start + warmup - 1
        alarm = None
        for i in range(start + warmup, n):
            # self-starting: the reference is the segment's mean so far (not only the warm-up's)
            ref = (csum[i] - csum[start]) / (i - start)
            sp = max(0.0, sp + z[i] - ref - k)
            sn = max(0.0, sn - (z[i] - ref) - k)
            if sp == 0.0:
                zero_p = i
            if sn == 0.0:
                zero_n = i
            if sp > h or sn > h:
                alarm = (zero_p if sp > h else zero_n) + 1
                break
        if alarm is None:
            break
        out.append(alarm)
        start = alarm
    return out


def _block(x: np.ndarray, max_points: int) -> tuple[np.ndarray, int]:
    f = int(np.ceil(len(x) / max_points)) if len(x) > max_points else 1
    if f == 1:
        return x, 1
    m = len(x) // f * f
    head = x[:m].reshape(-1, f).mean(axis=1)
    return (np.concatenate([head, [x[m:].mean()]]) if m < len(x) else head), f


def ruptures_cpd(x: np.ndarray, method: str, pen: float, min_size: int = MIN_SIZE) -> list[int]:
    """Segment starts (excluding 0) by ruptures Binseg (l2) or KernelCPD-linear (PELT)."""
    import ruptures as rpt

    signal = x.reshape(-1, 1)
    if method == "binseg":
        # ruptures' Binseg scores candidates in Python: every BINSEG_POINTS_PER_JUMP-th index only.
        jump = max(1, len(x) // BINSEG_POINTS_PER_JUMP)
        algo = rpt.Binseg(model="l2", min_size=max(min_size, jump), jump=jump).fit(signal)
    elif method == "pelt":
        algo = rpt.KernelCPD(kernel="linear", min_size=min_size).fit(signal)
    else:
        raise ValueError(f"unknown method {method!r}")
    return [int(b) for b in algo.predict(pen=pen)[:-1]]


def detect(x: np.ndarray, ts_ns: np.ndarray | None = None, method: str = "pelt", penalty: float = PENALTY_BIC,
           min_size: int = MIN_SIZE, series: str = "series") -> Result:
    """Change points by one method (or ``all``, which reports each); ``value`` = number found."""
    methods = METHODS if method == "all" else (method,)
    if any(m not in METHODS for m in methods):
        raise ValueError(f"unknown method {method!r}; methods are: {', '.join(METHODS)}, all")
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(x)
    xs, idx_map = x[ok], np.flatnonzero(ok)
    window = Window(start_ns=int(ts_ns[0]) if ts_ns is not None and len(ts_ns) else None,
                    end_ns=int(ts_ns[-1]) + 1 if ts_ns is not None and len(ts_ns) else None,
                    observations=len(xs), resolution=series)
    formula = (f"cusum: S+/- = max(0, S + /-(z - ref) - {CUSUM_K:g}) alarm > {CUSUM_H:g} sigma; binseg/pelt: "
               f"min sum of squared deviations from segment means + pen per change, pen = {penalty:g}*sigma^2*log(n)")
    if len(xs) < 2 * min_size + 2:
        return Result(name="change_points", value=None, formula=formula, window=window,
                      reading=f"need at least {2 * min_size + 2} finite points, have {len(xs)}")
    xb, f = _block(xs, MAX_POINTS)
    sigma = noise_sigma(xs) / np.sqrt(f)
    pen = penalty * sigma**2 * np.log(len(xb))
    found: dict[str, list[int]] = {}
    for m in methods:
        if m == "cusum":
            found[m] = cusum(xs)
        else:
            found[m] = [min(b * f, len(xs) - 1) for b in ruptures_cpd(xb, m, pen, max(2, min_size // f or 2))]
    primary = found[methods[0]] if method != "all" else found["pelt"]
    segs = [0, *primary, len(xs)]
    points = []
    for j, b in enumerate(primary):
        before, after = xs[segs[j]:b], xs[b:segs[j + 2]]
        points.append({"index": int(idx_map[b]), "ts_ns": int(ts_ns[idx_map[b]]) if ts_ns is not None else None,
                       "mean_before": num(before.mean()), "mean_after": num(after.mean()),
                       "shift": num(after.mean() - before.mean()),
                       "shift_sigmas": num((after.mean() - before.mean()) / noise_sigma(xs), 2)})
    return Result(
        name="change_points", value=len(primary), formula=formula, unit="change points", window=window,
        inputs={"method": method, "penalty": penalty, "min_size": min_size, "block": f},
        reading=f"{len(primary)} change point(s) by {methods[0] if method != 'all' else 'pelt'}"
                + (f"; the last shifts the mean by {points[-1]['shift_sigmas']} sigma" if points else ""),
        details={"points": points[-100:],
                 "by_method": {m: [int(idx_map[i]) for i in v][-100:] for m, v in found.items()},
                 "noise_sigma": num(noise_sigma(xs))})


__all__ = ["METHODS", "cusum", "detect", "noise_sigma", "ruptures_cpd"]
