"""Example plugin calculator: how far the last trade is from the VWAP, in bps.

Copy this file into your plugin directory (``export CRYPTOFLOW_PLUGIN_DIR=~/cryptoflow-plugins``)
and restart the MCP server: it becomes the tool ``calculate_vwap_distance``.
"""

from __future__ import annotations

from typing import Any

from cryptoflow.analytics import data, order_flow
from cryptoflow.features import (
    MARKET,
    SYMBOL,
    VENUE,
    CalcContext,
    CalculatorResult,
    FeatureCalculator,
    Param,
    Signal,
    lookback,
)


class VwapDistance(FeatureCalculator):
    name = "vwap_distance"  # the tool is calculate_vwap_distance
    description = "Distance of the last trade from the window's VWAP in bps, and whether price is stretched."
    parameters = (
        VENUE, SYMBOL, MARKET, lookback(3600),  # shared parameters: venue, symbol, market, lookback_s
        Param("stretch_bps", float, 50.0, "distance from VWAP that counts as stretched", ge=0.0, le=10_000.0),
    )

    async def calculate(self, ctx: CalcContext, **p: Any) -> CalculatorResult:
        lake = ctx.require_lake()

        def work():  # blocking SQL + numpy: runs in a worker thread
            start, end = data.resolve_window(lake, "trades", p["symbol"], p["venue"], p["market"],
                                             None, None, p["lookback_s"])
            trades = data.load_trades(lake, p["venue"], p["symbol"], p["market"], start, end)
            return order_flow.vwap_deviation(trades.price, trades.qty)

        vwap = await self.in_thread(work)  # an explained Result: value, formula, inputs, window
        dev = vwap.details.get("deviation_bps") or 0.0
        stretched = abs(dev) >= p["stretch_bps"]
        signal = Signal(
            name="vwap_stretch",
            direction=("bearish" if dev > 0 else "bullish") if stretched else "neutral",  # stretched -> reversion
            strength=min(1.0, abs(dev) / max(2 * p["stretch_bps"], 1e-9)),
            reason=vwap.reading or "",
        )
        return CalculatorResult(calculator=self.name, values={"vwap": vwap.value, "deviation_bps": dev,
                                                              "stretched": stretched},
                                signals=[signal], metrics={"vwap": vwap}, window=vwap.window)
