"""A separate reader process for the concurrency test (run as a script, prints one JSON line).

It opens the lake read-only and queries repeatedly while the test process appends, recording
every row count it saw, every error, and each query's latency.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from cryptoflow.store import Lake, queries


def main(data_dir: str, expected_rows: int, deadline_s: float) -> None:
    lake = Lake.open(Path(data_dir), read_only=True)
    cur = lake.cursor()
    counts: list[int] = []
    errors: list[str] = []
    latencies: list[float] = []
    print("ready", flush=True)
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        try:
            n = cur.execute("SELECT count(*) FROM lake.trades").fetchone()[0]
            queries.vwap(lake, "BTCUSDT", venue="binance_usdm")
        except Exception as exc:  # the test asserts there are none; report, don't die
            errors.append(repr(exc))
            continue
        finally:
            latencies.append(time.perf_counter() - t0)
        counts.append(n)
        if n >= expected_rows:
            break
    cur.close()
    lake.close()
    print(json.dumps({"counts": counts, "errors": errors[:5], "n_errors": len(errors), "latencies": latencies}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
