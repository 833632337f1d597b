"""A store filled from the simulator once per session, and MCP clients over it.

The market is known: one dislocation is planted on OKX ETHUSDT perp (+60 bps, lasting past the end
of collection, so the newest stored quotes carry it) and BTCUSDT's fair price drops 300 bps
(a liquidation cascade). ``MarketStore`` keeps what the simulator published so tests can compare
tool output with what was sent, not only with what was stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from cryptoflow.server import build_server
from cryptoflow.sim.model_price import Dislocation
from cryptoflow.store import Lake

from ..simrun import sim_and_collector, wait_for

VENUES = ["binance_usdm", "bybit", "okx", "hyperliquid", "binance_spot"]
SYMBOLS = ["BTCUSDT", "ETHUSDT"]
DISLOCATED = ("okx", "perp", "ETHUSDT")
DISLOCATION_BPS = 60.0


@dataclass
class MarketStore:
    data_dir: Path
    dislocation: Dislocation
    last_sent: dict[tuple[str, str, str, str], Any] = field(default_factory=dict)  # (kind, venue, market, sym)
    liquidations_sent: list[Any] = field(default_factory=list)  # after ready_ns: all subscriptions live
    ready_ns: int = 0

    def sql(self, query: str, params: list[Any] | None = None) -> list[tuple]:
        lake = Lake.open(self.data_dir, read_only=True)
        try:
            return lake.cursor().execute(query, params or []).fetchall()
        finally:
            lake.close()


async def _fill(data_dir: Path) -> MarketStore:
    async with sim_and_collector(data_dir, venues=VENUES, symbols=SYMBOLS, rate=2.0, oi_poll_interval_s=1.0,
                                 seed=11, store_book_deltas=True) as run:
        rt = run.rt
        await wait_for(lambda: all(v["books_valid"] == v["books"] > 0
                                   for v in rt.collector.health_report()["venues"].values()), timeout=30)
        await asyncio.sleep(2.0)
        # before this, the market may liquidate while the collector is still subscribing: only what
        # happens after it can be compared with what was stored
        ready_ns = time.time_ns() // 1_000_000 * 1_000_000
        run.sim.market.plant_dislocation(*DISLOCATED, DISLOCATION_BPS, 300.0)
        run.sim.market.plant_jump("BTCUSDT", -300.0)
        await asyncio.sleep(5.0)
        planted = [d for d in run.sim.market.planted_dislocations if (d.venue, d.market, d.symbol) == DISLOCATED
                   and d.size_bps == DISLOCATION_BPS]
    store = MarketStore(data_dir, planted[0], ready_ns=ready_ns)
    for items in run.published.values():
        for it in items:
            kind = type(it).__name__
            if kind in ("BBO", "Funding", "OpenInterest", "MarkPrice"):
                store.last_sent[(kind, it.venue, it.market, it.symbol)] = it
            elif kind == "Liquidation" and it.ts >= ready_ns:
                store.liquidations_sent.append(it)
    return store


@pytest.fixture(scope="session")
def market_store(tmp_path_factory: pytest.TempPathFactory) -> MarketStore:
    return asyncio.run(_fill(tmp_path_factory.mktemp("market") / "data"))


@pytest.fixture(scope="session")
def server(market_store: MarketStore) -> Iterator[Any]:
    srv = build_server(market_store.data_dir)
    ctx = srv.cryptoflow_context
    ctx.keep_open = True  # one lake for the whole session
    yield srv
    asyncio.run(ctx.aclose())


async def call(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    """Call a tool that must succeed; return its structured content (and check the text carries it)."""
    r = await client.call_tool(tool, args)
    text = r.content[0].text if r.content else ""
    assert not r.is_error, f"{tool}({args}) failed: {text}"
    body = text.split("\n", 1)[-1]
    assert json.loads(body).keys() <= r.structured_content.keys()  # the text is the same data (nulls dropped)
    return r.structured_content


async def fails(client: Client, tool: str, **args: Any) -> str:
    """Call a tool that must fail; return the message the model reads."""
    r = await client.call_tool(tool, args)
    text = r.content[0].text if r.content else ""
    assert r.is_error, f"{tool}({args}) should have failed but returned: {text[:300]}"
    return text


@contextlib.contextmanager
def no_env(*names: str) -> Iterator[None]:
    import os

    saved = {n: os.environ.pop(n) for n in names if n in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)
