"""Live state: the latest event of each kind per venue, market and symbol.

Kept in memory by the collector so "now" questions (prices, funding, arbitrage) never touch
storage; ``snapshot()`` gives a JSON-able copy for other processes (written with health).
"""

from __future__ import annotations

from typing import Any

import msgspec

from cryptoflow.events import Event, kind_of


class LiveState:
    def __init__(self) -> None:
        self.latest: dict[tuple[str, str, str, str], Event] = {}

    def update(self, event: Event) -> None:
        self.latest[(kind_of(event), event.venue, event.market, event.symbol)] = event

    def get(self, kind: str, venue: str, market: str, symbol: str) -> Event | None:
        return self.latest.get((kind, venue, market, symbol))

    def of_kind(self, kind: str, symbol: str | None = None) -> list[Event]:
        return [e for (k, _v, _m, s), e in self.latest.items() if k == kind and (symbol is None or s == symbol)]

    def snapshot(self) -> list[dict[str, Any]]:
        return [msgspec.to_builtins(e) for e in self.latest.values()]
