"""Order-book engine: one engine, three sync modes, one book per venue instrument.

Each venue states how its book stays in sync (``BookSyncSpec`` on every ``BookUpdate``):

- ``REST_DIFF`` (Binance spot/USD-M, Gate): diffs are buffered until a REST snapshot with
  ``lastUpdateId = lid`` arrives; diffs with ``seq < lid + offset`` are dropped; the first
  applied diff must bridge it (``first_seq <= lid + offset <= seq``); after that each diff must
  link to the previous one (``Link.PREV``: ``prev_seq == last seq``; ``Link.NEXT``:
  ``first_seq == last seq + 1``).
- ``STREAM_SEQ`` (Bybit, OKX, Kraken, Deribit): a snapshot in the stream starts the book, diffs
  must link as above; a new snapshot resets the book.
- ``FULL`` (Hyperliquid, Deribit grouped, Binance partial depth): every message replaces the book.

A broken link, or a crossed book after a diff, is a *gap*: that one book is invalidated and
listed in ``pending_resync`` so the feed fetches a new snapshot (REST) or resubscribes
(stream), while every other book carries on. Books count applied updates, gaps and resyncs.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from operator import itemgetter

from sortedcontainers import SortedDict

from cryptoflow.events import BBO, BookSnapshot
from cryptoflow.venues.base import BookSyncSpec, BookUpdate, Link, SyncMode

log = logging.getLogger(__name__)

_qty = itemgetter(1)
_dict_set = dict.__setitem__  # SortedDict is a dict: updating an existing key leaves the order alone


def _has_fast_extremes() -> bool:
    """SortedDict keeps its keys in ``_list`` (a SortedList of sorted chunks ``_lists``): checked
    once, so a future sortedcontainers that changes this falls back to ``peekitem``."""
    d = SortedDict({2.0: 1.0, 1.0: 1.0, 3.0: 1.0})
    try:
        chunks = d._list._lists
        return bool(chunks) and chunks[0][0] == 1.0 and chunks[-1][-1] == 3.0
    except AttributeError:
        return False


_FAST_EXTREMES = _has_fast_extremes()


class BookReset(BookUpdate, gc=False):
    """The collector started a book afresh (its connection opened again): not a venue message.

    Stored next to the venue's updates (``book_deltas``) so a replay resets the book at the same
    point the live engine did; ``BookEngine.apply`` treats it as ``reset``."""


class BookCheckpoint(BookUpdate, gc=False):
    """The collector's whole synced book at one instant (every level, the last id applied): not a
    venue message. Stored in ``book_deltas`` every ``book_checkpoint_interval_s`` so a replay starts
    from the latest one instead of the connection's first snapshot (a REST-synced book can go a day
    without a new one); ``BookEngine.apply`` installs it as the synced book."""


def book_reset(book_key: tuple[str, str, str], symbol: str, sync: BookSyncSpec, ts_recv: int) -> BookReset:
    venue, market, instrument = book_key
    return BookReset(venue, market, symbol, instrument, ts_recv, ts_recv, [], [], False, sync)


class BookState(enum.IntEnum):
    AWAITING_SNAPSHOT = 0  # no valid book: waiting for a snapshot (first one, or after a gap)
    BRIDGING = 1  # REST snapshot applied, waiting for the diff that bridges it
    SYNCED = 2


class Applied(enum.IntEnum):
    """What ``BookEngine.apply`` did with an update."""

    APPLIED = 0
    BUFFERED = 1  # kept until a REST snapshot arrives
    STALE = 2  # older than the book: dropped, harmless
    WAITING = 3  # no snapshot yet in a stream-synced book: dropped until one arrives
    GAP = 4  # continuity broken (or crossed book): book invalidated, resync requested


class OrderBook:
    """One instrument's book: price -> base quantity on each side, kept sorted."""

    __slots__ = (
        "_had_gap",
        "asks",
        "bids",
        "buffer",
        "buffer_overflow",
        "gaps",
        "instrument",
        "market",
        "resyncs",
        "seq",
        "snapshots",
        "stale",
        "state",
        "symbol",
        "sync",
        "ts",
        "updates",
        "venue",
    )

    def __init__(self, venue: str, instrument: str, market: str, symbol: str) -> None:
        self.venue = venue
        self.instrument = instrument
        self.market = market
        self.symbol = symbol
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.seq = -1
        self.ts = 0
        self.sync: BookSyncSpec | None = None  # the venue's sync rule, from the last snapshot
        self.state = BookState.AWAITING_SNAPSHOT
        self.buffer: deque[BookUpdate] = deque()
        self.updates = 0
        self.snapshots = 0
        self.gaps = 0
        self.resyncs = 0
        self.stale = 0
        self.buffer_overflow = 0
        self._had_gap = False

    # ---- reads (cheap after every update) ------------------------------------------------
    @property
    def key(self) -> tuple[str, str, str]:
        return (self.venue, self.market, self.instrument)

    @property
    def valid(self) -> bool:
        return self.state == BookState.SYNCED

    def best_bid(self) -> tuple[float, float] | None:
        return self.bids.peekitem(-1) if self.bids else None

    def best_ask(self) -> tuple[float, float] | None:
        return self.asks.peekitem(0) if self.asks else None

    def top(self, n: int) -> tuple[list[float], list[float], list[float], list[float]]:
        """Best ``n`` levels per side, best first: (bid_prices, bid_qtys, ask_prices, ask_qtys)."""
        bp = self.bids.keys()[-n:][::-1]
        ap = self.asks.keys()[:n]
        bids, asks = self.bids, self.asks
        return bp, [bids[p] for p in bp], ap, [asks[p] for p in ap]

    def snapshot_event(self, ts_recv: int, depth: int) -> BookSnapshot:
        bp, bq, ap, aq = self.top(depth)
        return BookSnapshot(
            venue=self.venue,
            market=self.market,
            symbol=self.symbol,
            ts=self.ts,
            ts_recv=ts_recv,
            bid_prices=bp,
            bid_qtys=bq,
            ask_prices=ap,
            ask_qtys=aq,
            seq=self.seq if self.seq >= 0 else None,
        )

    def checkpoint(self, ts_recv: int) -> BookCheckpoint | None:
        """The whole book as a ``BookCheckpoint`` (None unless synced)."""
        if self.state != BookState.SYNCED or self.sync is None:
            return None
        return BookCheckpoint(self.venue, self.market, self.symbol, self.instrument, self.ts, ts_recv,
                              list(self.bids.items()), list(self.asks.items()), True, self.sync, self.seq)

    def bbo_event(self, ts_recv: int) -> BBO | None:
        if not self.bids or not self.asks:
            return None
        bp, bq = self.bids.peekitem(-1)
        ap, aq = self.asks.peekitem(0)
        return BBO(
            venue=self.venue,
            market=self.market,
            symbol=self.symbol,
            ts=self.ts,
            ts_recv=ts_recv,
            bid_price=bp,
            bid_qty=bq,
            ask_price=ap,
            ask_qty=aq,
            update_id=self.seq if self.seq >= 0 else None,
        )

    # ---- writes ---------------------------------------------------------------------------
    def _replace(self, upd: BookUpdate) -> None:
        # clear + update reuses the sorted containers: half the cost of building new ones, which
        # matters for venues that push a full book every time (Hyperliquid, grouped books)
        # the empty-level check scans the input list in C (itemgetter) rather than the sorted
        # dict's values view, which iterates in Python and cost more than the update itself
        for side, levels in ((self.bids, upd.bids), (self.asks, upd.asks)):
            side.clear()
            side.update(levels)
            if levels and min(map(_qty, levels)) <= 0.0:  # a snapshot listing empty levels: drop them
                for p in [p for p, q in side.items() if q <= 0.0]:
                    del side[p]
        self.seq = upd.seq
        self.ts = upd.ts
        self.sync = upd.sync

    def _apply_levels(self, upd: BookUpdate) -> bool:
        """Apply a diff's levels; False if the book ends up crossed.

        This runs for every diff of every book. A level already in the book only changes its
        quantity: a plain dict store, skipping the sorted key list (``SortedDict.__setitem__``
        is a Python-level call that checks membership first anyway). The crossed check reads
        the extremes from the sorted key lists' chunks, as ``peekitem`` does, without its two
        Python-level calls."""
        bids, asks = self.bids, self.asks
        for p, q in upd.bids:
            if q > 0.0:
                if p in bids:
                    _dict_set(bids, p, q)
                else:
                    bids[p] = q
            else:
                bids.pop(p, None)
        for p, q in upd.asks:
            if q > 0.0:
                if p in asks:
                    _dict_set(asks, p, q)
                else:
                    asks[p] = q
            else:
                asks.pop(p, None)
        self.seq = upd.seq
        self.ts = upd.ts
        if _FAST_EXTREMES:
            bl, al = bids._list._lists, asks._list._lists
            return not (bl and al and bl[-1][-1] >= al[0][0])
        return not (bids and asks and bids.peekitem(-1)[0] >= asks.peekitem(0)[0])

    def invalidate(self) -> None:
        self.state = BookState.AWAITING_SNAPSHOT
        self.gaps += 1
        self._had_gap = True
        self.bids.clear()
        self.asks.clear()


