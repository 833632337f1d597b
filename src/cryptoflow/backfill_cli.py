"""``cryptoflow backfill`` and ``cryptoflow bench backfill`` (registered by cli.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cryptoflow import aio
from cryptoflow.errors import CryptoflowError

console = Console()
err = Console(stderr=True, soft_wrap=True, highlight=False)


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [x for v in values for x in v.replace(",", " ").split() if x]


def backfill_command(
    symbols: Annotated[list[str] | None, typer.Option("--symbols", help="symbols (default: the nine)")] = None,
    venues: Annotated[list[str] | None, typer.Option("--venues", help="venue ids (default: all)")] = None,
    streams: Annotated[
        list[str] | None,
        typer.Option("--streams", help="candles, funding, open_interest, long_short_ratio, taker_volume, basis, "
                                       "premium_index, volatility_index (default: candles funding open_interest)"),
    ] = None,
    since: Annotated[str, typer.Option(help="start: an age like 7d / 12h or an ISO 8601 UTC time")] = "7d",
    until: Annotated[str, typer.Option(help="end: 'now' or an ISO 8601 UTC time")] = "now",
    interval: Annotated[str, typer.Option(help="candle interval")] = "1m",
    period: Annotated[str | None, typer.Option(help="period of statistics (OI, ratios); default: venue's")] = None,
    markets: Annotated[list[str] | None, typer.Option("--markets", help="perp, spot")] = None,
    endpoints: Annotated[Path | None, typer.Option("--endpoints", help="from `cryptoflow simulate --json`")] = None,
    data_dir: Annotated[Path, typer.Option("--data-dir", envvar="CRYPTOFLOW_DATA_DIR")] = Path("data"),
    catalog: Annotated[str | None, typer.Option(help="DuckLake catalog URL (default: SQLite in data dir)")] = None,
    concurrency: Annotated[int, typer.Option(help="series fetched at once")] = 4,
    no_resume: Annotated[bool, typer.Option("--no-resume", help="refetch ranges already committed")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as one JSON object")] = False,
    log_level: Annotated[str, typer.Option("--log-level")] = "WARNING",
) -> None:
    """Fill the store with REST history (idempotent, resumable; rows marked source='rest')."""
    import logging

    from cryptoflow.collector.backfill import Backfiller, parse_when
    from cryptoflow.collector.config import load_endpoints
    from cryptoflow.store import Lake
    from cryptoflow.symbols import DEFAULT_SYMBOLS, canonical_symbol
    from cryptoflow.venues import VENUE_IDS, get_venue

    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.WARNING), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        eps = load_endpoints(endpoints) if endpoints else {}
        vids = _split(venues) or list(VENUE_IDS)
        syms = [canonical_symbol(s) for s in (_split(symbols) or DEFAULT_SYMBOLS)]
        vs = {v: get_venue(v, endpoints=eps.get(v)) for v in vids}
        since_ns, until_ns = parse_when(since, "since"), parse_when(until, "until")
        lake = Lake.open(data_dir, catalog=catalog)
    except CryptoflowError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    try:
        bf = Backfiller(lake, vs, concurrency=concurrency, resume=not no_resume)
        try:
            tasks, skipped = bf.plan(syms, _split(streams), since_ns, until_ns, interval=interval, period=period,
                                     markets=_split(markets) or ("perp", "spot"))
        except CryptoflowError as e:
            err.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2) from None
        if as_json:
            rep = aio.run(bf.run(tasks))
        else:
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("{task.fields[rows]:,} rows"), TimeElapsedColumn(), console=err) as prog:
                bar = prog.add_task("backfill", total=None, rows=0)

                def show(_st: object) -> None:
                    total = sum(s.windows_total for s in bf.statuses)
                    done = sum(s.windows_done for s in bf.statuses)
                    prog.update(bar, total=total or None, completed=done, rows=sum(s.rows_new for s in bf.statuses))

                rep = aio.run(bf.run(tasks, show))
    finally:
        lake.close()
    out = rep.to_dict()
    out["skipped"] = skipped
    if as_json:
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        t = Table(title=f"backfill {since} -> {until}: {rep.rows_new:,} new rows of {rep.rows_fetched:,} fetched")
        for c in ("venue", "market", "symbol", "stream", "period", "state", "fetched", "new", "requests"):
            t.add_column(c, justify="right" if c in ("fetched", "new", "requests") else "left")
        for s in rep.statuses:
            k = s.task
            state = f"[red]{s.error[:60]}[/red]" if s.error else s.state
            t.add_row(k.venue, k.market, k.symbol, k.stream, k.period or "", state, f"{s.rows_fetched:,}",
                      f"{s.rows_new:,}", str(s.requests))
        console.print(t)
        if skipped:
            err.print(f"{len(skipped)} combinations skipped (not offered), e.g. {skipped[0].get('reason')}")
    if rep.failed:
        raise typer.Exit(1)


def bench_backfill_command(
    days: Annotated[float, typer.Option(help="days of 1m candles")] = 30.0,
    venue: Annotated[str, typer.Option(help="simulated venue")] = "binance_usdm",
    symbols: Annotated[list[str] | None, typer.Option("--symbols", help="symbols (default: BTCUSDT ETHUSDT SOLUSDT)")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Rows/s of a 1m candle backfill from the simulator into a fresh store (then the idempotent rerun)."""
    from cryptoflow.benchmarks.backfill import run

    res = run(days=days, venue=venue, symbols=_split(symbols))
    if as_json:
        sys.stdout.write(json.dumps(res) + "\n")
        return
    t = Table(title=f"backfill: {days:g} days of 1m candles from the simulated {venue}")
    t.add_column("measure")
    t.add_column("value", justify="right")
    for k, v in res.items():
        t.add_row(k, f"{v:,}" if isinstance(v, int | float) else str(v))
    console.print(t)
