"""Opening the lake: one DuckDB instance with the DuckLake catalog attached as ``lake``.

DuckLake keeps data as Parquet files and the table/snapshot metadata in a catalog database.
Every commit is a snapshot, so one writer process (the collector) can append while any number
of reader processes (MCP server, notebooks, the ``duckdb`` CLI) query with snapshot isolation.

Catalog (``catalog=``):

- ``None`` (default): SQLite file ``<data_dir>/catalog.sqlite``, created in WAL journal mode
  (non-WAL commits took ~1 s under a concurrent reader; WAL ~20-75 ms).
- ``"sqlite:/path/catalog.sqlite"``: the same, elsewhere.
- ``"postgres:dbname=lake host=... user=..."`` (libpq key/value DSN) or ``"postgresql://user@host/lake"``
  (libpq URI): PostgreSQL catalog for scale-out (several collectors, remote readers). Needs
  ``pip install duckdb-extension-postgres-scanner==1.5.5``. A writer that finds no DuckLake in the
  database creates one with ``data_path`` (default ``<data_dir>/lake/``); writers and readers that
  find one use the data path stored in it, so further collectors need no ``data_path`` (passing a
  different one is refused by DuckLake). Passwords are best left to libpq (``PGPASSWORD``,
  ``~/.pgpass``); one written in the DSN is masked in ``CatalogSpec.url``, logs and errors.
- ``"duckdb:/path/meta.ducklake"``: a DuckDB file catalog; single process only (it is locked).

Data path (``data_path=``): default ``<data_dir>/lake/``. An object-store URL (``s3://bucket/lake/``,
``gs://``, ``r2://``, ``az://``...) loads ``httpfs`` (``pip install duckdb-extension-httpfs==1.5.5``);
credentials come from DuckDB secrets (``CREATE SECRET``) on the connection. The data path is
stored in the catalog at creation: when reopening an existing catalog it may be omitted.

SQLite catalog keeper. The sqlite_scanner extension opens a fresh SQLite connection for every
DuckDB transaction, and its SQLite build sleeps in whole seconds (no ``usleep``). Whenever no
process had the catalog open, the next opener re-ran WAL recovery under exclusive locks and a
concurrent opener waited a full second (measured: ~3 % of reader queries stalled 1 s while a
writer committed every second). ``Lake.open`` therefore starts a tiny child process that keeps
one plain SQLite connection open (so the WAL index is never torn down) and exits when the lake
is closed or its parent dies. Measured with it: 0 stalls in 300 commits with 2 busy readers.
A keeper in the same process would not help: closing any descriptor drops a process's POSIX
locks, and the extension's SQLite does not share lock state with Python's.

DuckDB extensions come from PyPI wheels (there is no download at run time); they are loaded
straight from the wheel's file.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import random
import re
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import duckdb

from cryptoflow.errors import StoreError
from cryptoflow.store.schema import ALIAS, ensure_schema

log = logging.getLogger(__name__)

_EXT_PACKAGES = {
    "ducklake": "duckdb-extension-ducklake",
    "sqlite_scanner": "duckdb-extension-sqlite-scanner",
    "postgres_scanner": "duckdb-extension-postgres-scanner",
    "httpfs": "duckdb-extension-httpfs",
}
_SCANNERS = {"sqlite": "sqlite_scanner", "postgres": "postgres_scanner"}
_PG_URI_PREFIXES = ("postgresql://", "postgres://")
_PASSWORD_KV = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_PASSWORD_URI = re.compile(r"(://[^/@:]*:)[^/@]*@")
_CREATE_RACE_ATTEMPTS = 5
_CREATE_RACE_SIGNS = ("already exists", "duplicate key", "conflict")
_REMOTE_PREFIXES = ("s3://", "s3a://", "gs://", "gcs://", "r2://", "az://", "azure://", "abfss://", "http://", "https://")
_KEEPER_CODE = (
    "import sqlite3,sys\n"
    "c=sqlite3.connect(sys.argv[1])\n"
    "c.execute('SELECT count(*) FROM sqlite_master').fetchone()\n"
    "sys.stdout.write('ready\\n'); sys.stdout.flush()\n"
    "sys.stdin.read()\n"
)


@dataclass(frozen=True, slots=True)
class CatalogSpec:
    """A parsed ``catalog=`` argument."""

    kind: str  # "sqlite" | "postgres" | "duckdb"
    target: str  # file path or DSN

    @property
    def attach_url(self) -> str:
        """What DuckDB attaches (may hold a DSN password: never log or return it)."""
        return f"ducklake:{self.kind}:{self.target}"

    @property
    def url(self) -> str:
        """The catalog for people (logs, ``db_stats``): a DSN password is masked."""
        return f"ducklake:{self.kind}:{self.redact(self.target)}"

    @staticmethod
    def redact(text: str) -> str:
        """``text`` with libpq passwords (``password=...``, ``://user:pw@``) masked."""
        return _PASSWORD_URI.sub(r"\1***@", _PASSWORD_KV.sub(r"\1***", text))

    @property
    def is_local_file(self) -> bool:
        return self.kind in ("sqlite", "duckdb")


def parse_catalog(catalog: str | None, data_dir: Path) -> CatalogSpec:
    """Turn the ``catalog=`` argument into a spec (see the module docstring for the forms)."""
    if catalog is None:
        return CatalogSpec("sqlite", str(data_dir / "catalog.sqlite"))
    if catalog.startswith(_PG_URI_PREFIXES):  # a bare libpq URI: the scheme is part of the DSN
        return CatalogSpec("postgres", catalog)
    kind, sep, target = catalog.partition(":")
    kind = {"postgresql": "postgres", "sqlite3": "sqlite"}.get(kind, kind)
    if not sep or not target or kind not in ("sqlite", "postgres", "duckdb"):
        raise StoreError(
            f"catalog {CatalogSpec.redact(catalog)!r} not understood; use 'sqlite:/path/catalog.sqlite', "
            "'postgres:dbname=... host=...' or 'duckdb:/path/meta.ducklake' (or omit it)"
        )
    if kind != "postgres":
        target = str(Path(target).expanduser().resolve())
    return CatalogSpec(kind, target)


def sql_literal(text: str) -> str:
    """A SQL string literal for configuration values (paths, DSNs) in statements that take none."""
    if "\x00" in text:
        raise StoreError("NUL byte in a path or DSN")
    return "'" + text.replace("'", "''") + "'"


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Load a DuckDB extension from its PyPI wheel (``duckdb-extension-<name>``)."""
    pkg = _EXT_PACKAGES.get(name, f"duckdb-extension-{name.replace('_', '-')}")
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise StoreError(f"DuckDB extension {name!r} is not installed: pip install {pkg}=={duckdb.__version__}")
    version = con.execute("PRAGMA version").fetchone()[0]  # type: ignore[index]
    path = Path(next(iter(spec.submodule_search_locations))) / "extensions" / version / f"{name}.duckdb_extension"
    if not path.is_file():
        raise StoreError(f"{pkg} has no build for DuckDB {version} at {path}: pin duckdb and {pkg} to the same version")
    con.execute(f"LOAD {sql_literal(str(path))}")


def _is_create_race(exc: duckdb.Error, create_with: str | None) -> bool:
    """Whether opening a server catalog failed because another writer was creating it."""
    if isinstance(exc, duckdb.TransactionException):  # a conflicting commit (or the failed rollback after it)
        return True
    text = str(exc).lower()
    if create_with is not None and "does not match existing data path" in text:
        return True  # we passed no data_path: the mismatch is with the path another writer just created
    return any(sign in text for sign in _CREATE_RACE_SIGNS)


def _create_sqlite_catalog(path: Path) -> None:
    """Create (or switch) the SQLite catalog to WAL before DuckLake first attaches it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    finally:
        conn.close()
    if str(mode).lower() != "wal":
        raise StoreError(f"could not put SQLite catalog {path} in WAL mode (got {mode!r})")


class _CatalogKeeper:
    """Child process holding the SQLite catalog open (why: see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _KEEPER_CODE, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if line.strip() != b"ready":
            self.close()
            raise StoreError(f"SQLite catalog keeper for {path} did not start (is the file readable?)")

    @property
    def pid(self) -> int:
        return self._proc.pid

    def close(self) -> None:
        proc = self._proc
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                if proc.stdin:
                    proc.stdin.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for stream in (proc.stdin, proc.stdout):
            if stream:
                with contextlib.suppress(OSError):
                    stream.close()


class Lake:
    """An open DuckLake: a DuckDB instance with the catalog attached as ``lake``.

    Use ``cursor()`` for each thread that queries (DuckDB connections are not thread-safe; cursors
    on one instance are cheap and share its cache). ``write_lock`` serialises this process's
    writes (flushes, maintenance) so they never race each other on the catalog.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        data_dir: Path,
        catalog: CatalogSpec,
        data_path: str | None,
        read_only: bool,
        keeper: _CatalogKeeper | None,
    ) -> None:
        self._con: duckdb.DuckDBPyConnection | None = con
        self.data_dir = data_dir
        self.catalog = catalog
        self.data_path = data_path
        self.read_only = read_only
        self._keeper = keeper
        self.write_lock = threading.Lock()
        self._sandbox: duckdb.DuckDBPyConnection | None = None
        self._sandbox_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        data_dir: Path | str,
        catalog: str | None = None,
        data_path: str | None = None,
        read_only: bool = False,
        *,
        catalog_keeper: bool = True,
    ) -> Lake:
        """Open (and, unless ``read_only``, create) the lake under ``data_dir``.

        ``read_only`` attaches the catalog read-only: for the MCP server and other readers.
        Opening read-only before any writer created the catalog raises ``StoreError``.
        """
        data_dir = Path(data_dir).expanduser().resolve()
        spec = parse_catalog(catalog, data_dir)
        if not read_only:
            data_dir.mkdir(parents=True, exist_ok=True)
        new_catalog = False
        if spec.is_local_file:
            cat_path = Path(spec.target)
            if not cat_path.exists():
                if read_only:
                    raise StoreError(f"no lake catalog at {cat_path}: run the collector first (or check --data-dir)")
                new_catalog = True
            if spec.kind == "sqlite" and not read_only:
                _create_sqlite_catalog(cat_path)
        default_data_path = str(data_dir / "lake") + "/"
        if data_path is None and new_catalog:
            data_path = default_data_path
        if data_path is not None and not data_path.startswith(_REMOTE_PREFIXES):
            data_path = str(Path(data_path).expanduser().resolve()) + "/"
            if not read_only:
                Path(data_path).mkdir(parents=True, exist_ok=True)
        # A server catalog's existence is only known by attaching: a writer without data_path
        # attaches without one (the stored path is used) and creates it with the default only
        # if the database holds no DuckLake yet.
        create_with = default_data_path if spec.kind == "postgres" and data_path is None and not read_only else None

        keeper = _CatalogKeeper(Path(spec.target)) if spec.kind == "sqlite" and catalog_keeper else None
        try:
            con = cls._connect(spec, data_path, read_only, create_with=create_with)
        except BaseException:
            if keeper:
                keeper.close()
            raise
        if data_path is None:  # reopened without one: the catalog knows where the files are
            row = con.execute(
                f"SELECT value FROM ducklake_options('{ALIAS}') WHERE option_name = 'data_path'"
            ).fetchone()
            data_path = row[0] if row else None
        lake = cls(con, data_dir=data_dir, catalog=spec, data_path=data_path, read_only=read_only, keeper=keeper)
        log.info("lake opened: catalog=%s data_path=%s read_only=%s", spec.url, data_path, read_only)
        return lake

    @staticmethod
    def _connect(
        spec: CatalogSpec, data_path: str | None, read_only: bool, *, create_with: str | None = None
    ) -> duckdb.DuckDBPyConnection:
        """Attach the catalog; ``create_with``: data path for a new catalog if none exists yet.

        Writers of a server catalog that start together race to create the DuckLake tables and
        our tables (seen: "duplicate key value" from PostgreSQL, a failed DuckLake commit in
        ``ensure_schema``, and "DATA_PATH ... does not match" when another writer created the
        catalog between our two attaches); the loser retries on a fresh connection and then finds
        what the winner created.
        """
        attempts = _CREATE_RACE_ATTEMPTS if spec.kind == "postgres" and not read_only else 1
        for attempt in range(1, attempts + 1):
            try:
                return Lake._connect_once(spec, data_path, read_only, create_with)
            except StoreError as exc:
                cause = exc.__cause__
                race = isinstance(cause, duckdb.Error) and _is_create_race(cause, create_with)
                if attempt == attempts or not race:
                    raise
                log.info("lake %s: lost a race creating the catalog (%s); retrying", spec.url, spec.redact(repr(cause)))
                time.sleep(0.05 * attempt + random.random() * 0.1)
        raise AssertionError("unreachable")

    @staticmethod
    def _connect_once(
        spec: CatalogSpec, data_path: str | None, read_only: bool, create_with: str | None
    ) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        try:
            load_extension(con, "ducklake")
            if spec.kind in _SCANNERS:
                load_extension(con, _SCANNERS[spec.kind])
            if any(p and p.startswith(_REMOTE_PREFIXES) for p in (data_path, create_with)):
                load_extension(con, "httpfs")
            con.execute("SET GLOBAL TimeZone = 'UTC'")
            try:
                Lake._attach(con, spec, data_path, read_only)
            except duckdb.InvalidInputException as exc:
                # DuckLake refuses to create a catalog without DATA_PATH ("data_path is not set").
                if create_with is None or "data_path" not in str(exc).lower():
                    raise
                log.info("no DuckLake in %s yet: creating it with data_path=%s", spec.url, create_with)
                if not create_with.startswith(_REMOTE_PREFIXES):
                    Path(create_with).mkdir(parents=True, exist_ok=True)
                Lake._attach(con, spec, create_with, read_only)
            if not read_only:
                ensure_schema(con)
        except duckdb.Error as exc:
            con.close()
            raise StoreError(f"could not open lake {spec.url}: {spec.redact(str(exc))}") from exc
        except BaseException:
            con.close()
            raise
        return con

    @staticmethod
    def _attach(con: duckdb.DuckDBPyConnection, spec: CatalogSpec, data_path: str | None, read_only: bool) -> None:
        options = []
        if data_path is not None:
            options.append(f"DATA_PATH {sql_literal(data_path)}")
        if read_only:
            options.append("READ_ONLY")
        opts = f" ({', '.join(options)})" if options else ""
        con.execute(f"ATTACH {sql_literal(spec.attach_url)} AS {ALIAS}{opts}")

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The instance's first connection (for the opening thread only; see ``cursor``)."""
        if self._con is None:
            raise StoreError("lake is closed")
        return self._con

    def limit_resources(self, *, threads: int | None = None, memory_limit: str | None = None) -> None:
        """Cap this instance's DuckDB worker threads and buffer memory (the collector's writer).

        A writer appending a few thousand rows per table per flush gains nothing from parallel
        threads on a 2-core machine: they compete with the event loop, and every extra thread
        keeps its own native heap arena (measured: the collector's RSS grew past 500 MB)."""
        if threads is not None:
            self.con.execute(f"SET threads = {int(threads)}")
        if memory_limit is not None:
            self.con.execute("SET memory_limit = ?", [memory_limit])

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new connection on the same instance, for one thread; close it (or use ``with``)."""
        return self.con.cursor()

    def sandbox(self) -> duckdb.DuckDBPyConnection:
        """A separate, locked-down DuckDB instance for untrusted read-only SQL.

        It attaches the lake read-only, then disables all file access outside the lake's data
        directory and locks its configuration, so even SQL that slipped past the statement
        checks cannot read other files, attach databases or load extensions. Take a ``cursor()``
        of it per query (and ``USE lake`` on it for unqualified names).
        """
        with self._sandbox_lock:
            if self._sandbox is None:
                self._sandbox = self._make_sandbox()
            return self._sandbox

    def _make_sandbox(self) -> duckdb.DuckDBPyConnection:
        con = self._connect(self.catalog, None, read_only=True)
        try:
            allowed = [str(self.data_dir) + "/"]
            if self.data_path and not self.data_path.startswith(_REMOTE_PREFIXES):
                allowed.append(self.data_path)
            con.execute("SET allowed_directories = ?", [allowed])
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
        except duckdb.Error as exc:
            con.close()
            raise StoreError(f"could not set up the read-only SQL sandbox: {exc}") from exc
        return con

    def close(self) -> None:
        """Detach and stop the keeper; idempotent."""
        for con in (self._sandbox, self._con):
            if con is not None:
                with contextlib.suppress(duckdb.Error):
                    con.close()
        self._sandbox = None
        self._con = None
        if self._keeper is not None:
            self._keeper.close()
            self._keeper = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._con is None else ("read-only" if self.read_only else "read-write")
        return f"Lake({self.catalog.url!r}, data_path={self.data_path!r}, {state})"
