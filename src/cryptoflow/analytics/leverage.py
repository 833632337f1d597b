"""Leverage: open-interest flow, funding stress, liquidation clusters and cascades, long/short skew.

Pure functions over numpy arrays. Funding rates are fractions per 8 hours (``data.load_funding``
normalises venues with other intervals); liquidation ``long`` is True when a long position was
liquidated (forced selling).
"""

from __future__ import annotations

import numpy as np

from cryptoflow.analytics.explain import Result, Window, num, window_of

# ---- named constants ------------------------------------------------------------------------------
#: An OI change smaller than this fraction of OI counts as flat (no new positioning).
OI_FLAT_FRAC = 1e-4
#: Funding z-score (latest vs the window's history) from which funding counts as elevated / extreme.
FUNDING_Z_ELEVATED = 2.0
FUNDING_Z_EXTREME = 3.0
#: Annualised funding (percent) from which funding counts as stressed whatever its z-score.
FUNDING_ANNUAL_STRESS_PCT = 50.0
#: Funding periods per year at an 8-hour rate.
PERIODS_8H_PER_YEAR = 3 * 365
#: Liquidations closer than this in time belong to one cluster.
CASCADE_GAP_S = 5.0
#: A cluster is a cascade when it has at least this many liquidations ...
CASCADE_MIN_EVENTS = 5
#: ... and at least this multiple of the window's median liquidation notional in total.
CASCADE_MIN_NOTIONAL_MULTIPLE = 10.0
#: Default number of price buckets of a liquidation heatmap.
HEATMAP_BUCKETS = 40

OI_CATEGORIES = ("long_build_up", "short_build_up", "short_covering", "long_liquidation", "flat")


def _category(dp: np.ndarray, doi: np.ndarray, oi: np.ndarray) -> np.ndarray:
    cat = np.full(len(dp), "flat", dtype=object)
    moving = np.abs(doi) >= OI_FLAT_FRAC * np.abs(oi)
    cat[moving & (dp >= 0) & (doi > 0)] = "long_build_up"
    cat[moving & (dp < 0) & (doi > 0)] = "short_build_up"
    cat[moving & (dp >= 0) & (doi < 0)] = "short_covering"
    cat[moving & (dp < 0) & (doi < 0)] = "long_liquidation"
    return cat


def oi_flow(oi_ts: np.ndarray, oi: np.ndarray, price_ts: np.ndarray, price: np.ndarray,
            oi_step_ns: int = 0) -> Result:
    """Decompose open-interest changes by the price move over the same interval.

    price up & OI up = long build-up; price down & OI up = short build-up; price up & OI down =
    short covering; price down & OI down = long liquidation. The price at an OI sample is the last
    trade at or before the sample's bucket end (``oi_ts + oi_step_ns``).
    """
    formula = ("per interval: sign(dPrice) x sign(dOI) -> {up,up}=long build-up, {down,up}=short build-up, "
               f"{{up,down}}=short covering, {{down,down}}=long liquidation; |dOI| < {OI_FLAT_FRAC:g}*OI = flat")
    if len(oi) < 2 or len(price) == 0:
        return Result(name="oi_flow", value=None, formula=formula, reading="need >= 2 OI samples and trades",
                      window=Window(observations=len(oi)))
    idx = np.searchsorted(price_ts, oi_ts + oi_step_ns, side="right") - 1
    ok = idx >= 0
    oi_ts, oi, p = oi_ts[ok], oi[ok], price[idx[ok]]
    if len(oi) < 2:
        return Result(name="oi_flow", value=None, formula=formula, reading="no trades before the OI samples",
                      window=Window(observations=len(oi)))
    dp, doi = np.diff(p), np.diff(oi)
    cat = _category(dp, doi, oi[:-1])
    by = {}
    total_abs = float(np.abs(doi).sum()) or 1.0
    for c in OI_CATEGORIES:
        m = cat == c
        by[c] = {"intervals": int(m.sum()), "oi_change": num(doi[m].sum()),
                 "share_of_abs_oi_change": num(np.abs(doi[m]).sum() / total_abs, 4)}
    dominant = max(OI_CATEGORIES[:4], key=lambda c: by[c]["share_of_abs_oi_change"] or 0.0)
    overall = _category(np.array([p[-1] - p[0]]), np.array([oi[-1] - oi[0]]), oi[:1])[0]
    return Result(
        name="oi_flow", value=overall, formula=formula, window=window_of(oi_ts, "OI samples"),
        inputs={"oi_samples": len(oi), "flat_fraction": OI_FLAT_FRAC},
        reading=f"over the window: {overall.replace('_', ' ')}; most OI moved by {dominant.replace('_', ' ')}",
        details={"by_category": by, "dominant": dominant, "latest": cat[-1],
                 "oi_change_pct": num((oi[-1] / oi[0] - 1) * 100 if oi[0] else None, 3),
                 "price_change_pct": num((p[-1] / p[0] - 1) * 100, 3)})


