"""Alpha signals: institutional pressure, squeeze scores, smart-money absorption, one composite.

These are transparent heuristics, not fitted models: every weight and scale is a named constant
below, every output says how it was built. The squeeze "probabilities" are logistic scores in
[0, 1] shaped like probabilities; they are NOT calibrated against outcomes, and the results say so.

Sign convention: positive = bullish, negative = bearish, everything in [-1, 1] except the squeeze
scores (in [0, 1]).
"""

from __future__ import annotations

import math

from cryptoflow.analytics.explain import Result

# ---- institutional pressure ---------------------------------------------------------------------
#: Whale share of notional at which whale flow counts fully (below it, pressure is scaled down).
INSTITUTIONAL_FULL_SHARE = 0.25

# ---- smart-money absorption ----------------------------------------------------------------------
#: Share of buckets with absorption at which the absorption signal counts fully.
ABSORPTION_FULL_RATE = 0.1

# ---- squeeze scores: logit = BIAS + sum(weight * feature) ---------------------------------------
SQUEEZE_BIAS = -2.0  # with every feature neutral, score = logistic(-2) ~ 0.12
SQUEEZE_W_FUNDING = 0.8  # per funding z-score against the crowded side
SQUEEZE_W_OI = 0.6  # per 1 % rise of open interest (more leverage to unwind)
SQUEEZE_W_MOVE = 0.5  # per 10 bps of price move against the crowded side
SQUEEZE_W_LIQ = 1.5  # per unit of liquidation skew against the crowded side
SQUEEZE_MOVE_UNIT_BPS = 10.0

# ---- composite -------------------------------------------------------------------------------------
#: Weights of the composite's components (renormalised over the components available).
COMPOSITE_WEIGHTS: dict[str, float] = {
    "order_flow": 0.25,  # trade imbalance of the shortest window
    "cvd_trend": 0.15,  # CVD / traded volume over the window, x CVD_SCALE, clipped
    "institutional_pressure": 0.20,
    "absorption": 0.15,
    "squeeze": 0.15,  # short-squeeze score minus long-squeeze score
    "funding_contrarian": 0.10,  # -tanh(funding z / FUNDING_Z_SCALE): crowded longs are bearish
}
CVD_SCALE = 5.0  # CVD of 20 % of volume saturates the component
FUNDING_Z_SCALE = 2.0
#: |composite| from which the signal is called bullish/bearish (else neutral).
SIGNAL_THRESHOLD = 0.2


def _clip(x: float) -> float:
    return max(-1.0, min(1.0, x))


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def institutional_pressure(whale_buy_notional: float, whale_sell_notional: float, total_notional: float) -> Result:
    """Net whale flow, scaled by how much of the market whales are: in [-1, 1]."""
    formula = (f"pressure = (wb - ws)/(wb + ws) * min(1, ((wb + ws)/total) / {INSTITUTIONAL_FULL_SHARE:g})")
    whale = whale_buy_notional + whale_sell_notional
    if whale <= 0 or total_notional <= 0:
        return Result(name="institutional_pressure", value=0.0, formula=formula, reading="no whale trades")
    share = whale / total_notional
    value = _clip((whale_buy_notional - whale_sell_notional) / whale * min(1.0, share / INSTITUTIONAL_FULL_SHARE))
    return Result(name="institutional_pressure", value=round(value, 4), formula=formula, unit="[-1, 1]",
                  inputs={"whale_buy_notional": whale_buy_notional, "whale_sell_notional": whale_sell_notional,
                          "total_notional": total_notional, "full_share": INSTITUTIONAL_FULL_SHARE},
                  reading="large traders buying" if value > 0.1 else "large traders selling" if value < -0.1
                  else "large traders two-sided")


