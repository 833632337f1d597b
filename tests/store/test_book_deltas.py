"""Book deltas: every book update stored in arrival order, and books rebuilt from them exactly.

The end-to-end test is the claim a user relies on: replaying the stored rows up to the moment
the collector sampled a book gives that sampled book level for level, on every venue (REST-synced,
stream-synced and full-snapshot books), across an injected sequence gap and a dropped connection.
"""

from __future__ import annotations

import asyncio

import pytest

from cryptoflow.errors import QueryError
from cryptoflow.feed.book import BookReset, BookState, OrderBook, book_reset
from cryptoflow.store import BatchWriter, Lake
from cryptoflow.store.book_deltas import parse_sync, sync_code
from cryptoflow.store.queries import book_at
from cryptoflow.venues.base import BookSyncSpec, BookUpdate, Link, SyncMode

from ..simrun import sim_and_collector, wait_for

REST = BookSyncSpec(SyncMode.REST_DIFF, Link.PREV, rest_offset=0)
KEY = ("binance_usdm", "perp", "BTCUSDT")


def _upd(ts, bids, asks, *, snapshot=False, seq=-1, first=-1, prev=-1, sync=REST):
    return BookUpdate("binance_usdm", "perp", "BTCUSDT", "BTCUSDT", ts, ts + 5, bids, asks, snapshot, sync, seq,
                      first, prev)


def test_rows_keep_arrival_order_ids_levels_and_sources(tmp_path):
    lake = Lake.open(tmp_path)
    w = BatchWriter(lake)
    w.add_book(book_reset(KEY, "BTCUSDT", REST, 1_000))
    w.add_book(_upd(2_000, [(100.0, 1.0), (99.5, 2.0)], [(101.0, 3.0)], seq=11, first=10, prev=9))
    w.add_book(_upd(3_000, [(99.0, 4.0)], [], snapshot=True, seq=10), "rest")
    assert w.pending == 3
    assert w.flush().rows_by_table == {"book_deltas": 3}
    w.add_book(_upd(4_000, [], [(101.0, 0.0)], seq=12, first=12, prev=11))
    w.flush()
    rows = lake.cursor().execute(
        "SELECT action, source, seq, first_seq, prev_seq, sync, bid_prices, bid_qtys, ask_prices, ask_qtys, ts_ns, "
        "recv_seq FROM lake.book_deltas ORDER BY recv_seq").fetchall()
    w.close()
    lake.close()
    assert [r[0] for r in rows] == ["reset", "diff", "snapshot", "diff"]
    assert [r[1] for r in rows] == ["ws", "ws", "rest", "ws"]
    assert rows[0][2:5] == (None, None, None)  # no ids on a reset: NULL, not -1
    assert rows[1][2:10] == (11, 10, 9, "rest_diff/prev/0", [100.0, 99.5], [1.0, 2.0], [101.0], [3.0])
    assert rows[2][6:10] == ([99.0], [4.0], [], [])
    assert rows[3][8:10] == ([101.0], [0.0])  # a removed level is stored as qty 0, as the venue sent it
    assert [r[10] for r in rows] == [1_000, 2_000, 3_000, 4_000]
    seqs = [r[11] for r in rows]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4


def test_sync_codes_round_trip_and_bad_code_is_named():
    for spec in (REST, BookSyncSpec(SyncMode.STREAM_SEQ, Link.NEXT), BookSyncSpec(SyncMode.FULL)):
        assert parse_sync(sync_code(spec)) == spec
    with pytest.raises(QueryError, match="not <mode>/<link>/<offset>"):
        parse_sync("sideways")