class BookEngine:
    """All books of a process, keyed by (venue, native instrument id)."""

    def __init__(self, max_buffer: int = 20_000) -> None:
        self.books: dict[tuple[str, str, str], OrderBook] = {}  # (venue, market, instrument)
        self.max_buffer = max_buffer
        # Books that need a new snapshot (REST fetch or resubscribe), in the order they broke.
        self.pending_resync: dict[tuple[str, str, str], OrderBook] = {}

    def book(self, venue: str, instrument: str, market: str = "perp") -> OrderBook | None:
        return self.books.get((venue, market, instrument))

    def _book_for(self, upd: BookUpdate) -> OrderBook:
        key = (upd.venue, upd.market, upd.instrument)
        book = self.books.get(key)
        if book is None:
            book = self.books[key] = OrderBook(upd.venue, upd.instrument, upd.market, upd.symbol)
        return book

    def apply(self, upd: BookUpdate) -> Applied:
        book = self._book_for(upd)
        if type(upd) is BookReset:
            self.reset(upd.venue, upd.instrument, upd.market)
            return Applied.WAITING
        if type(upd) is BookCheckpoint:  # a replay: the collector's synced book, exactly
            book._replace(upd)
            book.buffer.clear()
            book.state = BookState.SYNCED
            return Applied.APPLIED
        mode = upd.sync.mode
        if upd.snapshot:
            return self._snapshot(book, upd)
        if mode == SyncMode.FULL:  # a diff on a full-snapshot stream: treat as replacement
            return self._snapshot(book, upd)
        if book.state == BookState.AWAITING_SNAPSHOT:
            if mode == SyncMode.REST_DIFF:
                if len(book.buffer) >= self.max_buffer:
                    book.buffer.popleft()
                    book.buffer_overflow += 1
                book.buffer.append(upd)
                return Applied.BUFFERED
            return Applied.WAITING
        return self._diff(book, upd)

    def _snapshot(self, book: OrderBook, upd: BookUpdate) -> Applied:
        book._replace(upd)
        book.updates += 1
        book.snapshots += 1
        if book._had_gap:
            book.resyncs += 1
            book._had_gap = False
        self.pending_resync.pop(book.key, None)
        if upd.sync.mode == SyncMode.REST_DIFF:
            book.state = BookState.BRIDGING
            pending, book.buffer = book.buffer, deque()
            for d in pending:
                if book.state == BookState.AWAITING_SNAPSHOT:  # gap while replaying: keep the rest
                    book.buffer.append(d)
                else:
                    self._diff(book, d)
        else:
            book.state = BookState.SYNCED
        return Applied.APPLIED

    def _diff(self, book: OrderBook, upd: BookUpdate) -> Applied:
        spec = upd.sync
        if book.state == BookState.BRIDGING:
            target = book.seq + spec.rest_offset  # lastUpdateId (+1)
            if upd.seq < target:
                book.stale += 1
                return Applied.STALE
            if not (upd.first_seq <= target <= upd.seq):
                return self._gap(book, upd, f"first diff {upd.first_seq}..{upd.seq} does not bridge snapshot {target}")
        else:
            linked = upd.prev_seq == book.seq if spec.link == Link.PREV else upd.first_seq == book.seq + 1
            if not linked:
                if upd.seq <= book.seq and upd.seq >= 0:
                    book.stale += 1
                    return Applied.STALE
                return self._gap(
                    book, upd, f"expected link to {book.seq}, got first={upd.first_seq} prev={upd.prev_seq}"
                )
        if not book._apply_levels(upd):
            return self._gap(book, upd, "crossed book after update")
        book.state = BookState.SYNCED
        book.updates += 1
        return Applied.APPLIED

    def _gap(self, book: OrderBook, upd: BookUpdate, why: str) -> Applied:
        log.info("%s %s: book gap (%s); resync requested", book.venue, book.instrument, why)
        book.invalidate()
        if upd.sync.mode == SyncMode.REST_DIFF:
            book.buffer.append(upd)  # may bridge the next snapshot
        self.pending_resync[book.key] = book
        return Applied.GAP

    def reset(self, venue: str, instrument: str, market: str = "perp") -> None:
        """Forget a book (e.g. its connection dropped): the next snapshot starts it afresh."""
        book = self.books.get((venue, market, instrument))
        if book is not None:
            book.state = BookState.AWAITING_SNAPSHOT
            book.buffer.clear()
            book.bids.clear()
            book.asks.clear()

    # ---- totals ------------------------------------------------------------------------------
    def totals(self) -> dict[str, int]:
        t = {"updates": 0, "gaps": 0, "resyncs": 0, "stale": 0, "buffer_overflow": 0}
        for b in self.books.values():
            t["updates"] += b.updates
            t["gaps"] += b.gaps
            t["resyncs"] += b.resyncs
            t["stale"] += b.stale
            t["buffer_overflow"] += b.buffer_overflow
        return t
