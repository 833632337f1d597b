"""Spreads between venues, perp-vs-spot basis, and persistent dislocations.

Inputs are mids on a common grid (``lead_lag.on_grid``). Spreads are in bps of the second leg:
``(mid_A / mid_B - 1) * 1e4``.

A dislocation is a venue's price away from the others by more than its usual offset: the
venue's deviation from the median of the *other* venues, minus that deviation's median over
the window (so a constant basis, e.g. a perp premium, is not called a dislocation). It is
*persistent* when it stays beyond ``threshold_bps`` for at least ``min_duration_s``. With only
two venues, the deviation is the pair's spread and either venue may be the one that moved.
"""

from __future__ import annotations

import itertools

import numpy as np

from cryptoflow.analytics.explain import Result, Window, num

#: A deviation beyond this many bps (after removing the venue's usual offset) is dislocated ...
DISLOCATION_BPS = 10.0
#: ... and persistent when it lasts at least this long.
DISLOCATION_MIN_S = 2.0
#: Episodes listed at most.
MAX_EPISODES = 50


def _grid_window(grid_ns: np.ndarray, step_ms: float) -> Window:
    return Window(start_ns=int(grid_ns[0]) if len(grid_ns) else None,
                  end_ns=int(grid_ns[-1]) + 1 if len(grid_ns) else None, observations=len(grid_ns),
                  resolution=f"{step_ms:g} ms grid")


def _stats(x: np.ndarray) -> dict:
    x = x[np.isfinite(x)]
    if not len(x):
        return {"latest_bps": None, "mean_bps": None, "std_bps": None, "z": None}
    sd = float(x.std())
    return {"latest_bps": num(x[-1], 3), "mean_bps": num(x.mean(), 3), "std_bps": num(sd, 3),
            "min_bps": num(x.min(), 3), "max_bps": num(x.max(), 3),
            "z": num((x[-1] - x.mean()) / sd, 3) if sd > 0 else 0.0}


def venue_spreads(grid_ns: np.ndarray, mids: dict[str, np.ndarray], step_ms: float = 50.0) -> Result:
    """Pairwise spreads in bps, latest and over the window, with the widest pair now."""
    formula = "spread_AB = (mid_A / mid_B - 1) * 1e4 on a common grid; z = (latest - mean) / std over the window"
    venues = list(mids)
    pairs = {}
    for a, b in itertools.combinations(venues, 2):
        pairs[f"{a}/{b}"] = _stats((mids[a] / mids[b] - 1.0) * 1e4)
    if not pairs:
        return Result(name="venue_spreads", value=None, formula=formula, window=_grid_window(grid_ns, step_ms),
                      reading="need at least two venues")
    widest = max(pairs, key=lambda k: abs(pairs[k]["latest_bps"] or 0))
    return Result(name="venue_spreads", value={k: v["latest_bps"] for k, v in pairs.items()}, formula=formula,
                  unit="bps", window=_grid_window(grid_ns, step_ms), inputs={"venues": venues},
                  reading=f"widest now {widest}: {pairs[widest]['latest_bps']} bps", details={"pairs": pairs})


def basis(grid_ns: np.ndarray, perp_mid: np.ndarray, spot_mid: np.ndarray, step_ms: float = 50.0,
          funding_interval_h: float = 8.0) -> Result:
    """Perp-vs-spot basis in bps, with its annualised carry at the funding cadence."""
    formula = "basis_bps = (perp_mid / spot_mid - 1) * 1e4; annualised % = basis / 1e4 * (8760 / interval_h) * 100"
    x = (perp_mid / spot_mid - 1.0) * 1e4
    st = _stats(x)
    if st["latest_bps"] is None:
        return Result(name="basis", value=None, formula=formula, window=_grid_window(grid_ns, step_ms),
                      reading="no overlapping perp and spot quotes")
    ann = st["latest_bps"] / 1e4 * (8760 / funding_interval_h) * 100
    return Result(name="basis", value=st["latest_bps"], formula=formula, unit="bps",
                  window=_grid_window(grid_ns, step_ms), inputs={"funding_interval_h": funding_interval_h},
                  reading=f"perp {'premium' if st['latest_bps'] > 0 else 'discount'} {st['latest_bps']:+.2f} bps "
                          f"(z {st['z']:+.2f})",
                  details={**st, "annualised_if_held_per_interval_pct": num(ann, 3)})


