"""Lead-lag between venues and each venue's share of price discovery.

Method. Mids of every venue are put on one common grid (default 50 ms: sub-second lags of
50-500 ms stay visible), carrying the last quote forward. Log returns of two venues A and B are
cross-correlated at lags -K..K grid steps: ``rho(k) = corr(r_A[t], r_B[t + k])``. A peak at
``k > 0`` means A's moves show up in B k steps later: A leads by ``k * step``. Strength is the
peak correlation; ``asymmetry`` compares the squared correlations on the two sides.

Price-discovery share. A bivariate VECM on log mids with cointegrating vector (1, -1):
``dp_t = alpha * (pA - pB)_{t-1} + sum_i Gamma_i dp_{t-i} + e_t`` (OLS, ``lags`` lags). The
common-factor weights ``gamma = (alpha_B, -alpha_A) / (alpha_B - alpha_A)`` are Gonzalo-Granger's
component share; Hasbrouck's information share of venue j is ``([gamma F]_j)^2 / (gamma Omega gamma')``
with F the Cholesky factor of the residual covariance Omega; it depends on the ordering, so both
orderings are computed and the midpoint reported with the bounds. The venue that moves first
needs not adjust (alpha near 0) and gets a share near 1.
"""

from __future__ import annotations

import itertools

import numpy as np

from cryptoflow.analytics.explain import Result, Window, num

#: Default common grid step and largest lag searched.
GRID_MS = 50
MAX_LAG_MS = 2_000
#: Most recent grid points used (bounds the cost on long windows: 200k x 50 ms ~ 2.8 h).
MAX_GRID_POINTS = 200_000
#: VECM lag order cap and the most recent points it is fitted on (OLS cost).
VECM_MAX_LAGS = 20
VECM_MAX_POINTS = 50_000
#: A peak correlation below this is reported as "no reliable lead".
MIN_STRENGTH = 0.05


