"""Liquidation clusters and cascades of a symbol across venues, with the price move."""

from __future__ import annotations

from typing import Any

from cryptoflow.analytics import data, leverage
from cryptoflow.analytics.explain import Report, Window
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
from cryptoflow.features.calculators._common import VENUES, parse_venues
from cryptoflow.store.views import VENUE_IDS


def _run(lake: Any, symbol: str, venues: list[str] | None, lookback_s: float, gap_s: float, min_events: int,
         price_venue: str) -> Report:
    s, e = data.resolve_window(lake, "liquidations", symbol, None, None, None, None, lookback_s)
    liq = data.load_liquidations(lake, symbol, venues, s, e)
    tt, tp = data.load_series(lake, "price", price_venue, symbol, "perp", s, e, 100_000_000)
    m = {"liquidation_cascades": leverage.liquidation_cascades(liq.ts_ns, liq.notional, liq.long, liq.price,
                                                               tt if len(tt) else None, tp if len(tp) else None,
                                                               gap_s, min_events),
         "long_short_skew": leverage.long_short_skew(liq.notional, liq.long, liq.ts_ns)}
    return Report(name="liquidation_cascade", metrics=m,
                  window=Window(start_ns=s, end_ns=e, observations=len(liq), resolution="liquidations"))


class LiquidationCascade(FeatureCalculator):
    name = "liquidation_cascade"
    description = ("Detects liquidation cascades (bursts of liquidations within seconds) of a symbol across "
                   "venues, with start time, size, side and the price move; plus the long/short skew.")
    parameters = (SYMBOL, VENUES, lookback(3600),
                  Param("gap_s", float, leverage.CASCADE_GAP_S, "liquidations closer than this form one cluster",
                        ge=0.01, le=3600.0),
                  Param("min_events", int, leverage.CASCADE_MIN_EVENTS, "liquidations a cascade needs", ge=2,
                        le=10_000),
                  Param("price_venue", str, "binance_usdm", "venue whose trades give the price move",
                        choices=VENUE_IDS))

    async def calculate(self, ctx: CalcContext, **p: Any) -> CalculatorResult:
        rep = await self.in_thread(_run, ctx.require_lake(), p["symbol"], parse_venues(p["venues"]), p["lookback_s"],
                                   p["gap_s"], p["min_events"], p["price_venue"])
        casc = rep["liquidation_cascades"]
        cascades = casc.details.get("cascades", []) if casc.details else []
        signals = []
        if cascades:
            last = cascades[-1]
            signals.append(Signal(name="cascade", direction="alert", strength=min(1.0, last["events"] / 50),
                                  reason=f"{last['side']}: {last['events']} liquidations, {last['notional']:,.0f} "
                                         f"notional, price {last['move_bps']:+.1f} bps"))
        return from_report(self.name, rep, {"cascades": casc.value, "latest": cascades[-1] if cascades else None,
                                            "long_short_skew": rep["long_short_skew"].value}, signals)
