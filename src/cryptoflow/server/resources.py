"""Resources: reference text a client can attach to the conversation (no tool call needed).

- ``cryptoflow://schema``: every table with its columns and types, for writing ``run_sql`` queries.
- ``cryptoflow://venues``: venues, the streams each offers per market, and the taker fees used.
"""

from __future__ import annotations

import json

from mcp.server.mcpserver import MCPServer

from cryptoflow.server.context import ServerContext


def schema_markdown() -> str:
    from cryptoflow.store.schema import TABLES

    lines = ["# cryptoflow store schema", "",
             "Tables in catalog `lake` (unqualified names work in run_sql). Times: `ts` TIMESTAMP (UTC, us), "
             "`ts_ns` BIGINT exact exchange time, `ts_recv` local receive time. Quantities in base units.", ""]
    for spec in TABLES.values():
        cols = ", ".join(f"{c.name} {c.sql_type}" for c in spec.columns)
        lines.append(f"- **{spec.name}**: {cols}")
    lines += ["", "Views named like `btcusdt_binance_futures_prices` (symbol_exchange_futures|spot_stream) exist "
              "for every collected market."]
    return "\n".join(lines)


def register(server: MCPServer, ctx: ServerContext) -> None:
    @server.resource("cryptoflow://schema", name="schema", mime_type="text/markdown",
                     description="Tables and columns of the store, for run_sql")
    def schema() -> str:
        return schema_markdown()

    @server.resource("cryptoflow://venues", name="venues", mime_type="application/json",
                     description="Venues, the streams each offers per market, and base-tier taker fees (bps)")
    def venues() -> str:
        from cryptoflow.analytics.cross_venue import FEE_SOURCES, TAKER_FEES_BPS
        from cryptoflow.server.sources import venue_streams

        return json.dumps({v: {"markets": {m: sorted(s) for m, s in ms.items()},
                               "taker_fee_bps": {m: TAKER_FEES_BPS[(v, m)] for m in ms},
                               "fee_source": FEE_SOURCES[v]} for v, ms in venue_streams().items()})
