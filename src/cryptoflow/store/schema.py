"""Table layout of the lake, derived from the event Structs so it cannot drift from events.py.

One table per stream kind (never per symbol: DESIGN.md measured 10-45x slower ingest and
15-55x larger files that way), long format keyed by (venue, market, symbol, ts):

=============  ================  ==============================================
kind           table             extra columns (in Struct field order)
=============  ================  ==============================================
trade          trades            price, qty, side, trade_id
bbo            bbo               bid_price, bid_qty, ask_price, ask_qty, update_id
book           book_snapshots    bid_prices, bid_qtys, ask_prices, ask_qtys (DOUBLE[]), seq
mark_price     mark_prices       mark_price, index_price
funding        funding_rates     rate, predicted_rate, next_funding_time, interval_hours
open_interest  open_interest     oi_contracts, oi_base, oi_notional
liquidation    liquidations      side, price, qty, notional
ticker         tickers_24h       last, open, high, low, volume, quote_volume, price_change, ...
candle         candles           interval, open_time, open, high, low, close, volume, ...
metric         venue_metrics     metric, value, period (REST-only statistics, long format)
(book update)  book_deltas       instrument, action, seq ids, sync, recv_seq, level lists (opt-in)
=============  ================  ==============================================

``book_deltas`` holds every book update as received (``store_book_deltas``), not an event kind:
see ``store/book_deltas.py``.

Non-event tables: ``health`` (collector health samples) and ``backfill_log`` (one row per
committed backfill range, written in the same transaction as the rows it covers, so a
resumed backfill knows exactly what is already stored).

Every event table starts ``venue, market, symbol, ts, ts_ns, ts_recv`` and ends ``source``
(``'ws'`` or ``'rest'``).

Time columns. ``ts`` is a plain ``TIMESTAMP`` (microseconds, UTC, no time zone) because that is
what SQL users reach for: ``ts > now()::TIMESTAMP - INTERVAL 1 HOUR`` and ``time_bucket`` just
work, whereas ``TIMESTAMP_NS`` refuses to compare with ``now()``. The exchange time is kept
exactly in ``ts_ns BIGINT`` (int ns, the events' own unit). Other time fields (``ts_recv``,
``next_funding_time``, ``open_time``) are ``TIMESTAMP`` too; venues send them in ms, and the
local receive time needs no more than microseconds.

Type mapping from msgspec: ``float`` -> DOUBLE, ``int`` -> BIGINT, ``str`` -> VARCHAR,
``bool`` -> BOOLEAN, ``list[float]`` -> DOUBLE[]; ``X | None`` is the same column, nullable.
A field of any other type raises at import time, so a new event field that the store cannot
hold fails the test suite instead of being silently dropped.

Tables are partitioned by day of ``ts`` so retention deletes drop whole files and compaction
merges within a day.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any

import duckdb
import msgspec
import msgspec.inspect as mi
import pyarrow as pa

from cryptoflow.errors import QueryError, StoreError
from cryptoflow.events import EVENT_KINDS

#: Name the lake is attached under in every DuckDB connection of ours.
ALIAS = "lake"

#: stream kind (event ``kind`` tag) -> table name.
KIND_TABLES: dict[str, str] = {
    "trade": "trades",
    "bbo": "bbo",
    "book": "book_snapshots",
    "mark_price": "mark_prices",
    "funding": "funding_rates",
    "open_interest": "open_interest",
    "liquidation": "liquidations",
    "ticker": "tickers_24h",
    "candle": "candles",
    "metric": "venue_metrics",
}
HEALTH_TABLE = "health"
BACKFILL_TABLE = "backfill_log"
BOOK_DELTAS_TABLE = "book_deltas"
SOURCES: tuple[str, ...] = ("ws", "rest")
MARKETS: tuple[str, ...] = ("perp", "spot")

# int-ns fields that become TIMESTAMP columns (ts additionally keeps ts_ns).
TIME_FIELDS = frozenset({"ts", "ts_recv", "next_funding_time", "open_time", "range_start", "range_end"})
_BASE_FIELDS = ("venue", "market", "symbol", "ts", "ts_recv")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


class HealthRecord(msgspec.Struct, frozen=True, gc=False):
    """One health sample of one (venue, stream); the collector writes these periodically.

    ``stream`` is free text from the collector (``trade``, ``book``, ``ws``, ...); every metric
    is optional because not every stream has every metric.
    """

    venue: str
    stream: str
    ts: int  # int ns UTC, when the sample was taken
    records: int | None = None
    last_event_age_s: float | None = None
    reconnects: int | None = None
    decode_errors: int | None = None
    gaps: int | None = None
    resyncs: int | None = None
    write_latency_ms: float | None = None
    queue_depth: int | None = None
    uptime_s: float | None = None


class BackfillRecord(msgspec.Struct, frozen=True, gc=False):
    """One committed backfill range: rows of ``stream`` for (venue, market, symbol, period)
    with ``range_start <= ts < range_end`` are all stored (``rows`` of them were new)."""

    venue: str
    market: str
    symbol: str
    stream: str
    period: str | None
    range_start: int  # int ns
    range_end: int  # int ns
    rows: int
    ts: int  # int ns, commit time


@dataclass(frozen=True, slots=True)
class Column:
    """One stored column; ``field`` is the Struct field it comes from."""

    name: str
    sql_type: str
    field: str
    arrow_type: pa.DataType
    nullable: bool


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A table, the Struct it stores, and the SQL to create and fill it."""

    name: str
    kind: str | None  # event kind, None for non-event tables (health)
    struct: type
    columns: tuple[Column, ...]
    has_source: bool

    @property
    def fields(self) -> tuple[str, ...]:
        """Struct fields in declaration order (what the writer extracts)."""
        return tuple(f.name for f in mi.type_info(self.struct).fields)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def arrow_schema(self) -> pa.Schema:
        """Schema of the Arrow buffer the writer registers: raw Struct fields (+ source)."""
        cols: dict[str, pa.DataType] = {}
        for c in self.columns:
            if c.name != "ts_ns":
                cols[c.field] = c.arrow_type
        return pa.schema(list(cols.items()))

    def create_sql(self) -> str:
        cols = ", ".join(f"{quote_ident(c.name)} {c.sql_type}" for c in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {ALIAS}.{self.name} ({cols})"

    def partition_sql(self) -> str:
        return f"ALTER TABLE {ALIAS}.{self.name} SET PARTITIONED BY (year(ts), month(ts), day(ts))"

    def insert_sql(self, relation: str) -> str:
        """``INSERT ... SELECT`` from a registered Arrow buffer, converting int ns to TIMESTAMP.

        The conversion runs inside DuckDB (vectorised, no GIL) rather than in Python.
        """
        exprs = []
        for c in self.columns:
            src = quote_ident(c.field)
            if c.name == "ts_ns":
                exprs.append(f"{src} AS ts_ns")
            elif c.sql_type == "TIMESTAMP":
                exprs.append(f"make_timestamp({src} // 1000) AS {quote_ident(c.name)}")
            else:
                exprs.append(f"{src} AS {quote_ident(c.name)}")
        return f"INSERT INTO {ALIAS}.{self.name} BY NAME SELECT {', '.join(exprs)} FROM {relation}"


def quote_ident(name: str) -> str:
    """Quote an identifier that comes from our own allowlists (``interval`` is a keyword)."""
    if not _IDENT.match(name):
        raise StoreError(f"not an identifier of ours: {name!r}")
    return f'"{name}"'


def _sql_type(field: str, t: mi.Type) -> tuple[str, pa.DataType, bool]:
    nullable = False
    if isinstance(t, mi.UnionType):
        inner = [x for x in t.types if not isinstance(x, mi.NoneType)]
        if len(inner) != 1 or len(inner) == len(t.types):
            raise StoreError(f"field {field!r}: only 'X | None' unions can be stored, got {t}")
        t, nullable = inner[0], True
    if field in TIME_FIELDS:
        if not isinstance(t, mi.IntType):
            raise StoreError(f"time field {field!r} must be int ns, got {t}")
        return "TIMESTAMP", pa.int64(), nullable
    if isinstance(t, mi.FloatType):
        return "DOUBLE", pa.float64(), nullable
    if isinstance(t, mi.BoolType):
        return "BOOLEAN", pa.bool_(), nullable
    if isinstance(t, mi.IntType):
        return "BIGINT", pa.int64(), nullable
    if isinstance(t, mi.StrType):
        return "VARCHAR", pa.string(), nullable
    if isinstance(t, mi.ListType) and isinstance(t.item_type, mi.FloatType):
        return "DOUBLE[]", pa.list_(pa.float64()), nullable
    raise StoreError(f"field {field!r} has type {t} that the store has no column type for")


class BookDeltaRow(msgspec.Struct, frozen=True, gc=False):
    """Layout of ``book_deltas``: one book update (or reset) as the collector received it.

    Rows are built column-wise from the venue's ``BookUpdate`` objects (store/book_deltas.py);
    this Struct only declares the columns, so the table follows the same type rules as events.
    """

    venue: str
    market: str
    symbol: str
    ts: int  # the venue's time of the update (int ns)
    ts_recv: int
    instrument: str  # native id: books are per venue instrument
    # snapshot | diff | reset (the collector started this book afresh: a new connection) |
    # checkpoint (the collector's whole synced book, written periodically so replays start near)
    action: str
    seq: int | None  # last update id covered (u, seqId, change_id...); NULL when the venue has none
    first_seq: int | None
    prev_seq: int | None
    sync: str  # how the venue keeps this book in sync: "<mode>/<link>/<rest offset>", e.g. rest_diff/prev/0
    recv_seq: int  # arrival order over all books (increasing across restarts): the replay order
    bid_prices: list[float]
    bid_qtys: list[float]
    ask_prices: list[float]
    ask_qtys: list[float]


def _spec(name: str, kind: str | None, struct: type, *, event: bool) -> TableSpec:
    cols: list[Column] = []
    for f in mi.type_info(struct).fields:
        sql_type, arrow_type, nullable = _sql_type(f.name, f.type)
        cols.append(Column(f.name, sql_type, f.name, arrow_type, nullable))
        if event and f.name == "ts":
            cols.append(Column("ts_ns", "BIGINT", "ts", pa.int64(), False))
    if event:
        names = [c.name for c in cols][:6]
        if tuple(n for n in names if n != "ts_ns") != _BASE_FIELDS:
            raise StoreError(f"{struct.__name__} does not start with {_BASE_FIELDS}")
        cols.append(Column("source", "VARCHAR", "source", pa.string(), False))
    return TableSpec(name, kind, struct, tuple(cols), has_source=event)


def _build() -> dict[str, TableSpec]:
    if set(KIND_TABLES) != set(EVENT_KINDS):
        raise StoreError(f"KIND_TABLES {sorted(KIND_TABLES)} != event kinds {sorted(EVENT_KINDS)}")
    specs = {t: _spec(t, k, EVENT_KINDS[k], event=True) for k, t in KIND_TABLES.items()}
    specs[BOOK_DELTAS_TABLE] = _spec(BOOK_DELTAS_TABLE, None, BookDeltaRow, event=True)
    specs[HEALTH_TABLE] = _spec(HEALTH_TABLE, None, HealthRecord, event=False)
    specs[BACKFILL_TABLE] = _spec(BACKFILL_TABLE, None, BackfillRecord, event=False)
    return specs


#: table name -> spec, event tables first then health.
TABLES: dict[str, TableSpec] = _build()
#: event Struct type -> spec (what the writer dispatches on).
SPEC_BY_TYPE: dict[type, TableSpec] = {s.struct: s for s in TABLES.values()}


def table_for(stream: str) -> str:
    """Resolve a stream name (kind ``trade`` or table ``trades``) to a table from the allowlist."""
    if stream in TABLES:
        return stream
    if stream in KIND_TABLES:
        return KIND_TABLES[stream]
    accepted = sorted({*KIND_TABLES, *TABLES})
    raise QueryError(f"unknown stream {stream!r}; streams are: {', '.join(accepted)}")


def ensure_schema(con: Any) -> None:
    """Create missing tables (day-partitioned) and add columns new Struct fields brought.

    Adding a field to an event in events.py therefore needs no migration: the writer's next
    start adds the column (older rows read NULL). A changed column type is refused loudly.
    """
    existing: dict[str, dict[str, str]] = {}
    for table, column, dtype in con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = ?", [ALIAS]
    ).fetchall():
        existing.setdefault(table, {})[column] = dtype
    statements: list[str] = []
    for spec in TABLES.values():
        have = existing.get(spec.name)
        if have is None:
            statements += [spec.create_sql(), spec.partition_sql()]
            continue
        for col in spec.columns:
            if col.name not in have:
                statements.append(f"ALTER TABLE {ALIAS}.{spec.name} ADD COLUMN {quote_ident(col.name)} {col.sql_type}")
            elif have[col.name] != col.sql_type:
                raise StoreError(
                    f"{spec.name}.{col.name} is {have[col.name]} in the lake but {col.sql_type} in events.py: "
                    "migrate the table (or use a new data directory)"
                )
    if not statements:
        return
    con.execute("BEGIN TRANSACTION")  # one catalog commit for all of it
    try:
        for sql in statements:
            con.execute(sql)
        con.execute("COMMIT")
    except Exception:
        with contextlib.suppress(duckdb.Error):  # a failed COMMIT already ended the transaction
            con.execute("ROLLBACK")
        raise
