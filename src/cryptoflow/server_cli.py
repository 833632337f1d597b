"""CLI commands of the MCP server: ``cryptoflow mcp`` (stdio), ``cryptoflow serve`` (streamable HTTP,
optionally with the collector in the same process) and ``cryptoflow bench tools``.

The functions are plain typer commands so ``cli.py`` can register them on its own app; this module
also runs standalone (``python -m cryptoflow.server_cli mcp --data-dir DIR``).

stdout belongs to the MCP stdio channel: everything else (logs, messages) goes to stderr.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from cryptoflow.errors import CryptoflowError

DataDirOpt = Annotated[Path, typer.Option("--data-dir", envvar="CRYPTOFLOW_DATA_DIR", help="data directory")]
ToolsetsOpt = Annotated[str, typer.Option(
    "--toolsets", help="comma-separated: market,arbitrage,history,streaming,analytics,forecast (default: all)")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="collector config file (TOML or JSON)")]
EndpointsOpt = Annotated[Path | None, typer.Option("--endpoints", help="venue endpoints from `cryptoflow simulate "
                                                                      "--json`")]
LogLevelOpt = Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING, ERROR (to stderr)")]


def _logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.WARNING), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)


def _fail(e: Exception) -> None:
    sys.stderr.write(f"error: {e}\n")
    raise typer.Exit(2)


def _split(values: list[str] | None) -> list[str] | None:
    """Accept both ``--symbols A B`` and ``--symbols A,B``."""
    return [x for v in values for x in v.replace(",", " ").split() if x] if values else None


def _base_config(config: Path | None, endpoints: Path | None, data_dir: Path, symbols: list[str] | None = None,
                 venues: list[str] | None = None):  # -> CollectorConfig | None
    """Collector settings for start_streaming / --collect; ``--endpoints`` alone (a simulator) also limits
    the venues to the ones it lists."""
    if config is None and endpoints is None and not symbols and not venues:
        return None
    from cryptoflow.collector.config import load_config, load_endpoints

    eps = load_endpoints(endpoints) if endpoints else None
    if eps and not venues and config is None:
        venues = list(eps)
    return load_config(config, data_dir=str(data_dir), endpoints=eps, symbols=_split(symbols), venues=_split(venues))


def mcp_command(
    data_dir: DataDirOpt = Path("data"), toolsets: ToolsetsOpt = "all", config: ConfigOpt = None,
    endpoints: EndpointsOpt = None, log_level: LogLevelOpt = "WARNING",
) -> None:
    """Serve MCP over stdio (for Claude Desktop and other desktop clients); reads the store in --data-dir,
    also while a separate collector writes it."""
    import asyncio

    from cryptoflow.server.app import build_server, run_stdio

    _logging(log_level)
    try:
        server = build_server(data_dir, toolsets, collector_config=_base_config(config, endpoints, data_dir))
        asyncio.run(run_stdio(server))
    except CryptoflowError as e:
        _fail(e)
    except KeyboardInterrupt:
        pass


def serve_command(
    host: Annotated[str, typer.Option(help="bind address; anything but loopback needs --token")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8765,
    collect: Annotated[bool, typer.Option("--collect", help="run the collector in this process")] = False,
    config: ConfigOpt = None, endpoints: EndpointsOpt = None,
    symbols: Annotated[list[str] | None, typer.Option("--symbols", help="symbols to collect (BTCUSDT ...)")] = None,
    venues: Annotated[list[str] | None, typer.Option("--venues", help="venue ids to collect")] = None,
    token: Annotated[str | None, typer.Option(envvar="CRYPTOFLOW_TOKEN", help=(
        "bearer token clients must send (required for a non-loopback --host)"))] = None,
    allow_host: Annotated[list[str] | None, typer.Option("--allow-host", help=(
        "extra Host header name accepted (DNS-rebinding protection), repeatable"))] = None,
    toolsets: ToolsetsOpt = "all", data_dir: DataDirOpt = Path("data"), log_level: LogLevelOpt = "INFO",
) -> None:
    """Serve MCP over streamable HTTP at http://HOST:PORT/mcp; with --collect (or --config) it is also the
    collector daemon. Ctrl-C / SIGTERM stop it gracefully (the collector flushes first)."""
    import asyncio

    from cryptoflow.server.app import build_server, run_http
    from cryptoflow.server.security import check_bind

    _logging(log_level)
    try:
        check_bind(host, token)
        base = _base_config(config, endpoints, data_dir, symbols, venues)
        from cryptoflow.streaming.config import load_streaming_config

        streaming = load_streaming_config(config) if config else None
        server = build_server(data_dir, toolsets, collector_config=base, collect=collect or config is not None,
                              streaming_config=streaming)
        sys.stderr.write(f"cryptoflow MCP server: http://{host}:{port}/mcp (data {data_dir.resolve()})\n")
        asyncio.run(run_http(server, host=host, port=port, token=token, allow_hosts=allow_host or ()))
    except CryptoflowError as e:
        _fail(e)
    except KeyboardInterrupt:
        pass


def bench_tools_command(
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    trades: Annotated[int, typer.Option(help="trades in the generated store")] = 10_000_000,
    repeats: Annotated[int, typer.Option(help="calls per tool")] = 30,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help=(
        "reuse/keep the generated store here (default: a temporary directory)"))] = None,
) -> None:
    """p50/p99 latency of every MCP tool (through the SDK client, in process) over a generated store."""
    from cryptoflow.benchmarks.tools import run

    _logging("WARNING")
    res = run(n_trades=trades, repeats=repeats, data_dir=data_dir)
    if as_json:
        sys.stdout.write(json.dumps(res) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"MCP tool latency over {res['store']['trades']:,} trades ({repeats} calls each; p50/p99 "
                    "in the server, plus the round trip through the Python SDK client)")
    for c in ("tool", "source", "p50 ms", "p99 ms", "target ms", "ok", "SDK client p50 ms"):
        t.add_column(c, justify="right" if "ms" in c else "left")
    for r in res["tools"]:
        tgt = r.get("target_p50_ms")
        t.add_row(r["name"], r["source"], f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", str(tgt or ""),
                  "" if tgt is None else ("yes" if r["p50_ms"] < tgt else "NO"), f"{r['client_p50_ms']:.1f}")
    Console().print(t)


app = typer.Typer(no_args_is_help=True, add_completion=False, help="cryptoflow MCP server")
app.command("mcp")(mcp_command)
app.command("serve")(serve_command)
app.command("bench-tools")(bench_tools_command)

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
