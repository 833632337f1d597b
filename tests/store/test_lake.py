"""Opening lakes: defaults, catalog forms, read-only rules, the SQLite catalog keeper."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from cryptoflow.errors import StoreError
from cryptoflow.store import TABLES, Lake
from cryptoflow.store.lake import parse_catalog


def test_default_layout_and_wal(tmp_path: Path) -> None:
    with Lake.open(tmp_path / "d") as lake:
        assert lake.catalog.url == f"ducklake:sqlite:{tmp_path / 'd' / 'catalog.sqlite'}"
        assert lake.data_path == f"{tmp_path / 'd' / 'lake'}/"
        tables = {r[0] for r in lake.cursor().execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake'").fetchall()}
        assert tables == set(TABLES)
    conn = sqlite3.connect(tmp_path / "d" / "catalog.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_reopen_finds_data_path_in_catalog(tmp_path: Path) -> None:
    Lake.open(tmp_path / "d", data_path=str(tmp_path / "elsewhere")).close()
    with Lake.open(tmp_path / "d", read_only=True) as ro:
        assert ro.data_path == f"{tmp_path / 'elsewhere'}/"
        assert ro.read_only and "read-only" in repr(ro)


def test_read_only_needs_an_existing_catalog(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="run the collector first"):
        Lake.open(tmp_path / "nothing", read_only=True)


def test_closed_lake_says_so(tmp_path: Path) -> None:
    lake = Lake.open(tmp_path / "d")
    lake.close()
    lake.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        lake.cursor()


@pytest.mark.parametrize(
    ("arg", "kind", "target"),
    [
        ("sqlite:/x/c.sqlite", "sqlite", "/x/c.sqlite"),
        ("postgres:dbname=lake host=db", "postgres", "dbname=lake host=db"),
        ("postgresql:dbname=lake", "postgres", "dbname=lake"),
        ("duckdb:/x/meta.ducklake", "duckdb", "/x/meta.ducklake"),
    ],
)
def test_catalog_forms(arg: str, kind: str, target: str) -> None:
    spec = parse_catalog(arg, Path("/data"))
    assert (spec.kind, spec.target) == (kind, target)


def test_bad_catalog_is_explained() -> None:
    with pytest.raises(StoreError, match=r"'sqlite:/path/catalog\.sqlite'"):
        parse_catalog("mysql:foo", Path("/data"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_keeper_holds_the_catalog_open_and_stops_on_close(tmp_path: Path) -> None:
    lake = Lake.open(tmp_path / "d")
    keeper = lake._keeper
    assert keeper is not None
    fds = {os.readlink(f"/proc/{keeper.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{keeper.pid}/fd")}
    assert str(tmp_path / "d" / "catalog.sqlite-shm") in fds  # the WAL index stays mapped
    lake.close()
    assert not Path(f"/proc/{keeper.pid}").exists() or keeper._proc.poll() is not None


def test_reopening_adds_columns_that_events_gained(tmp_path: Path) -> None:
    """A column missing from an existing table (an older lake) is added on the writer's next open."""
    with Lake.open(tmp_path / "d") as lake:
        lake.con.execute("ALTER TABLE lake.funding_rates DROP COLUMN interval_hours")
    with Lake.open(tmp_path / "d") as lake:
        cols = [r[0] for r in lake.cursor().execute("DESCRIBE lake.funding_rates").fetchall()]
        assert "interval_hours" in cols


def test_changed_column_type_is_refused(tmp_path: Path) -> None:
    with Lake.open(tmp_path / "d") as lake:
        lake.con.execute("ALTER TABLE lake.trades DROP COLUMN price")
        lake.con.execute("ALTER TABLE lake.trades ADD COLUMN price VARCHAR")
    with pytest.raises(StoreError, match=r"trades\.price is VARCHAR in the lake but DOUBLE"):
        Lake.open(tmp_path / "d")
