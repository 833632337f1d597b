"""Model router: picks one model from what is known about the data, the priority and past skill.

Why these rules: prices are close to random walks - on them naive, AutoETS and AutoARIMA tie and ML
models do worse - so for prices the router picks the cheapest model that is not beaten (Naive)
unless the registry holds a backtest in which another model beat naive *significantly* on this very
series. Volatility has real persistence (HAR is cheap and hard to beat); funding, open interest and
spread can carry seasonality (SeasonalNaive / MSTL) or smooth persistence (exponential smoothing).
Priority bounds the speed class: realtime = instant models, fast = up to fast, accurate = up to
medium. The decision is plain Python on a few numpy reductions: well under 5 ms on 2,000 points.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cryptoflow.forecast.metrics import SKILL_ALPHA
from cryptoflow.forecast.targets import GENERIC_SEASONS, SEASON_CANDIDATES, TargetSeries
from cryptoflow.forecast.zoo import MODELS, SPEED_RANK, ForecastError, installed_names

Priority = Literal["fast", "accurate", "realtime"]
PRIORITY_MAX_SPEED = {"realtime": "instant", "fast": "fast", "accurate": "medium"}
SEASON_ACF_MIN = 0.3


@dataclass(frozen=True, slots=True)
class Profile:
    """What the router looks at: length, regularity, detected season, exogenous inputs."""

    n: int
    target: str
    season_length: int
    season_strength: float
    filled_fraction: float
    has_exog: bool

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "target": self.target, "season_length": self.season_length,
                "season_strength": round(self.season_strength, 3), "filled_fraction": round(self.filled_fraction, 4),
                "has_exog": self.has_exog}


@dataclass(frozen=True, slots=True)
class RouteDecision:
    model: str
    reason: str
    season_length: int
    profile: Profile
    candidates: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "reason": self.reason, "season_length": self.season_length,
                "candidates": list(self.candidates), "profile": self.profile.as_dict()}


def detect_season(values: np.ndarray, interval: str | None, max_points: int = 2000) -> tuple[int, float]:
    """Season length with the strongest autocorrelation of first differences among the candidates
    for this bar interval (differences, because levels of a random walk autocorrelate at every lag).
    Returns (1, acf) when no candidate reaches ``SEASON_ACF_MIN`` or fewer than 3 seasons exist."""
    x = np.diff(np.asarray(values[-max_points:], dtype=np.float64))
    x = x - x.mean()
    denom = float(x @ x)
    if denom <= 0:
        return 1, 0.0
    best, best_acf = 1, 0.0
    for m in SEASON_CANDIDATES.get(interval or "", GENERIC_SEASONS):
        if len(x) < 3 * m:
            continue
        acf = float(x[m:] @ x[:-m]) / denom
        if acf > best_acf:
            best, best_acf = m, acf
    return (best, best_acf) if best_acf >= SEASON_ACF_MIN else (1, best_acf)


def profile(series: TargetSeries) -> Profile:
    m, strength = detect_season(series.values, series.interval)
    return Profile(len(series), series.target, m, strength, series.filled_fraction, bool(series.exog))


def _allowed(name: str, priority: str, installed: Iterable[str]) -> bool:
    spec = MODELS[name]
    return name in installed and SPEED_RANK[spec.speed] <= SPEED_RANK[PRIORITY_MAX_SPEED[priority]]


def route(series: TargetSeries, horizon: int, priority: str = "fast",
          past_skill: Mapping[str, Mapping[str, Any]] | None = None, installed: Iterable[str] | None = None,
          use_gpu: bool = False) -> RouteDecision:
    """Choose a model. ``past_skill``: model -> {"rmae", "p_better", "n_origins"} from the registry for
    this series key, horizon bucket and target (see ``registry.Registry.skill``)."""
    if priority not in PRIORITY_MAX_SPEED:
        raise ForecastError(f"unknown priority {priority!r}; priorities are: fast, accurate, realtime")
    inst = frozenset(installed) if installed is not None else installed_names()
    prof = profile(series)
    n, m = prof.n, prof.season_length
    cands: list[str] = []

    def pick(name: str, reason: str, season: int = 1) -> RouteDecision:
        return RouteDecision(name, reason, season, prof, tuple(cands))

    if n < max(30, 2 * horizon + 10):
        return pick("Naive", f"only {n} points: too short to estimate anything better than the last value")
    if past_skill:
        proven = [(float(s["rmae"]), name) for name, s in past_skill.items()
                  if name in MODELS and name != "Naive" and _allowed(name, priority, inst)
                  and s.get("p_better", 1.0) < SKILL_ALPHA and s.get("n_origins", 0) >= 20 and float(s["rmae"]) < 1.0]
        cands = [nm for _, nm in sorted(proven)]
        if proven:
            r, name = min(proven)
            s = past_skill[name]
            return pick(name, f"registry: {name} beat naive on this series in a past backtest (rMAE {r:.3f}, "
                              f"DM p={float(s['p_better']):.3g}, {int(s['n_origins'])} origins)", m)
    if prof.filled_fraction > 0.2 and priority != "accurate":
        return pick("Naive", f"irregular data: {100 * prof.filled_fraction:.0f}% of buckets were empty and "
                             "forward-filled, so only the last value is trustworthy")
    gpu_note = "" if not use_gpu else " (GPU requested, but deep models are not used for this decision)"
    if prof.target == "price":
        return pick("Naive", "prices are close to random walks: no model has shown skill over the last price "
                             "on this series (the registry holds no significant win), so the cheapest unbeaten "
                             "model is used" + gpu_note)
    if prof.target == "volatility" and n >= 60 and "HAR" in inst:
        return pick("HAR", "realized volatility is persistent (clustering): HAR on log volatility is cheap and "
                           "hard to beat" + gpu_note)
    if m > 1:
        season_txt = f"seasonality every {m} bars (autocorrelation of changes {prof.season_strength:.2f})"
        if priority == "accurate" and n >= 3 * m and _allowed("MSTL", priority, inst):
            return pick("MSTL", f"{season_txt}: MSTL decomposes it and smooths the rest", m)
        return pick("SeasonalNaive", f"{season_txt}: the value one season ago is the cheap strong baseline", m)
    if priority == "accurate" and prof.has_exog and n >= 300 and _allowed("LightGBM", priority, inst):
        return pick("LightGBM", "exogenous order-flow inputs given and enough data: gradient boosting can use them")
    if priority == "accurate" and _allowed("AutoETS", priority, inst):
        return pick("AutoETS", f"no seasonality found; {prof.target} is smooth and persistent: exponential "
                               "smoothing with the form chosen by AICc")
    if priority == "fast" and _allowed("Theta", priority, inst):
        return pick("Theta", f"no seasonality found; {prof.target} is persistent: the theta method "
                             "(a damped-drift smoother) is fast and robust")
    return pick("Naive", "realtime priority and no seasonality: the last value")
