"""Analytics: pure functions over query results (no I/O, no server types).

Modules are imported by callers directly (``from cryptoflow.analytics import cross_venue``) so
that importing the package stays cheap for the MCP server's start-up:

- ``cross_venue``: cross-exchange arbitrage, venue x venue spread matrix, venue comparison,
  funding carry, and the per-venue taker fee table those use (with sources).
- ``market_context``: order-book depth and imbalance, "now vs history" price statistics.
- ``queries_live``: the parameterized SQL the MCP server needs beyond ``store.queries``
  (latest row per venue, recent trades, coverage, paged history). It belongs in
  ``store/queries.py`` and is kept in one module so it can be moved there whole.
"""

from __future__ import annotations
