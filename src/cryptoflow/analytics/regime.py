"""Market regime per bar, its confidence, the transition matrix, and the volatility regime.

Per bar t (using the ``window`` bars ending at t):

- ``trend_t = log(C_t / C_{t-W}) / (sigma_t * sqrt(W))``: the window's move in units of its own
  noise (a t-statistic of the drift), sigma_t = std of the window's log returns;
- ``efficiency = |C_t - C_{t-W}| / sum |dC|`` (Kaufman): 1 = straight line, ~0 = chop;
- ``vol_pct``: percentile of sigma_t among all windows of the series (history = the input);
- breakout / breakdown: close above the previous W bars' high (below their low) with |trend| >= 1,
  while the window ``BREAKOUT_BARS`` bars earlier was not yet trending (a range being left; a
  trend that keeps making new highs is TRENDING, not a breakout).

Rules, first match wins: BREAKOUT / BREAKDOWN; TRENDING_UP / TRENDING_DOWN if |trend| >= TREND_T
and efficiency >= EFFICIENCY_MIN; HIGH_VOLATILITY if vol_pct >= HIGH_VOL_PCT; LOW_VOLATILITY if
vol_pct <= LOW_VOL_PCT; else RANGING.

Confidence = 0.5 + 0.5 * tanh(margin / CONFIDENCE_SCALE): 0.5 when the deciding statistic sits
exactly at its threshold, towards 1 the further past it (margin in that statistic's units,
normalised by its threshold). RANGING's margin is the distance to the nearest other rule.
"""

from __future__ import annotations

import itertools

import numpy as np

from cryptoflow.analytics.explain import Result, Window, num, window_of

REGIMES = ("TRENDING_UP", "TRENDING_DOWN", "RANGING", "HIGH_VOLATILITY", "LOW_VOLATILITY", "BREAKOUT", "BREAKDOWN")
#: Trend t-statistic from which a window is trending.
TREND_T = 2.0
#: Minimum Kaufman efficiency ratio of a trend.
EFFICIENCY_MIN = 0.3
#: Breakouts need at least this trend statistic in their direction ...
BREAKOUT_T = 1.0
#: ... and count as breakouts for this many bars after leaving a range (then they are trends).
BREAKOUT_BARS = 3
#: Volatility percentiles of the high / low volatility regimes.
HIGH_VOL_PCT = 0.8
LOW_VOL_PCT = 0.2
#: Scale of the confidence curve (fraction of a threshold).
CONFIDENCE_SCALE = 0.5
#: Volatility regime cut-offs (percentile of current realised vol in its own history).
VOL_REGIME_CUTS = ((0.95, "EXTREME"), (0.75, "HIGH"), (0.25, "NORMAL"), (0.0, "LOW"))
SECONDS_PER_YEAR = 365 * 86_400


def _rolling(x: np.ndarray, w: int) -> np.ndarray:
    """Windows of length w as rows (a view)."""
    return np.lib.stride_tricks.sliding_window_view(x, w)


def _conf(margin: np.ndarray | float) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(np.asarray(margin) / CONFIDENCE_SCALE)


