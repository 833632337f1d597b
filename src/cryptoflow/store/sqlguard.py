"""Read-only SQL for users and language models, checked by DuckDB's own parser and then sandboxed.

Two independent layers, so one mistake does not open the filesystem:

1. ``check_readonly_sql`` parses with ``duckdb.extract_statements`` (exactly one statement, of
   type SELECT: that covers ``WITH``, ``FROM x``, ``VALUES``, ``DESCRIBE``, ``SHOW``,
   ``SUMMARIZE``) and walks DuckDB's own AST (``json_serialize_sql``): every table function must
   be on a short allowlist (``range``, ``generate_series``, ``unnest``, catalog listings) and
   every table reference must be a plain identifier in the lake (so ``FROM '/etc/passwd'``,
   ``read_parquet(...)``, ``glob(...)``, ``query(...)``, ``pragma_*`` are refused). The error
   names what was refused and what is accepted, because a language model reads it verbatim.
2. The query runs on ``Lake.sandbox()``: a separate DuckDB instance with the lake attached
   read-only, external access disabled except for the lake's own directory, configuration locked.

Results are capped at ``limit`` rows (the result is streamed and reading stops after ``limit + 1``
rows; ``truncated`` tells whether more existed) and at ``timeout`` seconds (interrupted). The
statement runs exactly as DuckDB's parser split it, so what was checked is what runs.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from cryptoflow.errors import QueryError
from cryptoflow.store.lake import Lake
from cryptoflow.store.schema import ALIAS

MAX_SQL_CHARS = 20_000
MAX_ROWS = 10_000
ALLOWED_TABLE_FUNCTIONS = frozenset({
    "range", "generate_series", "unnest",
    "duckdb_tables", "duckdb_views", "duckdb_columns", "duckdb_schemas",
    "ducklake_snapshots", "ducklake_table_info",
})
_REFUSED_FUNCTIONS = frozenset({"getenv", "current_setting"})  # host environment / configuration
_ALLOWED_SCHEMAS = frozenset({"", "main", ALIAS, "information_schema"})
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ACCEPTED = (
    "one SELECT statement (WITH ... SELECT, FROM ..., VALUES, DESCRIBE, SHOW, SUMMARIZE) over the lake's "
    "tables and views (trades, bbo, book_snapshots, ..., and views like btcusdt_binance_futures_prices); "
    f"table functions allowed: {', '.join(sorted(ALLOWED_TABLE_FUNCTIONS))}"
)
_parser_lock = threading.Lock()
_parser: duckdb.DuckDBPyConnection | None = None


@dataclass(frozen=True, slots=True)
class SqlResult:
    """Rows of an ad-hoc query: ``rows[i][j]`` is column ``columns[j]`` of row ``i``."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool  # more rows existed than ``limit``
    elapsed_ms: float

    @property
    def row_count(self) -> int:
        return len(self.rows)


def _refuse(what: str) -> QueryError:
    return QueryError(f"refused: {what}. Accepted: {ACCEPTED}.")


def _ast(sql: str) -> dict[str, Any]:
    """DuckDB's parse tree of one SELECT as JSON (a private in-memory connection, no data)."""
    global _parser
    with _parser_lock:
        if _parser is None:
            _parser = duckdb.connect()
        raw = _parser.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0]  # type: ignore[index]
    tree = json.loads(raw)
    if tree.get("error"):
        raise _refuse(f"the statement could not be analysed ({tree.get('error_message', 'unknown error')})")
    return tree


