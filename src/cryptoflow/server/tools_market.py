"""Toolset ``market``: what the market looks like now, across venues."""

from __future__ import annotations

import statistics
from datetime import timedelta
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from cryptoflow.analytics import queries_live
from cryptoflow.analytics.cross_venue import FundingRate as FR
from cryptoflow.analytics.cross_venue import annualize, interval_hours
from cryptoflow.analytics.market_context import depth_bands, imbalance
from cryptoflow.server import sources
from cryptoflow.server.context import ServerContext
from cryptoflow.server.models import (
    DepthBandOut,
    FlowSummary,
    FundingOut,
    FundingResult,
    FundingSummary,
    Level,
    LiquidationOut,
    LiquidationsResult,
    LiquidationTotal,
    Missing,
    OIChange,
    OIOut,
    OpenInterestResult,
    OrderbookResult,
    PricesResult,
    PriceSummary,
    QuoteOut,
    TradeOut,
    TradesResult,
)
from cryptoflow.server.params import (
    FormatArg,
    MarketArg,
    MaxAgeArg,
    SymbolArg,
    SymbolsArg,
    TimeArg,
    VenueId,
    VenuesArg,
    age_s,
    duration_s,
    iso,
    parse_time,
    symbol_arg,
    symbols_arg,
    tool,
    utcnow,
)
from cryptoflow.store import queries

OIWindow = Literal["5m", "15m", "1h", "4h", "24h", "7d"]


def prices_result(quotes: list, source: str, market: str, missing: list[Missing]) -> PricesResult:
    """Shape quotes (shared with get_market_snapshot)."""
    by_sym: dict[str, list] = {}
    for q in quotes:
        by_sym.setdefault(q.symbol, []).append(q)
    summaries = []
    for sym, qs in by_sym.items():
        bb = max(qs, key=lambda q: q.bid)
        ba = min(qs, key=lambda q: q.ask)
        med = statistics.median(q.mid for q in qs)
        summaries.append(PriceSummary(symbol=sym, venues=len(qs), best_bid=bb.bid, best_bid_venue=bb.venue,
                                      best_ask=ba.ask, best_ask_venue=ba.venue, median_mid=med,
                                      mid_range_bps=(max(q.mid for q in qs) - min(q.mid for q in qs)) / med * 1e4))
    return PricesResult(
        source=source, as_of=iso(utcnow()), market=market, summaries=summaries, missing=missing,
        quotes=[QuoteOut(symbol=q.symbol, venue=q.venue, market=q.market, bid=q.bid, bid_qty=q.bid_qty, ask=q.ask,
                         ask_qty=q.ask_qty, mid=q.mid, spread_bps=q.spread_bps, ts=iso(q.ts_ns), age_s=age_s(q.ts_ns))
                for q in quotes])


def missing_pairs(rows_keys: set[tuple[str, str]], symbols: list[str], venues: list[str] | None,
                  what: str) -> list[Missing]:
    """Requested (symbol, venue) combinations that returned nothing."""
    out = []
    for s in symbols:
        if not any(k[0] == s for k in rows_keys):
            out.append(Missing(symbol=s, reason=f"no recent {what} on any requested venue"))
        elif venues:
            out += [Missing(symbol=s, venue=v, reason=f"no recent {what}") for v in venues if (s, v) not in rows_keys]
    return out


def funding_out(r: dict) -> FundingOut:
    hours, assumed = interval_hours(FR(r["venue"], r["symbol"], r["rate"], r.get("interval_hours"), r["ts_ns"]))
    return FundingOut(
        symbol=r["symbol"], venue=r["venue"], rate=r["rate"], predicted_rate=r.get("predicted_rate"),
        interval_hours=hours, interval_assumed=assumed, rate_8h=r["rate"] * 8.0 / hours,
        annualized_pct=annualize(r["rate"], hours) * 100.0, next_funding_time=iso(r.get("next_funding_time")),
        ts=iso(r["ts_ns"]), age_s=age_s(r["ts_ns"]))


