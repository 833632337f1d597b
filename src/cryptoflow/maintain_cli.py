"""``cryptoflow maintain``: retention and compaction of a data directory, once (registered by cli.py).

The collector daemon runs the same steps every few minutes (``retention`` setting); this command is
for a lake no collector is writing to, or for a one-off clean-up next to one (DuckLake commits
from two processes are serialised by the catalog)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cryptoflow.errors import CryptoflowError

err = Console(stderr=True, soft_wrap=True, highlight=False)


def maintain_command(
    retention: Annotated[list[str] | None, typer.Option(
        "--retention", help="STREAM=AGE: delete rows older than AGE (e.g. book_deltas=2d trades=90d)")] = None,
    do_compact: Annotated[bool, typer.Option("--compact/--no-compact", help="merge small files afterwards")] = True,
    data_dir: Annotated[Path, typer.Option("--data-dir", envvar="CRYPTOFLOW_DATA_DIR",
                                           help="data directory")] = Path("data"),
    catalog: Annotated[str | None, typer.Option(help="DuckLake catalog URL (default: SQLite in data_dir)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Delete rows past their retention age per stream, then compact small files."""
    from cryptoflow.collector.config import CollectorConfig, parse_retention
    from cryptoflow.store import Lake, apply_retention, compact

    try:
        items = [x for v in retention or [] for x in v.replace(",", " ").split() if x]
        ages = CollectorConfig(retention=parse_retention(items)).retention_ages()
        if catalog is None and not data_dir.exists():
            raise CryptoflowError(f"no data directory {data_dir}")
        lake = Lake.open(data_dir, catalog=catalog)
        try:
            deleted = apply_retention(lake, ages) if ages else {}
            report = compact(lake) if do_compact else None
        finally:
            lake.close()
    except CryptoflowError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    out = {"deleted": deleted, "compaction": asdict(report) if report else None}
    if as_json:
        sys.stdout.write(json.dumps(out) + "\n")
        return
    for table, n in deleted.items():
        err.print(f"{table}: {n:,} rows past retention deleted")
    if report is not None:
        err.print(f"compaction: {report.files_before} -> {report.files_after} data files in {report.elapsed_ms:.0f} ms")
