"""DuckLake with a PostgreSQL catalog, against a real throwaway PostgreSQL server.

The module fixture runs ``initdb`` in a fresh temporary directory, starts the server on
127.0.0.1 (a free port; its unix socket also in that directory), and stops and removes it at the
end. As root it runs the server as the ``postgres`` (else ``nobody``) user, since PostgreSQL
refuses to run as root. Every test gets its own database. The module is skipped when no server
binaries are found (set ``CRYPTOFLOW_PG_BIN`` to their directory to point at one) or when the
DuckDB postgres extension wheel is not installed.

This file doubles as the helper script for the other processes (``python <this file> read|write``).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cryptoflow.errors import StoreError
from cryptoflow.events import Trade
from cryptoflow.store import BatchWriter, Lake, queries, run_readonly_sql

T0_NS = 1_704_067_200_000_000_000  # 2024-01-01 00:00:00 UTC
SEC = 1_000_000_000
_PG_TOOLS = ("initdb", "pg_ctl", "postgres", "createdb")
_EXT_MODULE = "duckdb_extension_postgres_scanner"


def find_pg_bin() -> Path | None:
    """The directory holding initdb, pg_ctl, postgres and createdb, or None."""
    candidates: list[Path] = []
    if os.environ.get("CRYPTOFLOW_PG_BIN"):
        candidates.append(Path(os.environ["CRYPTOFLOW_PG_BIN"]))
    for tool in _PG_TOOLS[:3]:
        found = shutil.which(tool)
        if found:
            candidates.append(Path(found).resolve().parent)  # Debian: /usr/local/bin links into .../15/bin
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versions, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    for d in candidates:
        if all(os.access(d / t, os.X_OK) for t in _PG_TOOLS):
            return d
    return None


PG_BIN = find_pg_bin() if __name__ != "__main__" else None

pytestmark = [
    pytest.mark.skipif(PG_BIN is None, reason="no PostgreSQL server binaries (initdb, pg_ctl, postgres, createdb) "
                       "found on PATH or in /usr/lib/postgresql/*/bin; set CRYPTOFLOW_PG_BIN"),
    pytest.mark.skipif(importlib.util.find_spec(_EXT_MODULE) is None, reason="DuckDB postgres extension "
                       "missing: pip install duckdb-extension-postgres-scanner==1.5.5"),
]


# ---------------------------------------------------------------- the throwaway server

@dataclass
class PgServer:
    bin: Path
    root: Path
    port: int
    _names: Iterator[int]

    def dsn(self, dbname: str) -> str:
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user=postgres"

    def new_database(self) -> str:
        name = f"lake{next(self._names)}"
        subprocess.run([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name],
                       check=True, capture_output=True, timeout=30)
        return name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_user() -> dict:
    """subprocess kwargs that drop root (PostgreSQL will not run as root); {} when not root."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    pytest.skip("running as root and no 'postgres' or 'nobody' user to run the PostgreSQL server as")


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    assert PG_BIN is not None
    as_user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="cryptoflow-pg-"))  # not pytest's tmp: that is private to root
    data = root / "cluster"
    log_file = root / "server.log"
    run = {"cwd": root, "env": {**os.environ, "HOME": str(root), "LC_ALL": "C"}, "capture_output": True,
           "timeout": 60, **as_user}
    if as_user:
        os.chown(root, as_user["user"], as_user["group"])
    started = False
    try:
        init = subprocess.run([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                               "-E", "UTF8", "--locale=C", "--no-sync"], **run)
        assert init.returncode == 0, f"initdb failed: {init.stderr.decode()}"
        base_conf = (data / "postgresql.conf").read_text()
        for _ in range(3):  # the free port can be taken between the probe and the bind
            port = _free_port()
            (data / "postgresql.conf").write_text(base_conf + (
                f"\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{root}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 100\n"))
            start = subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log_file), "-w", "-t", "30",
                                    "start"], **run)
            if start.returncode == 0:
                started = True
                break
        log_tail = log_file.read_text()[-2000:] if log_file.exists() else ""
        assert started, f"PostgreSQL did not start: {start.stderr.decode()}\n{log_tail}"
        yield PgServer(PG_BIN, root, port, itertools.count(1))
    finally:
        if started:
            subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], **run)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def catalog(pg: PgServer) -> str:
    """A fresh database on the server, as a Lake ``catalog=`` string."""
    return "postgres:" + pg.dsn(pg.new_database())


# ---------------------------------------------------------------- data and helper processes

