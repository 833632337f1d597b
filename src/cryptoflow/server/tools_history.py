"""Toolset ``history``: bars, paged history of every stream, price context, store stats, SQL, export."""

from __future__ import annotations

import statistics
from datetime import timedelta
from typing import Annotated, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from cryptoflow.analytics import queries_live
from cryptoflow.analytics.market_context import price_context
from cryptoflow.events import INTERVALS_NS
from cryptoflow.server import sources
from cryptoflow.server.context import ServerContext
from cryptoflow.server.models import PriceContextOut
from cryptoflow.server.models_history import Bar, HistoryResult, OhlcvResult, PriceContextResult
from cryptoflow.server.params import (
    FormatArg,
    Interval,
    MarketArg,
    SymbolArg,
    TimeArg,
    VenueId,
    VenuesArg,
    decode_cursor,
    encode_cursor,
    from_ns,
    iso,
    jsonable,
    parse_time,
    symbol_arg,
    to_ns,
    tool,
    utcnow,
)

Stream = Literal["trades", "funding", "open_interest", "liquidations", "mark_prices", "book_snapshots", "bbo",
                 "tickers", "candles"]
#: history stream -> (collector stream kind, perp only)
STREAM_KIND: dict[str, tuple[str, bool]] = {
    "trades": ("trade", False), "funding": ("funding", True), "open_interest": ("open_interest", True),
    "liquidations": ("liquidation", True), "mark_prices": ("mark_price", True), "book_snapshots": ("book", False),
    "bbo": ("bbo", False), "tickers": ("ticker", False), "candles": ("candle", False),
}
_CONTEXT_BARS = {"1h": "1m", "4h": "1m", "24h": "1m", "7d": "1h", "30d": "4h"}
_CONCISE_DROP = frozenset({"ts_ns", "ts_recv", "source", "market"})
_BOOK_LISTS = ("bid_prices", "bid_qtys", "ask_prices", "ask_qtys")
CursorArg = Annotated[str | None, Field(max_length=400, description="next_cursor of the previous page")]


