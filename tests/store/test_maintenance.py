"""Compaction bounds the file count; retention deletes old rows; export writes what was asked."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from cryptoflow.errors import QueryError, StoreError
from cryptoflow.events import Trade
from cryptoflow.store import BatchWriter, HealthRecord, Lake, apply_retention, compact, export, file_count

from .conftest import at, dt_at

DAY = 86_400


def _parquet_on_disk(lake: Lake) -> int:
    assert lake.data_path is not None
    return len(list(Path(lake.data_path).rglob("*.parquet")))


def _table_files(lake: Lake, table: str) -> int:
    return lake.cursor().execute(
        "SELECT file_count FROM ducklake_table_info('lake') WHERE table_name = ?", [table]).fetchone()[0]


def _flush_trades(writer: BatchWriter, start_s: float, n: int, venue: str = "okx") -> None:
    writer.add_many(Trade(venue, "perp", "BTCUSDT", at(start_s + i), at(start_s + i), 100.0 + i, 1.0, "buy",
                          f"{start_s}-{i}") for i in range(n))
    writer.flush()


def test_compaction_reduces_file_count(lake: Lake, writer: BatchWriter) -> None:
    for k in range(8):  # 8 flushes of 50 rows (above the 10-row inlining limit): 8 files, one day
        _flush_trades(writer, k * 100, 50)
    _flush_trades(writer, 900, 3)  # a tiny flush: inlined in the catalog, not a file
    assert file_count(lake) == 8
    assert _parquet_on_disk(lake) == 8
    report = compact(lake, expire_older_than=timedelta(0), delete_files_older_than=timedelta(0))
    assert report.files_before == 8
    assert report.files_after == 1  # merged, inlined rows flushed into it or beside it
    assert report.inlined_rows_flushed == 3
    assert report.expired_snapshots > 0 and report.deleted_files >= 8
    assert file_count(lake) <= 2 and _parquet_on_disk(lake) <= 2
    n, lo, hi = lake.cursor().execute("SELECT count(*), min(price), max(price) FROM lake.trades").fetchone()
    assert (n, lo, hi) == (8 * 50 + 3, 100.0, 149.0)


def test_retention_deletes_old_rows_and_frees_files(lake: Lake, writer: BatchWriter) -> None:
    for day in range(3):  # one file per day partition
        _flush_trades(writer, day * DAY, 20)
    writer.add_health(HealthRecord("okx", "trade", at(0), records=1))
    writer.add_health(HealthRecord("okx", "trade", at(2 * DAY), records=2))
    writer.flush()
    deleted = apply_retention(lake, {"trade": timedelta(days=1), "health": 1.5}, now=dt_at(2 * DAY + 3600))
    assert deleted == {"trades": 40, "health": 1}
    cur = lake.cursor()
    assert cur.execute("SELECT count(*), min(ts) FROM lake.trades").fetchone() == (20, dt_at(2 * DAY))
    assert cur.execute("SELECT records FROM lake.health").fetchall() == [(2,)]
    compact(lake, expire_older_than=timedelta(0), delete_files_older_than=timedelta(0))
    # whole old days went away as files; what is left is day 2 of trades and the flushed health rows
    assert _table_files(lake, "trades") == 1
    assert file_count(lake) == _parquet_on_disk(lake) == 2


def test_retention_inputs(lake: Lake) -> None:
    with pytest.raises(QueryError, match="unknown stream"):
        apply_retention(lake, {"quotes": 1})
    with pytest.raises(QueryError, match="positive"):
        apply_retention(lake, {"trade": 0})
    ro = Lake.open(lake.data_dir, read_only=True)
    try:
        with pytest.raises(StoreError, match="read_only=False"):
            apply_retention(ro, {"trade": 1})
        with pytest.raises(StoreError, match="read_only=False"):
            compact(ro)
    finally:
        ro.close()


def test_export_csv_and_parquet(lake: Lake, writer: BatchWriter, tmp_path: Path) -> None:
    _flush_trades(writer, 0, 30, venue="okx")
    _flush_trades(writer, 0, 5, venue="bybit")
    out = export(lake, "trade", tmp_path / "okx.parquet", venue="okx", since=at(10), until=at(20))
    assert out.rows == 10 and out.bytes > 0
    table = pq.read_table(out.path)
    assert table.num_rows == 10 and set(table.column("venue").to_pylist()) == {"okx"}
    assert table.column("price").to_pylist() == [110.0 + i for i in range(10)]
    csv = export(lake, "trades", tmp_path / "all.csv", fmt="csv", symbol="btcusdt")
    assert csv.rows == 35
    rows = duckdb.sql(f"SELECT count(*), count(DISTINCT venue) FROM read_csv('{csv.path}')").fetchone()
    assert rows == (35, 2)


def test_export_inputs(lake: Lake, tmp_path: Path) -> None:
    with pytest.raises(QueryError, match="unknown export format"):
        export(lake, "trade", tmp_path / "x.json", fmt="json")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="does not exist"):
        export(lake, "trade", tmp_path / "no" / "x.csv", fmt="csv")
    with pytest.raises(QueryError, match="is a directory"):
        export(lake, "trade", tmp_path, fmt="csv")
    with pytest.raises(QueryError, match="no symbol or market"):
        export(lake, "health", tmp_path / "h.csv", fmt="csv", symbol="BTCUSDT")
    assert export(lake, "health", tmp_path / "h.csv", fmt="csv").rows == 0