def trades(symbol: str, start: int, n: int) -> list[Trade]:
    """Trade i at T0 + i s, price 100 + i, qty 1, buy when i is even."""
    return [Trade("binance_usdm", "perp", symbol, T0_NS + i * SEC, T0_NS + i * SEC, 100.0 + i, 1.0,
                  "buy" if i % 2 == 0 else "sell", str(i)) for i in range(start, start + n)]


def expected_bar(minute: int) -> dict:
    first, last = 60 * minute, 60 * minute + 59
    return {"ts_ns": T0_NS + first * SEC, "open": 100.0 + first, "high": 100.0 + last, "low": 100.0 + first,
            "close": 100.0 + last, "volume": 60.0, "trades": 60, "buy_volume": 30.0}


def bars(lake: Lake, symbol: str = "BTCUSDT") -> list[dict]:
    rows = queries.ohlcv(lake, "binance_usdm", symbol, "perp", "1m", T0_NS, T0_NS + 3600 * SEC)
    return [{k: r[k] for k in ("ts_ns", "open", "high", "low", "close", "volume", "trades", "buy_volume")}
            for r in rows]


def _script(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *args]


def _main_read(catalog: str, data_dir: str) -> None:
    with Lake.open(Path(data_dir), catalog=catalog, read_only=True) as lake:
        n = lake.cursor().execute("SELECT count(*) FROM lake.trades").fetchone()[0]
        print(json.dumps({"rows": n, "bars": bars(lake), "data_path": lake.data_path}))


def _main_write(catalog: str, data_dir: str, symbol: str, flushes: int, rows: int) -> None:
    print("loaded", flush=True)
    assert sys.stdin.readline().strip() == "go"
    with Lake.open(Path(data_dir), catalog=catalog) as lake:  # no data_path: create or use the stored one
        writer = BatchWriter(lake)
        print("opened", flush=True)
        assert sys.stdin.readline().strip() == "write"
        write_ms: list[float] = []
        t_start = time.time()
        for f in range(flushes):
            writer.add_many(trades(symbol, f * rows, rows))
            write_ms.append(writer.flush().write_ms)
        t_end = time.time()
        print(json.dumps({"failed_flushes": writer.failed_flushes, "rows_written": writer.rows_written,
                          "write_ms": write_ms, "t_start": t_start, "t_end": t_end, "data_path": lake.data_path}))


# ---------------------------------------------------------------- tests

