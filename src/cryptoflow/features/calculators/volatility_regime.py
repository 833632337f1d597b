"""Realised-volatility regime of one book: LOW / NORMAL / HIGH / EXTREME vs its own history."""

from __future__ import annotations

from typing import Any

from cryptoflow.analytics import data, regime
from cryptoflow.analytics.explain import Report, Window
from cryptoflow.errors import QueryError
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


def _run(lake: Any, venue: str, symbol: str, market: str, lookback_s: float, bar_s: float, window: int) -> Report:
    s, e = data.resolve_window(lake, "trades", symbol, venue, market, None, None, lookback_s)
    b = data.load_bars(lake, venue, symbol, market, s, e, int(bar_s * 1e9))
    if len(b) < window + 3:
        raise QueryError(f"only {len(b)} bars in the window; need {window + 3}")
    r = regime.volatility_regime(b.ts_ns, b.close, bar_s, window)
    return Report(name="volatility_regime", metrics={"volatility_regime": r},
                  window=Window(start_ns=s, end_ns=e, observations=len(b), resolution=f"{bar_s:g}s bars"))


class VolatilityRegime(FeatureCalculator):
    name = "volatility_regime"
    description = ("Volatility regime of one book: annualised realised volatility of recent bars, its percentile "
                   "in the window's history (LOW/NORMAL/HIGH/EXTREME) and whether it is expanding.")
    parameters = (VENUE, SYMBOL, MARKET, lookback(86_400),
                  Param("bar_s", float, 60.0, "bar width in seconds", ge=1.0, le=86_400.0),
                  Param("window", int, 30, "bars per realised-volatility window", ge=5, le=10_000))

    async def calculate(self, ctx: CalcContext, **p: Any) -> CalculatorResult:
        rep = await self.in_thread(_run, ctx.require_lake(), p["venue"], p["symbol"], p["market"], p["lookback_s"],
                                   p["bar_s"], p["window"])
        r = rep["volatility_regime"]
        sig = [Signal(name="volatility", direction="alert" if r.value in ("HIGH", "EXTREME") else "info",
                      strength=float(r.details.get("percentile") or 0), reason=r.reading or "")]
        return from_report(self.name, rep, {"regime": r.value, **r.details}, sig)
