"""Retention as a user sets it: the ``retention`` setting (config file / env), the collector daemon
applying it on its maintenance cycle, and ``cryptoflow maintain`` run from the command line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from cryptoflow.collector import run as collector_run
from cryptoflow.collector.config import load_config
from cryptoflow.errors import ConfigError
from cryptoflow.events import Trade
from cryptoflow.feed.book import book_reset
from cryptoflow.store import BatchWriter, Lake
from cryptoflow.venues.base import FULL_SNAPSHOTS

from .simrun import sim_and_collector, wait_for

HOUR_NS = 3_600_000_000_000


def _fill(data_dir, now_ns: int) -> None:
    """Trades and book deltas 3 days old and 1 hour old."""
    lake = Lake.open(data_dir)
    w = BatchWriter(lake)
    for age_h in (72, 1):
        t = now_ns - age_h * HOUR_NS
        w.add_many(Trade("okx", "perp", "BTCUSDT", t + i, t + i, 100.0, 1.0, "buy", f"{age_h}-{i}") for i in range(30))
        for i in range(20):
            w.add_book(book_reset(("okx", "perp", "BTC-USDT-SWAP"), "BTCUSDT", FULL_SNAPSHOTS, t + i))
        w.flush()
    w.close()
    lake.close()


def _counts(data_dir) -> tuple[int, int]:
    lake = Lake.open(data_dir, read_only=True)
    try:
        cur = lake.cursor()
        return (cur.execute("SELECT count(*) FROM lake.trades").fetchone()[0],
                cur.execute("SELECT count(*) FROM lake.book_deltas").fetchone()[0])
    finally:
        lake.close()


def cf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cryptoflow.cli", *args], capture_output=True, text=True,
                          timeout=120)


def test_retention_setting_from_file_and_env(tmp_path, monkeypatch):
    f = tmp_path / "c.toml"
    f.write_text('[collector]\nretention = { book_deltas = "2d", trade = "90d" }\n')
    assert load_config(f).retention_ages() == {"book_deltas": timedelta(days=2), "trades": timedelta(days=90)}
    monkeypatch.setenv("CRYPTOFLOW_RETENTION", "book_deltas=12h, health=1w")
    assert load_config(None).retention_ages() == {"book_deltas": timedelta(hours=12), "health": timedelta(days=7)}
    monkeypatch.delenv("CRYPTOFLOW_RETENTION")
    with pytest.raises(ConfigError, match=r"retention: unknown stream 'quotes'; streams are: .*book_deltas"):
        load_config(None, retention={"quotes": "1d"})
    with pytest.raises(ConfigError, match=r"retention.trades='forever': give a positive age like"):
        load_config(None, retention={"trades": "forever"})
    monkeypatch.setenv("CRYPTOFLOW_RETENTION", "book_deltas")
    with pytest.raises(ConfigError, match="write STREAM=AGE"):
        load_config(None)


def test_maintain_command_deletes_past_retention_and_compacts(tmp_path):
    data = tmp_path / "data"
    _fill(data, time.time_ns())
    assert _counts(data) == (60, 40)
    r = cf("maintain", "--retention", "book_deltas=1d", "--retention", "trades=2d", "--data-dir", str(data), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["deleted"] == {"book_deltas": 20, "trades": 30}
    assert out["compaction"]["files_after"] <= out["compaction"]["files_before"]
    assert _counts(data) == (30, 20)
    bad = cf("maintain", "--retention", "trades=soon", "--data-dir", str(data))
    assert bad.returncode == 2 and "give a positive age" in bad.stderr
    assert _counts(data) == (30, 20)  # nothing deleted by a refused command


async def test_collector_daemon_applies_retention_on_its_maintenance_cycle(tmp_path, monkeypatch):
    _fill(tmp_path, time.time_ns())
    monkeypatch.setattr(collector_run, "COMPACT_EVERY_S", 0.3)
    async with sim_and_collector(tmp_path, venues=["okx"], symbols=["BTCUSDT"], tap=False,
                                 retention={"book_deltas": "2d"}) as run:
        lake = run.rt.lake

        def old_deltas() -> int:
            return lake.cursor().execute(
                "SELECT count(*) FROM lake.book_deltas WHERE ts < now()::TIMESTAMP - INTERVAL 2 DAY").fetchone()[0]

        await wait_for(lambda: old_deltas() == 0, timeout=20)
        await asyncio.sleep(0)
    trades, deltas = _counts(tmp_path)
    assert trades >= 60  # trades have no retention: the 3-day-old ones are still there
    assert deltas == 20  # the recent deltas stay (this collector stores none: store_book_deltas is off)