def on_grid(series: dict[str, tuple[np.ndarray, np.ndarray]], step_ns: int, start_ns: int | None = None,
            end_ns: int | None = None, max_points: int = MAX_GRID_POINTS) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Values of every series at common grid times (last value at or before each time, NaN before
    the first). The grid covers the overlap of the series (or the given bounds), most recent
    ``max_points`` points."""
    if not series:
        return np.array([], dtype=np.int64), {}
    lo = max(int(t[0]) for t, _ in series.values()) if start_ns is None else start_ns
    hi = min(int(t[-1]) for t, _ in series.values()) if end_ns is None else end_ns
    first = -(-lo // step_ns) * step_ns
    n = max(0, (hi - first) // step_ns + 1)
    first += max(0, n - max_points) * step_ns
    grid = first + np.arange(min(n, max_points), dtype=np.int64) * step_ns
    out = {}
    for v, (t, x) in series.items():
        i = np.searchsorted(t, grid, side="right") - 1
        vals = x[np.maximum(i, 0)].astype(float)
        vals[i < 0] = np.nan
        out[v] = vals
    return grid, out


def _xcorr(a: np.ndarray, b: np.ndarray, k_max: int) -> np.ndarray:
    """rho(k) = corr(a[t], b[t + k]) for k = -k_max..k_max (a, b finite, same length)."""
    a = (a - a.mean()) / (a.std() or 1.0)
    b = (b - b.mean()) / (b.std() or 1.0)
    n = len(a)
    k_max = min(k_max, n - 1)
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    # r[k] = sum_t a[t] b[t + k] (zero-padded, so no wrap-around); negative k sit at the end.
    r = np.fft.irfft(np.conj(np.fft.rfft(a, nfft)) * np.fft.rfft(b, nfft), nfft)
    lags = np.arange(-k_max, k_max + 1)
    return r[lags % nfft] / (n - np.abs(lags))


def _pair(r_a: np.ndarray, r_b: np.ndarray, k_max: int, step_ms: float) -> dict:
    ok = np.isfinite(r_a) & np.isfinite(r_b)
    rho = _xcorr(r_a[ok], r_b[ok], k_max)
    lags = np.arange(-k_max, k_max + 1)
    j = int(np.argmax(np.abs(rho)))
    pos, neg = float(np.sum(rho[lags > 0] ** 2)), float(np.sum(rho[lags < 0] ** 2))
    return {"lag_steps": int(lags[j]), "lag_ms": float(lags[j] * step_ms), "peak_corr": float(rho[j]),
            "corr_at_zero": float(rho[k_max]), "asymmetry": (pos - neg) / (pos + neg) if pos + neg > 0 else 0.0,
            "observations": int(ok.sum()), "rho": rho}


def lead_lag(grid_ns: np.ndarray, mids: dict[str, np.ndarray], step_ms: float = GRID_MS,
             max_lag_ms: float = MAX_LAG_MS) -> Result:
    """Pairwise lead-lag on a common grid; names the overall leader (the venue that leads the most
    others, ties by mean lag) and, per pair, leader, follower, lag and strength."""
    formula = ("rho(k) = corr(r_A[t], r_B[t+k]) of log-mid returns on a common grid; "
               "lag = argmax_k |rho(k)| * step; k > 0 means A leads")
    venues = [v for v in mids if np.isfinite(mids[v]).sum() > 10]
    window = Window(start_ns=int(grid_ns[0]) if len(grid_ns) else None,
                    end_ns=int(grid_ns[-1]) + 1 if len(grid_ns) else None, observations=len(grid_ns),
                    resolution=f"{step_ms:g} ms grid")
    if len(venues) < 2:
        return Result(name="lead_lag", value=None, formula=formula, window=window,
                      reading="need mids of at least two venues")
    k_max = max(1, round(max_lag_ms / step_ms))
    rets = {v: np.diff(np.log(mids[v])) for v in venues}
    pairs, leads = [], {v: [] for v in venues}
    for a, b in itertools.combinations(venues, 2):
        p = _pair(rets[a], rets[b], k_max, step_ms)
        leader, follower = (a, b) if p["lag_steps"] > 0 else (b, a)
        reliable = abs(p["peak_corr"]) >= MIN_STRENGTH and p["lag_steps"] != 0
        pairs.append({"venue_a": a, "venue_b": b, "leader": leader if reliable else None,
                      "follower": follower if reliable else None, "lag_ms": abs(p["lag_ms"]),
                      "strength": num(p["peak_corr"], 4), "corr_at_zero": num(p["corr_at_zero"], 4),
                      "asymmetry": num(p["asymmetry"], 4), "observations": p["observations"],
                      "xcorr_by_lag_ms": {f"{int(k * step_ms)}": num(x, 4)
                                          for k, x in zip(range(-k_max, k_max + 1), p["rho"], strict=True)
                                          if abs(k) <= 20}})
        if reliable:
            leads[leader].append(abs(p["lag_ms"]))
            leads[follower].append(-abs(p["lag_ms"]))
    score = {v: (sum(x > 0 for x in leads[v]), float(np.mean(leads[v])) if leads[v] else 0.0) for v in venues}
    leader = max(venues, key=lambda v: score[v])
    has_lead = score[leader][0] > 0
    best = max(pairs, key=lambda p: abs(p["strength"] or 0))
    return Result(
        name="lead_lag", value=leader if has_lead else None, formula=formula, window=window,
        inputs={"venues": venues, "step_ms": step_ms, "max_lag_ms": max_lag_ms, "min_strength": MIN_STRENGTH},
        reading=(f"{leader} leads; strongest pair {best['leader']} -> {best['follower']} by {best['lag_ms']:g} ms "
                 f"(corr {best['strength']:.2f})" if has_lead else "no venue leads reliably at this resolution"),
        details={"pairs": pairs, "lead_score": {v: {"pairs_led": s[0], "mean_lag_ms": num(s[1], 1)}
                                                for v, s in score.items()}})


def _vecm_shares(pa: np.ndarray, pb: np.ndarray, lags: int) -> dict:
    ok = np.isfinite(pa) & np.isfinite(pb)
    first = int(np.argmax(ok))
    pa, pb = pa[first:], pb[first:]
    dp = np.column_stack([np.diff(pa), np.diff(pb)])
    ect = (pa - pb)[:-1]
    n = len(dp) - lags
    if n < 10 * (2 * lags + 2):
        raise ValueError("too few observations for the VECM")
    cols = [ect[lags:], np.ones(n)]
    for i in range(1, lags + 1):
        cols += [dp[lags - i: lags - i + n, 0], dp[lags - i: lags - i + n, 1]]
    x = np.column_stack(cols)
    y = dp[lags:]
    # normal equations: X'X is small ((2 lags + 2)^2), and no BLAS-threaded lstsq on a tall matrix
    coef = np.linalg.solve(x.T @ x, x.T @ y)
    resid = y - x @ coef
    omega = np.cov(resid.T)
    alpha_a, alpha_b = float(coef[0, 0]), float(coef[0, 1])
    denom = alpha_b - alpha_a
    if abs(denom) < 1e-15:
        raise ValueError("no error correction: prices do not co-move on this grid")
    gamma = np.array([alpha_b, -alpha_a]) / denom
    total = float(gamma @ omega @ gamma)
    shares = []
    for order in ((0, 1), (1, 0)):
        o = np.array(order)
        f = np.linalg.cholesky(omega[np.ix_(o, o)])
        contrib = (gamma[o] @ f) ** 2 / total
        shares.append(dict(zip(order, contrib.tolist(), strict=True)))
    is_a = [s[0] for s in shares]
    return {"alpha": (alpha_a, alpha_b), "component_share": (float(gamma[0]), float(gamma[1])),
            "is_a_bounds": (min(is_a), max(is_a)), "observations": n}


def price_discovery(grid_ns: np.ndarray, mids: dict[str, np.ndarray], step_ms: float = GRID_MS,
                    lag_ms: float = 1_000.0) -> Result:
    """Information share (Hasbrouck, midpoint of the ordering bounds) and component share
    (Gonzalo-Granger) of each venue against a reference venue (the first given)."""
    formula = ("VECM dp_t = alpha*(pA-pB)_{t-1} + sum Gamma_i dp_{t-i} + e; "
               "gamma = (alpha_B,-alpha_A)/(alpha_B-alpha_A); "
               "IS_j = ([gamma F]_j)^2 / gamma'Omega gamma, F = chol(Omega), midpoint of both orderings")
    venues = [v for v in mids if np.isfinite(mids[v]).sum() > 100]
    lags = int(min(VECM_MAX_LAGS, max(1, round(lag_ms / step_ms))))
    window = Window(start_ns=int(grid_ns[0]) if len(grid_ns) else None,
                    end_ns=int(grid_ns[-1]) + 1 if len(grid_ns) else None,
                    observations=min(len(grid_ns), VECM_MAX_POINTS), resolution=f"{step_ms:g} ms grid")
    if len(venues) < 2:
        return Result(name="price_discovery", value=None, formula=formula, window=window,
                      reading="need mids of at least two venues")
    ref = venues[0]
    out, notes = {}, []
    for other in venues[1:]:
        pa, pb = np.log(mids[ref][-VECM_MAX_POINTS:]), np.log(mids[other][-VECM_MAX_POINTS:])
        try:
            s = _vecm_shares(pa, pb, lags)
        except (ValueError, np.linalg.LinAlgError) as exc:
            notes.append(f"{ref}/{other}: {exc}")
            continue
        lo, hi = s["is_a_bounds"]
        out[f"{ref}/{other}"] = {
            "information_share": {ref: num((lo + hi) / 2, 4), other: num(1 - (lo + hi) / 2, 4)},
            "information_share_bounds": {ref: [num(lo, 4), num(hi, 4)], other: [num(1 - hi, 4), num(1 - lo, 4)]},
            "component_share": {ref: num(s["component_share"][0], 4), other: num(s["component_share"][1], 4)},
            "alpha": {ref: num(s["alpha"][0]), other: num(s["alpha"][1])}, "observations": s["observations"]}
    if not out:
        return Result(name="price_discovery", value=None, formula=formula, window=window,
                      reading="; ".join(notes) or "VECM could not be fitted")
    value = {k: v["information_share"] for k, v in out.items()}
    first = next(iter(out.values()))["information_share"]
    top = max(first, key=lambda v: first[v] or 0)
    return Result(name="price_discovery", value=value, formula=formula, window=window, unit="share in [0, 1]",
                  inputs={"reference": ref, "venues": venues, "lags": lags, "step_ms": step_ms},
                  reading=f"{top} carries {first[top]:.0%} of price discovery vs its pair", details={"pairs": out,
                                                                                                   "notes": notes})


__all__ = ["GRID_MS", "MAX_LAG_MS", "lead_lag", "on_grid", "price_discovery"]
