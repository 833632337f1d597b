"""Store benchmark: ingest rate, commit latency, and query latency under a concurrent writer.

    python bench/bench_store.py [rows]        # prints one JSON object

Measures, on a fresh lake in a temp directory (SQLite catalog in WAL, keeper on):

- ``add``: BatchWriter.add() calls per second (what the event loop pays per message);
- ``ingest``: end-to-end rows/s through flush() (Python -> Arrow -> DuckLake) at 50k- and
  250k-row flushes, split into Arrow conversion and INSERT+COMMIT;
- ``arrow_append``: rows/s of INSERT ... SELECT from a prebuilt Arrow table (DuckDB side only);
- ``commit``: latency of 10k-row commits while another *process* queries the last 10 s;
- ``reader``: latency of that process's queries (and how many stalled >= 0.9 s);
- ``ohlcv_1m``: 1-minute OHLCV over all ingested trades.
"""

from __future__ import annotations

import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptoflow.events import Trade
from cryptoflow.store import TABLES, BatchWriter, Lake, queries

log = logging.getLogger("bench_store")

T0_NS = 1_704_067_200_000_000_000
FLUSH_SIZES = (50_000, 250_000)  # ~1 s of a busy collector, and a large batch
COMMIT_ROWS = 10_000
READER_QUERY = (
    "SELECT count(*), sum(price * qty) / sum(qty) FROM lake.trades "
    "WHERE ts > (SELECT max(ts) FROM lake.trades) - INTERVAL 10 SECOND"
)


def _trades(start: int, n: int, step_ns: int = 1_000_000) -> list[Trade]:
    venues = ("binance_usdm", "okx", "bybit", "gateio")
    symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    return [
        Trade(venues[i % 4], "perp", symbols[i % 3], T0_NS + i * step_ns, T0_NS + i * step_ns + 5_000,
              100.0 + (i % 1000) * 0.01, 0.001 * (1 + i % 7), "buy" if i % 2 else "sell", str(i))
        for i in range(start, start + n)
    ]


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _summary_ms(xs: list[float]) -> dict[str, float]:
    return {"n": len(xs), "median_ms": round(statistics.median(xs) * 1e3, 2),
            "p95_ms": round(_pct(xs, 0.95) * 1e3, 2), "max_ms": round(max(xs) * 1e3, 2)}


def _reader(data_dir: str, seconds: float) -> None:
    """Child process: query the last 10 s repeatedly, print latencies as JSON."""
    lake = Lake.open(Path(data_dir), read_only=True)
    cur = lake.cursor()
    lat: list[float] = []
    errors = 0
    print("ready", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.perf_counter()
        try:
            cur.execute(READER_QUERY).fetchall()
        except Exception:
            errors += 1
        lat.append(time.perf_counter() - t)
    cur.close()
    lake.close()
    print(json.dumps({"lat": lat, "errors": errors}), flush=True)


def _ingest(lake: Lake, rows: int, flush_rows: int) -> dict[str, Any]:
    writer = BatchWriter(lake)
    events = _trades(0, rows)
    t = time.perf_counter()
    for e in events:
        writer.add(e)
    add_s = time.perf_counter() - t
    writer._take()  # discard: that was the add() timing only
    convert = write = 0.0
    t = time.perf_counter()
    for i in range(0, rows, flush_rows):
        writer.add_many(events[i:i + flush_rows])
        s = writer.flush()
        convert += s.convert_ms
        write += s.write_ms
    total = time.perf_counter() - t
    return {
        "add_per_s": round(rows / add_s),
        "rows": rows, "flush_rows": flush_rows, "rows_per_s": round(rows / total),
        "convert_rows_per_s": round(rows / (convert / 1e3)), "write_rows_per_s": round(rows / (write / 1e3)),
    }


def _arrow_append(lake: Lake, rows: int) -> dict[str, Any]:
    """DuckDB side alone: INSERT from an already-built Arrow table, one commit."""
    spec = TABLES["trades"]
    table = BatchWriter(lake)._convert(spec, [("ws", _trades(10_000_000, rows))])  # what flush() builds
    cur = lake.cursor()
    cur.register("bench_buf", table)
    t = time.perf_counter()
    cur.execute(spec.insert_sql("bench_buf"))
    dt = time.perf_counter() - t
    cur.unregister("bench_buf")
    cur.close()
    return {"rows": rows, "rows_per_s": round(rows / dt), "ms": round(dt * 1e3, 1)}


def _concurrent(lake: Lake, data_dir: Path, commits: int = 40) -> dict[str, Any]:
    proc = subprocess.Popen([sys.executable, __file__, "--reader", str(data_dir), str(commits * 0.12 + 2)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    writer = BatchWriter(lake)
    lat = []
    start = 20_000_000
    for k in range(commits):
        writer.add_many(_trades(start + k * COMMIT_ROWS, COMMIT_ROWS))
        lat.append(writer.flush().write_ms / 1e3)
        time.sleep(0.1)
    out, _ = proc.communicate(timeout=120)
    res = json.loads(out.strip().splitlines()[-1])
    reader = _summary_ms(res["lat"])
    reader["stalls_ge_0_9s"] = sum(x >= 0.9 for x in res["lat"])
    reader["errors"] = res["errors"]
    return {"commit": {"rows": COMMIT_ROWS, **_summary_ms(lat)}, "reader": reader}


def run(rows: int) -> dict[str, Any]:
    """Run every measurement on a fresh temporary lake; returns the figures as a dict."""
    with tempfile.TemporaryDirectory(prefix="bench_store_") as tmp:
        data_dir = Path(tmp) / "data"
        lake = Lake.open(data_dir)
        try:
            out: dict[str, Any] = {"rows": rows}
            out["ingest"] = [_ingest(lake, rows, n) for n in FLUSH_SIZES]
            out["arrow_append"] = _arrow_append(lake, min(rows, 500_000))
            out.update(_concurrent(lake, data_dir))
            t = time.perf_counter()
            bars = queries.ohlcv(lake, "binance_usdm", "BTCUSDT", "perp", "1m", limit=100_000)
            out["ohlcv_1m"] = {"bars": len(bars), "ms": round((time.perf_counter() - t) * 1e3, 1)}
            out["db"] = {k: v for k, v in queries.db_stats(lake).items() if k in ("total_rows", "snapshots")}
        finally:
            lake.close()
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--reader":
        _reader(sys.argv[2], float(sys.argv[3]))
    else:
        logging.basicConfig(level=logging.WARNING)
        print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000), indent=2))
