"""Sealing: full buffers become Arrow as they fill; nothing is lost, duplicated or reordered by it."""

from __future__ import annotations

import pytest

from cryptoflow.errors import StoreError
from cryptoflow.events import Trade
from cryptoflow.feed.book import book_reset
from cryptoflow.store import BatchWriter, Lake
from cryptoflow.venues.base import FULL_SNAPSHOTS

from .conftest import at

KEY = ("okx", "perp", "BTC-USDT-SWAP")


def _trades(n: int, start: int = 0) -> list[Trade]:
    return [Trade("okx", "perp", "BTCUSDT", at(i), at(i), 100.0 + i, 1.0, "buy", f"t{i}")
            for i in range(start, start + n)]


def _resets(n: int, start: int = 0) -> list:
    return [book_reset(KEY, "BTCUSDT", FULL_SNAPSHOTS, at(i)) for i in range(start, start + n)]


def test_sealed_chunks_and_the_rest_are_all_written_once(lake: Lake, writer: BatchWriter) -> None:
    writer.chunk_rows = 100
    for k in range(7):  # 350 trades in frames of 50: three sealed chunks of 100, 50 left as events
        writer.add_many(_trades(50, k * 50))
    assert writer.pending == 350 and writer._sealed_rows == 300
    stats = writer.flush()
    assert stats.rows == 350 and stats.rows_by_table == {"trades": 350}
    assert writer.pending == 0
    n, distinct, lo, hi = lake.con.execute(
        "SELECT count(*), count(DISTINCT trade_id), min(price), max(price) FROM lake.trades").fetchone()
    assert (n, distinct, lo, hi) == (350, 350, 100.0, 449.0)


def test_book_delta_numbers_follow_arrival_across_seals_and_flushes(lake: Lake, writer: BatchWriter) -> None:
    writer.chunk_rows = 64
    for u in _resets(100):  # one sealed chunk (0-63), 36 left
        writer.add_book(u)
    taken = writer._take()  # a flush starts: the 36 are numbered now ...
    for u in _resets(100, 100):  # ... while new updates keep arriving and one more chunk seals
        writer.add_book(u)
    writer._write(taken)
    writer.flush()
    rows = lake.con.execute("SELECT ts_ns, recv_seq FROM lake.book_deltas ORDER BY recv_seq").fetchall()
    assert [r[0] for r in rows] == [at(i) for i in range(200)]  # arrival order == recv_seq order
    assert len({r[1] for r in rows}) == 200


def test_a_malformed_event_in_a_chunk_is_dropped_and_reported_without_losing_good_rows(
        lake: Lake, writer: BatchWriter) -> None:
    writer.chunk_rows = 10
    writer.add_many(_trades(10))  # sealed
    bad = _trades(10, 10)
    bad[3] = Trade("okx", "perp", "BTCUSDT", at(13), at(13), "not a price", 1.0, "buy", "t13")  # type: ignore[arg-type]
    writer.add_many(bad)  # cannot seal: kept aside as events
    with pytest.raises(StoreError, match="could not convert 10 buffered rows"):
        writer.flush()
    assert writer.dropped_rows == 10 and writer.pending == 10  # the good sealed chunk is kept
    writer.add_many(_trades(5, 20))
    assert writer.flush().rows == 15
    prices = [r[0] for r in lake.con.execute("SELECT price FROM lake.trades ORDER BY price").fetchall()]
    assert prices == [100.0 + i for i in range(10)] + [120.0 + i for i in range(5)]


def test_a_failed_commit_keeps_sealed_tables_for_the_next_flush(lake: Lake, writer: BatchWriter, monkeypatch) -> None:
    writer.chunk_rows = 10
    writer.add_many(_trades(25))
    for u in _resets(12):
        writer.add_book(u)
    real_insert = type(writer._cursor).execute
    calls = {"n": 0}

    class Failing:
        def __init__(self, cur):
            self.cur = cur

        def execute(self, sql, *a):
            if sql.startswith("INSERT"):
                calls["n"] += 1
                raise __import__("duckdb").IOException("disk full")
            return real_insert(self.cur, sql, *a)

        def __getattr__(self, name):
            return getattr(self.cur, name)

    good = writer._cursor
    monkeypatch.setattr(writer, "_cursor", Failing(good))
    with pytest.raises(StoreError, match="flush of 37 rows failed"):
        writer.flush()
    assert calls["n"] == 1 and writer.pending == 37 and writer.dropped_rows == 0
    monkeypatch.setattr(writer, "_cursor", good)
    assert writer.flush().rows_by_table == {"trades": 25, "book_deltas": 12}
    assert lake.con.execute("SELECT count(*) FROM lake.trades").fetchone()[0] == 25