def register(server: MCPServer, ctx: ServerContext) -> None:
    @tool(server)
    async def get_ohlcv(
        symbol: SymbolArg, venue: VenueId, market: MarketArg = "perp", interval: Interval = "1m",
        start: TimeArg = "24h", end: TimeArg = None,
        limit: Annotated[int, Field(ge=1, le=5000, description="newest bars to return")] = 1440,
        cursor: CursorArg = None, response_format: FormatArg = "concise",
    ) -> OhlcvResult:
        """OHLCV bars built from stored trades of one venue (1m to 1d, epoch-aligned UTC; minutes without
        trades are absent, never invented). Returns the newest `limit` bars in [start, end); when more exist,
        next_cursor pages to older bars. detailed adds quote volume, vwap, trade count and taker-buy volume."""
        from cryptoflow.store import queries

        sym = symbol_arg(symbol)
        sources.check_venues([venue], market, "trade", arg="venue")
        t0, t1 = parse_time(start, "start"), parse_time(end, "end", utcnow() + timedelta(seconds=1))
        q = f"ohlcv|{sym}|{venue}|{market}|{interval}|{start}|{end}"
        if cursor:  # resume the same range (a relative start like 24h must not move between pages)
            state = decode_cursor(cursor, query=q, ints=("s", "e"))
            t0, t1 = from_ns(int(state["s"])), from_ns(int(state["e"]))
        if t0 >= t1:
            raise ToolError(f"start ({iso(t0)}) must be before end ({iso(t1)})")
        detailed = response_format == "detailed"
        if detailed:
            rows = await ctx.query(queries.ohlcv, venue, sym, market, interval, t0, t1, limit + 1)
        else:
            rows = await ctx.query(queries_live.ohlcv_lean, venue, sym, market, INTERVALS_NS[interval], t0, t1,
                                   limit + 1)
        if not rows:
            raise ToolError(await sources.explain_missing(ctx, "trade", sym, [venue], market, start=t0, end=t1))
        more = len(rows) > limit
        rows = rows[1:] if more else rows
        bars = [Bar(ts=iso(r["ts_ns"]), open=r["open"], high=r["high"], low=r["low"], close=r["close"],
                    volume=r["volume"], **({k: r[k] for k in ("quote_volume", "vwap", "trades", "buy_volume")}
                                            if detailed else {})) for r in rows]
        return OhlcvResult(symbol=sym, venue=venue, market=market, interval=interval, start=iso(t0), end=iso(t1),
                           bars=bars, truncated=more,
                           next_cursor=encode_cursor({"q": q, "s": to_ns(t0), "e": rows[0]["ts_ns"]}) if more
                           else None)

    @tool(server)
    async def get_history(
        stream: Stream, symbol: SymbolArg, venues: VenuesArg = None, market: MarketArg = "perp",
        start: TimeArg = "1h", end: TimeArg = None,
        interval: Annotated[Literal["raw", "1m", "5m", "15m", "1h", "4h", "1d"], Field(
            description="raw rows, or buckets aggregated per venue")] = "raw",
        limit: Annotated[int, Field(ge=1, le=1000, description="rows per page")] = 200,
        cursor: CursorArg = None, response_format: FormatArg = "concise",
    ) -> HistoryResult:
        """Stored history of any stream over [start, end), oldest first, in pages: pass next_cursor back to
        continue. interval="raw" returns stored rows; a bucket interval aggregates per venue (trades: OHLC,
        volumes; funding/OI/marks/tickers: last value; liquidations: count/qty/notional per side; bbo and
        book_snapshots: last mid, mean spread, imbalance). Rows are lists in the order of `columns`;
        concise drops ts_ns/ts_recv/source/market and cuts book levels to 5."""
        sym = symbol_arg(symbol)
        kind, perp_only = STREAM_KIND[stream]
        if perp_only and market != "perp":
            raise ToolError(f"stream={stream!r} exists only for market='perp'")
        if stream == "candles" and interval != "raw":
            raise ToolError("candles are already bars: use interval='raw', or get_ohlcv for bars from trades")
        vs = sources.check_venues(venues, market, kind)
        t0 = parse_time(start, "start")
        t1 = parse_time(end, "end", utcnow() + timedelta(seconds=1))
        q = f"{stream}|{sym}|{vs}|{market}|{interval}|{start}|{end}|{response_format}"
        state = (decode_cursor(cursor, query=q, ints=("a", "k", "s", "e")) if cursor
                 else {"a": to_ns(t0), "k": 0, "s": to_ns(t0), "e": to_ns(t1)})
        t0, t1 = from_ns(int(state["s"])), from_ns(int(state["e"]))
        if t0 >= t1:
            raise ToolError(f"start ({iso(t0)}) must be before end ({iso(t1)})")
        after, skip = int(state["a"]), int(state["k"])
        if interval == "raw":
            rows = await ctx.query(queries_live.history_raw, stream, t0, t1, symbol=sym, venues=vs, market=market,
                                   after_ns=after, skip=skip, limit=limit + 1)
        else:
            rows = await ctx.query(queries_live.history_agg, stream, t0, t1, INTERVALS_NS[interval], symbol=sym,
                                   venues=vs, market=market, after_ns=after // INTERVALS_NS[interval]
                                   * INTERVALS_NS[interval], skip=skip, limit=limit + 1)
        if not rows and not cursor:
            raise ToolError(await sources.explain_missing(ctx, kind, sym, vs, market, start=t0, end=t1))
        more = len(rows) > limit
        rows = rows[:limit]
        nxt = None
        if more:
            last = rows[-1]["ts_ns"]
            same = sum(1 for r in rows if r["ts_ns"] == last)
            nxt = encode_cursor({"q": q, "a": last, "k": same + (skip if last == after else 0), "s": state["s"],
                                 "e": state["e"]})
        detailed = response_format == "detailed"
        cols = [c for c in (rows[0] if rows else {}) if detailed or c not in _CONCISE_DROP]
        out = []
        for r in rows:
            if not detailed and stream == "book_snapshots":
                r = {**r, **{k: r[k][:5] for k in _BOOK_LISTS if r.get(k) is not None}}
            out.append([jsonable(r[c]) for c in cols])
        return HistoryResult(stream=stream, interval=interval, start=iso(t0), end=iso(t1), columns=cols, rows=out,
                             truncated=more, next_cursor=nxt)

    @tool(server)
    async def get_price_context(
        symbol: SymbolArg, venue: Annotated[VenueId | None, Field(description="one venue (default: all pooled)")]
        = None, market: MarketArg = "perp",
        lookback: Annotated[Literal["1h", "4h", "24h", "7d", "30d"], Field(description="history to compare with")]
        = "24h",
    ) -> PriceContextResult:
        """Now vs history: where the current price sits among the bar closes of the lookback (percentile,
        z-score, mean, std), its position in the high-low range, change over the lookback and realized
        volatility (annualized). Now = median mid of fresh quotes, else the last trade."""
        sym = symbol_arg(symbol)
        vs = sources.check_venues([venue] if venue else None, market, "trade", arg="venue")
        step = _CONTEXT_BARS[lookback]
        now = utcnow()
        t0 = now - timedelta(hours={"1h": 1, "4h": 4, "24h": 24, "7d": 168, "30d": 720}[lookback])
        bars = await ctx.query(queries_live.price_bars, sym, t0, now + timedelta(seconds=1), INTERVALS_NS[step],
                               venues=vs, market=market, limit=5000)
        if not bars:
            raise ToolError(await sources.explain_missing(ctx, "trade", sym, vs, market, start=t0, end=now))
        quotes, _ = await sources.quotes(ctx, symbols=[sym], venues=vs, market=market, max_age_s=60)
        if quotes:
            px, src, ts = statistics.median(q.mid for q in quotes), "quote_mid", max(q.ts_ns for q in quotes)
        else:
            px, src, ts = bars[-1]["close"], "last_trade", bars[-1]["ts_ns"]
        c = price_context(px, [b["close"] for b in bars], [b["low"] for b in bars], [b["high"] for b in bars],
                          INTERVALS_NS[step] / 1e9)
        return PriceContextResult(symbol=sym, venue=venue, market=market, lookback=lookback, interval=step,
                                  now_source=src, now_ts=iso(ts),
                                  context=PriceContextOut(**{k: getattr(c, k) for k in PriceContextOut.model_fields}))
