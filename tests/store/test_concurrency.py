"""One writer process appends while real reader processes query: snapshot isolation, no lock errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from cryptoflow.events import Trade
from cryptoflow.store import BatchWriter, Lake

from .conftest import at

READER = Path(__file__).with_name("reader_proc.py")
FLUSHES = 25
ROWS_PER_FLUSH = 2000


def test_readers_see_rows_appear_while_writer_appends(lake: Lake, writer: BatchWriter) -> None:
    expected = FLUSHES * ROWS_PER_FLUSH
    readers = [
        subprocess.Popen([sys.executable, str(READER), str(lake.data_dir), str(expected), "60"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        for r in readers:
            assert r.stdout is not None
            assert r.stdout.readline().strip() == "ready", r.stderr.read() if r.stderr else ""
        write_ms = []
        for f in range(FLUSHES):
            base = f * ROWS_PER_FLUSH
            writer.add_many(Trade("binance_usdm", "perp", "BTCUSDT", at(i), at(i), 100.0, 1.0, "buy", str(i))
                            for i in range(base, base + ROWS_PER_FLUSH))
            write_ms.append(writer.flush().write_ms)
            time.sleep(0.05)
        results = []
        for r in readers:
            out, err = r.communicate(timeout=90)
            assert r.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for r in readers:
            if r.poll() is None:
                r.kill()
                r.wait()
    assert writer.failed_flushes == 0
    assert max(write_ms) < 3000
    for res in results:
        assert res["n_errors"] == 0, res["errors"]
        counts = res["counts"]
        assert counts == sorted(counts), "a reader saw the row count go backwards"
        assert all(c % ROWS_PER_FLUSH == 0 for c in counts), "a reader saw a partial flush"
        assert counts[-1] == expected
        assert len(set(counts)) >= 3, "rows should become visible flush by flush"
        # The SQLite catalog keeper prevents the 1 s lock sleeps (see store/lake.py).
        slow = [t for t in res["latencies"] if t >= 0.9]
        assert len(slow) <= 1, f"reader queries stalled: {slow}"
