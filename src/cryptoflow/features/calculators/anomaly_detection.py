"""Anomalies of any stored series by z-score, IQR, isolation forest and CUSUM, with an ensemble vote."""

from __future__ import annotations

from typing import Any

from cryptoflow.analytics.ts import anomalies
from cryptoflow.analytics.ts.pipelines import detect_anomalies
from cryptoflow.features.base import (
    MARKET,
    SYMBOL,
    VENUE,
    CalcContext,
    CalculatorResult,
    FeatureCalculator,
    Param,
    Signal,
    from_report,
    lookback,
)
from cryptoflow.features.calculators._common import SERIES, interval


class AnomalyDetection(FeatureCalculator):
    name = "anomaly_detection"
    description = ("Anomalous points of a stored series (price returns, volume, spread, funding, OI, liquidations) "
                   "by rolling robust z-score, IQR fences, isolation forest and CUSUM, flagged when methods agree.")
    parameters = (VENUE, SYMBOL, SERIES, MARKET, lookback(86_400), interval(60),
                  Param("min_votes", int, anomalies.MIN_VOTES, "methods that must agree", ge=1, le=4))

    async def calculate(self, ctx: CalcContext, **p: Any) -> CalculatorResult:
        rep = await self.in_thread(detect_anomalies, ctx.require_lake(), p["venue"], p["symbol"], p["series"],
                                   p["market"], lookback_s=p["lookback_s"], interval_s=p["interval_s"],
                                   min_votes=p["min_votes"])
        r = rep["anomalies"]
        pts = r.details.get("points", []) if r.details else []
        recent = [x for x in pts if x["index"] >= r.window.observations - 3] if r.window else []
        sig = [Signal(name="recent_anomaly", direction="alert",
                      strength=min(1.0, abs(recent[-1]["robust_z"] or 0) / 10),
                      reason=f"the latest points are anomalous (robust z {recent[-1]['robust_z']})")] if recent else []
        return from_report(self.name, rep, {"anomalies": r.value, "by_method": r.details.get("by_method"),
                                            "points": pts[-20:]}, sig)