def squeeze_probability(funding_z: float, oi_change_pct: float, price_move_bps: float, liq_skew: float) -> Result:
    """Short-squeeze and long-squeeze scores in [0, 1] (uncalibrated logistic scores).

    Short squeeze builds when shorts are crowded (funding below normal: z < 0), OI rises, price
    starts up and shorts get liquidated (liq_skew < 0); a long squeeze is the mirror image.
    """
    formula = (f"short = logistic({SQUEEZE_BIAS:g} + {SQUEEZE_W_FUNDING:g}*max(0,-fz) + {SQUEEZE_W_OI:g}*max(0,dOI%) + "
               f"{SQUEEZE_W_MOVE:g}*max(0,move/{SQUEEZE_MOVE_UNIT_BPS:g}bps) + {SQUEEZE_W_LIQ:g}*max(0,-skew)); "
               "long: mirror")
    oi = max(0.0, oi_change_pct)
    move = price_move_bps / SQUEEZE_MOVE_UNIT_BPS
    short = _logistic(SQUEEZE_BIAS + SQUEEZE_W_FUNDING * max(0.0, -funding_z) + SQUEEZE_W_OI * oi
                      + SQUEEZE_W_MOVE * max(0.0, move) + SQUEEZE_W_LIQ * max(0.0, -liq_skew))
    long = _logistic(SQUEEZE_BIAS + SQUEEZE_W_FUNDING * max(0.0, funding_z) + SQUEEZE_W_OI * oi
                     + SQUEEZE_W_MOVE * max(0.0, -move) + SQUEEZE_W_LIQ * max(0.0, liq_skew))
    side = "short squeeze (up)" if short > long else "long squeeze (down)"
    return Result(name="squeeze_probability", value={"short_squeeze": round(short, 4), "long_squeeze": round(long, 4)},
                  formula=formula, unit="score in [0, 1], uncalibrated",
                  inputs={"funding_z": funding_z, "oi_change_pct": oi_change_pct, "price_move_bps": price_move_bps,
                          "liquidation_skew": liq_skew},
                  reading=f"higher risk: {side} ({max(short, long):.2f}); "
                          "heuristic score, not a calibrated probability")


def smart_money_absorption(absorption_net: float | None, absorption_events: int, buckets: int) -> Result:
    """Direction of absorbed flow, damped when absorption is rare: in [-1, 1]."""
    formula = (f"absorption = net * min(1, (events / buckets) / {ABSORPTION_FULL_RATE:g})  "
               "(net from order_flow.absorption)")
    if absorption_net is None or buckets <= 0:
        return Result(name="smart_money_absorption", value=0.0, formula=formula, reading="not enough flow data")
    value = _clip(absorption_net * min(1.0, absorption_events / buckets / ABSORPTION_FULL_RATE))
    return Result(name="smart_money_absorption", value=round(value, 4), formula=formula, unit="[-1, 1]",
                  inputs={"absorption_net": absorption_net, "events": absorption_events, "buckets": buckets},
                  reading="passive buyers absorbing" if value > 0.1 else "passive sellers absorbing" if value < -0.1
                  else "no meaningful absorption")


def components(order_flow_imbalance: float | None = None, cvd_over_volume: float | None = None,
               institutional: float | None = None, absorption: float | None = None,
               short_squeeze: float | None = None, long_squeeze: float | None = None,
               funding_z: float | None = None) -> dict[str, float]:
    """Map raw inputs to the composite's components (each in [-1, 1]); missing inputs are left out."""
    out: dict[str, float] = {}
    if order_flow_imbalance is not None:
        out["order_flow"] = _clip(order_flow_imbalance)
    if cvd_over_volume is not None:
        out["cvd_trend"] = _clip(CVD_SCALE * cvd_over_volume)
    if institutional is not None:
        out["institutional_pressure"] = _clip(institutional)
    if absorption is not None:
        out["absorption"] = _clip(absorption)
    if short_squeeze is not None and long_squeeze is not None:
        out["squeeze"] = _clip(short_squeeze - long_squeeze)
    if funding_z is not None:
        out["funding_contrarian"] = -math.tanh(funding_z / FUNDING_Z_SCALE)
    return out


def composite(parts: dict[str, float], weights: dict[str, float] | None = None) -> Result:
    """Weighted mean of the components present, in [-1, 1], with each component's contribution."""
    w = COMPOSITE_WEIGHTS if weights is None else weights
    formula = "composite = sum(w_i * c_i) / sum(|w_i|) over the components present"
    used = {k: v for k, v in parts.items() if k in w and v is not None and math.isfinite(v)}
    denom = sum(abs(w[k]) for k in used)
    if not used or denom == 0:
        return Result(name="composite", value=0.0, formula=formula, reading="no components available",
                      inputs={"weights": w})
    value = _clip(sum(w[k] * used[k] for k in used) / denom)
    contrib = {k: round(w[k] * used[k] / denom, 4) for k in used}
    label = "bullish" if value >= SIGNAL_THRESHOLD else "bearish" if value <= -SIGNAL_THRESHOLD else "neutral"
    top = max(contrib, key=lambda k: abs(contrib[k]))
    return Result(name="composite", value=round(value, 4), formula=formula, unit="[-1, 1]",
                  inputs={"weights": {k: w[k] for k in used}, "threshold": SIGNAL_THRESHOLD},
                  reading=f"{label} ({value:+.2f}); largest contribution: {top} ({contrib[top]:+.2f})",
                  details={"label": label, "components": {k: round(v, 4) for k, v in used.items()},
                           "contributions": contrib, "missing": [k for k in w if k not in used]})


__all__ = ["COMPOSITE_WEIGHTS", "components", "composite", "institutional_pressure", "smart_money_absorption",
           "squeeze_probability"]
