"""Toolset ``history`` (continued): the store itself: statistics, read-only SQL, export to files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from cryptoflow.errors import QueryError
from cryptoflow.server import sources
from cryptoflow.server.context import ServerContext
from cryptoflow.server.models_history import DatabaseStatsResult, ExportResult, SqlOut, TableStat
from cryptoflow.server.params import (
    READ_ONLY,
    FormatArg,
    TimeArg,
    VenueId,
    iso,
    jsonable,
    parse_time,
    symbol_arg,
    tool,
)
from cryptoflow.server.tools_overview import collector_info

EXPORT_DIR = "exports"
WRITES_FILE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                              open_world_hint=False)
ExportStream = Literal["trades", "funding", "open_interest", "liquidations", "mark_prices", "book_snapshots", "bbo",
                       "tickers", "candles", "health"]
_SQL_TIP = ("For common questions the dedicated tools are faster and safer: get_ohlcv (bars), get_history "
            "(any stream, paged), database_stats (tables and row counts).")


def export_target(data_dir: Path, path: str, fmt: str) -> Path:
    """Resolve ``path`` under ``<data_dir>/exports`` or refuse: absolute paths, ``..``, symlinks that lead
    outside, other suffixes. The error names the argument and what is accepted."""
    root = (data_dir / EXPORT_DIR)
    rel = Path(path)
    accepted = f"a relative file name like btc_trades.{fmt} or 2025/btc.{fmt}, written under {root}"
    if not path.strip() or rel.is_absolute() or path.startswith("~") or ".." in rel.parts or "\x00" in path:
        raise ToolError(f"path={path!r} refused: {accepted}")
    suffix = "." + fmt
    if rel.suffix == "":
        rel = rel.with_suffix(suffix)
    elif rel.suffix.lower() != suffix:
        raise ToolError(f"path={path!r}: the suffix must match format={fmt!r} ({suffix})")
    root.mkdir(parents=True, exist_ok=True)
    real_root = root.resolve()
    if not real_root.is_relative_to(data_dir.resolve()):
        raise ToolError(f"export directory {root} leads outside the data directory; refusing to write")
    target = (real_root / rel).resolve()
    if not target.is_relative_to(real_root):
        raise ToolError(f"path={path!r} refused: it resolves outside {root} (symlink); {accepted}")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def register(server: MCPServer, ctx: ServerContext) -> None:
    @tool(server)
    async def database_stats(response_format: FormatArg = "concise") -> DatabaseStatsResult:
        """Tables of the store with row counts and time ranges (detailed: Parquet files and bytes, catalog,
        snapshots, bytes on disk), and whether a collector is writing. Per-market coverage: list_markets."""
        from cryptoflow.store import queries

        st = await ctx.query(queries.db_stats)
        detailed = response_format == "detailed"
        tables = [TableStat(table=t["table_name"], rows=t["rows"], first_ts=iso(t["first_ts"]),
                            last_ts=iso(t["last_ts"]), files=t["files"] if detailed else None,
                            bytes=t["bytes"] if detailed else None) for t in st["tables"]]
        extra = {k: st.get(k) for k in ("snapshots", "catalog", "data_path", "data_bytes_on_disk")} if detailed else {}
        return DatabaseStatsResult(tables=tables, total_rows=st["total_rows"],
                                   total_parquet_bytes=st["total_parquet_bytes"] or 0, collector=collector_info(ctx),
                                   **extra)

    @tool(server, annotations=READ_ONLY)
    async def run_sql(
        sql: Annotated[str, Field(min_length=1, max_length=20_000, description=(
            "one read-only SELECT over the store's tables (trades, bbo, book_snapshots, mark_prices, "
            "funding_rates, open_interest, liquidations, tickers_24h, candles, health) and views"))],
        limit: Annotated[int, Field(ge=1, le=10_000, description="row cap")] = 200,
        timeout_s: Annotated[float, Field(gt=0, le=60, description="cancel after this many seconds")] = 10.0,
    ) -> SqlOut:
        """Read-only SQL (DuckDB dialect) over the store. Exactly one SELECT/WITH/DESCRIBE/SHOW/SUMMARIZE;
        writes, ATTACH, COPY, file readers (read_parquet, read_csv, '/path') and settings are refused, and it
        runs in a sandbox that cannot touch files outside the store. Times are UTC TIMESTAMP columns `ts`
        (plus exact `ts_ns`); filter on ts for speed, e.g. WHERE ts > now()::TIMESTAMP - INTERVAL 1 HOUR."""
        from cryptoflow.store.sqlguard import run_readonly_sql

        try:
            res = await ctx.query(run_readonly_sql, sql, limit, timeout_s)
        except QueryError as e:
            raise ToolError(f"sql: {e} {_SQL_TIP}") from None
        return SqlOut(columns=res.columns, rows=[[jsonable(v) for v in r] for r in res.rows], row_count=res.row_count,
                      truncated=res.truncated, elapsed_ms=round(res.elapsed_ms, 2))

    @tool(server, annotations=WRITES_FILE)
    async def export_data(
        stream: ExportStream,
        path: Annotated[str, Field(min_length=1, max_length=200, description=(
            f"file name relative to <data dir>/{EXPORT_DIR}/ (no absolute paths, no ..)"))],
        format: Annotated[Literal["csv", "parquet"], Field(description="file format")] = "parquet",
        symbol: Annotated[str | None, Field(max_length=40)] = None,
        venue: VenueId | None = None,
        market: Literal["perp", "spot"] | None = None,
        start: TimeArg = None, end: TimeArg = None,
        overwrite: Annotated[bool, Field(description="replace an existing file")] = False,
    ) -> ExportResult:
        """Write one stream (optionally one symbol/venue/market and a time range) to a CSV or Parquet file
        under the data directory's exports/ folder, and return its absolute path and row count. Nothing is
        ever written outside that folder."""
        from cryptoflow.store.maintenance import export

        target = export_target(ctx.data_dir, path, format)
        if target.exists() and not overwrite:
            raise ToolError(f"path={path!r}: {target} exists; pass overwrite=true or another name")
        table = "health" if stream == "health" else sources.queries_live.HISTORY_TABLES[stream]
        t0 = parse_time(start, "start") if start else None
        t1 = parse_time(end, "end") if end else None
        rep = await ctx.query(export, table, target, fmt=format, symbol=symbol_arg(symbol) if symbol else None,
                              venue=venue, market=market, since=t0, until=t1)
        return ExportResult(path=str(rep.path), relative_path=str(rep.path.relative_to(ctx.data_dir)),
                            format=format, rows=rep.rows, bytes=rep.bytes)
