"""Model registry: which models were fitted on which series, with which parameters and training
windows, how they scored over time, drift/retrain events, and saved fitted models (artifacts).

Why SQLite: one small file that the live controller writes while the MCP server reads (WAL mode),
survives restarts, needs no server. Artifacts are pickles written by this process under the data
dir and loaded only from there (never from user-supplied paths).
"""

from __future__ import annotations

import json
import logging
import pickle
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from cryptoflow.forecast.zoo import ForecastError

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    id INTEGER PRIMARY KEY, series_key TEXT NOT NULL, model TEXT NOT NULL, target TEXT, interval TEXT,
    horizon INTEGER, params TEXT, state TEXT, train_start_ns INTEGER, train_end_ns INTEGER, n_train INTEGER,
    created_ns INTEGER NOT NULL, artifact TEXT, status TEXT NOT NULL DEFAULT 'active');
CREATE INDEX IF NOT EXISTS models_key ON models(series_key, model);
CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY, model_id INTEGER, series_key TEXT NOT NULL, model TEXT NOT NULL, horizon INTEGER,
    ts_ns INTEGER NOT NULL, strategy TEXT, n_origins INTEGER, rmae REAL, mase REAL, mae REAL,
    coverage80 REAL, coverage95 REAL, p_better REAL, grade TEXT, payload TEXT);
CREATE INDEX IF NOT EXISTS metrics_key ON metrics(series_key, model, ts_ns);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, series_key TEXT, kind TEXT NOT NULL, severity TEXT,
    payload TEXT);