def _walk(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "TABLE_FUNCTION":
        fn = node.get("function") or {}
        name = str(fn.get("function_name", "")).lower()
        if name not in ALLOWED_TABLE_FUNCTIONS:
            raise _refuse(f"table function {name}() (it can read files or run other SQL)")
    elif kind == "BASE_TABLE":
        table = str(node.get("table_name", ""))
        catalog, schema = str(node.get("catalog_name", "")), str(node.get("schema_name", ""))
        if not _IDENT.match(table):
            raise _refuse(f"FROM {table!r}: file paths and quoted non-identifiers are not tables")
        if catalog not in ("", ALIAS) or schema not in _ALLOWED_SCHEMAS:
            where = ".".join(p for p in (catalog, schema, table) if p)
            raise _refuse(f"table {where}: only the lake's own tables and views can be read")
    elif node.get("class") == "FUNCTION" and str(node.get("function_name", "")).lower() in _REFUSED_FUNCTIONS:
        raise _refuse(f"function {node['function_name']}() (it reveals the host's environment)")
    for value in node.values():
        if isinstance(value, dict | list):
            _walk(value)


def check_readonly_sql(sql: str) -> str:
    """Return the single statement's text if it is an acceptable read-only query, else raise."""
    if not isinstance(sql, str) or not sql.strip():
        raise _refuse("empty SQL")
    if len(sql) > MAX_SQL_CHARS:
        raise _refuse(f"SQL longer than {MAX_SQL_CHARS} characters")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"SQL does not parse: {exc}. Accepted: {ACCEPTED}.") from exc
    if len(statements) != 1:
        raise _refuse(f"{len(statements)} statements (send exactly one; no ';'-separated batches)")
    stmt = statements[0]
    if stmt.type != duckdb.StatementType.SELECT:
        raise _refuse(f"{stmt.type.name} statements (the SQL tool only reads)")
    text = stmt.query.strip()
    _walk(_ast(text))
    return text


def _check_limits(limit: int, timeout: float) -> None:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_ROWS:
        raise QueryError(f"limit must be an integer from 1 to {MAX_ROWS}, got {limit!r}")
    if not 0 < timeout <= 300:
        raise QueryError(f"timeout must be in (0, 300] seconds, got {timeout!r}")


def run_readonly_sql(lake: Lake, sql: str, limit: int = 1000, timeout: float = 10.0) -> SqlResult:
    """Run one checked read-only query in the sandbox; at most ``limit`` rows, ``timeout`` seconds.

    Raises ``QueryError`` for refused SQL, SQL errors (message from DuckDB) and timeouts.
    Unqualified table names resolve to the lake (``SELECT * FROM trades``).
    """
    _check_limits(limit, timeout)
    text = check_readonly_sql(sql)
    cur = lake.sandbox().cursor()
    cur.execute(f"USE {ALIAS}")  # per connection: unqualified names are the lake's
    timer = threading.Timer(timeout, cur.interrupt)
    t0 = time.perf_counter()
    timer.start()
    try:
        # Streamed: DuckDB produces batches on demand, so a huge result stops after limit + 1 rows.
        reader = cur.execute(text).to_arrow_reader(min(limit + 1, 2048))
        batches: list[pa.RecordBatch] = []
        rows = 0
        for batch in reader:
            batches.append(batch)
            rows += batch.num_rows
            if rows > limit:
                break
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except duckdb.InterruptException as exc:
        raise _cancelled(timeout) from exc
    except duckdb.PermissionException as exc:
        raise _refuse(f"access outside the lake ({exc})") from exc
    except duckdb.Error as exc:
        raise QueryError(f"query failed: {exc}") from exc
    except pa.ArrowException as exc:  # errors raised while streaming surface through Arrow
        if "interrupt" in str(exc).lower():
            raise _cancelled(timeout) from exc
        raise QueryError(f"query failed: {exc}") from exc
    finally:
        timer.cancel()
        cur.close()
    elapsed = (time.perf_counter() - t0) * 1e3
    truncated = table.num_rows > limit
    if truncated:
        table = table.slice(0, limit)
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    out_rows = [list(r) for r in zip(*columns, strict=True)] if columns else []
    return SqlResult(columns=list(table.column_names), rows=out_rows, truncated=truncated, elapsed_ms=elapsed)


def _cancelled(timeout: float) -> QueryError:
    return QueryError(f"query cancelled after {timeout:g} s: narrow the time range or aggregate more")
