"""Real transports: the SDK client over a stdio subprocess and over streamable HTTP (token, Host/Origin
checks), and the refusal to listen beyond loopback without a token."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from cryptoflow.sim.runner import Simulator

from .conftest import call

TOKEN = "test-token-0123456789abcdef"
CLI = [sys.executable, "-m", "cryptoflow.server_cli"]
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _http_server(data_dir: Path, *extra: str) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--data-dir", str(data_dir), "--log-level",
                             "WARNING", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {proc.stderr.read().decode()}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def test_stdio_subprocess_client(market_store):
    params = StdioServerParameters(command=sys.executable, args=["-m", "cryptoflow.server_cli", "mcp", "--data-dir",
                                                                 str(market_store.data_dir)])
    async with Client(params, read_timeout_seconds=60) as client:
        assert "canonical" in (client.instructions or "") and "ISO 8601" in client.instructions
        tools = (await client.list_tools()).tools
        names = {t.name for t in tools}
        assert {"get_prices", "run_sql", "start_streaming", "analyze_order_flow", "run_feature_calculator"} <= names
        # clients degrade past ~40 tools; the full default set (market..forecast) is 47, calculators opt-in
        assert len(tools) <= 47 and all(t.output_schema for t in tools)
        assert all(t.annotations.read_only_hint for t in tools if t.name.startswith("get_"))
        out = await call(client, "find_arbitrage", symbols=["ETHUSDT"], max_age_s=3600)
        assert out["opportunities"][0]["sell_venue"] == "okx"


async def test_http_with_token_host_and_origin_checks(market_store):
    with _http_server(market_store.data_dir, "--token", TOKEN) as url:
        async with httpx2.AsyncClient() as http:
            r = await http.post(url, json=INIT, headers=HEADERS)
            assert r.status_code == 401 and "Bearer" in r.headers["www-authenticate"]
            r = await http.post(url, json=INIT, headers={**HEADERS, "authorization": "Bearer wrong-token-xxxxxxxx"})
            assert r.status_code == 401
            auth = {**HEADERS, "authorization": f"Bearer {TOKEN}"}
            r = await http.post(url, json=INIT, headers={**auth, "host": "evil.example"})
            assert r.status_code == 421  # DNS rebinding: unknown Host
            r = await http.post(url, json=INIT, headers={**auth, "origin": "http://evil.example"})
            assert r.status_code == 403  # a web page on another origin
            r = await http.post(url, json=INIT, headers=auth)
            assert r.status_code == 200
        async with httpx2.AsyncClient(headers={"authorization": f"Bearer {TOKEN}"}, timeout=60) as http, \
                Client(streamable_http_client(url, http_client=http)) as client:
            out = await call(client, "get_prices", symbols=["BTCUSDT"], max_age_s=3600)
            assert len(out["quotes"]) == 4


async def test_http_loopback_without_token(market_store):
    with _http_server(market_store.data_dir, "--toolsets", "history") as url:
        async with Client(url) as client:  # loopback: no token needed
            assert len((await client.list_tools()).tools) == 8
            out = await call(client, "database_stats")
            assert out["total_rows"] > 0


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::"])
def test_serve_refuses_non_loopback_without_token(tmp_path, host):
    r = subprocess.run([*CLI, "serve", "--host", host, "--data-dir", str(tmp_path)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and f"refusing to listen on {host}" in r.stderr and "--token" in r.stderr


def test_serve_refuses_short_token(tmp_path):
    r = subprocess.run([*CLI, "serve", "--host", "0.0.0.0", "--token", "short", "--data-dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "at least 16 characters" in r.stderr


def test_mcp_stdio_rejects_unknown_toolset(tmp_path):
    r = subprocess.run([*CLI, "mcp", "--toolsets", "market,magic", "--data-dir", str(tmp_path)], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "unknown toolset" in r.stderr and "market, arbitrage" in r.stderr



async def test_serve_collect_is_the_daemon_and_flushes_on_sigterm(tmp_path):
    sim = Simulator(venues=["okx", "bybit"], symbols=["BTCUSDT"], seed=9)
    await sim.start()
    eps = tmp_path / "endpoints.json"
    eps.write_text(json.dumps(sim.endpoints()))
    data = tmp_path / "data"
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        *CLI, "serve", "--collect", "--endpoints", str(eps), "--symbols", "BTCUSDT", "--port", str(port),
        "--data-dir", str(data), "--log-level", "WARNING", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            await asyncio.sleep(0.1)
        async with Client(url) as client:
            for _ in range(100):  # the collector starts in the background once the server is up
                st = await call(client, "streaming_status")
                if st["state"] == "running_in_process":
                    break
                await asyncio.sleep(0.1)
            assert st["state"] == "running_in_process" and st["config"]["venues"] == ["okx", "bybit"]
            for _ in range(100):  # live quotes from the collector inside the server
                r = await client.call_tool("get_prices", {"symbols": ["BTCUSDT"]})
                if not r.is_error and len(r.structured_content["quotes"]) == 2:
                    break
                await asyncio.sleep(0.2)
            assert r.structured_content["source"] == "live"
    finally:
        proc.terminate()  # SIGTERM: uvicorn shuts down, the lifespan stops the collector, which flushes
        _out, err = await asyncio.wait_for(proc.communicate(), 30)
        await sim.stop()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says why it stopped
    assert proc.returncode in (0, -15), err.decode()[-2000:]
    from cryptoflow.store import Lake

    with Lake.open(data, read_only=True) as lake:
        (n,), = lake.cursor().execute("SELECT count(*) FROM lake.bbo").fetchall()
    health = json.loads((data / "health.json").read_text())  # the collector's last report, written at stop
    assert n > 0 and health["rows_written"] >= n and health["queue_depth"] == 0
    assert all(v["connected"] == 0 for v in health["venues"].values())  # connections closed, then flushed