"""


def _json(x: Any) -> str:
    return json.dumps(x, default=lambda o: o.item() if hasattr(o, "item") else str(o))


def _rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description]
    out = []
    for r in cur.fetchall():
        d = dict(zip(cols, r, strict=True))
        for k in ("params", "state", "payload"):
            if isinstance(d.get(k), str):
                d[k] = json.loads(d[k])
        out.append(d)
    return out


class Registry:
    """Open with ``Registry.open(data_dir)``; thread-safe (one connection behind a lock)."""

    def __init__(self, path: Path, artifacts: Path, read_only: bool = False) -> None:
        self.path, self.artifacts, self.read_only = path, artifacts, read_only
        self._lock = threading.Lock()
        if read_only:
            self._con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            artifacts.mkdir(parents=True, exist_ok=True)
            self._con = sqlite3.connect(path, check_same_thread=False, timeout=10)
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.executescript(SCHEMA)
            self._con.commit()
        self._skill_cache: dict[tuple[str, int | None], dict[str, dict[str, Any]]] = {}

    @classmethod
    def open(cls, data_dir: Path | str, read_only: bool = False) -> Registry:
        root = Path(data_dir) / "forecast"
        path = root / "registry.sqlite"
        if read_only and not path.exists():
            raise ForecastError(f"no forecast registry at {path} yet (nothing has been forecast with it)")
        return cls(path, root / "artifacts", read_only)

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, args: tuple[Any, ...]) -> int:
        if self.read_only:
            raise ForecastError("the registry was opened read-only")
        with self._lock:
            cur = self._con.execute(sql, args)
            self._con.commit()
            self._skill_cache.clear()
            return int(cur.lastrowid or 0)

    def _read(self, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        with self._lock:
            return _rows(self._con.execute(sql, args))

    def register_model(self, series_key: str, model: str, *, target: str | None = None, interval: str | None = None,
                       horizon: int | None = None, params: dict[str, Any] | None = None,
                       state: dict[str, Any] | None = None, train_start_ns: int | None = None,
                       train_end_ns: int | None = None, n_train: int | None = None, artifact: Any = None) -> int:
        """Record a fitted model; ``artifact`` (the fitted object) is pickled under the artifacts dir.
        Earlier active entries for the same series and model are marked retired."""
        now = time.time_ns()
        self._write("UPDATE models SET status='retired' WHERE series_key=? AND model=? AND status='active'",
                    (series_key, model))
        mid = self._write(
            "INSERT INTO models (series_key, model, target, interval, horizon, params, state, train_start_ns, "
            "train_end_ns, n_train, created_ns) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (series_key, model, target, interval, horizon, _json(params or {}), _json(state or {}), train_start_ns,
             train_end_ns, n_train, now))
        if artifact is not None:
            rel = f"{mid}.pkl"
            (self.artifacts / rel).write_bytes(pickle.dumps(artifact, protocol=pickle.HIGHEST_PROTOCOL))
            self._write("UPDATE models SET artifact=? WHERE id=?", (rel, mid))
        return mid

    def load_artifact(self, model_id: int) -> Any:
        rows = self._read("SELECT artifact FROM models WHERE id=?", (model_id,))
        if not rows or not rows[0]["artifact"]:
            raise ForecastError(f"model {model_id} has no saved artifact")
        path = (self.artifacts / rows[0]["artifact"]).resolve()
        if self.artifacts.resolve() not in path.parents:
            raise ForecastError("artifact path escapes the artifacts directory")
        return pickle.loads(path.read_bytes())

    def record_backtest(self, series_key: str, model: str, summary: dict[str, Any], model_id: int | None = None,
                        ) -> int:
        """Store one backtest summary (``BacktestResult.summary()``) as a point in the model's history."""
        cov = summary.get("coverage", {})

        def c(lv: str) -> float | None:
            return (cov.get(lv) or {}).get("observed")

        return self._write(
            "INSERT INTO metrics (model_id, series_key, model, horizon, ts_ns, strategy, n_origins, rmae, mase, mae, "
            "coverage80, coverage95, p_better, grade, payload) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (model_id, series_key, model, summary.get("horizon"), time.time_ns(), summary.get("strategy"),
             summary.get("origins"), summary.get("rmae"), summary.get("mase"), summary.get("mae"), c("80"), c("95"),
             (summary.get("dm") or {}).get("p_better"), summary.get("grade"), _json(summary)))

    def record_event(self, series_key: str | None, kind: str, severity: str | None = None,
                     payload: dict[str, Any] | None = None) -> int:
        return self._write("INSERT INTO events (ts_ns, series_key, kind, severity, payload) VALUES (?,?,?,?,?)",
                           (time.time_ns(), series_key, kind, severity, _json(payload or {})))

    def list_models(self, series_key: str | None = None, status: str | None = None, limit: int = 100,
                    ) -> list[dict[str, Any]]:
        return self._read(
            "SELECT id, series_key, model, target, interval, horizon, params, state, train_start_ns, train_end_ns, "
            "n_train, created_ns, artifact, status FROM models WHERE (? IS NULL OR series_key=?) "
            "AND (? IS NULL OR status=?) ORDER BY id DESC LIMIT ?", (series_key, series_key, status, status, limit))

    def performance_history(self, series_key: str | None = None, model: str | None = None, limit: int = 200,
                            ) -> list[dict[str, Any]]:
        """Backtest scores over time, oldest first (without the full payload)."""
        rows = self._read(
            "SELECT id, model_id, series_key, model, horizon, ts_ns, strategy, n_origins, rmae, mase, mae, "
            "coverage80, coverage95, p_better, grade FROM metrics WHERE (? IS NULL OR series_key=?) "
            "AND (? IS NULL OR model=?) ORDER BY ts_ns DESC, id DESC LIMIT ?",
            (series_key, series_key, model, model, limit))
        return rows[::-1]

    def events(self, series_key: str | None = None, kind: str | None = None, limit: int = 100,
               ) -> list[dict[str, Any]]:
        return self._read("SELECT * FROM events WHERE (? IS NULL OR series_key=?) AND (? IS NULL OR kind=?) "
                          "ORDER BY id DESC LIMIT ?", (series_key, series_key, kind, kind, limit))

    def skill(self, series_key: str, horizon: int | None = None) -> dict[str, dict[str, Any]]:
        """Latest backtest per model for this series (and horizon): the router's memory. Cached until
        this instance writes again."""
        ck = (series_key, horizon)
        if ck not in self._skill_cache:
            rows = self._read(
                "SELECT model, rmae, p_better, n_origins, grade, ts_ns FROM metrics m WHERE series_key=? "
                "AND (? IS NULL OR horizon=?) AND ts_ns = (SELECT max(ts_ns) FROM metrics x "
                "WHERE x.series_key=m.series_key AND x.model=m.model AND (? IS NULL OR x.horizon=?))",
                (series_key, horizon, horizon, horizon, horizon))
            self._skill_cache[ck] = {r["model"]: r for r in rows if r["rmae"] is not None}
        return self._skill_cache[ck]
