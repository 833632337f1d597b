"""OKX v5 public market data: perps (SWAP, ``BTC-USDT-SWAP``) and spot (``BTC-USDT``).

Endpoints: ``wss://ws.okx.com:8443/ws/v5/public`` for books, bbo-tbt, trades, tickers,
funding-rate, mark-price, index-tickers, open-interest and liquidation-orders;
``/ws/v5/business`` for candles (moved off /public in 2023). Heartbeat: the client sends the
text ``ping`` when idle (the venue drops a connection after 30 s without traffic) and gets the
text ``pong``. Book sync: in-stream snapshot, then ``prevSeqId == previous seqId``
(``STREAM_SEQ`` + ``Link.PREV``); the ``checksum`` field is 0 since June 2026 and not used.

Sizes: SWAP quantities are contracts. Linear (USDT) contracts are worth ``ctVal`` base units
(BTC 0.01, ETH 0.1 ...); inverse (USD) contracts are worth ``ctVal`` USD (BTC 100, others 10),
so base = contracts * ctVal / price. Spot sizes are base units.
"""

from __future__ import annotations

import re
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

from cryptoflow.symbols import ContractType, Instrument, InstrumentRegistry
from cryptoflow.venues.base import (
    ALL_STREAMS,
    SPOT_STREAMS,
    BookSyncSpec,
    ConnectionPlan,
    Endpoints,
    Link,
    Subscription,
    SyncMode,
    Venue,
)
from cryptoflow.venues.okx import schemas as s
from cryptoflow.venues.okx.parse import OkxDecoder
from cryptoflow.venues.okx.subscribe import CANDLE_CHANNELS, LIQUIDATION_ARG, op_messages, unique_args

_INSTRUMENTS_PATH = "/api/v5/public/instruments"
_SWAP = re.compile(r"^([A-Z0-9]+)-([A-Z0-9]+)-SWAP$")
_SPOT = re.compile(r"^([A-Z0-9]+)-([A-Z0-9]+)$")
# Crypto-margined (inverse) contracts: 100 USD per contract for BTC, 10 USD for every other coin.
INVERSE_USD_PER_CONTRACT = {"BTC": 100.0}
INVERSE_USD_DEFAULT = 10.0
_LIVE_STATES = frozenset(("live", "suspend", "preopen"))
_CONTRACT_TYPES: dict[str, ContractType] = {"linear": "linear", "inverse": "inverse"}


def perp_symbol(base: str, quote: str) -> str:
    """Canonical perp symbol: BASE+QUOTE (the main USDT perp gives BTCUSDT, inverse BTCUSD)."""
    return f"{base}{quote}"


