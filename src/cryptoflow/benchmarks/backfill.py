"""Backfill throughput: N days of 1m candles from the simulator (own process) into a fresh lake.

Reported (same run):

- ``rows_per_s``: the first backfill (REST -> parse -> idempotent insert) with the venue's
  documented rate limits respected, as against the real venue (Binance klines cost 10 weight per
  1,500 candles: the limit, not the pipeline, sets this figure);
- ``unlimited_rows_per_s``: the same backfill into another fresh lake with the client's budget
  lifted, i.e. what the pipeline itself can do;
- ``requests`` and rows per request;
- ``rerun_requests`` / ``rerun_new_rows``: a rerun over the same range (both must be 0: the resume
  log covers everything) and ``refetch_new_rows`` of a forced refetch with ``resume=False`` (must be
  0: the anti-join keeps rows unique), with the stored row count checked against the minutes.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptoflow import aio
from cryptoflow.collector.backfill import Backfiller
from cryptoflow.feed.rest import RestClient
from cryptoflow.store import Lake
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import Endpoints

MINUTE_NS = 60_000_000_000


async def _run(days: float, venue: str, symbols: list[str], data_dir: Path) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cryptoflow.cli", "simulate", "--json", "--rate", "0.2", "--venues", venue,
        "--symbols", ",".join(symbols), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        eps = {v: Endpoints(ws=e["ws"], rest=e["rest"]) for v, e in json.loads(line).items()}
        v = get_venue(venue, endpoints=eps[venue])
        lake = Lake.open(data_dir / "main")
        try:
            now = time.time_ns() // MINUTE_NS * MINUTE_NS
            since = now - int(days * 86_400e9)
            out: dict[str, Any] = {"venue": venue, "symbols": len(symbols), "days": days}
            free = Lake.open(data_dir / "unlimited")
            try:
                client = RestClient()
                client.set_limit(venue, 1e9, 1e9)  # explicit: the venue module's budget does not apply
                bf = Backfiller(free, {venue: v}, concurrency=len(symbols), client=client)
                tasks, _ = bf.plan(symbols, ["candles"], now - int(days * 86_400e9), now, interval="1m",
                                   markets=("perp", "spot"))
                t0 = time.perf_counter()
                rep = await bf.run(tasks)
                await client.close()
                out["unlimited_rows_per_s"] = round(rep.rows_fetched / (time.perf_counter() - t0))
            finally:
                free.close()
            for label, resume in (("first", True), ("rerun", True), ("refetch", False)):
                bf = Backfiller(lake, {venue: v}, concurrency=len(symbols), resume=resume)
                tasks, _ = bf.plan(symbols, ["candles"], since, now, interval="1m", markets=("perp", "spot"))
                t0 = time.perf_counter()
                rep = await bf.run(tasks)
                secs = time.perf_counter() - t0
                if rep.failed:
                    raise RuntimeError(f"{label} backfill failed: {rep.failed[0].error}")
                if label == "first":
                    out |= {
                        "rows": rep.rows_fetched, "new_rows": rep.rows_new, "seconds": round(secs, 2),
                        "rows_per_s": round(rep.rows_fetched / secs), "requests": rep.requests,
                        "rows_per_request": round(rep.rows_fetched / max(rep.requests, 1), 1),
                        "throttled": rep.throttled,
                    }
                else:
                    out |= {f"{label}_requests": rep.requests, f"{label}_new_rows": rep.rows_new,
                            f"{label}_seconds": round(secs, 2)}
            cur = lake.cursor()
            stored, distinct = cur.execute(
                "SELECT count(*), count(DISTINCT (symbol, open_time)) FROM lake.candles WHERE venue = ?", [venue]
            ).fetchone()
            out |= {"stored_rows": stored, "duplicates": stored - distinct,
                    "expected_rows_max": int(days * 1440) * len(symbols)}
        finally:
            lake.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
    return out


def run(days: float = 30.0, venue: str = "binance_usdm", symbols: list[str] | None = None) -> dict[str, Any]:
    syms = symbols or ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    with tempfile.TemporaryDirectory(prefix="cryptoflow-backfill-") as tmp:
        return aio.run(_run(days, venue, syms, Path(tmp)))