def _episodes(dev: np.ndarray, grid_ns: np.ndarray, threshold: float, min_steps: int) -> list[tuple[int, int]]:
    over = np.abs(np.nan_to_num(dev)) >= threshold
    edges = np.diff(np.concatenate([[0], over.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True) if e - s >= min_steps]


def dislocations(grid_ns: np.ndarray, mids: dict[str, np.ndarray], step_ms: float = 50.0,
                 threshold_bps: float = DISLOCATION_BPS, min_duration_s: float = DISLOCATION_MIN_S) -> Result:
    """Persistent dislocations per venue: start, end, duration, peak and mean deviation (bps)."""
    formula = (f"dev_v = (log mid_v - median_u!=v log mid_u)*1e4 - median_t(dev_v); dislocation = |dev_v| >= "
               f"{threshold_bps:g} bps for >= {min_duration_s:g} s")
    venues = [v for v in mids if np.isfinite(mids[v]).any()]
    if len(venues) < 2:
        return Result(name="dislocations", value=0, formula=formula, window=_grid_window(grid_ns, step_ms),
                      reading="need at least two venues")
    logs = np.vstack([np.log(mids[v]) for v in venues])
    min_steps = max(1, int(np.ceil(min_duration_s * 1000 / step_ms)))
    episodes = []
    offsets = {}
    for i, v in enumerate(venues):
        others = np.delete(logs, i, axis=0)
        ref = np.nanmedian(others, axis=0) if len(others) > 1 else others[0]
        raw = (logs[i] - ref) * 1e4
        off = float(np.nanmedian(raw)) if np.isfinite(raw).any() else 0.0
        offsets[v] = num(off, 3)
        dev = raw - off
        for s, e in _episodes(dev, grid_ns, threshold_bps, min_steps):
            seg = dev[s:e]
            j = int(np.nanargmax(np.abs(seg)))
            episodes.append({"venue": v, "start_ns": int(grid_ns[s]), "end_ns": int(grid_ns[e - 1]),
                             "duration_s": num((e - s) * step_ms / 1000, 3), "peak_bps": num(seg[j], 2),
                             "mean_bps": num(np.nanmean(seg), 2), "ongoing": e == len(dev)})
    if len(venues) == 2 and episodes:
        # Two venues: both see the same spread; keep one episode per time, naming both.
        seen, kept = set(), []
        for ep in episodes:
            key = (ep["start_ns"], ep["end_ns"])
            if key not in seen:
                seen.add(key)
                kept.append({**ep, "venue": f"{venues[0]} vs {venues[1]}"})
        episodes = kept
    episodes.sort(key=lambda e: e["start_ns"])
    ongoing = [e for e in episodes if e["ongoing"]]
    return Result(name="dislocations", value=len(episodes), formula=formula, unit="episodes",
                  window=_grid_window(grid_ns, step_ms),
                  inputs={"venues": venues, "threshold_bps": threshold_bps, "min_duration_s": min_duration_s},
                  reading=(f"{len(episodes)} persistent dislocation(s)"
                           + (f", ongoing on {', '.join(e['venue'] for e in ongoing)}" if ongoing else "")),
                  details={"episodes": episodes[-MAX_EPISODES:], "usual_offset_bps": offsets})


__all__ = ["DISLOCATION_BPS", "DISLOCATION_MIN_S", "basis", "dislocations", "venue_spreads"]
