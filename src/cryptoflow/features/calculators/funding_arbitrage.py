"""Cross-venue funding: who pays what, and the best long/short carry pair."""

from __future__ import annotations

from typing import Any

from cryptoflow.analytics import data, leverage
from cryptoflow.analytics.explain import Report, Result, Window, num
from cryptoflow.features.base import (
    SYMBOL,
    CalcContext,
    CalculatorError,
    CalculatorResult,
    FeatureCalculator,
    Param,
    Signal,
    from_report,
    lookback,
)
from cryptoflow.features.calculators._common import VENUES, parse_venues

#: Carry pairs below this annualised spread (percent) are not worth the fees and basis risk.
MIN_ANNUAL_SPREAD_PCT = 10.0


def _run(lake: Any, symbol: str, venues: list[str] | None, lookback_s: float, min_pct: float) -> Report:
    s, e = data.resolve_window(lake, "funding_rates", symbol, None, "perp", None, None, lookback_s)
    fund = data.load_funding(lake, symbol, venues, s, e)
    if len(fund.by_venue) < 2:
        raise CalculatorError(f"funding arbitrage needs funding from two venues; found {list(fund.by_venue) or 'none'}")
    stress = leverage.funding_stress(fund.by_venue)
    latest = {v: float(r[-1]) for v, (_, r) in fund.by_venue.items() if len(r)}
    hi, lo = max(latest, key=latest.get), min(latest, key=latest.get)  # type: ignore[arg-type]
    spread = latest[hi] - latest[lo]
    annual = spread * leverage.PERIODS_8H_PER_YEAR * 100
    arb = Result(
        name="funding_arbitrage", value=num(annual, 3), unit="% per year",
        formula="carry = (rate_8h[short venue] - rate_8h[long venue]) * 1095 * 100; short where funding is highest",
        window=Window(start_ns=s, end_ns=e, observations=len(fund), resolution="1m funding buckets"),
        inputs={"venues": list(latest), "min_annual_pct": min_pct},
        reading=f"short {hi} / long {lo}: {spread * 1e4:.2f} bps per 8h ({annual:.1f}%/yr)"
                + ("" if annual >= min_pct else f", below the {min_pct:g}%/yr worth-it line"),
        details={"short_venue": hi, "long_venue": lo, "spread_8h_bps": num(spread * 1e4, 4),
                 "latest_8h_bps": {v: num(r * 1e4, 4) for v, r in latest.items()}})
    return Report(name="funding_arbitrage", metrics={"funding_arbitrage": arb, "funding_stress": stress},
                  window=arb.window)


class FundingArbitrage(FeatureCalculator):
    name = "funding_arbitrage"
    description = ("Funding-rate arbitrage across venues: the highest and lowest funding (normalised to 8 h), "
                   "the annualised carry of shorting the first and longing the second, and funding stress.")
    parameters = (SYMBOL, VENUES, lookback(4 * 3600),
                  Param("min_annual_pct", float, MIN_ANNUAL_SPREAD_PCT, "carry (percent per year) worth signalling",
                        ge=0.0, le=10_000.0))

    async def calculate(self, ctx: CalcContext, **p: Any) -> CalculatorResult:
        rep = await self.in_thread(_run, ctx.require_lake(), p["symbol"], parse_venues(p["venues"]), p["lookback_s"],
                                   p["min_annual_pct"])
        arb = rep["funding_arbitrage"]
        signals = []
        if (arb.value or 0) >= p["min_annual_pct"]:
            signals.append(Signal(name="carry", direction="info", strength=min(1.0, arb.value / 100),
                                  reason=arb.reading or ""))
        return from_report(self.name, rep, {"annual_carry_pct": arb.value, **arb.details,
                                            "funding_z": rep["funding_stress"].value}, signals)
