"""The README's main command, ``cryptoflow demo``, through its real entry point on a fresh data directory."""

from __future__ import annotations

import subprocess
import sys

from cryptoflow.store import Lake
from cryptoflow.venues import VENUE_IDS


def test_demo_collects_every_venue_and_shows_the_example_queries(tmp_path) -> None:
    data = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "cryptoflow.cli", "demo", "--seconds", "8", "--symbols", "BTCUSDT",
                        "ETHUSDT", "--data-dir", str(data)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    for title in ("summary", "database_stats", "latest BBO per venue (BTCUSDT)", "1m OHLCV BTCUSDT binance_usdm",
                  "replayed from book_deltas", "rows written"):
        assert title in out, title
    assert all(v in out for v in VENUE_IDS)
    lake = Lake.open(data, read_only=True)
    try:
        cur = lake.cursor()
        venues = {v for (v,) in cur.execute("SELECT DISTINCT venue FROM lake.trades").fetchall()}
        books = {v for (v,) in cur.execute("SELECT DISTINCT venue FROM lake.book_snapshots").fetchall()}
        deltas = cur.execute("SELECT count(*) FROM lake.book_deltas").fetchone()[0]
    finally:
        lake.close()
    assert venues == set(VENUE_IDS) and books == set(VENUE_IDS) and deltas > 0