def test_replay_of_rest_synced_book_bridges_buffered_diffs(tmp_path):
    """Diffs received before the REST snapshot are buffered and bridge it, as live."""
    lake = Lake.open(tmp_path)
    w = BatchWriter(lake)
    w.add_book(book_reset(KEY, "BTCUSDT", REST, 1_000_000))
    w.add_book(_upd(2_000_000, [(100.0, 1.0)], [], seq=5, first=4, prev=3))  # older than the snapshot: dropped
    w.add_book(_upd(3_000_000, [(100.0, 2.0)], [(102.0, 1.0)], seq=8, first=6, prev=5))  # bridges lid 7
    w.add_book(_upd(4_000_000, [(99.0, 1.0), (100.0, 3.0)], [(101.0, 1.0), (102.0, 9.0)], snapshot=True, seq=7),
               "rest")
    w.add_book(_upd(5_000_000, [(99.0, 0.0)], [(101.5, 4.0)], seq=9, first=9, prev=8))
    w.close()
    at_snapshot = book_at(lake, "binance_usdm", "BTCUSDT", 4_000_005 + 1_000)
    assert at_snapshot.book is not None and at_snapshot.book.valid
    assert at_snapshot.as_dict()["bids"] == [[100.0, 2.0], [99.0, 1.0]]  # the bridging diff applied
    latest = book_at(lake, "binance_usdm", "BTCUSDT", 10_000_000).as_dict()
    assert latest["bids"] == [[100.0, 2.0]] and latest["asks"] == [[101.0, 1.0], [101.5, 4.0], [102.0, 1.0]]
    assert latest["seq"] == 9 and latest["rows_replayed"] == 5
    assert book_at(lake, "binance_usdm", "BTCUSDT", 500).book is None  # nothing stored yet at that time
    lake.close()


def test_reset_marker_is_a_reset():
    assert type(book_reset(KEY, "BTCUSDT", REST, 1)) is BookReset


@pytest.mark.slow
async def test_replay_equals_every_sampled_book_across_gap_and_reconnect(tmp_path):
    venues = ["binance_usdm", "binance_spot", "bybit", "okx", "gateio", "kraken_futures", "deribit", "hyperliquid"]
    async with sim_and_collector(tmp_path, venues=venues, symbols=["BTCUSDT", "ETHUSDT"], rate=2.0, tap=False,
                                 store_book_deltas=True, book_sample_interval_s=0.5,
                                 book_checkpoint_interval_s=2.0) as run:
        col = run.rt.collector
        await wait_for(lambda: all(v["books"] and v["books_valid"] == v["books"]
                                   for v in col.health_report()["venues"].values()), timeout=30)
        await asyncio.sleep(1.5)
        run.sim.servers["okx"].inject("gap")  # a sequence gap: the book is resubscribed
        run.sim.servers["binance_usdm"].inject("drop")  # a new connection: reset, then a new REST snapshot
        await wait_for(lambda: col.health_report()["venues"]["okx"]["gaps"] >= 1, timeout=20)
        await wait_for(lambda: col.health_report()["venues"]["binance_usdm"]["reconnects"] >= 1, timeout=20)
        await wait_for(lambda: all(v["books_valid"] == v["books"] for v in col.health_report()["venues"].values()),
                       timeout=30)
        await asyncio.sleep(1.5)
    lake = Lake.open(tmp_path, read_only=True)
    cur = lake.cursor()
    actions = dict(cur.execute("SELECT action, count(*) FROM lake.book_deltas GROUP BY ALL").fetchall())
    assert actions["diff"] > 1000 and actions["snapshot"] > 0 and actions["reset"] >= 2 * len(venues)
    assert actions["checkpoint"] >= 2 * len(venues)
    snaps = cur.execute(
        "SELECT venue, market, symbol, epoch_us(ts_recv) * 1000, bid_prices, bid_qtys, ask_prices, ask_qtys, seq "
        "FROM lake.book_snapshots ORDER BY ts_recv").fetchall()
    checked: dict[str, int] = {}
    mismatches = []
    for venue, market, symbol, at_ns, bp, bq, ap, aq, seq in snaps:
        rb = book_at(lake, venue, symbol, at_ns, market)
        assert rb.book is not None, (venue, symbol)
        if rb.book.top(20) != (bp, bq, ap, aq) or (seq is not None and rb.book.seq != seq):
            mismatches.append((venue, symbol, at_ns))
        checked[venue] = checked.get(venue, 0) + 1
    assert not mismatches, mismatches[:5]
    assert set(checked) == set(venues) and min(checked.values()) >= 10, checked
    # a late sample replays from a recent checkpoint, not from the connection's first snapshot
    last_at = max(s[3] for s in snaps if s[:3] == ("bybit", "perp", "BTCUSDT"))
    rb = book_at(lake, "bybit", "BTCUSDT", last_at, "perp")
    first = cur.execute("SELECT min(epoch_us(ts_recv)) * 1000 FROM lake.book_deltas WHERE venue = 'bybit' "
                        "AND market = 'perp' AND symbol = 'BTCUSDT'").fetchone()[0]
    lake.close()
    assert rb.started_at_ns > first and last_at - rb.started_at_ns <= 3.5e9