def register(server: MCPServer, ctx: ServerContext) -> None:
    async def _replayed_book(sym: str, venue: str, market: str, at: str) -> dict[str, Any]:
        when = parse_time(at, "at")
        rb = await ctx.query(queries.book_at, venue, sym, when, market)
        b = rb.book
        if b is None:
            raise ToolError(
                f"no stored book updates for {sym} on {venue} ({market}) at or before {iso(when)}: full books are "
                "replayed from the book_deltas table, which the collector fills when run with store_book_deltas "
                "(cryptoflow collect --book-deltas, or CRYPTOFLOW_STORE_BOOK_DELTAS=1)")
        if not b.valid or not b.bids or not b.asks:
            raise ToolError(f"{venue} {sym} book was not in sync at {iso(when)} (waiting for a snapshot after a "
                            "reconnect or a sequence gap); try a slightly later time")
        bp, bq, ap, aq = b.top(max(len(b.bids), len(b.asks)))
        return {"bid_prices": bp, "bid_qtys": bq, "ask_prices": ap, "ask_qtys": aq, "ts_ns": b.ts}

    @tool(server)
    async def get_prices(symbols: SymbolsArg, venues: VenuesArg = None, market: MarketArg = "perp",
                         max_age_s: MaxAgeArg = 60.0) -> PricesResult:
        """Best bid/ask, mid and spread (bps) of one or more symbols on every venue, plus the best bid and
        best ask across venues. Reads the in-process collector's live state when one runs, else the newest
        stored quotes no older than max_age_s. Depth: get_orderbook; cross-venue edges: find_arbitrage."""
        syms = symbols_arg(symbols)
        vs = sources.check_venues(venues, market, "bbo")
        quotes, source = await sources.quotes(ctx, symbols=syms, venues=vs, market=market, max_age_s=max_age_s)
        if not quotes:
            raise ToolError(await sources.explain_missing(ctx, "bbo", syms[0] if len(syms) == 1 else None, vs,
                                                          market, max_age_s))
        missing = missing_pairs({(q.symbol, q.venue) for q in quotes}, syms, vs, "quote")
        return prices_result(quotes, source, market, missing)

    @tool(server)
    async def get_orderbook(
        symbol: SymbolArg, venue: VenueId, market: MarketArg = "perp",
        depth: Annotated[int, Field(ge=1, le=50, description="levels per side to return")] = 10,
        bands_bps: Annotated[list[float], Field(min_length=1, max_length=8, description=(
            "report resting size within each of these distances from the mid, in bps"))] = [10, 25, 50, 100],  # noqa: B006
        max_age_s: MaxAgeArg = 60.0,
        at: Annotated[str | None, Field(max_length=40, description=(
            "a past instant (ISO 8601 UTC or an age like 90s, 15m): the full book as the collector held it "
            "then, rebuilt from stored book deltas (collected with store_book_deltas)"))] = None,
    ) -> OrderbookResult:
        """Top levels of one venue's order book (from the book the collector keeps in sync), with size
        within x bps of the mid per side and the bid/ask imbalance. Stored snapshots hold the top 20 levels;
        with `at`, any past instant at full depth, replayed from every stored book update.
        Sampled past books: get_history(stream="book_snapshots")."""
        sym = symbol_arg(symbol)
        sources.check_venues([venue], market, "book", arg="venue")
        if any(b <= 0 or b > 5000 for b in bands_bps):
            raise ToolError(f"bands_bps={bands_bps}: each band must be in (0, 5000] bps")
        if at is not None:
            r, source = await _replayed_book(sym, venue, market, at), "store"
        else:
            rows, source = await sources.latest(ctx, "book", symbols=[sym], venues=[venue], market=market,
                                                max_age_s=max_age_s)
            if not rows or not rows[0]["bid_prices"] or not rows[0]["ask_prices"]:
                raise ToolError(await sources.explain_missing(ctx, "book", sym, [venue], market, max_age_s))
            r = rows[0]
        bp, bq, ap, aq = r["bid_prices"], r["bid_qtys"], r["ask_prices"], r["ask_qtys"]
        mid = (bp[0] + ap[0]) / 2
        return OrderbookResult(
            symbol=sym, venue=venue, market=market, source=source, ts=iso(r["ts_ns"]), age_s=age_s(r["ts_ns"]),
            mid=mid, spread_bps=(ap[0] - bp[0]) / mid * 1e4, imbalance=imbalance(bq, aq, depth),
            depth=[DepthBandOut(within_bps=d.bps, bid_qty=d.bid_qty, ask_qty=d.ask_qty, bid_notional=d.bid_notional,
                                ask_notional=d.ask_notional, imbalance=d.imbalance, complete=d.complete)
                   for d in depth_bands(bp, bq, ap, aq, bands_bps)],
            bids=[Level(price=p, qty=q) for p, q in zip(bp[:depth], bq[:depth], strict=False)],
            asks=[Level(price=p, qty=q) for p, q in zip(ap[:depth], aq[:depth], strict=False)],
            levels_available=min(len(bp), len(ap)), truncated=depth < max(len(bp), len(ap)))

    @tool(server)
    async def get_trades(
        symbol: SymbolArg, venues: VenuesArg = None, market: MarketArg = "perp", since: TimeArg = "15m",
        limit: Annotated[int, Field(ge=1, le=1000, description="most recent trades to list")] = 50,
        response_format: FormatArg = "concise",
    ) -> TradesResult:
        """Recent trades (newest first) and the aggressor flow since `since`: buy/sell volume, delta, vwap,
        low/high per venue and for all venues together. Longer ranges and bars: get_ohlcv, get_history."""
        sym = symbol_arg(symbol)
        vs = sources.check_venues(venues, market, "trade")
        start, end = parse_time(since, "since"), utcnow() + timedelta(seconds=1)
        rows = await ctx.query(queries_live.recent_trades, sym, start, venues=vs, market=market, limit=limit + 1)
        if not rows:
            raise ToolError(await sources.explain_missing(ctx, "trade", sym, vs, market, start=start, end=end))
        flow = await ctx.query(queries_live.trade_summary, sym, start, end, venues=vs, market=market)
        detailed = response_format == "detailed"
        return TradesResult(
            symbol=sym, market=market, start=iso(start), end=iso(end), truncated=len(rows) > limit,
            trades=[TradeOut(ts=iso(t["ts_ns"]), venue=t["venue"], price=t["price"], qty=t["qty"], side=t["side"],
                             trade_id=t["trade_id"] if detailed else None) for t in rows[:limit]],
            flow=flow_summaries(flow))

    @tool(server)
    async def get_funding(symbols: SymbolsArg, venues: VenuesArg = None,
                          max_age_s: MaxAgeArg = 300.0) -> FundingResult:
        """Current perpetual funding per venue: rate per interval, predicted rate, next funding time, the
        rate scaled to 8 h and annualized, and the highest/lowest venue per symbol. Carry trades between
        venues: funding_arbitrage; past rates: get_history(stream="funding")."""
        syms = symbols_arg(symbols)
        vs = sources.check_venues(venues, "perp", "funding")
        rows, source = await sources.latest(ctx, "funding", symbols=syms, venues=vs, market="perp",
                                            max_age_s=max_age_s)
        if not rows:
            raise ToolError(await sources.explain_missing(ctx, "funding", syms[0] if len(syms) == 1 else None, vs,
                                                          "perp", max_age_s))
        rates = [funding_out(r) for r in rows]
        sums = []
        for sym in dict.fromkeys(r.symbol for r in rates):
            rs = [r for r in rates if r.symbol == sym]
            hi, lo = max(rs, key=lambda r: r.annualized_pct), min(rs, key=lambda r: r.annualized_pct)
            sums.append(FundingSummary(symbol=sym, highest_venue=hi.venue, highest_annualized_pct=hi.annualized_pct,
                                       lowest_venue=lo.venue, lowest_annualized_pct=lo.annualized_pct,
                                       spread_annualized_pct=hi.annualized_pct - lo.annualized_pct))
        return FundingResult(source=source, as_of=iso(utcnow()), rates=rates, summaries=sums,
                             missing=missing_pairs({(r.symbol, r.venue) for r in rates}, syms, vs, "funding"))

    @tool(server)
    async def get_open_interest(
        symbol: SymbolArg, venues: VenuesArg = None,
        windows: Annotated[list[OIWindow], Field(min_length=1, max_length=6, description="change windows")] = [  # noqa: B006
            "1h", "24h"],
        max_age_s: MaxAgeArg = 300.0,
    ) -> OpenInterestResult:
        """Current open interest per venue (base units, notional, contracts) and its change over each
        window (from the first stored sample in the window). OI history: get_history(stream="open_interest")."""
        sym = symbol_arg(symbol)
        vs = sources.check_venues(venues, "perp", "open_interest")
        rows, source = await sources.latest(ctx, "open_interest", symbols=[sym], venues=vs, market="perp",
                                            max_age_s=max_age_s)
        if not rows:
            raise ToolError(await sources.explain_missing(ctx, "open_interest", sym, vs, "perp", max_age_s))
        now = utcnow()
        firsts = {w: {f["venue"]: f for f in await ctx.query(
            queries_live.oi_first_since, sym, now - timedelta(seconds=duration_s(w, "windows")), venues=vs)}
            for w in dict.fromkeys(windows)}
        out = []
        for r in rows:
            changes = []
            for w, by_venue in firsts.items():
                f = by_venue.get(r["venue"])
                then = f["oi_base"] if f else None
                chg = r["oi_base"] - then if then is not None and r["oi_base"] is not None else None
                start = now - timedelta(seconds=duration_s(w, "windows"))
                partial = f is None or (f["ts"] - start).total_seconds() > max(60.0, 0.05 * duration_s(w, "w"))
                changes.append(OIChange(window=w, since=iso(f["ts"]) if f else None, oi_base_then=then,
                                        change_base=chg, change_pct=chg / then * 100 if chg is not None and then
                                        else None, partial=partial))
            out.append(OIOut(venue=r["venue"], oi_base=r["oi_base"], oi_notional=r["oi_notional"],
                             oi_contracts=r["oi_contracts"], ts=iso(r["ts_ns"]), age_s=age_s(r["ts_ns"]),
                             changes=changes))
        notionals = [o.oi_notional for o in out if o.oi_notional is not None]
        return OpenInterestResult(symbol=sym, source=source, as_of=iso(now), venues=out,
                                  total_notional=sum(notionals) if notionals else None,
                                  missing=missing_pairs({(sym, o.venue) for o in out}, [sym], vs, "open interest"))

    @tool(server)
    async def get_liquidations(
        symbol: Annotated[str | None, Field(max_length=40, description="canonical symbol (default: all)")] = None,
        venues: VenuesArg = None, since: TimeArg = "1h", until: TimeArg = None,
        min_notional: Annotated[float, Field(ge=0, description="ignore smaller liquidations (quote units)")] = 0.0,
        limit: Annotated[int, Field(ge=1, le=500, description="most recent events to list")] = 50,
    ) -> LiquidationsResult:
        """Forced liquidations (newest first) and totals by venue and side (side = the liquidated
        position: long or short). Hyperliquid publishes no liquidations. Per-bucket totals over longer
        ranges: get_history(stream="liquidations", interval="5m")."""
        sym = symbol_arg(symbol) if symbol else None
        vs = sources.check_venues(venues, "perp", "liquidation")
        start, end = parse_time(since, "since"), parse_time(until, "until", utcnow() + timedelta(seconds=1))
        if start >= end:
            raise ToolError(f"since ({iso(start)}) must be before until ({iso(end)})")
        rows = await ctx.query(queries_live.liquidation_events, start, end, symbol=sym, venues=vs,
                               min_notional=min_notional, limit=limit + 1)
        tots = await ctx.query(queries_live.liquidation_totals, start, end, symbol=sym, venues=vs,
                               min_notional=min_notional)
        totals = [LiquidationTotal(**t) for t in tots]
        for side in sorted({t.side for t in totals}):
            ts = [t for t in totals if t.side == side]
            totals.append(LiquidationTotal(venue="all", side=side, events=sum(t.events for t in ts),
                                           qty=sum(t.qty for t in ts), notional=sum(t.notional for t in ts),
                                           largest_notional=max(t.largest_notional for t in ts)))
        return LiquidationsResult(
            start=iso(start), end=iso(end), truncated=len(rows) > limit, totals=totals,
            events=[LiquidationOut(ts=iso(r["ts_ns"]), venue=r["venue"], symbol=r["symbol"], side=r["side"],
                                   price=r["price"], qty=r["qty"], notional=r["notional"]) for r in rows[:limit]],
            venues_without_stream=[] if vs else sources.venues_without("liquidation", "perp"))


def flow_summaries(rows: list[dict]) -> list[FlowSummary]:
    """Per-venue trade flow rows plus an 'all' row."""
    out = []
    for r in rows:
        vol = r["buy_volume"] + r["sell_volume"]
        out.append(FlowSummary(venue=r["venue"], trades=r["trades"], buy_volume=r["buy_volume"],
                               sell_volume=r["sell_volume"], buy_ratio=r["buy_volume"] / vol if vol else None,
                               delta=r["buy_volume"] - r["sell_volume"],
                               notional=r["buy_notional"] + r["sell_notional"], vwap=r["vwap"], low=r["low"],
                               high=r["high"]))
    if out:
        b, s = sum(f.buy_volume for f in out), sum(f.sell_volume for f in out)
        n = sum(f.notional for f in out)
        out.append(FlowSummary(venue="all", trades=sum(f.trades for f in out), buy_volume=b, sell_volume=s,
                               buy_ratio=b / (b + s) if b + s else None, delta=b - s, notional=n,
                               vwap=n / (b + s) if b + s else None, low=min(f.low for f in out if f.low is not None),
                               high=max(f.high for f in out if f.high is not None)))
    return out


__all__ = ["flow_summaries", "funding_out", "prices_result", "register"]
