"""``cryptoflow demo``: the whole system offline in one command.

Starts the simulator for all eight venues and the default symbols on loopback, collects from
it through the real connection code into a fresh data directory, shows a live dashboard, and
ends with a summary and a few example queries run on what was stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from cryptoflow.collector.config import load_config
from cryptoflow.collector.run import CollectorRuntime
from cryptoflow.sim.runner import FaultSpec, Simulator
from cryptoflow.store import Lake, queries
from cryptoflow.venues.base import Endpoints


def _fmt_price(p: float | None) -> str:
    if p is None:
        return "-"
    return f"{p:,.2f}" if p >= 100 else f"{p:.5g}"


def dashboard(rt: CollectorRuntime, sim: Simulator, started: float, symbol: str) -> Panel:
    rep = rt.collector.health_report()
    live = rt.collector.live
    t = Table(expand=True)
    for col in ("venue", "conn", "streams", "rec/s", f"{symbol} mid", "funding", "reconn", "gaps", "errors"):
        t.add_column(col, justify="right" if col not in ("venue",) else "left")
    elapsed = max(time.monotonic() - started, 1e-3)
    by_venue: dict[str, int] = {}
    kinds: dict[str, set[str]] = {}
    for s in rep["streams"]:
        by_venue[s["venue"]] = by_venue.get(s["venue"], 0) + s["records"]
        kinds.setdefault(s["venue"], set()).add(s["stream"])
    for vid, v in rep["venues"].items():
        market = "spot" if vid == "binance_spot" else "perp"
        bbo = live.get("bbo", vid, market, symbol)
        mid = (bbo.bid_price + bbo.ask_price) / 2 if bbo is not None else None  # type: ignore[union-attr]
        f = live.get("funding", vid, "perp", symbol)
        t.add_row(
            vid, f"{v['connected']}/{v['connections']}", str(len(kinds.get(vid, ()))),
            f"{by_venue.get(vid, 0) / elapsed:,.0f}", _fmt_price(mid),
            f"{f.rate * 1e4:.2f}bp" if f is not None else "-",  # type: ignore[union-attr]
            str(v["reconnects"]), str(v["gaps"]), str(sum(v["decode_errors"].values())),
        )
    st = sim.stats()
    foot = (f"rows written {rep['rows_written']:,} | buffered {rep['queue_depth']:,} | "
            f"write p50 {rep['write_latency_ms_p50'] or 0:.0f} ms | simulator frames {st['frames_sent']:,} | "
            f"{elapsed:.0f}s")
    return Panel(Group(t, foot), title="cryptoflow demo: simulator -> websocket -> books -> DuckLake")


def example_queries(data_dir: Path, symbol: str) -> list[tuple[str, Any]]:
    lake = Lake.open(data_dir, read_only=True)
    try:
        out: list[tuple[str, Any]] = [("database_stats", queries.db_stats(lake))]
        out.append((f"latest BBO per venue ({symbol})", queries.latest_bbo(lake, symbol)))
        out.append((f"1m OHLCV {symbol} binance_usdm", queries.ohlcv(lake, "binance_usdm", symbol, "perp", "1m",
                                                                      None, None)[-3:]))
        out.append((f"funding history {symbol}", queries.funding_history(lake, symbol, interval="1m")[-5:]))
        # the full book a second before the end, rebuilt from every stored update (store_book_deltas)
        at = time.time_ns() - 1_000_000_000
        for venue in ("okx", "bybit", "binance_usdm"):
            book = queries.book_at(lake, venue, symbol, at)
            if book.book is not None and book.book.valid:
                d = book.as_dict(depth=5)
                for side in ("bids", "asks"):  # one line per level: "price x qty"
                    d[side] = [f"{p:.10g} x {q:.6g}" for p, q in d[side]]
                out.append((f"{venue} {symbol} book 1 s before the end, replayed from book_deltas", d))
                break
        return out
    finally:
        lake.close()


async def run_demo(seconds: float, data_dir: Path, venues: list[str] | None, symbols: list[str] | None,
                   faults: list[str], console: Console, seed: int = 7) -> dict[str, Any]:
    sim = Simulator(venues=venues, symbols=symbols, seed=seed, faults=[FaultSpec.parse(f) for f in faults])
    await sim.start()
    eps = {v: Endpoints(ws=e["ws"], rest=e["rest"]) for v, e in sim.endpoints().items()}
    cfg = load_config(None, data_dir=str(data_dir), venues=sim.venue_ids, symbols=sim.symbols, endpoints=eps,
                      store_book_deltas=True)
    rt = await CollectorRuntime.start(cfg)
    started = time.monotonic()
    symbol = sim.symbols[0]
    try:
        with Live(dashboard(rt, sim, started, symbol), console=console, refresh_per_second=2,
                  transient=not console.is_terminal) as live:
            while time.monotonic() - started < seconds:
                await asyncio.sleep(0.5)
                live.update(dashboard(rt, sim, started, symbol))
    finally:
        await rt.stop()
        await sim.stop()
    report = rt.collector.health_report()
    report["simulator"] = sim.stats()
    return report


def print_summary(console: Console, report: dict[str, Any], data_dir: Path, symbol: str) -> None:
    t = Table(title="summary")
    t.add_column("venue")
    t.add_column("frames", justify="right")
    t.add_column("books valid", justify="right")
    t.add_column("gaps", justify="right")
    t.add_column("decode errors", justify="right")
    for vid, v in report["venues"].items():
        t.add_row(vid, f"{v['frames']:,}", f"{v['books_valid']}/{v['books']}", str(v["gaps"]),
                  str(sum(v["decode_errors"].values())))
    console.print(t)
    console.print(f"rows written: {report['rows_written']:,} into {data_dir}")
    for title, result in example_queries(data_dir, symbol):
        console.print(Panel(json.dumps(result, default=str, indent=1)[:2500], title=title))
    with contextlib.suppress(Exception):
        console.print(f"try: cryptoflow sql --data-dir {data_dir} \"SELECT venue, count(*) FROM trades GROUP BY 1\"")
