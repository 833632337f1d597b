"""Level shifts of any stored series by CUSUM, binary segmentation or PELT."""

from __future__ import annotations

from typing import Any

from cryptoflow.analytics.ts import changepoints
from cryptoflow.analytics.ts.pipelines import detect_change_points
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


class ChangePointDetection(FeatureCalculator):
    name = "change_point_detection"
    description = ("Change points (shifts in level) of a stored series by CUSUM, binary segmentation or PELT "
                   "(ruptures), with the mean before and after each.")
    parameters = (VENUE, SYMBOL, SERIES, MARKET, lookback(86_400), interval(60),
                  Param("method", str, "pelt", "detection method", choices=(*changepoints.METHODS, "all")),
                  Param("penalty", float, changepoints.PENALTY_BIC, "penalty multiplier (higher = fewer points)",
                        ge=0.01, le=1000.0))

    async def calculate(self, ctx: CalcContext, **p: Any) -> CalculatorResult:
        rep = await self.in_thread(detect_change_points, ctx.require_lake(), p["venue"], p["symbol"], p["series"],
                                   p["market"], lookback_s=p["lookback_s"], interval_s=p["interval_s"],
                                   method=p["method"], penalty=p["penalty"])
        r = rep["change_points"]
        pts = r.details.get("points", []) if r.details else []
        sig = [Signal(name="level_shift", direction="info", strength=min(1.0, abs(pts[-1]["shift_sigmas"] or 0) / 10),
                      reason=r.reading or "")] if pts else []
        return from_report(self.name, rep, {"change_points": r.value, "points": pts[-20:]}, sig)
