"""The ``cryptoflow`` command line (typer + rich).

Human output goes to the terminal through rich; ``--json`` output is one JSON document on
stdout and nothing else, so it can be piped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cryptoflow import aio
from cryptoflow.errors import CryptoflowError

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Crypto market microstructure data for AI assistants."
)
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print figures.")
capture_app = typer.Typer(no_args_is_help=True, help="Capture files: convert other formats into ours.")
app.add_typer(bench_app, name="bench")
app.add_typer(capture_app, name="capture")

console = Console(stderr=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)  # messages stay on one line for scripts

# Options that take several values, written as the examples do: `--venues okx bybit`.
MULTI_VALUE_OPTIONS = frozenset(("--symbols", "--venues", "--streams", "--faults", "--toolsets", "--markets"))


def expand_multi_value_options(argv: list[str]) -> list[str]:
    """``--venues okx bybit`` -> ``--venues okx,bybit`` (click options take one value each)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        out.append(tok)
        i += 1
        if tok in MULTI_VALUE_OPTIONS:
            vals = []
            while i < len(argv) and not argv[i].startswith("-"):
                vals.append(argv[i])
                i += 1
            if vals:
                out.append(",".join(vals))
    return out


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _fail(e: Exception) -> None:
    err.print(f"[red]error:[/red] {e}")
    raise typer.Exit(2)


LogLevel = Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING, ERROR")]


@app.command()
def replay(
    files: Annotated[list[Path], typer.Argument(help="capture files (.jsonl or .jsonl.gz)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the report as one JSON object")] = False,
    instruments: Annotated[
        Path | None, typer.Option(help="JSON list of extra instruments (same shape as the bundled tables)")
    ] = None,
    log_level: LogLevel = "WARNING",
) -> None:
    """Decode a capture through the live code path and report what it found."""
    from cryptoflow.feed.capture import read_capture
    from cryptoflow.feed.replay import Replayer
    from cryptoflow.symbols import InstrumentRegistry, load_instruments

    _setup_logging(log_level)
    try:
        registry = InstrumentRegistry.bundled()
        if instruments is not None:
            registry.add(load_instruments(instruments))
        r = Replayer(registry)
        for f in files:
            r.feed(read_capture(f))
    except CryptoflowError as e:
        _fail(e)
    rep = r.report()
    if as_json:
        sys.stdout.write(json.dumps(rep) + "\n")
        return
    t = Table(title=f"replay of {len(files)} file(s): {rep['frames']} frames")
    t.add_column("what")
    t.add_column("count", justify="right")
    for k, v in rep["events"].items():
        t.add_row(f"events.{k}", str(v))
    for k, v in rep["decode_errors"].items():
        t.add_row(f"[red]decode error: {k}[/red]", str(v))
    t.add_row("unknown frames", str(rep["unknown_frames"]))
    for k, v in rep["book"].items():
        t.add_row(f"book.{k}", str(v))
    for k, v in rep["bbo_check"].items():
        t.add_row(f"bbo_check.{k}", str(v))
    console.print(t)


