"""40+ descriptive features of any stored series."""

from __future__ import annotations

from typing import Any

from cryptoflow.analytics.ts import features
from cryptoflow.analytics.ts.pipelines import extract_features
from cryptoflow.features.base import (
    MARKET,
    SYMBOL,
    VENUE,
    CalcContext,
    CalculatorError,
    CalculatorResult,
    FeatureCalculator,
    Param,
    Signal,
    from_report,
    lookback,
)
from cryptoflow.features.calculators._common import SERIES, interval


class FeatureExtraction(FeatureCalculator):
    name = "feature_extraction"
    description = ("Statistical, distribution, trend, volatility, autocorrelation and complexity features "
                   "(Hurst exponent, DFA, sample/permutation entropy ...) of a stored series: 40+ numbers.")
    parameters = (VENUE, SYMBOL, SERIES, MARKET, lookback(86_400), interval(60),
                  Param("groups", str, "all", f"comma-separated groups or 'all': {', '.join(features.GROUPS)}"))

    async def calculate(self, ctx: CalcContext, **p: Any) -> CalculatorResult:
        groups = features.GROUPS if p["groups"].strip() in ("", "all") else tuple(
            g.strip() for g in p["groups"].split(",") if g.strip())
        bad = [g for g in groups if g not in features.GROUPS]
        if bad:
            raise CalculatorError(f"unknown group(s) {bad}; groups are: {', '.join(features.GROUPS)}")
        rep = await self.in_thread(extract_features, ctx.require_lake(), p["venue"], p["symbol"], p["series"],
                                   p["market"], lookback_s=p["lookback_s"], interval_s=p["interval_s"], groups=groups)
        r = rep["features"]
        flat = {f"{g}.{k}": v for g, feats in (r.details or {}).items() for k, v in feats.items()}
        sig = [Signal(name="persistence", direction="info", strength=0.5, reason=r.reading)] if r.reading else []
        return from_report(self.name, rep, flat, sig)
