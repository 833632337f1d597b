"""Venue protocol modules, one per venue, looked up by id.

Adding a venue: write ``venues/<id>.py`` (or a package) with a ``Venue`` subclass named
``VENUE`` at module level, add its id here, and a bundled instruments table in
``data/instruments/<id>.json``. Nothing else in the project changes.
"""

from __future__ import annotations

import importlib

from cryptoflow.errors import UnknownVenueError
from cryptoflow.symbols import InstrumentRegistry
from cryptoflow.venues.base import Endpoints, Venue

VENUE_IDS: tuple[str, ...] = (
    "binance_usdm",
    "binance_spot",
    "bybit",
    "okx",
    "kraken_futures",
    "gateio",
    "deribit",
    "hyperliquid",
)


def venue_class(venue_id: str) -> type[Venue]:
    if venue_id not in VENUE_IDS:
        raise UnknownVenueError(f"unknown venue {venue_id!r}; venues are: {', '.join(VENUE_IDS)}")
    module = importlib.import_module(f"cryptoflow.venues.{venue_id}")
    return module.VENUE


def get_venue(venue_id: str, registry: InstrumentRegistry | None = None, endpoints: Endpoints | None = None) -> Venue:
    """An instance of the venue's protocol, bound to a registry and endpoints."""
    return venue_class(venue_id)(registry=registry, endpoints=endpoints)


__all__ = ["VENUE_IDS", "Venue", "get_venue", "venue_class"]
