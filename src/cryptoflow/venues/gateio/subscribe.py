"""Gate.io futures subscribe / unsubscribe / ping messages.

Requests are ``{"time": <s>, "channel": "futures.xxx", "event": "subscribe"|"unsubscribe",
"payload": [...]}``. Channels that take a contract list (trades, book_ticker, tickers,
public_liquidates) are batched; order_book_update takes ``[contract, frequency, level]`` and
candlesticks ``[interval, contract]``, one message each. The unsubscribe payload is the
subscribe payload.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from cryptoflow.errors import DecodeError
from cryptoflow.venues.base import Subscription

# stream kind -> channel. One futures.tickers subscription feeds mark price, funding, open
# interest (total_size) and the 24h ticker.
CHANNELS: dict[str, str] = {
    "trade": "futures.trades",
    "bbo": "futures.book_ticker",
    "book": "futures.order_book_update",
    "mark_price": "futures.tickers",
    "funding": "futures.tickers",
    "open_interest": "futures.tickers",
    "ticker": "futures.tickers",
    "liquidation": "futures.public_liquidates",
    "candle": "futures.candlesticks",
}
LIST_CHANNELS = frozenset(("futures.trades", "futures.book_ticker", "futures.tickers", "futures.public_liquidates"))

BOOK_FREQUENCY = "100ms"  # "20ms" is allowed only with level "20"
BOOK_LEVELS = (100, 50, 20)  # allowed order_book_update levels
DEFAULT_BOOK_LEVEL = 100  # matches the REST snapshot limit
CONTRACTS_PER_MESSAGE = 100

_encode = msgspec.json.Encoder().encode


def book_level(sub: Subscription) -> int:
    return sub.depth if sub.depth in BOOK_LEVELS else DEFAULT_BOOK_LEVEL


def payloads(subs: list[Subscription]) -> list[tuple[str, list[str]]]:
    """(channel, payload) pairs for subscriptions, deduplicated, contract lists batched."""
    lists: dict[str, list[str]] = {}
    singles: dict[tuple[str, ...], None] = {}
    for sub in subs:
        channel = CHANNELS.get(sub.stream)
        if channel is None:
            raise DecodeError("unsupported_stream", f"gateio has no websocket stream for {sub.stream}")
        native = sub.instrument.native
        if channel in LIST_CHANNELS:
            contracts = lists.setdefault(channel, [])
            if native not in contracts:
                contracts.append(native)
        elif channel == "futures.order_book_update":
            singles[(channel, native, BOOK_FREQUENCY, str(book_level(sub)))] = None
        else:  # candlesticks
            singles[(channel, sub.interval or "1m", native)] = None
    out: list[tuple[str, list[str]]] = []
    n = CONTRACTS_PER_MESSAGE
    for channel, contracts in lists.items():
        out.extend((channel, contracts[i : i + n]) for i in range(0, len(contracts), n))
    out.extend((key[0], list(key[1:])) for key in singles)
    return out


def messages(event: str, subs: list[Subscription], now: Callable[[], float] | None = None) -> list[str]:
    t = int((now or time.time)())
    return [
        _encode({"time": t, "channel": channel, "event": event, "payload": payload}).decode()
        for channel, payload in payloads(subs)
    ]


def ping(now: Callable[[], float] | None = None) -> str:
    """Application-level ping; the server answers ``{"channel": "futures.pong", ...}``."""
    return _encode({"time": int((now or time.time)()), "channel": "futures.ping"}).decode()
