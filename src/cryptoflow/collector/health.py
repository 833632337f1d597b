"""Collector health: per venue and stream counts, freshness, reconnects, errors, write latency.

Kept live in memory, written every couple of seconds to ``<data_dir>/health.json`` (atomic
rename) for ``cryptoflow status`` and the MCP server in another process, and stored
periodically in the ``health`` table for history.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptoflow.store.schema import HealthRecord

HEALTH_FILE = "health.json"


@dataclass
class StreamHealth:
    records: int = 0
    last_event_ns: int = 0
    window: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=120))  # (mono, records)

    def per_minute(self, now: float) -> float:
        w = self.window
        while w and now - w[0][0] > 60.0:
            w.popleft()
        if not w:
            return 0.0
        t0, r0 = w[0]
        return (self.records - r0) * 60.0 / max(now - t0, 1.0)


@dataclass
class Health:
    started_mono: float = field(default_factory=time.monotonic)
    started_ns: int = field(default_factory=time.time_ns)
    streams: dict[tuple[str, str], StreamHealth] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)  # dropped_backpressure, duplicates ...
    write_latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=120))
    rows_written: int = 0

    def stream(self, venue: str, kind: str) -> StreamHealth:
        key = (venue, kind)
        s = self.streams.get(key)
        if s is None:
            s = self.streams[key] = StreamHealth()
        return s

    def tick(self) -> None:
        now = time.monotonic()
        for s in self.streams.values():
            s.window.append((now, s.records))

    def report(self, venues: dict[str, dict[str, Any]], queue_depth: int) -> dict[str, Any]:
        now, now_ns = time.monotonic(), time.time_ns()
        lat = sorted(self.write_latency_ms)
        streams = [
            {
                "venue": v,
                "stream": k,
                "records": s.records,
                "records_per_min": round(s.per_minute(now), 1),
                "last_event_age_s": round((now_ns - s.last_event_ns) / 1e9, 3) if s.last_event_ns else None,
            }
            for (v, k), s in sorted(self.streams.items())
        ]
        return {
            "pid": os.getpid(),
            "updated_ns": now_ns,
            "started_ns": self.started_ns,
            "uptime_s": round(now - self.started_mono, 1),
            "rows_written": self.rows_written,
            "queue_depth": queue_depth,
            "write_latency_ms_p50": lat[len(lat) // 2] if lat else None,
            "write_latency_ms_max": lat[-1] if lat else None,
            "counters": dict(self.counters),
            "venues": venues,
            "streams": streams,
        }


def health_records(report: dict[str, Any]) -> list[HealthRecord]:
    """A health report as rows of the store's ``health`` table (per stream, per venue, overall)."""
    ts = report["updated_ns"]
    rows = [
        HealthRecord(s["venue"], s["stream"], ts, records=s["records"], last_event_age_s=s["last_event_age_s"])
        for s in report["streams"]
    ]
    for vid, v in report["venues"].items():
        rows.append(
            HealthRecord(
                vid,
                "connection",
                ts,
                reconnects=v["reconnects"],
                decode_errors=sum(v["decode_errors"].values()),
                gaps=v["gaps"],
                resyncs=v["resyncs"],
            )
        )
    rows.append(
        HealthRecord(
            "*",
            "collector",
            ts,
            records=report["rows_written"],
            write_latency_ms=report["write_latency_ms_p50"],
            queue_depth=report["queue_depth"],
            uptime_s=report["uptime_s"],
        )
    )
    return rows


def write_health(data_dir: Path, report: dict[str, Any]) -> None:
    path = data_dir / HEALTH_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report))
    os.replace(tmp, path)


def read_health(data_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((data_dir / HEALTH_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
