"""Aggressor imbalance, CVD, VWAP deviation, whales and book imbalance of one book."""

from __future__ import annotations

from typing import Any

from cryptoflow.analytics.pipelines import analyze_order_flow
from cryptoflow.features.base import (
    MARKET,
    SYMBOL,
    VENUE,
    CalcContext,
    CalculatorResult,
    FeatureCalculator,
    Param,
    Signal,
    direction,
    from_report,
    lookback,
)

#: |imbalance| from which the flow is called one-sided.
IMBALANCE_SIGNAL = 0.2


class OrderFlowImbalance(FeatureCalculator):
    name = "order_flow_imbalance"
    description = ("Order-flow imbalance of one book: aggressor buy/sell imbalance over trailing windows, "
                   "cumulative volume delta, VWAP deviation, whale flow and resting-book imbalance.")
    parameters = (VENUE, SYMBOL, MARKET, lookback(3600),
                  Param("bucket_s", float, 60.0, "CVD / absorption bucket in seconds", ge=1.0, le=86_400.0))

    async def calculate(self, ctx: CalcContext, **p: Any) -> CalculatorResult:
        rep = await self.in_thread(analyze_order_flow, ctx.require_lake(), p["venue"], p["symbol"], p["market"],
                                   lookback_s=p["lookback_s"], bucket_s=p["bucket_s"])
        imb = rep["trade_imbalance"].value
        first_key = next(iter(imb))
        head = imb[first_key]
        values = {"imbalance": imb, "cvd": rep["cvd"].value, "vwap": rep["vwap"].value,
                  "vwap_deviation_bps": rep["vwap"].details.get("deviation_bps"), "whale_net": rep["whales"].value}
        signals = [Signal(name="flow", direction=direction(head, IMBALANCE_SIGNAL), strength=min(1.0, abs(head or 0)),
                          reason=f"aggressor imbalance {head:+.2f} over {first_key}" if head is not None
                          else "no trades in the shortest window")]
        if "book_imbalance" in rep.metrics:
            bi = rep["book_imbalance"].value
            top = next(iter(bi.values()), None)
            values["book_imbalance"] = bi
            signals.append(Signal(name="book", direction=direction(top, IMBALANCE_SIGNAL),
                                  strength=min(1.0, abs(top or 0)), reason=f"top-of-book imbalance {top}"))
        if rep["cvd"].reading and rep["cvd"].reading.startswith("divergence"):
            signals.append(Signal(name="cvd_divergence", direction="bearish" if "bearish" in rep["cvd"].reading
                                  else "bullish", strength=0.5, reason=rep["cvd"].reading))
        return from_report(self.name, rep, values, signals)