def classify(close: np.ndarray, high: np.ndarray | None = None, low: np.ndarray | None = None,
             window: int = 20) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Label every bar from index ``window`` on; returns (labels, confidence, statistics).

    Arrays are aligned to ``close[window:]``.
    """
    high = close if high is None else high
    low = close if low is None else low
    lc = np.log(close)
    r = np.diff(lc)
    w = window
    sig = _rolling(r, w).std(axis=1)  # sigma over returns r[t-w..t-1] -> bar t = index + w
    move = lc[w:] - lc[:-w]
    with np.errstate(divide="ignore", invalid="ignore"):
        trend = np.where(sig > 0, move / (sig * np.sqrt(w)), 0.0)
        path = _rolling(np.abs(np.diff(close)), w).sum(axis=1)
        eff = np.where(path > 0, np.abs(close[w:] - close[:-w]) / path, 0.0)
    order = np.argsort(np.argsort(sig, kind="stable"), kind="stable")
    vol_pct = order / max(len(sig) - 1, 1)
    prev_hi = _rolling(high[:-1], w).max(axis=1)
    prev_lo = _rolling(low[:-1], w).min(axis=1)
    c = close[w:]
    n = len(c)
    labels = np.full(n, "RANGING", dtype=object)
    conf = np.zeros(n)
    done = np.zeros(n, dtype=bool)

    def assign(mask: np.ndarray, label: str, margin: np.ndarray) -> None:
        m = mask & ~done
        labels[m] = label
        conf[m] = _conf(margin[m])
        done[m] = True

    # a breakout leaves a range: the window BREAKOUT_BARS earlier was not trending yet
    earlier = np.concatenate([np.zeros(min(BREAKOUT_BARS, n)), trend[:-BREAKOUT_BARS]])[:n]
    fresh = np.abs(earlier) < TREND_T
    assign((c > prev_hi) & (trend >= BREAKOUT_T) & fresh, "BREAKOUT", (trend - BREAKOUT_T) / BREAKOUT_T)
    assign((c < prev_lo) & (trend <= -BREAKOUT_T) & fresh, "BREAKDOWN", (-trend - BREAKOUT_T) / BREAKOUT_T)
    trend_margin = np.minimum((np.abs(trend) - TREND_T) / TREND_T, (eff - EFFICIENCY_MIN) / EFFICIENCY_MIN)
    assign((trend >= TREND_T) & (eff >= EFFICIENCY_MIN), "TRENDING_UP", trend_margin)
    assign((trend <= -TREND_T) & (eff >= EFFICIENCY_MIN), "TRENDING_DOWN", trend_margin)
    assign(vol_pct >= HIGH_VOL_PCT, "HIGH_VOLATILITY", (vol_pct - HIGH_VOL_PCT) / (1 - HIGH_VOL_PCT))
    assign(vol_pct <= LOW_VOL_PCT, "LOW_VOLATILITY", (LOW_VOL_PCT - vol_pct) / LOW_VOL_PCT)
    rest = ~done
    range_margin = np.minimum.reduce([(TREND_T - np.abs(trend)) / TREND_T, (HIGH_VOL_PCT - vol_pct) / HIGH_VOL_PCT,
                                      (vol_pct - LOW_VOL_PCT) / (1 - LOW_VOL_PCT)])
    conf[rest] = _conf(range_margin[rest])
    return labels, conf, {"trend_t": trend, "efficiency": eff, "vol_pct": vol_pct, "sigma": sig}


def transition_matrix(labels: np.ndarray) -> dict[str, dict[str, float]]:
    """Row-normalised P(next regime | regime) over consecutive bars (rows of regimes seen)."""
    idx = {r: i for i, r in enumerate(REGIMES)}
    counts = np.zeros((len(REGIMES), len(REGIMES)))
    for a, b in itertools.pairwise(labels):
        counts[idx[a], idx[b]] += 1
    out = {}
    for i, r in enumerate(REGIMES):
        tot = counts[i].sum()
        if tot:
            out[r] = {REGIMES[j]: round(counts[i, j] / tot, 4) for j in range(len(REGIMES)) if counts[i, j]}
    return out


def market_regime(ts_ns: np.ndarray, close: np.ndarray, high: np.ndarray | None = None,
                  low: np.ndarray | None = None, window: int = 20, bar_s: float = 60.0) -> Result:
    """Current regime with confidence, regime shares and transition matrix over the bars given."""
    formula = (f"trend=log(C_t/C_t-W)/(sigma*sqrt(W)); eff=|dC_W|/sum|dC|; "
               f"breakout=C>max(H prev W)&trend>={BREAKOUT_T:g}; "
               f"trending=|trend|>={TREND_T:g}&eff>={EFFICIENCY_MIN:g}; vol pct>={HIGH_VOL_PCT:g} high, "
               f"<={LOW_VOL_PCT:g} low; else ranging")
    if len(close) < window + 3:
        return Result(name="market_regime", value=None, formula=formula, window=Window(observations=len(close)),
                      reading=f"need at least {window + 3} bars, have {len(close)}")
    labels, conf, st = classify(close, high, low, window)
    cur = str(labels[-1])
    shares = {r: round(float(np.mean(labels == r)), 4) for r in REGIMES if np.any(labels == r)}
    run = 1
    while run < len(labels) and labels[-run - 1] == cur:
        run += 1
    return Result(
        name="market_regime", value=cur, formula=formula, window=window_of(ts_ns, f"{bar_s:g}s bars"),
        inputs={"window_bars": window, "bar_s": bar_s, "trend_t": TREND_T, "efficiency_min": EFFICIENCY_MIN,
                "high_vol_pct": HIGH_VOL_PCT, "low_vol_pct": LOW_VOL_PCT},
        reading=f"{cur.replace('_', ' ').lower()} for {run} bar(s), confidence {conf[-1]:.2f}",
        details={"confidence": num(conf[-1], 3), "bars_in_regime": run, "trend_t": num(st["trend_t"][-1], 3),
                 "efficiency": num(st["efficiency"][-1], 3), "vol_percentile": num(st["vol_pct"][-1], 3),
                 "regime_shares": shares, "transition_matrix": transition_matrix(labels),
                 "recent": [str(x) for x in labels[-30:]]})


def volatility_regime(ts_ns: np.ndarray, close: np.ndarray, bar_s: float = 60.0, window: int = 30) -> Result:
    """Realised volatility now vs its own history: LOW / NORMAL / HIGH / EXTREME, plus expansion."""
    formula = ("rv_t = std(log returns of last W bars) * sqrt(seconds_per_year / bar_s); "
               "percentile of rv_now among all rv_t of the window")
    if len(close) < window + 3:
        return Result(name="volatility_regime", value=None, formula=formula, window=Window(observations=len(close)),
                      reading=f"need at least {window + 3} bars, have {len(close)}")
    r = np.diff(np.log(close))
    ann = np.sqrt(SECONDS_PER_YEAR / bar_s)
    rv = _rolling(r, window).std(axis=1) * ann
    pct = float(np.mean(rv <= rv[-1]))
    label = next(lbl for cut, lbl in VOL_REGIME_CUTS if pct >= cut)
    short = float(r[-max(window // 3, 2):].std() * ann)
    return Result(
        name="volatility_regime", value=label, formula=formula, window=window_of(ts_ns, f"{bar_s:g}s bars"),
        inputs={"window_bars": window, "bar_s": bar_s, "cuts": {lbl: cut for cut, lbl in VOL_REGIME_CUTS}},
        reading=f"{label.lower()} volatility: {rv[-1] * 100:.1f}% annualised, percentile {pct:.2f}",
        details={"realised_vol_annual": num(rv[-1], 5), "percentile": num(pct, 3),
                 "median_vol_annual": num(np.median(rv), 5),
                 "short_over_long": num(short / rv[-1] if rv[-1] else None, 3),
                 "expanding": bool(rv[-1] > 0 and short > 1.25 * rv[-1])})


__all__ = ["REGIMES", "classify", "market_regime", "transition_matrix", "volatility_regime"]
