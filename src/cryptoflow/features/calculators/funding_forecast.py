"""Funding-rate forecast of one venue with its backtest skill against persistence."""

from __future__ import annotations

from typing import Any

from cryptoflow.analytics.ts.pipelines import load
from cryptoflow.features.base import (
    SYMBOL,
    CalcContext,
    CalculatorResult,
    FeatureCalculator,
    Param,
    Signal,
    from_report,
    lookback,
)
from cryptoflow.features.calculators._baseline import ORIGINS
from cryptoflow.features.calculators._common import interval
from cryptoflow.features.calculators.price_forecast import forecast_report
from cryptoflow.store.views import VENUE_IDS


def _run(lake: Any, venue: str, symbol: str, lookback_s: float, interval_s: float, horizon: int) -> Any:
    t, x, w, desc = load(lake, "funding", venue, symbol, "perp", None, None, lookback_s, interval_s,
                         min_points=ORIGINS + horizon + 30)
    return forecast_report("funding_forecast", t, x, w, desc, horizon, interval_s)


class FundingForecast(FeatureCalculator):
    name = "funding_forecast"
    description = ("Forecast of a venue's funding rate (fraction per interval) for the next steps, naive or AutoETS "
                   "by a rolling-origin backtest, with intervals and the backtest skill vs persistence.")
    parameters = (Param("venue", str, "binance_usdm", "perp venue id", choices=VENUE_IDS), SYMBOL, lookback(86_400),
                  interval(300), Param("horizon", int, 12, "steps ahead to forecast", ge=1, le=500))

    async def calculate(self, ctx: CalcContext, **p: Any) -> CalculatorResult:
        rep = await self.in_thread(_run, ctx.require_lake(), p["venue"], p["symbol"], p["lookback_s"], p["interval_s"],
                                   p["horizon"])
        r = rep["funding_forecast"]
        sk = r.details["skill"][r.details["model"]]
        end = r.value[-1] or 0.0
        sig = [Signal(name="funding_outlook", direction="info", strength=max(0.0, min(1.0, 1 - sk["rmae"])),
                      reason=f"funding expected {end * 1e4:+.2f} bps per interval in {p['horizon']} steps; "
                             f"{r.reading}")]
        return from_report(self.name, rep, {"model": r.details["model"], "forecast": r.value,
                                            "last_value": r.details["last_value"], "rmae": sk["rmae"],
                                            "mase": sk["mase"], "coverage": sk["coverage"]}, sig)
