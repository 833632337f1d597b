"""Replay a capture through the live decode path (venue decoders + book engine) and report.

The report is what a user checks after recording a session: did every frame decode, did
every book stay in sync, and does the venue's own top-of-book stream agree with the book we
maintained at the same update id (Binance bookTicker ``u``)?
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from cryptoflow.events import BBO, EVENT_KINDS, kind_of
from cryptoflow.feed.book import Applied, BookEngine, OrderBook
from cryptoflow.feed.capture import CaptureRecord
from cryptoflow.symbols import InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import BookUpdate, Control, FrameDecoder, Venue

_MAX_PENDING_BBO = 10_000


class _BboChecker:
    """Compares venue BBO frames with the maintained book at the same update id."""

    def __init__(self) -> None:
        self.matched = 0
        self.mismatched = 0
        self.unchecked = 0
        self._pending: dict[tuple[str, str, str], dict[int, BBO]] = {}

    def on_bbo(self, bbo: BBO, book: OrderBook | None) -> None:
        if bbo.update_id is None:
            return
        if book is not None and book.valid and book.seq == bbo.update_id:
            self._compare(bbo, book)
            return
        if book is not None and book.valid and book.seq > bbo.update_id:
            self.unchecked += 1  # the book already moved past it in an aggregated diff
            return
        pend = self._pending.setdefault((bbo.venue, bbo.market, bbo.symbol), {})
        if len(pend) < _MAX_PENDING_BBO:
            pend[bbo.update_id] = bbo

    def on_book(self, book: OrderBook) -> None:
        pend = self._pending.get((book.venue, book.market, book.symbol))
        if not pend:
            return
        for uid in [u for u in pend if u <= book.seq]:
            bbo = pend.pop(uid)
            if uid == book.seq:
                self._compare(bbo, book)
            else:
                self.unchecked += 1

    def _compare(self, bbo: BBO, book: OrderBook) -> None:
        if book.best_bid() == (bbo.bid_price, bbo.bid_qty) and book.best_ask() == (bbo.ask_price, bbo.ask_qty):
            self.matched += 1
        else:
            self.mismatched += 1


class Replayer:
    """Feeds capture records through decoders and a book engine, counting everything."""

    def __init__(
        self, registry: InstrumentRegistry | None = None, on_event: Callable[[Any], None] | None = None
    ) -> None:
        self.registry = registry if registry is not None else InstrumentRegistry.bundled()
        self.engine = BookEngine()
        self.on_event = on_event
        self.venues: dict[str, Venue] = {}
        self.decoders: dict[tuple[str, str], FrameDecoder] = {}  # (venue, connection url)
        self.frames = 0
        self.events: Counter[str] = Counter({k: 0 for k in EVENT_KINDS})
        self.controls: Counter[str] = Counter()
        self.rest_errors: Counter[str] = Counter()
        self.bbo = _BboChecker()
        # BBO events keyed to the book they belong to: (venue, market, symbol) -> book
        self._book_by_symbol: dict[tuple[str, str, str], OrderBook] = {}

    def _venue(self, venue_id: str, url: str) -> tuple[Venue, FrameDecoder]:
        v = self.venues.get(venue_id)
        if v is None:
            v = self.venues[venue_id] = get_venue(venue_id, registry=self.registry)
        key = (venue_id, url)
        d = self.decoders.get(key)
        if d is None:
            d = self.decoders[key] = v.decoder_for_url(url or None)
        return v, d

    def decoder(self, venue_id: str) -> FrameDecoder:
        """The first decoder made for a venue (a replay usually has one connection per venue)."""
        return next(d for (v, _), d in self.decoders.items() if v == venue_id)

    def feed(self, records: Iterable[CaptureRecord]) -> None:
        for rec in records:
            self.feed_one(rec)

    def feed_one(self, rec: CaptureRecord) -> None:
        if rec.kind not in ("ws", "rest"):
            return
        venue, decoder = self._venue(rec.venue, rec.url if rec.kind == "ws" else "")
        self.frames += 1
        if rec.kind == "ws":
            items = decoder.decode(rec.data.encode(), rec.t)
        else:
            instruments = venue.parse_instruments(rec.url, rec.data.encode())
            if instruments:
                self.registry.add(instruments)
                return
            try:
                items = venue.parse_rest(rec.url, rec.data.encode(), rec.t)
            except Exception as e:  # a bad REST body is counted like a bad frame
                reason = getattr(e, "reason", None) or type(e).__name__
                decoder.errors.record("rest_" + reason, str(e), rec.data)
                return
        for item in items:
            self._item(item)

    def _item(self, item: Any) -> None:
        if isinstance(item, BookUpdate):
            result = self.engine.apply(item)
            book = self.engine.book(item.venue, item.instrument, item.market)
            assert book is not None
            self._book_by_symbol[(item.venue, item.market, item.symbol)] = book
            if result == Applied.APPLIED:
                self.events["book"] += 1
                self.bbo.on_book(book)
            return
        if isinstance(item, Control):
            self.controls[item.kind] += 1
            return
        self.events[kind_of(item)] += 1
        if isinstance(item, BBO):
            self.bbo.on_bbo(item, self._book_by_symbol.get((item.venue, item.market, item.symbol)))
        if self.on_event is not None:
            self.on_event(item)

    def report(self) -> dict[str, Any]:
        errors: Counter[str] = Counter()
        unknown = 0
        for d in self.decoders.values():
            errors.update(d.errors.counts)
            unknown += d.unknown_frames
        totals = self.engine.totals()
        return {
            "frames": self.frames,
            "events": dict(self.events),
            "decode_errors": dict(errors),
            "unknown_frames": unknown,
            "controls": dict(self.controls),
            "book": {
                "updates": totals["updates"],
                "gaps": totals["gaps"],
                "resyncs": totals["resyncs"],
                "stale_dropped": totals["stale"],
                "books": len(self.engine.books),
                "valid_books": sum(1 for b in self.engine.books.values() if b.valid),
            },
            "bbo_check": {
                "matched": self.bbo.matched,
                "mismatched": self.bbo.mismatched,
                "unchecked": self.bbo.unchecked,
            },
        }


def replay(records: Iterable[CaptureRecord], registry: InstrumentRegistry | None = None) -> dict[str, Any]:
    """Replay records and return the report (see ``cryptoflow replay --json``)."""
    r = Replayer(registry)
    r.feed(records)
    return r.report()
