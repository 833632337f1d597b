"""Where "now" answers come from: the in-process collector's live state, else the newest stored rows.

Both paths return the same shape (dicts named like the store's columns, with ``ts_ns``), so a tool
does not care which one answered; it reports the ``source``. The store path is bounded by
``max_age_s`` (only recent files are scanned), and so is the live path (stale venues drop out).

Also here: which venue offers which stream, and the error text for "nothing found", which names
what exists instead (symbols with data, the last stored time) and the tool or argument to use.
"""

from __future__ import annotations

import functools
import time
from datetime import timedelta
from typing import Any

import msgspec
from mcp.server.mcpserver.exceptions import ToolError

from cryptoflow.analytics import queries_live
from cryptoflow.analytics.cross_venue import Quote
from cryptoflow.server.context import ServerContext
from cryptoflow.server.params import iso, utcnow

#: event kind -> table
KIND_TABLE = {"bbo": "bbo", "book": "book_snapshots", "funding": "funding_rates", "mark_price": "mark_prices",
              "open_interest": "open_interest", "ticker": "tickers_24h", "trade": "trades",
              "liquidation": "liquidations", "candle": "candles"}


@functools.cache
def venue_streams() -> dict[str, dict[str, frozenset[str]]]:
    """venue id -> market -> streams it offers (from the venue protocol modules)."""
    from cryptoflow.venues import VENUE_IDS, venue_class

    return {v: dict(venue_class(v).streams) for v in VENUE_IDS}


def check_venues(venues: list[str] | None, market: str, stream: str, arg: str = "venues") -> list[str] | None:
    """Refuse venues that do not offer ``stream`` on ``market``; None stays None (= every venue)."""
    if not venues:
        return None
    offered = venue_streams()
    bad = [v for v in venues if stream not in offered[v].get(market, frozenset())]
    if bad:
        ok = [v for v, m in offered.items() if stream in m.get(market, frozenset())]
        have = {v: sorted(offered[v]) for v in bad}
        raise ToolError(
            f"{arg}: {', '.join(bad)} offer no {market} {stream} stream (markets they have: {have}); "
            f"venues with {market} {stream}: {', '.join(ok) or 'none'}"
        )
    return list(dict.fromkeys(venues))


def venues_without(stream: str, market: str) -> list[str]:
    return [v for v, m in venue_streams().items() if m and stream not in m.get(market, frozenset())
            and market in m]


async def latest(ctx: ServerContext, kind: str, *, symbols: list[str] | None, venues: list[str] | None,
                 market: str | None, max_age_s: float) -> tuple[list[dict[str, Any]], str]:
    """Latest event of ``kind`` per (venue, market, symbol), no older than ``max_age_s``."""
    cutoff_ns = time.time_ns() - int(max_age_s * 1e9)
    live = ctx.live
    if live is not None:
        rows = []
        for e in live.of_kind(kind):
            if ((symbols and e.symbol not in symbols) or (venues and e.venue not in venues)
                    or (market and e.market != market) or e.ts < cutoff_ns):
                continue
            d = msgspec.to_builtins(e)
            d["ts_ns"] = e.ts
            rows.append(d)
        rows.sort(key=lambda r: (r["symbol"], r["venue"], r["market"]))
        return rows, "live"
    since = utcnow() - timedelta(seconds=max_age_s)
    rows = await ctx.query(queries_live.latest, KIND_TABLE[kind], since, symbols=symbols, venues=venues,
                           market=market)
    return rows, "store"


async def quotes(ctx: ServerContext, *, symbols: list[str] | None, venues: list[str] | None, market: str | None,
                 max_age_s: float) -> tuple[list[Quote], str]:
    rows, source = await latest(ctx, "bbo", symbols=symbols, venues=venues, market=market, max_age_s=max_age_s)
    return [Quote(r["venue"], r["market"], r["symbol"], r["bid_price"], r["bid_qty"], r["ask_price"], r["ask_qty"],
                  r["ts_ns"]) for r in rows], source


async def explain_missing(ctx: ServerContext, kind: str, symbol: str | None, venues: list[str] | None,
                          market: str | None, max_age_s: float | None = None, start: Any = None,
                          end: Any = None) -> str:
    """Why there is nothing: unknown symbol (with the ones that exist), or data only outside the range."""
    table = KIND_TABLE[kind]
    where = (f"{(market + ' ') if market else ''}{kind} for {symbol or 'any symbol'} on "
             f"{', '.join(venues) if venues else 'any venue'}")
    known = await ctx.known_symbols(table)
    if symbol is not None and symbol not in known:
        return (f"unknown symbol {symbol}: no stored {kind} data for it. Symbols with {kind} data: "
                f"{', '.join(known) or 'none yet'} (list_markets shows every venue/stream); to collect {symbol} "
                f"call start_streaming(symbols=[\"{symbol}\"])")
    rng = await ctx.query(queries_live.data_range, _stream_of(table), symbol, venues, market)
    if not rng["rows"]:
        return f"no stored {where}; list_markets shows which venues and streams have data for {symbol}"
    span = f"stored {where} spans {iso(rng['first_ts'])} .. {iso(rng['last_ts'])} ({rng['rows']:,} rows)"
    if max_age_s is not None:
        return (f"no {where} newer than max_age_s={max_age_s:g}; {span}. Widen max_age_s, or check the "
                "collector with streaming_status")
    return f"no {where} between {iso(start)} and {iso(end)}; {span}. Choose start/end inside that range"


def _stream_of(table: str) -> str:
    return next(s for s, t in queries_live.HISTORY_TABLES.items() if t == table)
