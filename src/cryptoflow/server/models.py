"""Pydantic models of the tools' structured output (their JSON schema is each tool's outputSchema);
history, store and streaming outputs are in ``models_history``.

Units as the server instructions state them: prices in quote currency, quantities in base units,
``*_bps`` in basis points, funding ``rate`` per funding interval (fraction) and ``annualized_pct``
in percent per year, times ISO 8601 UTC strings, ages in seconds.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Source = Literal["live", "store"]
Scalar = str | int | float | bool | None
#: One value of a history or SQL row: a scalar, or a list of scalars (book levels); anything nested
#: deeper arrives as a JSON string.
Cell = Scalar | list[Scalar]


class Out(BaseModel):
    """Base of tool outputs; ``summary()`` is the first line of the text content."""

    model_config = ConfigDict(extra="forbid")

    def summary(self) -> str:
        return ""


class Missing(Out):
    symbol: str | None = None
    venue: str | None = None
    reason: str


class CollectorInfo(Out):
    state: Literal["running_in_process", "running_other_process", "stopped", "never_started"]
    pid: int | None = None
    last_report_age_s: float | None = None


# ---- market -------------------------------------------------------------------------------------
class QuoteOut(Out):
    symbol: str
    venue: str
    market: str
    bid: float
    bid_qty: float
    ask: float
    ask_qty: float
    mid: float
    spread_bps: float
    ts: str
    age_s: float


class PriceSummary(Out):
    symbol: str
    venues: int
    best_bid: float
    best_bid_venue: str
    best_ask: float
    best_ask_venue: str
    median_mid: float
    mid_range_bps: float = Field(description="(highest mid - lowest mid) / median mid across venues")


class PricesResult(Out):
    source: Source
    as_of: str
    market: str
    quotes: list[QuoteOut]
    summaries: list[PriceSummary]
    missing: list[Missing] = []

    def summary(self) -> str:
        parts = [f"{s.symbol} mid {s.median_mid:.6g} ({s.venues} venues, range {s.mid_range_bps:.1f} bps)"
                 for s in self.summaries]
        return f"prices from {self.source}: " + "; ".join(parts)


class Level(Out):
    price: float
    qty: float


class DepthBandOut(Out):
    within_bps: float
    bid_qty: float
    ask_qty: float
    bid_notional: float
    ask_notional: float
    imbalance: float | None
    complete: bool = Field(description="false when the stored levels end inside the band")


class OrderbookResult(Out):
    symbol: str
    venue: str
    market: str
    source: Source
    ts: str
    age_s: float
    mid: float
    spread_bps: float
    imbalance: float | None = Field(description="(bid - ask) / (bid + ask) qty over the levels returned")
    depth: list[DepthBandOut]
    bids: list[Level]
    asks: list[Level]
    levels_available: int
    truncated: bool

    def summary(self) -> str:
        return (f"{self.venue} {self.symbol} book: mid {self.mid:.6g}, spread {self.spread_bps:.2f} bps, "
                f"imbalance {self.imbalance if self.imbalance is None else round(self.imbalance, 3)}")


class TradeOut(Out):
    ts: str
    venue: str
    price: float
    qty: float
    side: str
    trade_id: str | None = None


class FlowSummary(Out):
    venue: str = Field(description="venue id, or 'all'")
    trades: int
    buy_volume: float
    sell_volume: float
    buy_ratio: float | None
    delta: float
    notional: float
    vwap: float | None
    low: float | None
    high: float | None


class TradesResult(Out):
    symbol: str
    market: str
    start: str
    end: str
    trades: list[TradeOut]
    flow: list[FlowSummary]
    truncated: bool

    def summary(self) -> str:
        tot = next((f for f in self.flow if f.venue == "all"), None)
        if tot is None:
            return f"no {self.symbol} trades since {self.start}"
        return (f"{self.symbol}: {tot.trades} trades since {self.start}, buy {tot.buy_volume:.6g} / "
                f"sell {tot.sell_volume:.6g} base, vwap {tot.vwap}")


class FundingOut(Out):
    symbol: str
    venue: str
    rate: float
    predicted_rate: float | None
    interval_hours: float
    interval_assumed: bool
    rate_8h: float
    annualized_pct: float
    next_funding_time: str | None
    ts: str
    age_s: float


class FundingSummary(Out):
    symbol: str
    highest_venue: str
    highest_annualized_pct: float
    lowest_venue: str
    lowest_annualized_pct: float
    spread_annualized_pct: float


class FundingResult(Out):
    source: Source
    as_of: str
    rates: list[FundingOut]
    summaries: list[FundingSummary]
    missing: list[Missing] = []

    def summary(self) -> str:
        return "; ".join(f"{s.symbol} funding {s.lowest_annualized_pct:.2f}%..{s.highest_annualized_pct:.2f}%/yr "
                         f"({s.lowest_venue}..{s.highest_venue})" for s in self.summaries)


class OIChange(Out):
    window: str
    since: str | None
    oi_base_then: float | None
    change_base: float | None
    change_pct: float | None
    partial: bool = Field(description="true when stored data covers less than the window")


class OIOut(Out):
    venue: str
    oi_base: float | None
    oi_notional: float | None
    oi_contracts: float | None
    ts: str
    age_s: float
    changes: list[OIChange]


class OpenInterestResult(Out):
    symbol: str
    source: Source
    as_of: str
    venues: list[OIOut]
    total_notional: float | None
    missing: list[Missing] = []

    def summary(self) -> str:
        return f"{self.symbol} open interest on {len(self.venues)} venues, total notional {self.total_notional}"


class LiquidationOut(Out):
    ts: str
    venue: str
    symbol: str
    side: str = Field(description="side of the liquidated position: long or short")
    price: float
    qty: float
    notional: float


class LiquidationTotal(Out):
    venue: str = Field(description="venue id, or 'all'")
    side: str
    events: int
    qty: float
    notional: float
    largest_notional: float


class LiquidationsResult(Out):
    start: str
    end: str
    events: list[LiquidationOut]
    totals: list[LiquidationTotal]
    truncated: bool
    venues_without_stream: list[str] = []

    def summary(self) -> str:
        sides = {t.side: t for t in self.totals if t.venue == "all"}
        parts = [f"{s} {t.events} events / {t.notional:,.0f} notional" for s, t in sorted(sides.items())]
        return f"liquidations since {self.start}: " + (", ".join(parts) or "none")


class TickerOut(Out):
    venue: str
    last: float
    high: float | None
    low: float | None
    volume: float | None
    quote_volume: float | None
    price_change_pct: float | None
    ts: str


class MarkOut(Out):
    venue: str
    mark_price: float
    index_price: float | None
    premium_bps: float | None
    ts: str


class PriceContextOut(Out):
    now: float
    bars: int
    mean: float
    std: float | None
    zscore: float | None
    percentile: float
    low: float
    high: float
    range_position: float | None
    change_pct: float | None
    realized_vol_annualized: float | None


class MarketSnapshotResult(Out):
    symbol: str
    market: str
    as_of: str
    prices: PricesResult | None
    funding: list[FundingOut]
    open_interest: list[OIOut]
    marks: list[MarkOut]
    tickers_24h: list[TickerOut]
    trades_24h: list[FlowSummary]
    context_24h: PriceContextOut | None
    missing: list[Missing] = []

    def summary(self) -> str:
        ctx = self.context_24h
        c = f", 24h percentile {ctx.percentile:.0f}, z {ctx.zscore}" if ctx else ""
        return f"{self.symbol} {self.market} snapshot as of {self.as_of}{c}"


class StreamCoverage(Out):
    stream: str
    rows: int | None = None
    first: str | None = None
    last: str
    age_s: float


class MarketEntry(Out):
    venue: str
    market: str
    symbol: str
    streams: list[StreamCoverage]


class VenueInfo(Out):
    venue: str
    markets: dict[str, list[str]] = Field(description="market -> streams the venue offers")
    taker_fee_bps: dict[str, float]


class MarketsResult(Out):
    collector: CollectorInfo
    venues: list[VenueInfo]
    markets: list[MarketEntry]
    total: int
    truncated: bool
    next_cursor: str | None = None

    def summary(self) -> str:
        syms = sorted({m.symbol for m in self.markets})
        return f"{self.total} stored markets (collector {self.collector.state}); symbols: {', '.join(syms)}"


# ---- arbitrage ----------------------------------------------------------------------------------
class OpportunityOut(Out):
    symbol: str
    market: str
    buy_venue: str
    sell_venue: str
    buy_price: float
    sell_price: float
    gross_bps: float
    buy_fee_bps: float
    sell_fee_bps: float
    net_bps: float
    size_base: float = Field(description="min(top ask qty on buy venue, top bid qty on sell venue)")
    notional_quote: float
    net_profit_quote: float
    quote_skew_s: float = Field(description="time between the two quotes")
    oldest_quote_age_s: float


class ArbitrageResult(Out):
    source: Source
    as_of: str
    market: str
    min_profit_bps: float
    opportunities: list[OpportunityOut]
    truncated: bool
    quotes_used: int
    best_gross: OpportunityOut | None = Field(description="best pair by gross edge even when nothing clears fees")
    missing: list[Missing] = []

    def summary(self) -> str:
        if not self.opportunities:
            g = self.best_gross
            best = f"; best gross {g.gross_bps:.1f} bps ({g.buy_venue}->{g.sell_venue} {g.symbol})" if g else ""
            return f"no opportunity with net >= {self.min_profit_bps} bps{best}"
        o = self.opportunities[0]
        return (f"{len(self.opportunities)} opportunities; best {o.symbol}: buy {o.buy_venue} {o.buy_price:.6g}, "
                f"sell {o.sell_venue} {o.sell_price:.6g}, net {o.net_bps:.1f} bps")


class SpreadMatrixResult(Out):
    symbol: str
    market: str
    source: Source
    as_of: str
    venues: list[str]
    gross_bps: list[list[float | None]] = Field(description="[i][j]: buy on venues[i] at ask, sell on venues[j] "
                                                            "at bid")
    net_bps: list[list[float | None]]
    mid_dev_bps: list[float]
    quote_age_s: list[float]

    def summary(self) -> str:
        return f"{self.symbol} {len(self.venues)}x{len(self.venues)} spread matrix from {self.source}"


class VenueRow(Out):
    venue: str
    mid: float
    mid_dev_bps: float
    spread_bps: float
    bid: float
    ask: float
    top_bid_notional: float
    top_ask_notional: float
    taker_fee_bps: float
    taker_cost_bps: float = Field(description="half spread + taker fee")
    volume_base: float | None
    volume_share: float | None
    trades: int | None
    funding_annualized_pct: float | None = None
    oi_notional: float | None = None
    quote_age_s: float


class CompareVenuesResult(Out):
    symbol: str
    market: str
    source: Source
    window: str
    venues: list[VenueRow]
    best_bid_venue: str
    best_ask_venue: str
    cheapest_taker_venue: str
    most_volume_venue: str | None

    def summary(self) -> str:
        return (f"{self.symbol}: best bid {self.best_bid_venue}, best ask {self.best_ask_venue}, cheapest to "
                f"cross {self.cheapest_taker_venue}, most volume {self.most_volume_venue}")


class CarryOut(Out):
    symbol: str
    long_venue: str
    short_venue: str
    long_rate: float
    short_rate: float
    long_interval_hours: float
    short_interval_hours: float
    rate_diff_8h: float
    gross_annualized_pct: float
    fees_round_trip_bps: float
    net_annualized_pct: float
    holding_days: float
    interval_assumed: bool
    basis_bps: float | None = Field(None, description="short venue mid vs long venue mid (price risk of the pair)")


class FundingArbitrageResult(Out):
    source: Source
    as_of: str
    pairs: list[CarryOut]
    truncated: bool
    missing: list[Missing] = []

    def summary(self) -> str:
        if not self.pairs:
            return "no funding carry pair passes the filter"
        p = self.pairs[0]
        return (f"best carry {p.symbol}: long {p.long_venue} / short {p.short_venue}, "
                f"net {p.net_annualized_pct:.2f}%/yr over {p.holding_days:g} days")
