"""Capture files: raw frames as received, for replay through the live code path.

JSON Lines (gzip when the name ends in ``.gz``), one object per line::

    {"t": <local receive time, int ns>, "venue": "binance_usdm",
     "kind": "ws" | "sent" | "rest" | "open", "url": "<for rest/open>", "data": "<raw text>"}

A ``rest`` line whose URL is a depth endpoint is the book snapshot that the following diffs
sync against, exactly as the collector fetched it.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Literal

import msgspec

from cryptoflow.errors import ConfigError

RecordKind = Literal["ws", "sent", "rest", "open"]


class CaptureRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    t: int
    venue: str
    kind: str
    data: str = ""
    url: str = ""


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(CaptureRecord)
_KINDS = frozenset(("ws", "sent", "rest", "open"))


def _open(path: Path, mode: str) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, mode + "b")  # type: ignore[return-value]
    return open(path, mode + "b")


def read_capture(path: str | Path) -> Iterator[CaptureRecord]:
    """Records of a capture file, in file order. Bad lines raise ConfigError with the line number."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"capture file {p} does not exist")
    with _open(p, "r") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = _decoder.decode(line)
            except msgspec.DecodeError as e:
                raise ConfigError(f"{p}:{n}: not a capture record ({e}); expected {{t, venue, kind, data, url}}") from e
            if rec.kind not in _KINDS:
                raise ConfigError(f"{p}:{n}: kind {rec.kind!r} is not one of {sorted(_KINDS)}")
            yield rec


def write_capture(path: str | Path, records: Iterable[CaptureRecord]) -> int:
    """Write records to ``path``; returns the count."""
    n = 0
    with CaptureWriter(path) as w:
        for r in records:
            w.write(r)
            n += 1
    return n


class CaptureWriter:
    """Appends records as they happen (the collector's ``--capture`` option)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        raw = _open(self.path, "a")
        self._f: IO[bytes] = raw if self.path.suffix == ".gz" else io.BufferedWriter(raw)  # type: ignore[arg-type]

    def write(self, rec: CaptureRecord) -> None:
        self._f.write(_encoder.encode(rec))
        self._f.write(b"\n")

    def record(self, t: int, venue: str, kind: RecordKind, data: str | bytes, url: str = "") -> None:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes | bytearray | memoryview) else data
        self.write(CaptureRecord(t=t, venue=venue, kind=kind, data=text, url=url))

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
