"""Idempotent history appends: keys per table, websocket rows respected, resume ranges."""

from __future__ import annotations

import time

import pytest

from cryptoflow.errors import StoreError
from cryptoflow.events import Candle, Funding, OpenInterest, VenueMetric
from cryptoflow.store import BatchWriter, Lake
from cryptoflow.store.idempotent import covered_ranges, insert_missing, missing_ranges
from cryptoflow.store.schema import BackfillRecord

M = 60_000_000_000
T0 = 1_767_225_600_000_000_000  # 2026-01-01


def _candle(i: int, venue: str = "okx", closed: bool = True, close: float = 1.5) -> Candle:
    return Candle(venue, "perp", "BTCUSDT", T0 + (i + 1) * M, T0 + (i + 1) * M, "1m", T0 + i * M,
                  1.0, 2.0, 0.5, close, 10.0, closed=closed)


def _count(lake: Lake, sql: str) -> int:
    return lake.cursor().execute(sql).fetchone()[0]


def test_rerun_inserts_nothing_and_keys_are_per_table(lake: Lake) -> None:
    rows = [_candle(i) for i in range(300)]
    rows += [VenueMetric("okx", "perp", "BTCUSDT", T0 + i * 5 * M, T0, "long_short_ratio", 1.1, "5m")
             for i in range(60)]
    rows += [VenueMetric("okx", "perp", "BTCUSDT", T0 + i * 5 * M, T0, "long_account", 0.52, "5m")
             for i in range(60)]
    rows += [Funding("okx", "perp", "BTCUSDT", T0 + i * 8 * 60 * M, T0, 0.0001) for i in range(3)]
    first = insert_missing(lake, rows)
    assert first == {"candles": 300, "venue_metrics": 120, "funding_rates": 3}
    again = insert_missing(lake, rows[::-1])
    assert again == {"candles": 0, "venue_metrics": 0, "funding_rates": 0}
    # a different period or metric is a different row; the same key at another venue too
    more = [VenueMetric("okx", "perp", "BTCUSDT", T0, T0, "long_short_ratio", 1.1, "1h"),
            _candle(0, venue="bybit")]
    assert insert_missing(lake, more) == {"venue_metrics": 1, "candles": 1}
    assert _count(lake, "SELECT count(*) FROM lake.candles WHERE source = 'rest'") == 301
    assert _count(lake, "SELECT count(*) FROM lake.venue_metrics") == 121


def test_closed_websocket_candles_are_not_duplicated_open_ones_do_not_count(lake: Lake) -> None:
    w = BatchWriter(lake)
    # the websocket stored minute 0 closed (event time a moment after the close) and minute 1 only open
    w.add(Candle("okx", "perp", "BTCUSDT", T0 + M + 300_000_000, T0 + M, "1m", T0, 1.0, 2.0, 0.5, 1.5, 10.0,
                 closed=True))
    w.add(_candle(1, closed=False))
    w.flush()
    assert insert_missing(lake, [_candle(0), _candle(1), _candle(2)]) == {"candles": 2}
    closed = lake.cursor().execute(
        "SELECT epoch_ms(open_time), source FROM lake.candles WHERE closed ORDER BY 1").fetchall()
    assert closed == [(T0 // 1_000_000, "ws"), ((T0 + M) // 1_000_000, "rest"), ((T0 + 2 * M) // 1_000_000, "rest")]


def test_rows_and_their_log_commit_together_and_ranges_merge(lake: Lake) -> None:
    now = time.time_ns()
    logs = [BackfillRecord("okx", "perp", "BTCUSDT", "open_interest", "5m", T0 + a * M, T0 + b * M, 1, now)
            for a, b in ((0, 60), (60, 120), (200, 260))]
    oi = [OpenInterest("okx", "perp", "BTCUSDT", T0 + i * 5 * M, T0, None, 100.0 + i, 1e6) for i in range(12)]
    insert_missing(lake, oi, logs)
    cov = covered_ranges(lake, "okx", "perp", "BTCUSDT", "open_interest", "5m")
    assert cov == [(T0, T0 + 120 * M), (T0 + 200 * M, T0 + 260 * M)]
    assert covered_ranges(lake, "okx", "perp", "BTCUSDT", "open_interest", "1h") == []
    assert missing_ranges(T0 - M, T0 + 300 * M, cov) == [
        (T0 - M, T0), (T0 + 120 * M, T0 + 200 * M), (T0 + 260 * M, T0 + 300 * M)]
    assert missing_ranges(T0 + 10 * M, T0 + 100 * M, cov) == []


def test_a_bad_row_fails_the_whole_commit(lake: Lake) -> None:
    bad = Candle("okx", "perp", "BTCUSDT", T0, T0, "1m", T0, 1.0, 2.0, 0.5, "x", 10.0)  # type: ignore[arg-type]
    log = BackfillRecord("okx", "perp", "BTCUSDT", "candles", "1m", T0, T0 + M, 1, T0)
    with pytest.raises(Exception):  # noqa: B017 - Arrow's own error type; what matters is nothing landed
        insert_missing(lake, [_candle(5), bad], [log])
    assert _count(lake, "SELECT count(*) FROM lake.candles") == 0
    assert covered_ranges(lake, "okx", "perp", "BTCUSDT", "candles", "1m") == []


def test_read_only_lake_is_refused(lake: Lake) -> None:
    ro = Lake.open(lake.data_dir, read_only=True)
    try:
        with pytest.raises(StoreError, match="read_only=False"):
            insert_missing(ro, [_candle(0)])
    finally:
        ro.close()
