"""Converters from other tools' capture formats into ours, so every sample replays.

Formats found in ../shared/venue-samples/:
- cryptofeed raw capture (``*.ws.N.N``, ``*.http.N.N``, ``*.0``): lines ``<url> <-> <ts>`` (open),
  ``<url> <- <ts>: <json>`` (sent), ``<ts>: <json>`` (received), ``<url> -> <ts>: <json>``
  (REST response); ``<ts>`` in float epoch seconds. Files of one session (same name prefix)
  are merged in time order so REST depth snapshots interleave with the diffs they sync.
- ccxt static fixtures (``*.recv.jsonl`` + ``*.sent.jsonl``): one frame per line, no times;
  sent frames first, then received, on a synthetic 1 ms clock.
- nautilus single-message fixtures (``*.json``, pretty-printed): one frame.
- Bybit public history archives (``*.data.zip``): one frame per line inside the zip.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

import orjson

from cryptoflow.errors import ConfigError
from cryptoflow.feed.capture import CaptureRecord

# Synthetic clock for formats that carry no receive time: 2020-01-01, 1 ms apart.
SYNTHETIC_T0 = 1_577_836_800_000_000_000
SYNTHETIC_STEP = 1_000_000

SAMPLE_FOLDER_VENUE = {
    "binance_spot": "binance_spot",
    "binance_usdm": "binance_usdm",
    "bybit": "bybit",
    "okx": "okx",
    "kraken_futures": "kraken_futures",
    "gateio_futures": "gateio",
    "deribit": "deribit",
    "hyperliquid": "hyperliquid",
}

_OPEN = re.compile(r"^(\S+) <-> ([0-9.]+)\s*$")
_SENT = re.compile(r"^(\S+) <- ([0-9.]+): (.*)$")
_REST = re.compile(r"^(\S+) -> ([0-9.]+): (.*)$")
_RECV = re.compile(r"^([0-9.]+): (.*)$")


def _sec_to_ns(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])


def _compact(text: str) -> str:
    """Re-serialise a JSON document compactly (values unchanged); non-JSON text is kept."""
    try:
        return orjson.dumps(orjson.loads(text)).decode()
    except orjson.JSONDecodeError:
        return text


def convert_cryptofeed(path: Path, venue: str) -> list[CaptureRecord]:
    out: list[CaptureRecord] = []
    url = ""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip() or line.startswith("configuration: "):  # cryptofeed's own settings line
            continue
        if m := _OPEN.match(line):
            url = m.group(1)
            out.append(CaptureRecord(t=_sec_to_ns(m.group(2)), venue=venue, kind="open", url=url))
        elif m := _SENT.match(line):
            out.append(
                CaptureRecord(t=_sec_to_ns(m.group(2)), venue=venue, kind="sent", url=m.group(1), data=m.group(3))
            )
        elif m := _REST.match(line):
            out.append(
                CaptureRecord(t=_sec_to_ns(m.group(2)), venue=venue, kind="rest", url=m.group(1), data=m.group(3))
            )
        elif m := _RECV.match(line):
            out.append(CaptureRecord(t=_sec_to_ns(m.group(1)), venue=venue, kind="ws", url=url, data=m.group(2)))
        else:
            raise ConfigError(f"{path}: line is not in cryptofeed's raw capture format: {line[:80]!r}")
    return out


def convert_ccxt(recv: Path, venue: str, t0: int = SYNTHETIC_T0) -> list[CaptureRecord]:
    sent = recv.with_name(recv.name.replace(".recv.jsonl", ".sent.jsonl"))
    out: list[CaptureRecord] = []
    t = t0
    for kind, p in (("sent", sent), ("ws", recv)):
        if not p.exists():
            continue
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(CaptureRecord(t=t, venue=venue, kind=kind, data=line.strip()))
                t += SYNTHETIC_STEP
    return out


def convert_single_json(path: Path, venue: str, t0: int = SYNTHETIC_T0) -> list[CaptureRecord]:
    return [CaptureRecord(t=t0, venue=venue, kind="ws", data=_compact(path.read_text(encoding="utf-8")))]


def convert_zip_lines(path: Path, venue: str, t0: int = SYNTHETIC_T0) -> list[CaptureRecord]:
    out: list[CaptureRecord] = []
    t = t0
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            for line in z.read(name).decode("utf-8").splitlines():
                if line.strip():
                    out.append(CaptureRecord(t=t, venue=venue, kind="ws", data=line.strip()))
                    t += SYNTHETIC_STEP
    return out


def sample_groups(folder: Path) -> dict[str, list[Path]]:
    """Files of a venue sample folder grouped into replayable sessions (name -> files)."""
    groups: dict[str, list[Path]] = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.name == "SOURCE.txt" or p.name.endswith(".sent.jsonl"):
            continue
        rel = p.relative_to(folder).as_posix()
        # cryptofeed__BINANCE_FUTURES.{ws.1.0,http.0.0,0} form one session
        key = rel.split(".")[0] if p.name.startswith("cryptofeed__") else rel
        groups.setdefault(key, []).append(p)
    return groups


def convert_files(paths: Iterable[Path], venue: str) -> list[CaptureRecord]:
    """Convert files of one session, merged in time order (stable for equal times)."""
    records: list[CaptureRecord] = []
    for p in paths:
        name = p.name
        if name.startswith("cryptofeed__"):
            records.extend(convert_cryptofeed(p, venue))
        elif name.endswith(".recv.jsonl"):
            records.extend(convert_ccxt(p, venue))
        elif name.endswith(".data.zip"):
            records.extend(convert_zip_lines(p, venue))
        elif name.endswith(".json"):
            records.extend(convert_single_json(p, venue))
        else:
            raise ConfigError(
                f"{p}: unknown sample format; accepted: cryptofeed raw (cryptofeed__*), "
                "*.recv.jsonl (ccxt), *.json (single frame), *.data.zip (Bybit archive)"
            )
    records.sort(key=lambda r: r.t)
    return records


def venue_for_folder(folder: Path) -> str:
    try:
        return SAMPLE_FOLDER_VENUE[folder.name]
    except KeyError:
        raise ConfigError(
            f"cannot tell the venue of sample folder {folder.name!r}; known: {', '.join(SAMPLE_FOLDER_VENUE)}"
        ) from None
