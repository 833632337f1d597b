"""Binance spot.

One combined-stream endpoint. Book sync: REST ``/api/v3/depth`` snapshot, drop
``u <= lastUpdateId``, first diff ``U <= lastUpdateId + 1 <= u``, then ``U == previous u + 1``.
Spot has no mark price, funding, open interest or liquidations.
"""

from __future__ import annotations

from cryptoflow.venues.base import SPOT_STREAMS, BookSyncSpec, Endpoints, Link, Subscription, SyncMode
from cryptoflow.venues.binance_common import BinanceVenue


class BinanceSpot(BinanceVenue):
    id = "binance_spot"
    market = "spot"
    markets = ("spot",)
    streams = {"spot": SPOT_STREAMS}
    default_endpoints = Endpoints(ws={"public": "wss://stream.binance.com:9443/stream"}, rest="https://api.binance.com")
    book_sync = BookSyncSpec(SyncMode.REST_DIFF, Link.NEXT, rest_offset=1)
    depth_path = "/api/v3/depth"
    exchange_info_path = "/api/v3/exchangeInfo"
    idle_timeout_s = 120.0

    def ws_url(self, sub: Subscription) -> str:
        return self.endpoints.ws["public"]


VENUE = BinanceSpot