class OkxVenue(Venue):
    id = "okx"
    exchange = "okx"
    markets = ("perp", "spot")
    streams: ClassVar[dict[str, frozenset[str]]] = {
        "perp": ALL_STREAMS,
        "spot": SPOT_STREAMS,
    }
    default_endpoints = Endpoints(
        ws={"public": "wss://ws.okx.com:8443/ws/v5/public", "business": "wss://ws.okx.com:8443/ws/v5/business"},
        rest="https://www.okx.com",
    )
    # OKX counts requests (480 subscribe requests/hour, 3/s per IP) and caps one request at
    # 64 KB, not channels per connection; 200 subscriptions keep a reconnect's resubscribe to
    # a handful of requests.
    max_subscriptions_per_connection = 200
    max_connection_lifetime_s = None
    ping_interval_s = 20.0  # text "ping" well inside the 30 s idle cut-off
    idle_timeout_s = 30.0
    book_sync = BookSyncSpec(SyncMode.STREAM_SEQ, Link.PREV)
    book_depth = 20
    candle_intervals = tuple(CANDLE_CHANNELS)

    def __init__(self, registry: InstrumentRegistry | None = None, endpoints: Endpoints | None = None) -> None:
        super().__init__(registry=registry, endpoints=endpoints)
        # Native ids whose liquidations we want: liquidation-orders pushes every SWAP.
        self.liquidation_watch: set[str] = set()

    # ---- instruments -----------------------------------------------------------------------
    def infer_instrument(self, native: str) -> Instrument | None:
        """Certain only for spot (sizes in base) and inverse USD swaps (documented ctVal rule);
        linear swaps' ctVal varies per coin, so those must come from the table or REST."""
        s_ = native.upper()
        if m := _SWAP.match(s_):
            base, quote = m.groups()
            if quote != "USD":
                return None
            size = INVERSE_USD_PER_CONTRACT.get(base, INVERSE_USD_DEFAULT)
            return Instrument(self.id, s_, perp_symbol(base, quote), "perp", base, quote, "inverse", size)
        if m := _SPOT.match(s_):
            base, quote = m.groups()
            return Instrument(self.id, s_, base + quote, "spot", base, quote, "spot", 1.0)
        return None  # dated futures, options, anything else

    def instruments_urls(self) -> list[str]:
        rest = self.endpoints.rest
        return [f"{rest}{_INSTRUMENTS_PATH}?instType=SWAP", f"{rest}{_INSTRUMENTS_PATH}?instType=SPOT"]

    def parse_instruments(self, url: str, body: bytes) -> list[Instrument]:
        parts = urlsplit(url)
        if not parts.path.endswith(_INSTRUMENTS_PATH):
            return []
        wanted = parse_qs(parts.query).get("instType", ["SWAP", "SPOT"])
        out: list[Instrument] = []
        for r in s.REST_INSTRUMENTS.decode(body).data:
            if r.instType not in wanted or r.state not in _LIVE_STATES:
                continue
            tick = float(r.tickSz) if r.tickSz else None
            if r.instType == "SPOT" and r.baseCcy and r.quoteCcy:
                out.append(
                    Instrument(
                        self.id, r.instId, r.baseCcy + r.quoteCcy, "spot", r.baseCcy, r.quoteCcy, "spot", 1.0, tick
                    )
                )
            elif r.instType == "SWAP" and r.ctVal and (kind := _CONTRACT_TYPES.get(r.ctType)) is not None:
                family = r.instFamily or r.uly
                base, _, quote = family.partition("-")
                if not base or not quote:
                    continue
                size = float(r.ctVal) * (float(r.ctMult) if r.ctMult else 1.0)
                out.append(
                    Instrument(self.id, r.instId, perp_symbol(base, quote), "perp", base, quote, kind, size, tick)
                )
        return out

    # ---- connections -----------------------------------------------------------------------
    def ws_url(self, sub: Subscription) -> str:
        return self.endpoints.ws["business" if sub.stream == "candle" else "public"]

    def plan_connections(self, subs: list[Subscription]) -> list[ConnectionPlan]:
        """As the base plan, but the SWAP-wide liquidation feed gets one connection of its own,
        so it is subscribed once however the other subscriptions are sharded."""
        liq = [x for x in subs if x.stream == "liquidation"]
        plans = super().plan_connections([x for x in subs if x.stream != "liquidation"])
        if liq:
            url = self.endpoints.ws["public"]
            plans.append(
                ConnectionPlan(url=url, subscriptions=tuple(liq), subscribe=tuple(self.subscribe_messages(liq)))
            )
        return plans

    def subscribe_messages(self, subs: list[Subscription]) -> list[str]:
        self.liquidation_watch.update(x.instrument.native for x in subs if x.stream == "liquidation")
        return op_messages("subscribe", unique_args(subs))

    def unsubscribe_messages(self, subs: list[Subscription]) -> list[str]:
        self.liquidation_watch.difference_update(x.instrument.native for x in subs if x.stream == "liquidation")
        args = unique_args(subs)
        if self.liquidation_watch:  # others still want the SWAP-wide feed: keep it
            args = [a for a in args if a != LIQUIDATION_ARG]
        return op_messages("unsubscribe", args)

    def ping_message(self) -> str:
        return "ping"

    def new_decoder(self) -> OkxDecoder:
        return OkxDecoder(self)
