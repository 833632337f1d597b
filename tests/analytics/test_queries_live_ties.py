"""Rows that share the venue's ms timestamp: every "latest" (and "first") in ``queries_live`` is
one whole row, the newest by (ts_ns, sequence if the table has one, ts_recv).

Each tie is written in both physical orders (newest row in the first file for one venue, in the
second file for the other) so that a query that picks by storage order fails for one of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cryptoflow.analytics import queries_live as ql
from cryptoflow.events import BBO, BookSnapshot, Event, Funding, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.store import BatchWriter, Lake, queries

T0_NS = 1_704_067_200_000_000_000  # 2024-01-01 00:00:00 UTC
T0 = datetime(2024, 1, 1)
MS = 1_000_000
TS = T0_NS + 10_000 * MS  # the shared exchange time (ms resolution, as venues stamp)
EARLY, LATE = TS + 3 * MS, TS + 7 * MS  # receive times of the two tied rows
VENUES = ("binance_usdm", "okx")  # binance: newest row stored first; okx: newest stored last
SINCE = T0
END = T0 + timedelta(hours=1)
HOUR_NS = 3_600_000_000_000


def _rows(venue: str, recv: int, newest: bool) -> list[Event]:
    """One row of each stream for ``venue`` at ``TS``; ``newest`` picks the values of the later one.
    The later row leaves optional fields None where the earlier has them, so a per-column pick that
    skips NULLs shows up as a value of the earlier row."""
    k = (venue, "perp", "BTCUSDT", TS, recv)
    if newest:
        return [
            Funding(*k, 0.0003, None, None, 1.0),
            OpenInterest(*k, None, 1300.0, None),
            MarkPrice(*k, 103.0, None),
            Ticker24h(*k, 103.0, volume=None, quote_volume=9e6, price_change_pct=None),
            BBO(*k, 103.0, 1.0, 104.0, 1.0),
            BookSnapshot(*k, [103.0], [3.0], [104.0], [1.0]),
            Trade(*k, 103.0, 1.0, "buy", f"{venue}-2"),
        ]
    return [
        Funding(*k, 0.0001, 0.0002, None, 8.0),
        OpenInterest(*k, 10.0, 1100.0, 1.1e5),
        MarkPrice(*k, 101.0, 100.0),
        Ticker24h(*k, 101.0, volume=5.0, quote_volume=5e5, price_change_pct=1.5),
        BBO(*k, 101.0, 1.0, 102.0, 1.0),
        BookSnapshot(*k, [101.0], [1.0], [102.0], [1.0]),
        Trade(*k, 101.0, 1.0, "sell", f"{venue}-1"),
    ]


@pytest.fixture(scope="module")
def tied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    root: Path = tmp_path_factory.mktemp("ties") / "data"
    with Lake.open(root) as lake:
        w = BatchWriter(lake)
        first = [*_rows(VENUES[0], LATE, True), *_rows(VENUES[1], EARLY, False)]
        second = [*_rows(VENUES[0], EARLY, False), *_rows(VENUES[1], LATE, True)]
        # ETHUSDT: the venue's sequence outranks arrival (update 6 arrived before update 5)
        eth = ("binance_usdm", "perp", "ETHUSDT", TS)
        seq_first = [BBO(*eth, EARLY, 11.0, 1.0, 12.0, 1.0, 6),
                     BookSnapshot(*eth, EARLY, [11.0], [1.0], [12.0], [1.0], 6)]
        seq_second = [BBO(*eth, LATE, 10.0, 1.0, 13.0, 1.0, 5),
                      BookSnapshot(*eth, LATE, [10.0], [1.0], [13.0], [1.0], 5)]
        for batch in (first + seq_first, second + seq_second):  # two commits, two files per table
            w.add_many(batch)
            w.flush()
    lake = Lake.open(root, read_only=True)
    yield lake
    lake.close()


def _by_venue(rows: list[dict]) -> dict[str, dict]:  # type: ignore[type-arg]
    assert sorted(r["venue"] for r in rows) == sorted(VENUES)
    return {r["venue"]: r for r in rows}


@pytest.mark.parametrize("venue", VENUES)
def test_latest_rows_are_the_last_received(tied: Lake, venue: str) -> None:
    got = {t: _by_venue(ql.latest(tied, t, SINCE, symbols=["BTCUSDT"]))[venue] for t in sorted(ql.LATEST_TABLES)}
    assert {t: r["ts_recv"] for t, r in got.items()} == dict.fromkeys(got, T0 + timedelta(microseconds=10_007_000))
    f = got["funding_rates"]
    assert (f["rate"], f["predicted_rate"], f["interval_hours"]) == (0.0003, None, 1.0)
    o = got["open_interest"]
    assert (o["oi_contracts"], o["oi_base"], o["oi_notional"]) == (None, 1300.0, None)
    assert (got["mark_prices"]["mark_price"], got["mark_prices"]["index_price"]) == (103.0, None)
    t = got["tickers_24h"]
    assert (t["last"], t["volume"], t["quote_volume"], t["price_change_pct"]) == (103.0, None, 9e6, None)
    assert (got["bbo"]["bid_price"], got["bbo"]["ask_price"]) == (103.0, 104.0)
    assert got["book_snapshots"]["bid_qtys"] == [3.0]


def test_sequence_outranks_arrival_as_in_the_store(tied: Lake) -> None:
    (bbo,) = ql.latest(tied, "bbo", SINCE, symbols=["ETHUSDT"])
    (book,) = ql.latest(tied, "book_snapshots", SINCE, symbols=["ETHUSDT"])
    assert (bbo["update_id"], bbo["bid_price"], bbo["ask_price"], book["seq"]) == (6, 11.0, 12.0, 6)
    (store,) = queries.latest_bbo(tied, "ETHUSDT")
    assert (store["bid_price"], store["ask_price"]) == (bbo["bid_price"], bbo["ask_price"])
    (agg,) = ql.history_agg(tied, "bbo", SINCE, END, HOUR_NS, symbol="ETHUSDT", venues=None, market=None,
                            after_ns=0, skip=0, limit=10)
    assert (agg["bid"], agg["ask"]) == (11.0, 12.0)


def _agg(lake: Lake, stream: str) -> dict[str, dict]:  # type: ignore[type-arg]
    rows = ql.history_agg(lake, stream, SINCE, END, HOUR_NS, symbol="BTCUSDT", venues=None, market=None,
                          after_ns=0, skip=0, limit=100)
    return _by_venue(rows)


@pytest.mark.parametrize("venue", VENUES)
def test_aggregated_buckets_close_on_one_row(tied: Lake, venue: str) -> None:
    f = _agg(tied, "funding")[venue]
    assert (f["rate"], f["predicted_rate"], f["interval_hours"], f["samples"]) == (0.0003, None, 1.0, 2)
    o = _agg(tied, "open_interest")[venue]
    assert (o["oi_base"], o["oi_notional"], o["oi_contracts"]) == (1300.0, None, None)
    m = _agg(tied, "mark_prices")[venue]
    assert (m["mark_price"], m["index_price"], m["premium_bps"]) == (103.0, None, None)
    t = _agg(tied, "tickers")[venue]
    assert (t["last"], t["volume"], t["quote_volume"], t["price_change_pct"]) == (103.0, None, 9e6, None)
    b = _agg(tied, "bbo")[venue]
    assert (b["bid"], b["ask"], b["updates"]) == (103.0, 104.0, 2)
    k = _agg(tied, "book_snapshots")[venue]
    assert (k["mid"], k["imbalance_10"]) == (103.5, pytest.approx(0.5))  # (3 - 1) / (3 + 1) of the late book


def test_first_open_interest_is_the_first_received(tied: Lake) -> None:
    rows = _by_venue(ql.oi_first_since(tied, "BTCUSDT", SINCE))
    for r in rows.values():
        assert (r["oi_base"], r["oi_notional"], r["oi_contracts"]) == (1100.0, 1.1e5, 10.0)
        assert r["ts"] == T0 + timedelta(seconds=10)


def test_trade_summary_last_and_first_price_follow_arrival(tied: Lake) -> None:
    rows = _by_venue(ql.trade_summary(tied, "BTCUSDT", SINCE, END))
    assert {v: (r["first_price"], r["last_price"]) for v, r in rows.items()} == dict.fromkeys(VENUES, (101.0, 103.0))