def test_replay_starts_at_the_latest_checkpoint(tmp_path):
    """A checkpoint is the collector's whole synced book: rows before it are not read, diffs after it apply."""
    lake = Lake.open(tmp_path)
    w = BatchWriter(lake)
    w.add_book(book_reset(KEY, "BTCUSDT", REST, 1_000_000))
    w.add_book(_upd(2_000_000, [(100.0, 1.0)], [(101.0, 1.0)], snapshot=True, seq=7), "rest")
    for i in range(50):  # a long run of diffs the replay should not need
        w.add_book(_upd(3_000_000 + i * 1000, [(100.0, 1.0 + i)], [], seq=8 + i, first=8 + i, prev=7 + i))
    book = OrderBook("binance_usdm", "BTCUSDT", "perp", "BTCUSDT")
    book.bids.update({100.0: 50.0, 99.0: 2.0})
    book.asks.update({101.0: 1.0})
    book.seq, book.ts, book.sync, book.state = 57, 3_049_000, REST, BookState.SYNCED
    w.add_book(book.checkpoint(4_000_000))
    w.add_book(_upd(5_000_000, [(99.0, 0.0)], [(101.5, 2.0)], seq=58, first=58, prev=57))
    w.close()
    rb = book_at(lake, "binance_usdm", "BTCUSDT", 9_000_000)
    lake.close()
    assert rb.rows == 2  # the checkpoint and the diff after it
    d = rb.as_dict()
    assert d["valid"] and d["seq"] == 58
    assert d["bids"] == [[100.0, 50.0]] and d["asks"] == [[101.0, 1.0], [101.5, 2.0]]


async def test_updates_dropped_under_memory_pressure_leave_a_reset_so_replays_do_not_lie(tmp_path):
    async with sim_and_collector(tmp_path, venues=["bybit"], symbols=["BTCUSDT"], rate=2.0, tap=False,
                                 markets=["perp"], store_book_deltas=True, book_checkpoint_interval_s=1.0,
                                 max_buffered_mb=0.05) as run:
        col, writer = run.rt.collector, run.rt.writer
        await wait_for(lambda: col.health_report()["venues"]["bybit"]["books_valid"] == 1, timeout=30)
        real_flush = writer.flush_async

        async def stuck_flush():  # the disk stalls: buffers fill up to the memory bound
            await asyncio.sleep(0.05)
            from cryptoflow.store import FlushStats

            return FlushStats(rows=0)

        writer.flush_async = stuck_flush
        await wait_for(lambda: col.health.counters.get("dropped_backpressure", 0) > 50, timeout=30)
        assert writer.pending_bytes < 0.05e6 + 1_100 * writer.RAW_DELTA_BYTES  # bound + one check interval
        assert col.health_report()["store"]["behind"]
        writer.flush_async = real_flush
        await wait_for(lambda: not col._deltas_dropped and writer.pending == 0, timeout=20)
        await asyncio.sleep(2.5)  # the next checkpoint puts the whole book back
    lake = Lake.open(tmp_path, read_only=True)
    cur = lake.cursor()
    rows = cur.execute("SELECT action, epoch_us(ts_recv) * 1000 FROM lake.book_deltas ORDER BY recv_seq").fetchall()
    # the hole: a reset after the first checkpoints, then (after the next checkpoint) a whole book again
    first_cp = next(i for i, r in enumerate(rows) if r[0] == "checkpoint")
    hole = next(i for i, r in enumerate(rows) if r[0] == "reset" and i > first_cp)
    after = next(i for i, r in enumerate(rows) if r[0] == "checkpoint" and i > hole)
    between = rows[hole][1] + (rows[after][1] - rows[hole][1]) // 2
    assert rows[after][1] > rows[hole][1]
    assert not book_at(lake, "bybit", "BTCUSDT", between).book.valid  # not in sync: said, not guessed
    assert book_at(lake, "bybit", "BTCUSDT", rows[after][1] + 1_000).book.valid
    lake.close()
