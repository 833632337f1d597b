"""Dominant periods (FFT) and STL decomposition of any stored series."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cryptoflow.analytics.ts.pipelines import analyze_seasonality
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


class SeasonalityAnalysis(FeatureCalculator):
    name = "seasonality_analysis"
    description = ("Seasonality of a stored series: dominant periods from an FFT periodogram with a significance "
                   "test, and STL decomposition (trend / seasonal / remainder strengths) at the top period.")
    parameters = (VENUE, SYMBOL, replace(SERIES, default="volume"), MARKET, lookback(7 * 86_400), interval(300),
                  Param("period_s", float, 0.0, "period to decompose at in seconds (0 = the FFT's top period)",
                        ge=0.0, le=365 * 86_400.0))

    async def calculate(self, ctx: CalcContext, **p: Any) -> CalculatorResult:
        rep = await self.in_thread(analyze_seasonality, ctx.require_lake(), p["venue"], p["symbol"], p["series"],
                                   p["market"], lookback_s=p["lookback_s"], interval_s=p["interval_s"],
                                   period_s=p["period_s"] or None)
        fft = rep["fft_periods"]
        values = {"dominant_period_s": fft.value, "significant": (fft.details or {}).get("significant"),
                  "periods": (fft.details or {}).get("periods")}
        if "stl" in rep.metrics:
            values.update({"seasonal_strength": rep["stl"].value,
                           "trend_strength": rep["stl"].details.get("trend_strength")})
        sig = [Signal(name="cycle", direction="info", strength=float(values.get("seasonal_strength") or 0),
                      reason=fft.reading or "")] if values["significant"] else []
        return from_report(self.name, rep, values, sig)
