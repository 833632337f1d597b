"""Building the MCP server: toolsets, instructions, lifespan; running it over stdio or streamable HTTP.

A toolset is a list of modules, each exposing ``register(server, ctx)``; adding one (analytics,
forecast ...) means adding its modules to ``TOOLSETS``. Toolsets whose modules are not installed
yet are skipped by default and refused when asked for by name.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import MCPServer

from cryptoflow.errors import ConfigError
from cryptoflow.server.context import ServerContext
from cryptoflow.streaming.config import StreamingConfig

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from cryptoflow.collector.config import CollectorConfig
    from cryptoflow.collector.run import CollectorRuntime

log = logging.getLogger(__name__)

_P = "cryptoflow.server."
TOOLSETS: dict[str, tuple[str, ...]] = {
    "market": (_P + "tools_market", _P + "tools_overview"),
    "arbitrage": (_P + "tools_arbitrage",),
    "history": (_P + "tools_history", _P + "tools_store", _P + "tools_venue_data"),
    "streaming": (_P + "tools_streaming",),
    "analytics": (_P + "tools_analytics",),
    "calculators": (_P + "tools_calculators",),
    "forecast": (_P + "tools_forecast",),
}
#: Toolsets left out of the default and of "all" (name them to add them): what they offer is reachable
#: through another toolset already (calculators: run_feature_calculator), and clients degrade past ~40 tools.
OPT_IN: frozenset[str] = frozenset({"calculators"})

INSTRUCTIONS = """\
cryptoflow serves crypto market data it collected from eight venues, live and stored.
Conventions (every tool):
- Symbols are canonical BASEQUOTE, e.g. BTCUSDT, ETHUSDT (perps of every venue map to BASE+USDT even when the
  venue settles in USD/USDC). list_markets shows what is stored.
- Venue ids: binance_usdm, binance_spot, bybit, okx, kraken_futures, gateio, deribit, hyperliquid.
  market is "perp" (perpetual swaps) or "spot" (binance_spot, bybit, okx).
- Units: prices in quote currency; quantities (qty, size, volume, OI) in base units; notional in quote units;
  spreads and edges in basis points (bps); funding `rate` is a fraction per funding interval
  (interval_hours), also given per 8 h and annualized (percent per year).
- Times are ISO 8601 UTC (…Z). Time arguments accept ISO 8601 or an age like 15m, 4h, 7d (= that long ago).
- "Live" tools (get_prices, find_arbitrage, get_funding ...) answer from the in-process collector when one
  runs, else from the newest stored rows; `source` says which and `age_s` how old each value is.
- Lists are bounded: `truncated` says more existed; pass `next_cursor` back as `cursor` for the next page.
- Errors name the bad argument, what is accepted and which tool to use instead.
"""


def available_toolsets() -> list[str]:
    return [name for name, mods in TOOLSETS.items() if all(importlib.util.find_spec(m) for m in mods)]


def resolve_toolsets(toolsets: Iterable[str] | str | None) -> list[str]:
    """``None``/``"all"`` -> every available toolset except the opt-in ones (``"all,calculators"`` adds
    those named); otherwise validate the names given."""
    default = [t for t in available_toolsets() if t not in OPT_IN]
    if toolsets is None or toolsets == "all":
        return default
    names = [t.strip() for t in (toolsets.split(",") if isinstance(toolsets, str) else toolsets) if t.strip()]
    if "all" in names:
        names = [*default, *(n for n in names if n != "all")]
    bad = [n for n in names if n not in TOOLSETS]
    if bad:
        raise ConfigError(f"unknown toolset(s) {bad}; toolsets are: {', '.join(TOOLSETS)} (or all)")
    missing = [n for n in names if n not in available_toolsets()]
    if missing:
        raise ConfigError(f"toolset(s) {missing} are not part of this installation; available: "
                          f"{', '.join(available_toolsets())}")
    return list(dict.fromkeys(names))


def build_server(
    data_dir: Path | str,
    toolsets: Iterable[str] | str | None = None,
    *,
    catalog: str | None = None,
    collector_config: CollectorConfig | None = None,
    collect: bool = False,
    runtime: CollectorRuntime | None = None,
    context: ServerContext | None = None,
    streaming_config: StreamingConfig | None = None,
) -> MCPServer[ServerContext]:
    """An MCP server over the store in ``data_dir``.

    ``collector_config`` supplies defaults for ``start_streaming`` (venue endpoints, flush interval);
    ``collect=True`` starts that collector with the server (``serve --collect``); ``runtime`` attaches
    an already running collector (tests). ``context`` replaces the whole context (benchmarks).
    """
    ctx = context or ServerContext(Path(data_dir), catalog=catalog, base_config=collector_config,
                                   collect_on_start=collect, runtime=runtime, streaming_config=streaming_config)

    @contextlib.asynccontextmanager
    async def lifespan(_server: MCPServer[ServerContext]) -> AsyncIterator[ServerContext]:
        async with ctx.session() as c:
            yield c

    server: MCPServer[ServerContext] = MCPServer(
        "cryptoflow", title="cryptoflow market data", instructions=INSTRUCTIONS, version=_version(),
        lifespan=lifespan, warn_on_duplicate_tools=True,
    )
    names = resolve_toolsets(toolsets)
    for name in names:
        for module in TOOLSETS[name]:
            importlib.import_module(module).register(server, ctx)
    from cryptoflow.server import resources

    resources.register(server, ctx)
    server.cryptoflow_context = ctx  # type: ignore[attr-defined]  # for tests and benchmarks
    log.info("MCP server over %s with toolsets %s", ctx.data_dir, ", ".join(names))
    return server


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("cryptoflow")
    except Exception:  # not installed as a distribution (source tree)
        return "0"


async def run_stdio(server: MCPServer[Any]) -> None:
    """Serve over stdin/stdout (the caller made sure logging goes to stderr)."""
    await server.run_stdio_async()


def http_app(server: MCPServer[Any], *, host: str = "127.0.0.1", token: str | None = None,
             allow_hosts: Iterable[str] = ()) -> ASGIApp:
    """The streamable-HTTP ASGI app at /mcp with Host/Origin checks and, given a token, bearer auth."""
    from cryptoflow.server.security import BearerAuth, check_bind, transport_security

    check_bind(host, token)
    app: ASGIApp = server.streamable_http_app(transport_security=transport_security(host, allow_hosts), host=host)
    return BearerAuth(app, token) if token else app


async def run_http(server: MCPServer[Any], *, host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
                   allow_hosts: Iterable[str] = (), log_level: str = "warning") -> None:
    """Serve streamable HTTP at http://host:port/mcp until cancelled (SIGINT/SIGTERM stop uvicorn)."""
    import uvicorn

    app = http_app(server, host=host, token=token, allow_hosts=allow_hosts)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on")
    await uvicorn.Server(config).serve()
