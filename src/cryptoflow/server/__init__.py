"""The MCP server: cryptoflow's data as tools for AI assistants (official ``mcp`` SDK, MCPServer).

Layout: ``app`` builds the server from toolsets (``market``, ``arbitrage``, ``history``,
``streaming``; each a few ``tools_*`` modules with ``register(server, ctx)``) and runs it over stdio
or streamable HTTP; ``context`` holds the shared state (read-only lake, optional in-process
collector); ``sources`` answers "now" from live state or the store; ``params`` is what every tool
shares (argument types, errors, result shaping); ``models`` are the structured outputs;
``security`` the HTTP exposure rules; ``resources`` the schema and venue reference.

Tools hold no logic: they validate arguments, call one function (store queries,
``analytics.*``), and shape its result.
"""

from __future__ import annotations

from cryptoflow.server.app import INSTRUCTIONS, TOOLSETS, build_server, http_app, run_http, run_stdio
from cryptoflow.server.context import ServerContext

__all__ = ["INSTRUCTIONS", "TOOLSETS", "ServerContext", "build_server", "http_app", "run_http", "run_stdio"]