@capture_app.command("convert")
def capture_convert(
    sources: Annotated[list[Path], typer.Argument(help="sample files of one session, or a venue sample folder")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output capture (.jsonl or .jsonl.gz)")],
    venue: Annotated[str | None, typer.Option(help="venue id (default: from the folder name)")] = None,
) -> None:
    """Convert cryptofeed / ccxt / nautilus / Bybit-archive samples into the capture format."""
    from cryptoflow.feed.capture import write_capture
    from cryptoflow.feed.capture_convert import convert_files, sample_groups, venue_for_folder

    try:
        files: list[Path] = []
        for s in sources:
            if s.is_dir():
                venue = venue or venue_for_folder(s)
                for group in sample_groups(s).values():
                    files.extend(group)
            else:
                files.append(s)
        if venue is None:
            venue = venue_for_folder(files[0].parent)
        n = write_capture(out, convert_files(files, venue))
    except CryptoflowError as e:
        _fail(e)
    err.print(f"wrote {n} records to {out}")


@bench_app.command("decode")
def bench_decode(
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    frames: Annotated[int, typer.Option(help="frames per measurement")] = 200_000,
) -> None:
    """Frames/s decoding real Binance frames (trade, BBO, depth incl. book apply) vs plain orjson."""
    from cryptoflow.benchmarks.decode import run

    res = run(min_frames=frames)
    if as_json:
        sys.stdout.write(json.dumps(res) + "\n")
        return
    t = Table(title="decode throughput (one core, median of 5)")
    t.add_column("measure")
    t.add_column("frames/s", justify="right")
    t.add_column("vs orjson parse", justify="right")
    ref = res["orjson_parse_fps"]
    for k in ("trade_fps", "bbo_fps", "depth_fps", "orjson_parse_fps"):
        t.add_row(k, f"{res[k]:,}", f"{res[k] / ref:.2f}")
    console.print(t)


DataDir = Annotated[Path, typer.Option("--data-dir", envvar="CRYPTOFLOW_DATA_DIR", help="data directory")]


def _split(values: list[str] | None) -> list[str] | None:
    """Accept both ``--symbols A B`` and ``--symbols A,B``."""
    if not values:
        return None
    return [x for v in values for x in v.replace(",", " ").split() if x]


@bench_app.command("ingest")
def bench_ingest(
    seconds: Annotated[float, typer.Option(help="measured duration (after a 5 s warm-up)")] = 60.0,
    rate: Annotated[float, typer.Option(help="simulator activity multiplier")] = 40.0,
    book_deltas: Annotated[bool, typer.Option(
        "--book-deltas/--no-book-deltas", help="also store every book update (table book_deltas)")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Simulator (own process) -> websocket -> decode -> books -> DuckLake, all eight venues."""
    from cryptoflow.benchmarks.ingest import run

    _setup_logging("ERROR")
    res = run(seconds=seconds, rate=rate, book_deltas=book_deltas)
    if as_json:
        sys.stdout.write(json.dumps(res) + "\n")
        return
    t = Table(title=f"ingest, all venues, {res['seconds']}s measured")
    t.add_column("measure")
    t.add_column("value", justify="right")
    for k, v in res.items():
        t.add_row(k, f"{v:,}" if isinstance(v, int | float) else str(v))
    console.print(t)


@bench_app.command("sim")
def bench_sim(
    seconds: Annotated[float, typer.Option(help="measured duration per run (after a 5 s settle)")] = 20.0,
    rate: Annotated[float, typer.Option(help="simulator activity multiplier (more than it sends in real time)")] = 80.0,
    workers: Annotated[str, typer.Option("--workers", help="simulator process counts, run in turn: 1,2")] = "1,2",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Frames/s the simulator sends (all venues and streams, counting clients), per worker count."""
    from cryptoflow.benchmarks.sim_throughput import run

    try:
        counts = [int(x) for x in _split([workers]) or ["1"]]
    except ValueError:
        _fail(CryptoflowError(f"--workers takes process counts like 1,2; got {workers!r}"))
        return
    res = run(seconds=seconds, rate=rate, workers=counts)
    if as_json:
        sys.stdout.write(json.dumps(res) + "\n")
        return
    t = Table(title=f"simulator throughput (target {res['target_frames_per_s']:,} frames/s)")
    for col in ("workers", "frames/s", "per CPU-s", "cores", "per process", "client", "load"):
        t.add_column(col, justify="right")
    for r in res["runs"]:
        t.add_row(str(r["workers"]), f"{r['simulator_frames_per_s']:,}", f"{r['simulator_frames_per_cpu_s'] or 0:,}",
                  str(r["simulator_cpu_share"]), " ".join(map(str, r["process_cpu_share"])),
                  str(r["client_cpu_share"]), str(r["load_avg_1m"]))
    console.print(t)


@bench_app.command("forecast")
def bench_forecast(
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    quick: Annotated[bool, typer.Option(help="instant/fast models only")] = False,
) -> None:
    """Forecast latency: per model on 2,000 points, 72x1,000 AutoETS batch, router, priority=fast forecast."""
    from cryptoflow.benchmarks.forecast import run

    res = run(quick=quick)
    if as_json:
        sys.stdout.write(json.dumps(res) + "\n")
        return
    t = Table(title="forecast latency (p50 ms)")
    t.add_column("model")
    t.add_column("speed")
    t.add_column("p50 ms", justify="right")
    for k, v in res["models"].items():
        t.add_row(k, v["speed_class"], f"{v['p50_ms']:.2f}")
    console.print(t)
    console.print({"router": res["router"], "fast_auto": res["forecast_fast_auto"],
                   "batch_72x1000_autoets_s": res["batch_72x1000_autoets_s"], "targets": res["targets"]})


@bench_app.command("analytics")
def bench_analytics(
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    trades: Annotated[int, typer.Option(help="trades in the synthetic day")] = 1_200_000,
) -> None:
    """Every analytics tool on 24 h of one symbol/venue (>= 1M trades): p50 per tool vs 500 ms."""
    from cryptoflow.benchmarks.analytics import run

    res = run(trades=trades)
    if as_json:
        sys.stdout.write(json.dumps(res, default=str) + "\n")
        return
    t = Table(title=f"analytics on {res['data']}, p50 target {res['target_p50_ms']} ms")
    t.add_column("tool")
    t.add_column("p50 ms", justify="right")
    t.add_column("max ms", justify="right")
    for k, r in res["results"].items():
        t.add_row(k, f"{r['p50_ms']:.0f}", f"{r['max_ms']:.0f}")
    console.print(t)


@app.command()
def collect(
    symbols: Annotated[list[str] | None, typer.Option("--symbols", help="canonical symbols (BTCUSDT ...)")] = None,
    venues: Annotated[list[str] | None, typer.Option("--venues", help="venue ids")] = None,
    streams: Annotated[list[str] | None, typer.Option("--streams", help="stream kinds")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML or JSON config file")] = None,
    endpoints: Annotated[Path | None, typer.Option("--endpoints", help="from `cryptoflow simulate --json`")] = None,
    data_dir: DataDir = Path("data"),
    seconds: Annotated[float | None, typer.Option(help="stop after this long (default: until Ctrl-C)")] = None,
    capture: Annotated[Path | None, typer.Option(help="also record raw frames to this capture file")] = None,
    book_deltas: Annotated[bool | None, typer.Option(
        "--book-deltas/--no-book-deltas", help="store every book update for exact replay (table book_deltas)")] = None,
    log_level: LogLevel = "INFO",
) -> None:
    """Collect market data 24/7 into the store (Ctrl-C / SIGTERM stops it gracefully)."""

    from cryptoflow.collector import load_config, load_endpoints
    from cryptoflow.collector.run import run_until_signalled
    from cryptoflow.streaming.config import load_streaming_config
    from cryptoflow.streaming.run import run_streaming

    _setup_logging(log_level)
    try:
        cfg = load_config(
            config, symbols=_split(symbols), venues=_split(venues), streams=_split(streams),
            data_dir=str(data_dir), capture=str(capture) if capture else None,
            endpoints=load_endpoints(endpoints) if endpoints else None, store_book_deltas=book_deltas,
        )
        scfg = load_streaming_config(config) if config else None
        if scfg is not None and scfg.streams:  # live forecasts, drift checks and alerts while collecting
            rep = aio.run(run_streaming(cfg, scfg, seconds))
        else:
            rep = aio.run(run_until_signalled(cfg, seconds))
    except CryptoflowError as e:
        _fail(e)
    err.print(f"collector stopped after {rep['elapsed_s']}s: {rep['rows_written']:,} rows written to {data_dir}")


@app.command()
def simulate(
    venues: Annotated[list[str] | None, typer.Option("--venues", help="venue ids (default: all)")] = None,
    symbols: Annotated[list[str] | None, typer.Option("--symbols", help="symbols (default: the nine defaults)")] = None,
    port_base: Annotated[int, typer.Option(help="first port (ws, rest per venue); 0 = any free port")] = 0,
    seed: Annotated[int, typer.Option(help="same seed, same market")] = 7,
    rate: Annotated[float, typer.Option(help="market activity multiplier")] = 1.0,
    faults: Annotated[list[str] | None, typer.Option("--faults", help="kind[:venue][@every_s][=seconds]")] = None,
    replay: Annotated[Path | None, typer.Option(help="serve a capture file instead of the synthetic market")] = None,
    speed: Annotated[float, typer.Option(help="replay speed multiplier")] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the endpoints as one JSON line first")] = False,
    seconds: Annotated[float | None, typer.Option(help="stop after this long")] = None,
    workers: Annotated[int, typer.Option(help="processes sharing the venues of one market (one per core)")] = 1,
    log_level: LogLevel = "WARNING",
) -> None:
    """Serve every venue's real protocol on 127.0.0.1 from a synthetic market (or a capture)."""
    import asyncio
    import gc

    from cryptoflow.sim.runner import FaultSpec, Simulator

    _setup_logging(log_level)

    async def main() -> None:
        if replay is not None:
            from cryptoflow.sim.replay_server import ReplaySimulator

            if workers > 1:
                raise CryptoflowError("--workers applies to the synthetic market; --replay runs in one process")
            sim: Any = ReplaySimulator(replay, speed=speed, port_base=port_base)
        elif workers > 1:
            from cryptoflow.sim.workers import SimulatorPool

            sim = SimulatorPool(workers, venues=_split(venues), symbols=_split(symbols), seed=seed,
                                port_base=port_base, rate=rate, faults=_split(faults), log_level=log_level)
        else:
            sim = Simulator(venues=_split(venues), symbols=_split(symbols), seed=seed, port_base=port_base,
                            rate=rate, faults=[FaultSpec.parse(f) for f in _split(faults) or []])
        await sim.start()
        gc.freeze()  # the market's long-lived state: out of every later collection
        eps = sim.endpoints()
        if as_json:
            sys.stdout.write(json.dumps(eps) + "\n")
            sys.stdout.flush()
        else:
            for v, e in eps.items():
                console.print(f"{v:15s} ws {' '.join(e['ws'].values())}  rest {e['rest']}")
        stop = asyncio.Event()
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        await sim.stop()
        sys.stderr.write(json.dumps(sim.stats()) + "\n")

    try:
        aio.run(main())
    except CryptoflowError as e:
        _fail(e)


@app.command()
def demo(
    seconds: Annotated[float, typer.Option(help="how long to collect")] = 30.0,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="default: a fresh ./demo-data-<time>")] = None,
    venues: Annotated[list[str] | None, typer.Option("--venues")] = None,
    symbols: Annotated[list[str] | None, typer.Option("--symbols")] = None,
    faults: Annotated[list[str] | None, typer.Option("--faults", help="e.g. drop@20 gap@7")] = None,
    log_level: LogLevel = "WARNING",
) -> None:
    """Simulator for all eight venues -> real collector -> DuckLake, with a live dashboard."""
    import time

    from cryptoflow.demo import print_summary, run_demo

    _setup_logging(log_level)
    out = data_dir or Path(f"demo-data-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        rep = aio.run(run_demo(seconds, out, _split(venues), _split(symbols), _split(faults) or [], console))
        print_summary(console, rep, out, rep["config"]["symbols"][0])
    except CryptoflowError as e:
        _fail(e)


@app.command()
def status(data_dir: DataDir = Path("data"), as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Health of the collector writing into this data directory."""
    from cryptoflow.collector.health import pid_alive, read_health

    rep = read_health(data_dir)
    if rep is None:
        _fail(CryptoflowError(f"no collector health in {data_dir} (start one with `cryptoflow collect`)"))
        return
    running = pid_alive(rep["pid"])
    age = (__import__("time").time_ns() - rep["updated_ns"]) / 1e9
    rep["running"] = bool(rep.get("running", True)) and running and age < 30
    if as_json:
        sys.stdout.write(json.dumps(rep) + "\n")
        return
    state = "[green]running[/green]" if rep["running"] else "[red]not running[/red]"
    console.print(f"collector pid {rep['pid']}: {state}, uptime {rep['uptime_s']}s, updated {age:.1f}s ago, "
                  f"rows written {rep['rows_written']:,}, buffered {rep['queue_depth']}")
    store = rep.get("store") or {}
    if store.get("behind"):
        console.print(f"[yellow]store falling behind for {store['behind_for_s']}s: {store['reason']}[/yellow]")
    t = Table(title="venues")
    for c in ("venue", "connected", "reconnects", "frames", "books valid", "gaps", "resyncs", "decode errors"):
        t.add_column(c)
    for vid, v in rep["venues"].items():
        t.add_row(vid, f"{v['connected']}/{v['connections']}", str(v["reconnects"]), f"{v['frames']:,}",
                  f"{v['books_valid']}/{v['books']}", str(v["gaps"]), str(v["resyncs"]), str(v["decode_errors"]))
    console.print(t)
    s = Table(title="streams")
    for c in ("venue", "stream", "records", "per min", "last event age s"):
        s.add_column(c)
    for row in rep["streams"]:
        s.add_row(row["venue"], row["stream"], f"{row['records']:,}", str(row["records_per_min"]),
                  str(row["last_event_age_s"]))
    console.print(s)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="one read-only SELECT")],
    data_dir: DataDir = Path("data"),
    as_json: Annotated[bool, typer.Option("--json", help="rows as a JSON array of objects")] = False,
    limit: Annotated[int, typer.Option(help="row limit")] = 1000,
) -> None:
    """Run a read-only SELECT against the store (safe while the collector writes)."""
    from cryptoflow.store import Lake, run_readonly_sql

    try:
        lake = Lake.open(data_dir, read_only=True)
        try:
            res = run_readonly_sql(lake, query, limit=limit)
        finally:
            lake.close()
    except CryptoflowError as e:
        _fail(e)
    rows = [dict(zip(res.columns, r, strict=True)) for r in res.rows]
    if as_json:
        sys.stdout.write(json.dumps(rows, default=str) + "\n")
        return
    t = Table(title=f"{len(rows)} row(s){' (truncated)' if res.truncated else ''}")
    for c in res.columns:
        t.add_column(c)
    for r in res.rows:
        t.add_row(*(str(x) for x in r))
    console.print(t)


@app.command()
def export(
    stream: Annotated[str, typer.Option(help="trade, bbo, book, funding ...")],
    out: Annotated[Path, typer.Option("--out", help="output file")],
    symbol: Annotated[str | None, typer.Option()] = None,
    venue: Annotated[str | None, typer.Option()] = None,
    since: Annotated[str | None, typer.Option(help="ISO time or e.g. 1h, 7d")] = None,
    until: Annotated[str | None, typer.Option(help="ISO time")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet")] = "parquet",
    data_dir: DataDir = Path("data"),
) -> None:
    """Export one stream to CSV or Parquet."""
    from cryptoflow.store import Lake
    from cryptoflow.store import export as do_export

    try:
        lake = Lake.open(data_dir, read_only=True)
        try:
            rep = do_export(lake, stream, out, symbol=symbol, venue=venue, since=since, until=until, fmt=fmt)
        finally:
            lake.close()
    except CryptoflowError as e:
        _fail(e)
    err.print(f"wrote {rep.rows:,} rows to {rep.path}")


from cryptoflow.backfill_cli import backfill_command, bench_backfill_command  # noqa: E402 (typer only)
from cryptoflow.maintain_cli import maintain_command  # noqa: E402 (typer only)
from cryptoflow.server_cli import bench_tools_command, mcp_command, serve_command  # noqa: E402 (typer only)

app.command("mcp")(mcp_command)
app.command("serve")(serve_command)
bench_app.command("tools")(bench_tools_command)
app.command("backfill")(backfill_command)
app.command("maintain")(maintain_command)
bench_app.command("backfill")(bench_backfill_command)


def main() -> None:
    try:
        app(args=expand_multi_value_options(sys.argv[1:]))
    except CryptoflowError as e:
        err.print(f"[red]error:[/red] {e}")
        sys.exit(2)


if __name__ == "__main__":
    main()