def funding_stress(rates: dict[str, tuple[np.ndarray, np.ndarray]]) -> Result:
    """Funding level, z-score of the latest rate vs the window's history, and cross-venue dispersion.

    ``rates``: ``{venue: (ts_ns, rate per 8 h)}``. Pooled z = mean of the venues' z-scores.
    """
    formula = ("z_v = (latest_v - mean_v) / std_v over the window; level = mean of latest_v; "
               "annualised % = level * 1095 * 100; dispersion = std and max-min of latest_v across venues")
    per, zs, latest = {}, [], []
    t_all: list[np.ndarray] = []
    for v, (t, r) in rates.items():
        r = r[np.isfinite(r)]
        if len(r) == 0:
            continue
        t_all.append(t)
        sd = float(r.std())
        z = (r[-1] - r.mean()) / sd if sd > 0 and len(r) >= 3 else 0.0
        per[v] = {"latest_8h": num(r[-1]), "mean_8h": num(r.mean()), "std_8h": num(sd), "z": num(z, 3),
                  "annualised_pct": num(r[-1] * PERIODS_8H_PER_YEAR * 100, 3), "samples": len(r)}
        zs.append(z)
        latest.append(float(r[-1]))
    if not per:
        return Result(name="funding_stress", value=None, formula=formula, reading="no funding rates stored",
                      window=Window(observations=0))
    level = float(np.mean(latest))
    z_pooled = float(np.mean(zs))
    annual = level * PERIODS_8H_PER_YEAR * 100
    label = ("extreme" if abs(z_pooled) >= FUNDING_Z_EXTREME or abs(annual) >= 2 * FUNDING_ANNUAL_STRESS_PCT else
             "elevated" if abs(z_pooled) >= FUNDING_Z_ELEVATED or abs(annual) >= FUNDING_ANNUAL_STRESS_PCT else
             "normal")
    crowd = "longs pay (crowded long)" if level > 0 else "shorts pay (crowded short)"
    ts = np.concatenate(t_all)
    return Result(
        name="funding_stress", value=num(z_pooled, 3), formula=formula, unit="z-score",
        window=Window(start_ns=int(ts.min()), end_ns=int(ts.max()) + 1, observations=len(ts),
                      resolution="funding samples"),
        inputs={"venues": list(per), "z_elevated": FUNDING_Z_ELEVATED, "z_extreme": FUNDING_Z_EXTREME,
                "annual_stress_pct": FUNDING_ANNUAL_STRESS_PCT},
        reading=f"{label}: level {level * 1e4:+.2f} bps/8h ({annual:+.1f}%/yr), {crowd}",
        details={"label": label, "level_8h": num(level), "annualised_pct": num(annual, 3),
                 "dispersion_std_bps": num(np.std(latest) * 1e4, 4),
                 "dispersion_range_bps": num((max(latest) - min(latest)) * 1e4, 4),
                 "max_venue": max(per, key=lambda v: per[v]["latest_8h"]),
                 "min_venue": min(per, key=lambda v: per[v]["latest_8h"]), "by_venue": per})


def liquidation_cascades(ts_ns: np.ndarray, notional: np.ndarray, long: np.ndarray, price: np.ndarray,
                         trade_ts: np.ndarray | None = None, trade_price: np.ndarray | None = None,
                         gap_s: float = CASCADE_GAP_S, min_events: int = CASCADE_MIN_EVENTS,
                         min_notional: float | None = None) -> Result:
    """Clusters of liquidations (gaps <= ``gap_s``) and which of them are cascades.

    A cascade: >= ``min_events`` liquidations and >= ``min_notional`` in total (default
    ``CASCADE_MIN_NOTIONAL_MULTIPLE`` x the median liquidation notional). Its price move is taken
    from trades when given (last trade before the start -> extreme trade during the cluster), else
    from the liquidation prices.
    """
    thr = min_notional if min_notional is not None else (
        CASCADE_MIN_NOTIONAL_MULTIPLE * float(np.median(notional)) if len(notional) else 0.0)
    formula = (f"cluster = liquidations with gaps <= {gap_s:g}s; cascade = cluster with >= {min_events} events "
               f"and notional >= {thr:,.0f}")
    if len(ts_ns) == 0:
        return Result(name="liquidation_cascades", value=0, formula=formula, reading="no liquidations in the window",
                      window=Window(observations=0))
    breaks = np.flatnonzero(np.diff(ts_ns) > int(gap_s * 1e9)) + 1
    starts, ends = np.concatenate([[0], breaks]), np.concatenate([breaks, [len(ts_ns)]])
    cascades = []
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        tot = float(notional[s:e].sum())
        if e - s < min_events or tot < thr:
            continue
        long_share = float(notional[s:e][long[s:e]].sum() / tot) if tot > 0 else 0.5
        t0, t1 = int(ts_ns[s]), int(ts_ns[e - 1])
        p0, p1, pext = float(price[s]), float(price[e - 1]), None
        if trade_ts is not None and trade_price is not None and len(trade_ts):
            i0 = max(int(np.searchsorted(trade_ts, t0, side="left")) - 1, 0)
            i1 = int(np.searchsorted(trade_ts, t1, side="right"))
            seg = trade_price[i0:max(i1, i0 + 1)]
            p0, p1 = float(trade_price[i0]), float(seg[-1])
            pext = float(seg.min() if long_share >= 0.5 else seg.max())
        cascades.append({
            "start_ns": t0, "end_ns": t1, "duration_s": num((t1 - t0) / 1e9, 3), "events": e - s,
            "notional": num(tot), "long_share": num(long_share, 3),
            "side": "longs liquidated" if long_share >= 0.5 else "shorts liquidated",
            "price_start": num(p0), "price_end": num(p1), "move_bps": num((p1 / p0 - 1) * 1e4, 2),
            "extreme_move_bps": None if pext is None else num((pext / p0 - 1) * 1e4, 2)})
    return Result(
        name="liquidation_cascades", value=len(cascades), formula=formula, unit="cascades",
        window=window_of(ts_ns, "liquidations"),
        inputs={"gap_s": gap_s, "min_events": min_events, "min_notional": thr, "liquidations": len(ts_ns)},
        reading=(f"{len(cascades)} cascade(s); largest {max(c['notional'] for c in cascades):,.0f} notional"
                 if cascades else f"no cascade among {len(starts)} cluster(s)"),
        details={"cascades": cascades[-20:], "clusters": len(starts)})


