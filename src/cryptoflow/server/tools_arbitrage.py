"""Toolset ``arbitrage``: price and funding differences between venues, after fees."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from cryptoflow.analytics import cross_venue as cv
from cryptoflow.analytics import queries_live
from cryptoflow.server import sources
from cryptoflow.server.context import ServerContext
from cryptoflow.server.models import (
    ArbitrageResult,
    CarryOut,
    CompareVenuesResult,
    FundingArbitrageResult,
    OpportunityOut,
    SpreadMatrixResult,
    VenueRow,
)
from cryptoflow.server.params import (
    MarketArg,
    SymbolArg,
    VenueId,
    VenuesArg,
    age_s,
    duration_s,
    iso,
    symbol_arg,
    symbols_arg,
    tool,
    utcnow,
)
from cryptoflow.server.tools_market import missing_pairs

FeesArg = Annotated[dict[VenueId, Annotated[float, Field(ge=0, le=100)]] | None, Field(
    description="your own taker fees in bps by venue (default: each venue's base-tier fee, see list_markets)")]
FreshArg = Annotated[float, Field(gt=0, le=86_400, description=(
    "ignore quotes older than this many seconds (stale quotes make phantom arbitrage)"))]
OptSymbols = Annotated[list[str] | None, Field(max_length=20, description="symbols (default: every symbol with "
                                                                          "fresh quotes)")]
LimitArg = Annotated[int, Field(ge=1, le=100, description="at most this many results")]


def _opp(o: cv.Opportunity) -> OpportunityOut:
    now = time.time_ns()
    return OpportunityOut(
        symbol=o.symbol, market=o.market, buy_venue=o.buy_venue, sell_venue=o.sell_venue, buy_price=o.buy_price,
        sell_price=o.sell_price, gross_bps=o.gross_bps, buy_fee_bps=o.buy_fee_bps, sell_fee_bps=o.sell_fee_bps,
        net_bps=o.net_bps, size_base=o.size_base, notional_quote=o.notional_quote,
        net_profit_quote=o.net_profit_quote, quote_skew_s=abs(o.buy_ts_ns - o.sell_ts_ns) / 1e9,
        oldest_quote_age_s=round((now - min(o.buy_ts_ns, o.sell_ts_ns)) / 1e9, 3))


def register(server: MCPServer, ctx: ServerContext) -> None:
    async def fresh_quotes(symbols: list[str] | None, venues: list[str] | None, market: str, max_age_s: float,
                           need: int = 2) -> tuple[list[cv.Quote], str]:
        quotes, source = await sources.quotes(ctx, symbols=symbols, venues=venues, market=market,
                                              max_age_s=max_age_s)
        if len({q.venue for q in quotes}) < need:
            one = symbols[0] if symbols and len(symbols) == 1 else None
            have = sorted({q.venue for q in quotes})
            why = await sources.explain_missing(ctx, "bbo", one, venues, market, max_age_s) if not quotes else (
                f"only {', '.join(have)} quoted {one or 'the symbols'} in the last {max_age_s:g} s")
            raise ToolError(f"cross-venue comparison needs quotes from >= 2 venues: {why}")
        return quotes, source

    @tool(server)
    async def find_arbitrage(
        symbols: OptSymbols = None, market: MarketArg = "perp", venues: VenuesArg = None,
        min_profit_bps: Annotated[float, Field(ge=-1000, le=10_000, description=(
            "minimum net edge after both taker fees, in bps (negative also lists near misses)"))] = 0.0,
        limit: LimitArg = 10, max_age_s: FreshArg = 10.0, taker_fees_bps: FeesArg = None,
    ) -> ArbitrageResult:
        """Cross-venue arbitrage now: buy on one venue at its ask, sell on another at its bid. Each result
        gives both venues and prices, gross and net bps after each venue's taker fee, the size available at
        the top of both books and the profit on it. Venue x venue view of one symbol: get_spread_matrix;
        funding differences: funding_arbitrage."""
        syms = symbols_arg(symbols) if symbols else None
        vs = sources.check_venues(venues, market, "bbo")
        quotes, source = await fresh_quotes(syms, vs, market, max_age_s)
        every = cv.find_arbitrage(quotes, min_net_bps=-1e12, fees=taker_fees_bps)
        hits = [o for o in every if o.net_bps >= min_profit_bps]
        return ArbitrageResult(
            source=source, as_of=iso(utcnow()), market=market, min_profit_bps=min_profit_bps,
            opportunities=[_opp(o) for o in hits[:limit]], truncated=len(hits) > limit, quotes_used=len(quotes),
            best_gross=_opp(max(every, key=lambda o: o.gross_bps)) if every else None,
            missing=missing_pairs({(q.symbol, q.venue) for q in quotes}, syms, vs, "quote") if syms else [])

    @tool(server)
    async def get_spread_matrix(symbol: SymbolArg, market: MarketArg = "perp", venues: VenuesArg = None,
                                max_age_s: FreshArg = 10.0, taker_fees_bps: FeesArg = None) -> SpreadMatrixResult:
        """Venue x venue matrix for one symbol: cell [i][j] is the edge in bps of buying on venue i at its
        ask and selling on venue j at its bid, gross and net of both taker fees; plus each venue's mid
        deviation from the median. Ranked list of the best pairs: find_arbitrage."""
        sym = symbol_arg(symbol)
        vs = sources.check_venues(venues, market, "bbo")
        quotes, source = await fresh_quotes([sym], vs, market, max_age_s)
        m = cv.spread_matrix(quotes, fees=taker_fees_bps)[0]
        ts = {q.venue: q.ts_ns for q in quotes}
        return SpreadMatrixResult(symbol=sym, market=market, source=source, as_of=iso(utcnow()), venues=m.venues,
                                  gross_bps=m.gross_bps, net_bps=m.net_bps, mid_dev_bps=m.mid_dev_bps,
                                  quote_age_s=[age_s(ts[v]) for v in m.venues])

    @tool(server)
    async def compare_venues(
        symbol: SymbolArg, market: MarketArg = "perp", venues: VenuesArg = None,
        window: Annotated[str, Field(max_length=10, description="trade volume window, e.g. 15m, 1h, 24h")] = "1h",
        max_age_s: FreshArg = 60.0, taker_fees_bps: FeesArg = None,
    ) -> CompareVenuesResult:
        """Where to trade one symbol: per venue the mid and its deviation from the cross-venue median,
        spread, top-of-book notional, taker fee and the cost of crossing once (half spread + fee), volume
        and share over `window`, and for perps funding (annualized) and open interest."""
        sym = symbol_arg(symbol)
        vs = sources.check_venues(venues, market, "bbo")
        secs = duration_s(window, "window")
        if secs > 31 * 86400:
            raise ToolError(f"window={window!r}: at most 31d")
        quotes, source = await fresh_quotes([sym], vs, market, max_age_s, need=1)
        now = utcnow()
        flow = await ctx.query(queries_live.trade_summary, sym, now - timedelta(seconds=secs),
                               now + timedelta(seconds=1), venues=vs, market=market)
        volumes = {r["venue"]: (r["buy_volume"] + r["sell_volume"], r["trades"]) for r in flow}
        rows = cv.compare_venues(quotes, volumes, fees=taker_fees_bps)
        funding: dict[str, float] = {}
        oi: dict[str, float | None] = {}
        if market == "perp":
            fr, _ = await sources.latest(ctx, "funding", symbols=[sym], venues=vs, market="perp", max_age_s=600)
            funding = {r["venue"]: cv.annualize(r["rate"], cv.interval_hours(cv.FundingRate(
                r["venue"], sym, r["rate"], r.get("interval_hours"), r["ts_ns"]))[0]) * 100 for r in fr}
            o, _ = await sources.latest(ctx, "open_interest", symbols=[sym], venues=vs, market="perp", max_age_s=600)
            oi = {r["venue"]: r["oi_notional"] for r in o}
        out = [VenueRow(venue=c.venue, mid=c.mid, mid_dev_bps=c.mid_dev_bps, spread_bps=c.spread_bps, bid=c.bid,
                        ask=c.ask, top_bid_notional=c.top_bid_notional, top_ask_notional=c.top_ask_notional,
                        taker_fee_bps=c.taker_fee_bps, taker_cost_bps=c.taker_cost_bps,
                        volume_base=c.volume_base if c.volume_base is not None else 0.0 if flow else None,
                        volume_share=c.volume_share, trades=c.trades if c.trades is not None else 0 if flow else None,
                        funding_annualized_pct=funding.get(c.venue), oi_notional=oi.get(c.venue),
                        quote_age_s=age_s(c.ts_ns)) for c in rows]
        with_vol = [r for r in out if r.volume_base]
        return CompareVenuesResult(
            symbol=sym, market=market, source=source, window=window, venues=out,
            best_bid_venue=max(out, key=lambda r: r.bid).venue, best_ask_venue=min(out, key=lambda r: r.ask).venue,
            cheapest_taker_venue=out[0].venue,
            most_volume_venue=max(with_vol, key=lambda r: r.volume_base or 0).venue if with_vol else None)

    @tool(server)
    async def funding_arbitrage(
        symbols: OptSymbols = None, venues: VenuesArg = None,
        min_net_annualized_pct: Annotated[float, Field(ge=-1000, le=1000, description=(
            "only pairs whose carry net of fees is at least this, in percent per year"))] = 0.0,
        holding_days: Annotated[float, Field(gt=0, le=365, description="holding period the fees are spread "
                                                                       "over")] = 7.0,
        limit: LimitArg = 10, max_age_s: Annotated[float, Field(gt=0, le=86_400)] = 300.0,
        taker_fees_bps: FeesArg = None,
    ) -> FundingArbitrageResult:
        """Funding carry between perpetual venues: short the venue paying the higher funding rate, long the
        one with the lower rate (rates compared per hour, since venues fund every 1 to 8 h). Gives the rate
        differential per 8 h, gross and net annualized carry after opening and closing both legs as taker
        over holding_days, and the price basis between the two venues."""
        syms = symbols_arg(symbols) if symbols else None
        vs = sources.check_venues(venues, "perp", "funding")
        rows, source = await sources.latest(ctx, "funding", symbols=syms, venues=vs, market="perp",
                                            max_age_s=max_age_s)
        if len({r["venue"] for r in rows}) < 2:
            raise ToolError("funding_arbitrage needs current funding from >= 2 venues: " + (
                f"only {', '.join(sorted({r['venue'] for r in rows}))} have it" if rows else
                await sources.explain_missing(ctx, "funding", syms[0] if syms and len(syms) == 1 else None, vs,
                                              "perp", max_age_s)))
        rates = [cv.FundingRate(r["venue"], r["symbol"], r["rate"], r.get("interval_hours"), r["ts_ns"])
                 for r in rows]
        pairs = cv.funding_carry(rates, holding_days=holding_days, min_net_annualized=min_net_annualized_pct / 100,
                                 fees=taker_fees_bps)
        quotes, _ = await sources.quotes(ctx, symbols=syms, venues=vs, market="perp", max_age_s=max_age_s)
        mids = {(q.symbol, q.venue): q.mid for q in quotes}
        out = []
        for p in pairs[:limit]:
            lo, hi = mids.get((p.symbol, p.long_venue)), mids.get((p.symbol, p.short_venue))
            out.append(CarryOut(
                symbol=p.symbol, long_venue=p.long_venue, short_venue=p.short_venue, long_rate=p.long_rate,
                short_rate=p.short_rate, long_interval_hours=p.long_interval_hours,
                short_interval_hours=p.short_interval_hours, rate_diff_8h=p.rate_diff_8h,
                gross_annualized_pct=p.gross_annualized * 100, fees_round_trip_bps=p.fees_round_trip_bps,
                net_annualized_pct=p.net_annualized * 100, holding_days=p.holding_days,
                interval_assumed=p.interval_assumed, basis_bps=(hi / lo - 1) * 1e4 if lo and hi else None))
        return FundingArbitrageResult(source=source, as_of=iso(utcnow()), pairs=out, truncated=len(pairs) > limit,
                                      missing=missing_pairs({(r["symbol"], r["venue"]) for r in rows}, syms, vs,
                                                            "funding") if syms else [])
