"""Binance USD-M futures.

Streams are routed: depth and bookTicker on ``/public``, everything else (aggTrade, markPrice,
kline, ticker, forceOrder) on ``/market`` — the legacy unrouted URL silently stops sending the
/market streams. Book sync: REST ``/fapi/v1/depth`` snapshot, drop ``u < lastUpdateId``, first
diff ``U <= lastUpdateId <= u``, then ``pu == previous u``. Open interest has no stream: polled.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from cryptoflow.events import OpenInterest
from cryptoflow.venues.base import ALL_STREAMS, BookSyncSpec, Endpoints, Item, Link, Subscription, SyncMode, ms_to_ns
from cryptoflow.venues.binance_common import OI_REST, BinanceVenue

_PUBLIC_STREAMS = frozenset(("book", "bbo"))


class BinanceUsdm(BinanceVenue):
    id = "binance_usdm"
    market = "perp"
    markets = ("perp",)
    streams = {"perp": ALL_STREAMS}
    rest_polled = frozenset(("open_interest",))
    default_endpoints = Endpoints(
        ws={"public": "wss://fstream.binance.com/public/stream", "market": "wss://fstream.binance.com/market/stream"},
        rest="https://fapi.binance.com",
    )
    book_sync = BookSyncSpec(SyncMode.REST_DIFF, Link.PREV, rest_offset=0)
    depth_path = "/fapi/v1/depth"
    exchange_info_path = "/fapi/v1/exchangeInfo"
    oi_path = "/fapi/v1/openInterest"

    def ws_url(self, sub: Subscription) -> str:
        return self.endpoints.ws["public" if sub.stream in _PUBLIC_STREAMS else "market"]

    def open_interest_url(self, inst) -> str:  # type: ignore[no-untyped-def]
        return f"{self.endpoints.rest}{self.oi_path}?symbol={inst.native}"

    def parse_rest(self, url: str, body: bytes, ts_recv: int) -> list[Item]:
        if urlsplit(url).path.endswith(self.oi_path):
            oi = OI_REST.decode(body)
            inst = self.lookup(oi.symbol)
            return [
                OpenInterest(
                    self.id,
                    self.market,
                    inst.symbol,
                    ms_to_ns(oi.time),
                    ts_recv,
                    oi.openInterest,
                    inst.to_base(oi.openInterest, 1.0),
                    None,
                )
            ]
        return super().parse_rest(url, body, ts_recv)


VENUE = BinanceUsdm
