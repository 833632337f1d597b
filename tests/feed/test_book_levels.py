"""Order-book engine hot path: level updates keep the sorted order, crossed diffs are gaps."""

from __future__ import annotations

from cryptoflow.feed import book as book_mod
from cryptoflow.feed.book import Applied, BookEngine
from cryptoflow.venues.base import BookSyncSpec, BookUpdate, Link, SyncMode

SEQ = BookSyncSpec(SyncMode.STREAM_SEQ, Link.NEXT)


def _upd(bids: list[tuple[float, float]], asks: list[tuple[float, float]], seq: int, snapshot: bool = False,
         sync: BookSyncSpec = SEQ) -> BookUpdate:
    return BookUpdate("okx", "perp", "BTCUSDT", "BTC-USDT-SWAP", seq, seq + 1, bids, asks, snapshot, sync,
                      seq=seq, first_seq=seq, prev_seq=seq - 1)


def _synced() -> BookEngine:
    eng = BookEngine()
    snap = _upd([(100.0, 1.0), (99.0, 2.0), (98.0, 3.0)], [(101.0, 1.0), (102.0, 2.0)], 10, snapshot=True)
    assert eng.apply(snap) is Applied.APPLIED
    return eng


def test_the_fast_extremes_path_is_the_one_in_use() -> None:
    # sortedcontainers 2.x keeps SortedDict keys in _list._lists; if that changes the slow path runs
    assert book_mod._FAST_EXTREMES is True


def test_quantity_changes_new_levels_and_removals_keep_the_book_sorted() -> None:
    eng = _synced()
    diff = _upd([(99.0, 5.0), (99.5, 0.5), (98.0, 0.0)], [(101.0, 0.0), (101.5, 4.0)], 11)
    assert eng.apply(diff) is Applied.APPLIED
    b = eng.book("okx", "BTC-USDT-SWAP")
    assert b is not None
    assert b.top(5) == ([100.0, 99.5, 99.0], [1.0, 0.5, 5.0], [101.5, 102.0], [4.0, 2.0])
    assert b.best_bid() == (100.0, 1.0) and b.best_ask() == (101.5, 4.0)
    assert list(b.bids.keys()) == [99.0, 99.5, 100.0]  # the sorted key list knows every level
    assert b.seq == 11 and b.valid


def test_a_diff_that_crosses_the_book_is_a_gap() -> None:
    eng = _synced()
    assert eng.apply(_upd([(101.0, 1.0)], [], 11)) is Applied.GAP  # bid at the best ask
    b = eng.book("okx", "BTC-USDT-SWAP")
    assert b is not None and not b.valid and b.gaps == 1


def test_a_diff_that_empties_one_side_is_not_a_gap() -> None:
    eng = _synced()
    assert eng.apply(_upd([], [(101.0, 0.0), (102.0, 0.0)], 11)) is Applied.APPLIED
    b = eng.book("okx", "BTC-USDT-SWAP")
    assert b is not None and b.valid and b.best_ask() is None and b.best_bid() == (100.0, 1.0)


def test_the_slow_path_agrees(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(book_mod, "_FAST_EXTREMES", False)
    eng = _synced()
    assert eng.apply(_upd([(99.5, 1.0)], [(100.5, 1.0)], 11)) is Applied.APPLIED
    assert eng.apply(_upd([], [(99.0, 1.0)], 12)) is Applied.GAP
