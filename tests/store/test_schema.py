"""Schema derivation from the msgspec Structs: types map, unknown types fail loudly."""

from __future__ import annotations

import msgspec
import pytest

from cryptoflow.errors import QueryError, StoreError
from cryptoflow.store import TABLES, table_for
from cryptoflow.store.schema import _spec


def test_types_map_from_struct_fields() -> None:
    cols = {c.name: c for c in TABLES["candles"].columns}
    assert cols["ts"].sql_type == "TIMESTAMP" and cols["ts_ns"].sql_type == "BIGINT"
    assert cols["open_time"].sql_type == "TIMESTAMP"
    assert cols["interval"].sql_type == "VARCHAR"
    assert cols["trades"].sql_type == "BIGINT" and cols["trades"].nullable
    assert cols["closed"].sql_type == "BOOLEAN" and not cols["closed"].nullable
    assert cols["open"].sql_type == "DOUBLE" and not cols["open"].nullable
    book = {c.name: c.sql_type for c in TABLES["book_snapshots"].columns}
    assert book["bid_prices"] == book["ask_qtys"] == "DOUBLE[]"
    assert [c.name for c in TABLES["health"].columns] == [
        "venue", "stream", "ts", "records", "last_event_age_s", "reconnects", "decode_errors", "gaps",
        "resyncs", "write_latency_ms", "queue_depth", "uptime_s"]
    assert '"interval" VARCHAR' in TABLES["candles"].create_sql()  # keyword column is quoted


class _Dict(msgspec.Struct):
    venue: str
    extra: dict[str, int]


class _Union(msgspec.Struct):
    venue: str
    value: int | str


class _Time(msgspec.Struct):
    venue: str
    ts: float


@pytest.mark.parametrize(("struct", "match"), [(_Dict, "no column type"), (_Union, "only 'X | None'"),
                                               (_Time, "must be int ns")])
def test_unstorable_fields_fail_loudly(struct: type, match: str) -> None:
    with pytest.raises(StoreError, match=match):
        _spec("x", None, struct, event=False)


def test_table_for_accepts_kinds_and_tables() -> None:
    assert table_for("trade") == table_for("trades") == "trades"
    assert table_for("book") == "book_snapshots"
    assert table_for("health") == "health"
    with pytest.raises(QueryError, match="streams are: backfill_log, bbo, book"):
        table_for("orders")
