"""Continuity for OKX ``books`` frames that carry no ``seqId`` (captures from before 2023).

Today every ``books`` frame states ``seqId``/``prevSeqId`` and the ``checksum`` field is fixed
to 0 (deprecated June 2026), so none of this runs on live traffic. Older captures (the 2022
cryptofeed sample) have no sequence ids but a real checksum: a signed CRC32 over the top 25
levels, interleaved ``bid1px:bid1sz:ask1px:ask1sz:bid2px:...`` using the venue's own strings.

``LegacyChecksumChain`` keeps a string copy of each such book, checks every frame's checksum
and hands out a synthetic ``(seq, prev_seq)`` chain for ``Link.PREV``: a frame that verifies
links to the previous one; a frame that does not gets ``prev_seq = BROKEN``, which the book
engine reports as a gap (resync requested) exactly like a broken ``prevSeqId`` chain. A dropped
frame shows up as a checksum mismatch on the next one.
"""

from __future__ import annotations

import heapq
import zlib

from cryptoflow.errors import DecodeError

DEPTH = 25
BROKEN = -2  # a prev_seq no book ever has: the engine sees a broken link


def okx_crc32(bids: dict[float, tuple[str, str]], asks: dict[float, tuple[str, str]]) -> int:
    """OKX's signed CRC32 of the top ``DEPTH`` levels (best first), sides interleaved."""
    top_bids = [bids[p] for p in heapq.nlargest(DEPTH, bids)]
    top_asks = [asks[p] for p in heapq.nsmallest(DEPTH, asks)]
    parts: list[str] = []
    for i in range(max(len(top_bids), len(top_asks))):
        if i < len(top_bids):
            parts.extend(top_bids[i])
        if i < len(top_asks):
            parts.extend(top_asks[i])
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def _apply(side: dict[float, tuple[str, str]], levels: list[list[str]]) -> None:
    for level in levels:
        px, sz = level[0], level[1]
        if float(sz) == 0.0:
            side.pop(float(px), None)
        else:
            side[float(px)] = (px, sz)


class _TextBook:
    __slots__ = ("asks", "bids", "seq")

    def __init__(self) -> None:
        self.bids: dict[float, tuple[str, str]] = {}
        self.asks: dict[float, tuple[str, str]] = {}
        self.seq = 0


class LegacyChecksumChain:
    """Per-connection string books for checksum-verified continuity (one per instrument)."""

    def __init__(self) -> None:
        self._books: dict[str, _TextBook] = {}
        self._last_seq = 0

    def link(
        self, inst_id: str, snapshot: bool, bids: list[list[str]], asks: list[list[str]], checksum: int
    ) -> tuple[int, int]:
        """Apply a frame and return its ``(seq, prev_seq)``; a bad snapshot raises DecodeError."""
        self._last_seq += 1
        seq = self._last_seq
        if snapshot:
            book = _TextBook()
        else:
            found = self._books.get(inst_id)
            if found is None:  # no verified snapshot yet (or lost after a mismatch)
                return seq, BROKEN
            book = found
        _apply(book.bids, bids)
        _apply(book.asks, asks)
        if okx_crc32(book.bids, book.asks) != checksum:
            self._books.pop(inst_id, None)
            if snapshot:
                raise DecodeError("checksum_mismatch", f"{inst_id} snapshot")
            return seq, BROKEN
        prev = -1 if snapshot else book.seq
        book.seq = seq
        self._books[inst_id] = book
        return seq, prev

    def forget(self, inst_id: str) -> None:
        self._books.pop(inst_id, None)
