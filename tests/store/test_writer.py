"""Round-trip every event type through the batch writer and DuckLake, field by field."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import msgspec
import pytest

from cryptoflow.errors import StoreError
from cryptoflow.events import (
    BBO,
    EVENT_KINDS,
    BookSnapshot,
    Candle,
    Funding,
    Liquidation,
    MarkPrice,
    OpenInterest,
    Ticker24h,
    Trade,
    VenueMetric,
    kind_of,
)
from cryptoflow.store import KIND_TABLES, TABLES, BatchWriter, HealthRecord, Lake

from .conftest import T0_NS, at

EPOCH = datetime(1970, 1, 1)


def _full_and_sparse() -> list[object]:
    """Each event type twice: every optional field set, and every optional field None."""
    b = ("binance_usdm", "perp", "BTCUSDT")
    o = ("okx", "perp", "ETHUSDT")
    return [
        Trade(*b, at(1), at(1.0005), 42000.5, 0.25, "buy", "t-1"),
        Trade(*o, at(2), at(2.0001), 2300.0, 1.5, "sell", "t-2"),
        BBO(*b, at(1), at(1.001), 42000.0, 1.5, 42000.1, 2.5, update_id=123456789),
        BBO(*o, at(2), at(2.001), 2299.9, 10.0, 2300.1, 11.0),
        BookSnapshot(*b, at(3), at(3.01), [42000.0, 41999.5], [1.0, 2.0], [42000.5, 42001.0, 42002.0],
                     [0.5, 0.25, 3.0], seq=987654321),
        BookSnapshot(*o, at(4), at(4.01), [2299.0], [5.0], [], []),
        MarkPrice(*b, at(5), at(5.002), 42001.0, index_price=41999.0),
        MarkPrice(*o, at(6), at(6.002), 2301.0),
        Funding(*b, at(7), at(7.003), 0.0001, predicted_rate=0.00012, next_funding_time=at(3600),
                interval_hours=8.0),
        Funding(*o, at(8), at(8.003), -0.00005),
        OpenInterest(*b, at(9), at(9.1), oi_contracts=None, oi_base=81234.5, oi_notional=3.4e9),
        OpenInterest(*o, at(10), at(10.1)),
        Liquidation(*b, at(11), at(11.01), "long", 41900.0, 0.5, 20950.0),
        Liquidation(*o, at(12), at(12.01), "short", 2310.0, 2.0, 4620.0),
        Ticker24h(*b, at(13), at(13.5), 42000.0, open=41000.0, high=42500.0, low=40800.0, volume=12345.6,
                  quote_volume=5.1e8, price_change=1000.0, price_change_pct=2.44),
        Ticker24h(*o, at(14), at(14.5), 2300.0),
        Candle(*b, at(60), at(60.2), "1m", at(0), 42000.0, 42010.0, 41990.0, 42005.0, 12.5,
               quote_volume=525000.0, trades=321, closed=True),
        Candle(*o, at(60), at(60.2), "1m", at(0), 2300.0, 2301.0, 2299.0, 2300.5, 100.0),
        VenueMetric(*b, at(300), at(300.4), "long_short_ratio", 1.25, period="5m"),
        VenueMetric(*o, at(301), at(301.4), "insurance_fund_balance", 1.5e8),
    ]


def _to_ns(value: datetime) -> int:
    return (value - EPOCH) // (datetime(1970, 1, 1, 0, 0, 0, 1) - EPOCH) * 1000


def _read_back(lake: Lake, table: str) -> list[object]:
    """Rebuild events from stored rows: ts from ts_ns, other time columns from µs TIMESTAMPs."""
    spec = TABLES[table]
    cur = lake.cursor()
    rows = cur.execute(f"SELECT * FROM lake.{table} ORDER BY ts_ns, venue").fetchall()
    cols = [d[0] for d in cur.description]
    out = []
    for row in rows:
        rec = dict(zip(cols, row, strict=True))
        assert rec["ts"].tzinfo is None  # naive, UTC by convention
        assert _to_ns(rec["ts"]) == rec["ts_ns"] // 1000 * 1000
        fields = {}
        for name in spec.fields:
            value = rec["ts_ns"] if name == "ts" else rec[name]
            if isinstance(value, datetime):
                value = _to_ns(value)
            fields[name] = value
        out.append(spec.struct(**fields))
    return out


def test_every_kind_has_a_table() -> None:
    assert set(KIND_TABLES) == set(EVENT_KINDS)
    for kind, table in KIND_TABLES.items():
        spec = TABLES[table]
        assert spec.struct is EVENT_KINDS[kind]
        assert spec.column_names[:6] == ("venue", "market", "symbol", "ts", "ts_ns", "ts_recv")
        assert spec.column_names[-1] == "source"
        # every Struct field is a column: the schema cannot silently drop one
        assert set(spec.fields) <= set(spec.column_names)


def test_round_trip_every_event_type(lake: Lake, writer: BatchWriter) -> None:
    events = _full_and_sparse()
    writer.add_many(events)
    stats = writer.flush()
    assert stats.rows == len(events)
    assert sum(stats.rows_by_table.values()) == len(events)
    assert set(stats.rows_by_table) == set(KIND_TABLES.values())
    assert stats.write_ms > 0 and stats.total_ms >= stats.write_ms
    for kind, table in KIND_TABLES.items():
        expected = sorted((e for e in events if kind_of(e) == kind), key=lambda e: (e.ts, e.venue))
        got = _read_back(lake, table)
        assert got == expected, table


def test_none_stays_null_and_source_is_kept(lake: Lake, writer: BatchWriter) -> None:
    writer.add(Funding("okx", "perp", "ETHUSDT", at(1), at(1), -0.00005), source="rest")
    writer.add(OpenInterest("okx", "perp", "ETHUSDT", at(1), at(1)))
    writer.flush()
    cur = lake.cursor()
    row = cur.execute(
        "SELECT predicted_rate, next_funding_time, interval_hours, source FROM lake.funding_rates").fetchone()
    assert row == (None, None, None, "rest")
    row = cur.execute(
        "SELECT oi_contracts IS NULL, oi_base IS NULL, oi_notional IS NULL, source FROM lake.open_interest").fetchone()
    assert row == (True, True, True, "ws")


def test_ts_ns_keeps_sub_microsecond_exchange_time(lake: Lake, writer: BatchWriter) -> None:
    ts = T0_NS + 123_456_789  # .123456789 s: ts (TIMESTAMP) keeps µs, ts_ns keeps all
    writer.add(Trade("bybit", "perp", "BTCUSDT", ts, ts + 1, 1.0, 1.0, "buy", "x"))
    writer.flush()
    row = lake.cursor().execute("SELECT ts_ns, epoch_us(ts) FROM lake.trades").fetchone()
    assert row == (ts, ts // 1000)


def test_health_records(lake: Lake, writer: BatchWriter) -> None:
    writer.add_health(HealthRecord("okx", "trade", at(5), records=100, last_event_age_s=0.2, reconnects=1,
                                   decode_errors=0, gaps=2, resyncs=1, write_latency_ms=12.5,
                                   queue_depth=3, uptime_s=3600.0))
    writer.add_health(HealthRecord("bybit", "book", at(6)))
    writer.flush()
    rows = lake.cursor().execute("SELECT * FROM lake.health ORDER BY ts").fetchall()
    assert rows[0][:4] == ("okx", "trade", datetime(2024, 1, 1, 0, 0, 5), 100)
    assert rows[0][4:] == (0.2, 1, 0, 2, 1, 12.5, 3, 3600.0)
    assert rows[1][:3] == ("bybit", "book", datetime(2024, 1, 1, 0, 0, 6))
    assert rows[1][3:] == (None,) * 9


def test_bad_input_is_refused(writer: BatchWriter) -> None:
    trade = Trade("okx", "perp", "BTCUSDT", at(1), at(1), 1.0, 1.0, "buy", "1")
    with pytest.raises(StoreError, match="source"):
        writer.add(trade, source="fix")
    with pytest.raises(StoreError, match="cannot store dict"):
        writer.add({"price": 1.0})  # type: ignore[arg-type]
    assert writer.pending == 0


def test_empty_flush_is_a_no_op(writer: BatchWriter) -> None:
    assert writer.flush().rows == 0
    assert writer.flushes == 0


def test_failed_flush_requeues_rows(lake: Lake, writer: BatchWriter) -> None:
    writer.add(Trade("okx", "perp", "BTCUSDT", at(1), at(1), 1.0, 1.0, "buy", "1"))
    lake.con.execute("DROP TABLE lake.trades")  # make the INSERT fail
    with pytest.raises(StoreError, match="flush of 1 rows failed"):
        writer.flush()
    assert writer.pending == 1 and writer.failed_flushes == 1


def test_malformed_event_is_dropped_with_an_error(writer: BatchWriter) -> None:
    bad = msgspec.structs.replace(Trade("okx", "perp", "BTCUSDT", at(1), at(1), 1.0, 1.0, "buy", "1"), price="x")
    writer.add(bad)
    with pytest.raises(StoreError, match="could not convert"):
        writer.flush()
    assert writer.dropped_rows == 1 and writer.pending == 0


async def test_flush_async_lets_adds_continue(lake: Lake, writer: BatchWriter) -> None:
    def trade(i: int) -> Trade:
        return Trade("binance_usdm", "perp", "BTCUSDT", at(i), at(i), 100.0 + i, 1.0, "buy", str(i))

    writer.add_many(trade(i) for i in range(5000))
    task = asyncio.create_task(writer.flush_async())
    await asyncio.sleep(0)  # the swap happened; the write runs in a thread
    for i in range(5000, 5100):  # the loop is free: keep adding during the flush
        writer.add(trade(i))
    first = await task
    assert first.rows == 5000
    assert writer.pending == 100
    second = await writer.flush_async()
    assert second.rows == 100
    n, lo, hi = lake.cursor().execute(
        "SELECT count(*), min(trade_id::INT), max(trade_id::INT) FROM lake.trades").fetchone()
    assert (n, lo, hi) == (5100, 0, 5099)
    assert writer.rows_written == 5100 and writer.flushes == 2


def test_writer_refuses_read_only_lake(lake: Lake) -> None:
    ro = Lake.open(lake.data_dir, read_only=True)
    try:
        with pytest.raises(StoreError, match="read_only=False"):
            BatchWriter(ro)
    finally:
        ro.close()


async def test_flush_async_does_not_block_the_event_loop(writer: BatchWriter) -> None:
    """While 100k rows are converted and committed, a 1 ms ticker keeps ticking."""
    writer.add_many(Trade("okx", "perp", "BTCUSDT", at(i / 1000), at(i / 1000), 1.0, 1.0, "buy", str(i))
                    for i in range(100_000))
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    t0 = time.perf_counter()
    stats = await writer.flush_async()
    flush_s = time.perf_counter() - t0
    done.set()
    await tick
    assert stats.rows == 100_000
    assert len(gaps) > 10  # the loop ran during the flush
    assert max(gaps) < max(0.1, flush_s / 3), f"loop blocked {max(gaps) * 1e3:.0f} ms of a {flush_s * 1e3:.0f} ms flush"