def test_writer_appends_and_readers_here_and_in_another_process_see_rows(catalog: str, tmp_path: Path) -> None:
    parquet = tmp_path / "parquet"
    with Lake.open(tmp_path / "collector", catalog=catalog, data_path=str(parquet)) as lake:
        writer = BatchWriter(lake)
        writer.add_many(trades("BTCUSDT", 0, 90))  # minute 1 straddles the two flushes
        assert writer.flush().rows == 90
        writer.add_many(trades("BTCUSDT", 90, 90))
        writer.flush()
        assert writer.failed_flushes == 0

        reader = Lake.open(tmp_path / "elsewhere", catalog=catalog, read_only=True)
        try:
            assert reader.data_path == str(parquet) + "/"  # read from the catalog, not from data_dir
            assert reader.cursor().execute("SELECT count(*) FROM lake.trades").fetchone()[0] == 180
            assert bars(reader) == [expected_bar(0), expected_bar(1), expected_bar(2)]
            st = queries.db_stats(reader)
            by_table = {t["table_name"]: t for t in st["tables"]}
            assert st["catalog"] == "ducklake:" + catalog and st["data_path"] == str(parquet) + "/"
            assert by_table["trades"]["rows"] == 180 and by_table["trades"]["files"] >= 1
            assert st["total_rows"] == 180 and "catalog_bytes" not in st
            assert sorted(p.name for p in parquet.rglob("*.parquet")), "the rows should be Parquet files on disk"
            sql = run_readonly_sql(reader, "SELECT count(*) AS n, sum(qty) AS q, max(price) AS hi FROM trades")
            assert sql.rows == [[180, 180.0, 279.0]]

            # a later commit is visible to the open reader without reopening it
            writer.add_many(trades("BTCUSDT", 180, 60))
            writer.flush()
            assert reader.cursor().execute("SELECT count(*) FROM lake.trades").fetchone()[0] == 240
            assert bars(reader)[-1] == expected_bar(3)
            assert queries.db_stats(reader)["snapshots"] == st["snapshots"] + 1
        finally:
            reader.close()

    proc = subprocess.run(_script("read", catalog, str(tmp_path / "other-process")),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["rows"] == 240 and seen["data_path"] == str(parquet) + "/"
    assert seen["bars"] == [expected_bar(m) for m in range(4)]


def test_two_writer_processes_on_a_new_catalog_append_concurrently(catalog: str, tmp_path: Path) -> None:
    flushes, rows = 15, 400
    writers = [subprocess.Popen(_script("write", catalog, str(tmp_path / f"collector-{sym}"), sym, str(flushes),
                                        str(rows)), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for sym in ("BTCUSDT", "ETHUSDT")]

    def expect(line: str) -> None:
        for w in writers:
            assert w.stdout is not None and w.stdout.readline().strip() == line, w.stderr and w.stderr.read()

    def tell(line: str) -> None:
        for w in writers:
            assert w.stdin is not None
            w.stdin.write(line + "\n")
            w.stdin.flush()

    try:
        expect("loaded")
        tell("go")  # both open at once: they race to create the catalog and the tables
        expect("opened")
        tell("write")  # and then append at the same time
        results = []
        for w in writers:
            out, err = w.communicate(timeout=90)
            assert w.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
                w.wait()
    assert [r["failed_flushes"] for r in results] == [0, 0]
    assert [r["rows_written"] for r in results] == [flushes * rows] * 2
    assert max(r["t_start"] for r in results) < min(r["t_end"] for r in results), "the writers did not overlap"
    assert results[0]["data_path"] == results[1]["data_path"]  # one creator, the other used the stored path

    with Lake.open(tmp_path / "reader", catalog=catalog, read_only=True) as reader:
        got = reader.cursor().execute(
            "SELECT symbol, count(*), count(DISTINCT trade_id), min(price), max(price) FROM lake.trades "
            "GROUP BY symbol ORDER BY symbol").fetchall()
        n = flushes * rows
        assert got == [("BTCUSDT", n, n, 100.0, 100.0 + n - 1), ("ETHUSDT", n, n, 100.0, 100.0 + n - 1)]
        assert bars(reader, "ETHUSDT")[:2] == [expected_bar(0), expected_bar(1)]
        assert queries.db_stats(reader)["snapshots"] >= 2 * flushes  # one snapshot per flush, none lost


def test_collector_restart_elsewhere_uses_the_stored_data_path(catalog: str, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="could not open lake"):
        Lake.open(tmp_path / "r", catalog=catalog, read_only=True)  # no DuckLake in the database yet
    with Lake.open(tmp_path / "first", catalog=catalog) as lake:  # creates it with <data_dir>/lake/
        assert lake.data_path == str(tmp_path / "first" / "lake") + "/"
        w = BatchWriter(lake)
        w.add_many(trades("BTCUSDT", 0, 60))
        w.flush()
    with Lake.open(tmp_path / "second", catalog=catalog) as lake:  # another collector, no data_path
        assert lake.data_path == str(tmp_path / "first" / "lake") + "/"
        w = BatchWriter(lake)
        w.add_many(trades("BTCUSDT", 60, 60))
        w.flush()
        assert bars(lake) == [expected_bar(0), expected_bar(1)]
    with pytest.raises(StoreError, match="does not match existing data path"):
        Lake.open(tmp_path / "third", catalog=catalog, data_path=str(tmp_path / "somewhere-else"))


def test_uri_catalog_and_password_never_shown(pg: PgServer, tmp_path: Path) -> None:
    db = pg.new_database()
    uri = f"postgresql://postgres:s3cret@127.0.0.1:{pg.port}/{db}"  # trust auth ignores the password
    with Lake.open(tmp_path / "d", catalog=uri) as lake:
        w = BatchWriter(lake)
        w.add_many(trades("BTCUSDT", 0, 60))
        w.flush()
        shown = [lake.catalog.url, repr(lake), json.dumps(queries.db_stats(lake), default=str)]
        assert bars(lake) == [expected_bar(0)]
    assert lake.catalog.url == f"ducklake:postgres:postgresql://postgres:***@127.0.0.1:{pg.port}/{db}"
    assert not any("s3cret" in s for s in shown)
    dead = f"postgres:host=127.0.0.1 port={_free_port()} dbname={db} user=postgres password='s3 cret'"
    with pytest.raises(StoreError) as err:
        Lake.open(tmp_path / "e", catalog=dead)
    assert "password=***" in str(err.value) and "s3 cret" not in str(err.value)


if __name__ == "__main__":
    if sys.argv[1] == "read":
        _main_read(sys.argv[2], sys.argv[3])
    else:
        _main_write(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