def long_short_skew(notional: np.ndarray, long: np.ndarray, ts_ns: np.ndarray | None = None) -> Result:
    """Which side is being liquidated: skew = (long notional - short notional) / total."""
    formula = "skew = (liquidated long notional - liquidated short notional) / total liquidated notional"
    tot = float(notional.sum()) if len(notional) else 0.0
    if tot <= 0:
        return Result(name="long_short_skew", value=None, formula=formula, reading="no liquidations in the window",
                      window=Window(observations=0))
    lg = float(notional[long].sum())
    skew = (lg - (tot - lg)) / tot
    return Result(name="long_short_skew", value=num(skew, 4), formula=formula, unit="fraction in [-1, 1]",
                  window=window_of(ts_ns, "liquidations") if ts_ns is not None else Window(observations=len(notional)),
                  reading="longs being flushed (bearish pressure)" if skew > 0.3 else
                  "shorts being squeezed (bullish pressure)" if skew < -0.3 else "both sides liquidated",
                  details={"long_notional": lg, "short_notional": tot - lg, "count": len(notional),
                           "long_count": int(long.sum())})


def liquidation_heatmap(price: np.ndarray, notional: np.ndarray, long: np.ndarray, bucket_size: float | None = None,
                        buckets: int = HEATMAP_BUCKETS, ts_ns: np.ndarray | None = None) -> Result:
    """Liquidated notional by price bucket and side: where leverage was flushed."""
    formula = "bucket k = floor(price / size); long/short notional summed per bucket"
    if len(price) == 0:
        return Result(name="liquidation_heatmap", value=[], formula=formula, reading="no liquidations in the window",
                      window=Window(observations=0))
    lo, hi = float(price.min()), float(price.max())
    size = bucket_size if bucket_size and bucket_size > 0 else max((hi - lo) / max(buckets, 1), abs(hi) * 1e-6, 1e-12)
    k = np.floor(price / size).astype(np.int64)
    k0 = int(k.min())
    n = int(k.max()) - k0 + 1
    if n > 1000:
        return Result(name="liquidation_heatmap", value=None, formula=formula,
                      reading=f"bucket size {size:g} gives {n} buckets (max 1000): choose a larger one",
                      window=Window(observations=len(price)))
    lv = np.bincount(k - k0, weights=np.where(long, notional, 0.0), minlength=n)
    sv = np.bincount(k - k0, weights=np.where(long, 0.0, notional), minlength=n)
    cnt = np.bincount(k - k0, minlength=n)
    rows = [{"price_low": num((k0 + i) * size), "price_high": num((k0 + i + 1) * size), "long_notional": num(lv[i]),
             "short_notional": num(sv[i]), "count": int(cnt[i])} for i in range(n) if cnt[i]]
    top = max(rows, key=lambda r: (r["long_notional"] or 0) + (r["short_notional"] or 0))
    return Result(name="liquidation_heatmap", value=rows, formula=formula, unit="notional per price bucket",
                  window=window_of(ts_ns, "liquidations") if ts_ns is not None else Window(observations=len(price)),
                  inputs={"bucket_size": size, "liquidations": len(price)},
                  reading=f"heaviest bucket {top['price_low']:.6g}-{top['price_high']:.6g}",
                  details={"bucket_size": size, "total_long": num(lv.sum()), "total_short": num(sv.sum())})


__all__ = ["OI_CATEGORIES", "funding_stress", "liquidation_cascades", "liquidation_heatmap", "long_short_skew",
           "oi_flow"]
