"""Simulated venues: the server side of each venue's protocol, one module per venue.

Each module defines ``SIM_VENUE`` (a ``SimVenue`` subclass) for the venue id of the same name
in ``cryptoflow.venues``.
"""

from __future__ import annotations

import importlib

from cryptoflow.errors import UnknownVenueError
from cryptoflow.sim.protocol import SimVenue
from cryptoflow.venues import VENUE_IDS


def sim_venue_class(venue_id: str) -> type[SimVenue]:
    if venue_id not in VENUE_IDS:
        raise UnknownVenueError(f"unknown venue {venue_id!r}; venues are: {', '.join(VENUE_IDS)}")
    return importlib.import_module(f"cryptoflow.sim.venues.{venue_id}").SIM_VENUE
