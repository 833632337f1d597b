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

PostgreSQL catalog + object-store data (several collectors, remote readers). The default SQLite
catalog allows one writing process; a PostgreSQL catalog allows several collectors (each with
its own data_dir for health.json) to append to the same lake at once, and readers anywhere::

    pip install duckdb-extension-postgres-scanner==1.5.5   # + duckdb-extension-httpfs==1.5.5 for s3:// etc.
    cat = "postgres:host=db.internal port=5432 dbname=lake user=cryptoflow"  # any libpq DSN, or
    # cat = "postgresql://cryptoflow@db.internal/lake"                        # a libpq URI
    lake = Lake.open(Path("data"), catalog=cat, data_path="s3://bucket/lake/")  # first writer creates it
    lake = Lake.open(Path("data2"), catalog=cat)                  # more writers: stored data path
    lake = Lake.open(Path("data"), catalog=cat, read_only=True)   # readers

The database must exist (``createdb lake``); the first writer creates the DuckLake tables in it
and fixes the data path (default ``<data_dir>/lake/``: only for a single machine). Writers
starting together are fine (the loser of the creation race retries). Keep passwords out of the
DSN (``PGPASSWORD`` / ``~/.pgpass`` are read by libpq); one in the DSN is masked in logs,
errors and ``db_stats``. Object-store credentials come from DuckDB secrets: a persistent one
(``CREATE PERSISTENT SECRET (TYPE s3, ...)`` once in the ``duckdb`` CLI) is found by every
process. Tested here: PostgreSQL catalog with a local data path (tests/store/test_postgres_catalog.py);
an object-store data path is not (no object store on the test machines).
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
