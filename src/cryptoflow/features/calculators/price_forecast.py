"""Price forecast of one book with its backtest skill against the naive forecast (statistical baseline)."""

from __future__ import annotations

from typing import Any

from cryptoflow.analytics.explain import Report, Result, Window, num
from cryptoflow.analytics.ts.pipelines import load
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
from cryptoflow.features.calculators._baseline import ORIGINS, forecast_with_skill
from cryptoflow.features.calculators._common import interval


def forecast_report(name: str, t: Any, x: Any, w: Window, desc: str, horizon: int, step_s: float) -> Report:
    """Shared by the price and funding forecasts."""
    try:
        fc = forecast_with_skill(x, horizon)
    except ValueError as exc:
        raise CalculatorError(str(exc)) from exc
    sk = fc["skill"][fc["model"]]
    res = Result(
        name=name, value=[num(v) for v in fc["forecast"]["mean"]], unit=desc,
        formula=f"rolling-origin backtest over {fc['origins']} origins (refit each, no look-ahead); "
                "rMAE = MAE_model / MAE_naive; AutoETS only if rMAE < 1 and Diebold-Mariano p < 0.05, else naive",
        window=w, inputs={"horizon_steps": horizon, "step_s": step_s, "series": desc},
        reading=f"{fc['model']}: {fc['reason']}; backtest rMAE {sk['rmae']:.3f}, MASE {sk['mase']:.3f}, "
                f"80% interval covered {sk['coverage']['80%']:.0%}",
        details={"model": fc["model"], "forecast": fc["forecast"], "last_value": fc["last_value"],
                 "forecast_times_ns": [int(t[-1]) + int((i + 1) * step_s * 1e9) for i in range(horizon)],
                 "skill": fc["skill"], "dm_pvalue_ets_vs_naive": fc["dm_pvalue_ets_vs_naive"],
                 "engine": "statistical baseline (naive / AutoETS) until the forecasting engine exists"})
    return Report(name=name, metrics={name: res}, window=w)


def _run(lake: Any, venue: str, symbol: str, market: str, lookback_s: float, interval_s: float, horizon: int) -> Report:
    t, x, w, desc = load(lake, "price", venue, symbol, market, None, None, lookback_s, interval_s,
                         min_points=ORIGINS + horizon + 30)
    return forecast_report("price_forecast", t, x, w, desc, horizon, interval_s)


class PriceForecast(FeatureCalculator):
    name = "price_forecast"
    description = ("Forecast of one book's price for the next steps (naive or AutoETS, whichever a rolling-origin "
                   "backtest supports) with 80/95% intervals and the backtest skill vs naive (rMAE, MASE, coverage).")
    parameters = (VENUE, SYMBOL, MARKET, lookback(86_400), interval(60),
                  Param("horizon", int, 10, "steps ahead to forecast", ge=1, le=500))

    async def calculate(self, ctx: CalcContext, **p: Any) -> CalculatorResult:
        rep = await self.in_thread(_run, ctx.require_lake(), p["venue"], p["symbol"], p["market"], p["lookback_s"],
                                   p["interval_s"], p["horizon"])
        r = rep["price_forecast"]
        last, end = r.details["last_value"], r.value[-1]
        move = (end / last - 1) * 1e4 if last and end else 0.0
        sk = r.details["skill"][r.details["model"]]
        sig = [Signal(name="forecast", direction="neutral" if r.details["model"] == "naive" or abs(move) < 1 else
                      ("bullish" if move > 0 else "bearish"), strength=max(0.0, min(1.0, 1 - sk["rmae"])),
                      reason=r.reading or "")]
        return from_report(self.name, rep, {"model": r.details["model"], "forecast": r.value, "last_value": last,
                                            "rmae": sk["rmae"], "mase": sk["mase"], "coverage": sk["coverage"]}, sig)
