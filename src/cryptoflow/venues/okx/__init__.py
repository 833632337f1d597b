"""OKX v5 public market data (perp SWAP and spot): see ``venue.py`` for the protocol summary."""

from __future__ import annotations

from cryptoflow.venues.okx.venue import OkxVenue

VENUE = OkxVenue

__all__ = ["VENUE", "OkxVenue"]
