"""Bybit v5 topics and subscribe/unsubscribe/ping messages.

Topics (one connection per category: /v5/public/linear for perps, /v5/public/spot for spot):
``publicTrade.{S}``, ``orderbook.{depth}.{S}`` (1 = top of book, snapshots only), ``tickers.{S}``,
``kline.{interval}.{S}``, ``allLiquidation.{S}`` (linear only; the old ``liquidation`` topic is gone).
A subscribe request takes at most 10 args on spot (linear: no count limit, 21,000 characters of args
per connection); we send at most 10 everywhere.
"""

from __future__ import annotations

import msgspec

from cryptoflow.errors import DecodeError
from cryptoflow.venues.base import Subscription

ARGS_PER_MESSAGE = 10
PING = '{"op":"ping"}'

# our interval -> Bybit kline interval, and back
INTERVAL_TO_WIRE: dict[str, str] = {
    "1m": "1", "3m": "3", "5m": "5", "15m": "15", "30m": "30", "1h": "60", "2h": "120", "4h": "240",
    "6h": "360", "12h": "720", "1d": "D", "1w": "W", "1M": "M",
}
WIRE_TO_INTERVAL: dict[str, str] = {v: k for k, v in INTERVAL_TO_WIRE.items()}

# Order-book depths offered for a maintained book (1 is the top-of-book / bbo stream).
BOOK_DEPTHS: tuple[int, ...] = (50, 200, 1000)
DEFAULT_BOOK_DEPTH = 50  # 20 ms pushes; enough for the 20 stored levels

# stream kind -> topic prefix; several kinds share the tickers topic (deduplicated per message)
_TICKER_STREAMS = frozenset(("ticker", "mark_price", "funding", "open_interest"))


def book_topic_depth(requested: int | None) -> int:
    """Smallest offered depth that covers the requested number of levels."""
    if requested is None:
        return DEFAULT_BOOK_DEPTH
    for d in BOOK_DEPTHS:
        if requested <= d:
            return d
    return BOOK_DEPTHS[-1]


def topic(sub: Subscription) -> str:
    """The Bybit topic carrying a subscription's stream."""
    sym = sub.instrument.native
    stream = sub.stream
    if stream == "trade":
        return f"publicTrade.{sym}"
    if stream == "bbo":
        return f"orderbook.1.{sym}"
    if stream == "book":
        return f"orderbook.{book_topic_depth(sub.depth)}.{sym}"
    if stream == "candle":
        interval = sub.interval or "1m"
        wire = INTERVAL_TO_WIRE.get(interval)
        if wire is None:
            raise DecodeError("unsupported_interval", f"bybit has no {interval!r} klines; use one of "
                              + ", ".join(INTERVAL_TO_WIRE))
        return f"kline.{wire}.{sym}"
    if stream in _TICKER_STREAMS and (stream == "ticker" or sub.instrument.market == "perp"):
        return f"tickers.{sym}"
    if stream == "liquidation" and sub.instrument.market == "perp":
        return f"allLiquidation.{sym}"
    raise DecodeError("unsupported_stream", f"bybit has no {sub.instrument.market} websocket stream for {stream}")


def op_messages(op: str, subs: list[Subscription]) -> list[str]:
    """``{"op": op, "req_id": n, "args": [...]}`` messages, topics deduplicated, 10 args each."""
    topics = list(dict.fromkeys(topic(s) for s in subs))
    n = ARGS_PER_MESSAGE
    return [
        msgspec.json.encode({"op": op, "req_id": i // n + 1, "args": topics[i : i + n]}).decode()
        for i in range(0, len(topics), n)
    ]
