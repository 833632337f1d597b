"""The ``cryptoflow`` command line (typer + rich).

Human output goes to the terminal through rich; ``--json`` output is one JSON document on
stdout and nothing else, so it can be piped.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cryptoflow.errors import CryptoflowError

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Crypto market microstructure data for AI assistants."
)
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print figures.")
capture_app = typer.Typer(no_args_is_help=True, help="Capture files: convert other formats into ours.")
app.add_typer(bench_app, name="bench")
app.add_typer(capture_app, name="capture")

console = Console(stderr=False)
err = Console(stderr=True)


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
    log_level: LogLevel = "WARNING",
) -> None:
    """Decode a capture through the live code path and report what it found."""
    from cryptoflow.feed.capture import read_capture
    from cryptoflow.feed.replay import Replayer

    _setup_logging(log_level)
    r = Replayer()
    try:
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


def main() -> None:
    try:
        app()
    except CryptoflowError as e:
        err.print(f"[red]error:[/red] {e}")
        sys.exit(2)


if __name__ == "__main__":
    main()
