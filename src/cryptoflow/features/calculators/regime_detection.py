"""Market regime of one book (trending, ranging, volatile, breakout ...) with confidence and transitions."""

from __future__ import annotations

from typing import Any

from cryptoflow.analytics.pipelines import detect_market_regime
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

_DIRECTION = {"TRENDING_UP": "bullish", "BREAKOUT": "bullish", "TRENDING_DOWN": "bearish", "BREAKDOWN": "bearish"}


class RegimeDetection(FeatureCalculator):
    name = "regime_detection"
    description = ("Classifies each bar into TRENDING_UP, TRENDING_DOWN, RANGING, HIGH_VOLATILITY, LOW_VOLATILITY, "
                   "BREAKOUT or BREAKDOWN; returns the current regime, its confidence and the transition matrix.")
    parameters = (VENUE, SYMBOL, MARKET, lookback(86_400),
                  Param("bar_s", float, 60.0, "bar width in seconds", ge=1.0, le=86_400.0),
                  Param("window", int, 20, "bars per classification window", ge=5, le=1000))

    async def calculate(self, ctx: CalcContext, **p: Any) -> CalculatorResult:
        rep = await self.in_thread(detect_market_regime, ctx.require_lake(), p["venue"], p["symbol"], p["market"],
                                   lookback_s=p["lookback_s"], bar_s=p["bar_s"], window=p["window"])
        r = rep["market_regime"]
        conf = float(r.details.get("confidence") or 0)
        sig = [Signal(name="regime", direction=_DIRECTION.get(r.value, "neutral"), strength=conf,  # type: ignore[arg-type]
                      reason=r.reading or "")]
        return from_report(self.name, rep, {"regime": r.value, "confidence": conf,
                                            "volatility_regime": rep["volatility_regime"].value,
                                            "transition_matrix": r.details.get("transition_matrix")}, sig)
