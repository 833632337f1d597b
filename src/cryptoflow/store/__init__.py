"""Storage: DuckLake tables (Parquet + catalog), batch writer, maintenance, named queries.

Typical use::

    lake = Lake.open(Path("data"))                  # writer (collector)
    create_compat_views(lake, [("BTCUSDT", "binance_usdm", "perp")])
    writer = BatchWriter(lake)
    writer.add(event)                              # per message, ~0.4 us
    stats = await writer.flush_async()             # every second, off the event loop
    compact(lake)                                  # every few minutes

    lake = Lake.open(Path("data"), read_only=True)  # readers (MCP server, notebooks)
    queries.ohlcv(lake, "binance_usdm", "BTCUSDT", "perp", "1m", start, end)
    run_readonly_sql(lake, "SELECT venue, count(*) FROM trades GROUP BY 1")
"""

from __future__ import annotations

from cryptoflow.store import queries
from cryptoflow.store.lake import CatalogSpec, Lake
from cryptoflow.store.maintenance import (
    CompactionReport,
    ExportReport,
    apply_retention,
    compact,
    export,
    file_count,
)
from cryptoflow.store.schema import (
    ALIAS,
    HEALTH_TABLE,
    KIND_TABLES,
    TABLES,
    HealthRecord,
    TableSpec,
    table_for,
)
from cryptoflow.store.sqlguard import SqlResult, check_readonly_sql, run_readonly_sql
from cryptoflow.store.views import (
    EXCHANGES,
    MARKET_TYPES,
    STREAM_TABLES,
    VENUE_IDS,
    create_compat_views,
    view_name,
)
from cryptoflow.store.writer import BatchWriter, FlushStats

__all__ = [
    "ALIAS",
    "EXCHANGES",
    "HEALTH_TABLE",
    "KIND_TABLES",
    "MARKET_TYPES",
    "STREAM_TABLES",
    "TABLES",
    "VENUE_IDS",
    "BatchWriter",
    "CatalogSpec",
    "CompactionReport",
    "ExportReport",
    "FlushStats",
    "HealthRecord",
    "Lake",
    "SqlResult",
    "TableSpec",
    "apply_retention",
    "check_readonly_sql",
    "compact",
    "create_compat_views",
    "export",
    "file_count",
    "queries",
    "run_readonly_sql",
    "table_for",
    "view_name",
]
