"""Toolset ``market`` (continued): one symbol at a glance, and what the store holds."""

from __future__ import annotations

import statistics
from datetime import timedelta
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from cryptoflow.analytics import queries_live
from cryptoflow.analytics.cross_venue import TAKER_FEES_BPS
from cryptoflow.analytics.market_context import price_context
from cryptoflow.events import INTERVALS_NS
from cryptoflow.server import sources
from cryptoflow.server.context import ServerContext
from cryptoflow.server.models import (
    CollectorInfo,
    MarketEntry,
    MarketSnapshotResult,
    MarketsResult,
    MarkOut,
    Missing,
    OIOut,
    PriceContextOut,
    StreamCoverage,
    TickerOut,
    VenueInfo,
)
from cryptoflow.server.params import (
    FormatArg,
    MarketArg,
    MaxAgeArg,
    SymbolArg,
    VenueId,
    age_s,
    decode_cursor,
    encode_cursor,
    iso,
    symbol_arg,
    tool,
    utcnow,
)
from cryptoflow.server.tools_market import flow_summaries, funding_out, prices_result


def collector_info(ctx: ServerContext) -> CollectorInfo:
    if ctx.runtime is not None and ctx.runtime.collector.running:
        import os

        return CollectorInfo(state="running_in_process", pid=os.getpid(), last_report_age_s=0.0)
    ext = ctx.external_collector()
    if ext is None:
        return CollectorInfo(state="stopped" if ctx.runtime is not None else "never_started")
    return CollectorInfo(state="running_other_process" if ext["alive"] else "stopped", pid=ext["pid"],
                         last_report_age_s=ext["last_report_age_s"])


def register(server: MCPServer, ctx: ServerContext) -> None:
    @tool(server)
    async def get_market_snapshot(symbol: SymbolArg, market: MarketArg = "perp", max_age_s: MaxAgeArg = 120.0,
                                  response_format: FormatArg = "concise") -> MarketSnapshotResult:
        """Everything about one symbol across venues in one call: quotes, funding, open interest (with 24 h
        change), mark/index premium, 24 h trade flow and where the price sits in its 24 h distribution
        (percentile, z-score, range). concise gives the cross-venue totals; detailed adds per-venue 24 h
        flow, marks and 24 h tickers."""
        sym = symbol_arg(symbol)
        now = utcnow()
        start = now - timedelta(hours=24)
        missing: list[Missing] = []
        quotes, source = await sources.quotes(ctx, symbols=[sym], venues=None, market=market, max_age_s=max_age_s)
        flow = await ctx.query(queries_live.trade_summary, sym, start, now + timedelta(seconds=1), market=market)
        if not quotes and not flow:
            raise ToolError(await sources.explain_missing(ctx, "bbo", sym, None, market, max_age_s))
        if not quotes:
            missing.append(Missing(symbol=sym, reason=f"no quotes newer than {max_age_s:g} s"))
        funding, oi, marks, tickers = [], [], [], []
        detailed = response_format == "detailed"
        if market == "perp":
            rows, _ = await sources.latest(ctx, "funding", symbols=[sym], venues=None, market="perp",
                                           max_age_s=max_age_s)
            funding = [funding_out(r) for r in rows]
            rows, _ = await sources.latest(ctx, "open_interest", symbols=[sym], venues=None, market="perp",
                                           max_age_s=max_age_s)
            oi = [OIOut(venue=r["venue"], oi_base=r["oi_base"], oi_notional=r["oi_notional"],
                        oi_contracts=r["oi_contracts"], ts=iso(r["ts_ns"]), age_s=age_s(r["ts_ns"]), changes=[])
                  for r in rows]
            if detailed:
                rows, _ = await sources.latest(ctx, "mark_price", symbols=[sym], venues=None, market="perp",
                                               max_age_s=max_age_s)
                marks = [MarkOut(venue=r["venue"], mark_price=r["mark_price"], index_price=r["index_price"],
                                 premium_bps=(r["mark_price"] / r["index_price"] - 1) * 1e4 if r["index_price"]
                                 else None, ts=iso(r["ts_ns"])) for r in rows]
        if detailed:
            rows, _ = await sources.latest(ctx, "ticker", symbols=[sym], venues=None, market=market,
                                           max_age_s=max_age_s)
            tickers = [TickerOut(venue=r["venue"], last=r["last"], high=r["high"], low=r["low"], volume=r["volume"],
                                 quote_volume=r["quote_volume"], price_change_pct=r["price_change_pct"],
                                 ts=iso(r["ts_ns"])) for r in rows]
        bars = await ctx.query(queries_live.price_bars, sym, start, now, INTERVALS_NS["1m"], market=market,
                               limit=1440)
        context = None
        if bars:
            px = statistics.median(q.mid for q in quotes) if quotes else bars[-1]["close"]
            c = price_context(px, [b["close"] for b in bars], [b["low"] for b in bars], [b["high"] for b in bars], 60)
            context = PriceContextOut(**{k: getattr(c, k) for k in PriceContextOut.model_fields})
        flows = flow_summaries(flow)
        return MarketSnapshotResult(
            symbol=sym, market=market, as_of=iso(now),
            prices=prices_result(quotes, source, market, []) if quotes else None, funding=funding,
            open_interest=oi, marks=marks, tickers_24h=tickers,
            trades_24h=flows if detailed else [f for f in flows if f.venue == "all"], context_24h=context,
            missing=missing)

    @tool(server)
    async def list_markets(
        venue: Annotated[VenueId | None, Field(description="only this venue")] = None,
        symbol: Annotated[str | None, Field(max_length=40, description="only this symbol")] = None,
        response_format: FormatArg = "concise",
        limit: Annotated[int, Field(ge=1, le=500, description="markets per page")] = 100,
        cursor: Annotated[str | None, Field(max_length=200, description="next_cursor of the previous page")] = None,
    ) -> MarketsResult:
        """What the store holds: each venue/market/symbol with its streams, last update and age
        (detailed: row counts and first time), which streams each venue offers, taker fees, and whether a
        collector is running. Start here to learn valid symbols; collect more with start_streaming."""
        sym = symbol_arg(symbol) if symbol else None
        query = f"{venue}|{sym}|{response_format}"
        offset = decode_cursor(cursor, query=query, ints=("o",))["o"] if cursor else 0
        cov = [r for r in await ctx.coverage()
               if (venue is None or r["venue"] == venue) and (sym is None or r["symbol"] == sym)]
        entries: dict[tuple[str, str, str], list[StreamCoverage]] = {}
        detailed = response_format == "detailed"
        for r in cov:
            entries.setdefault((r["venue"], r["market"], r["symbol"]), []).append(StreamCoverage(
                stream=sources._stream_of(r["table_name"]), last=iso(r["last_ts"]),
                age_s=round((utcnow() - r["last_ts"]).total_seconds(), 1),
                rows=r["rows"] if detailed else None, first=iso(r["first_ts"]) if detailed else None))
        keys = sorted(entries)
        page = keys[offset:offset + limit]
        more = offset + limit < len(keys)
        offered = sources.venue_streams()
        return MarketsResult(
            collector=collector_info(ctx),
            venues=[VenueInfo(venue=v, markets={m: sorted(s) for m, s in offered[v].items()},
                              taker_fee_bps={m: TAKER_FEES_BPS[(v, m)] for m in offered[v]})
                    for v in offered if venue is None or v == venue],
            markets=[MarketEntry(venue=k[0], market=k[1], symbol=k[2], streams=entries[k]) for k in page],
            total=len(keys), truncated=more,
            next_cursor=encode_cursor({"q": query, "o": offset + limit}) if more else None)
