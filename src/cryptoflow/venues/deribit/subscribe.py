"""Deribit channel names and JSON-RPC request messages.

Anonymous connections get the ``100ms`` aggregation; ``raw`` channels need an authenticated
connection, so we never subscribe to them (captures that did still decode). Request ids tell
responses apart: subscribe batches count up from ``SUBSCRIBE_ID0``, unsubscribe batches from
``UNSUBSCRIBE_ID0``, and two fixed ids mark set_heartbeat and public/test.
"""

from __future__ import annotations

import msgspec

from cryptoflow.errors import ConfigError
from cryptoflow.venues.base import Subscription

HEARTBEAT_ID = 1  # public/set_heartbeat
TEST_ID = 2  # public/test, our answer to the server's test_request
SUBSCRIBE_ID0 = 10
UNSUBSCRIBE_ID0 = 1_000_000

HEARTBEAT_INTERVAL_S = 30  # the server accepts >= 10 s; it sends a test_request at this period
CHANNELS_PER_MESSAGE = 100  # subscribe requests are rate-limited (burst 10): few, large batches

# candle interval -> chart.trades resolution (minutes, or "1D"); only those both sides know
RESOLUTIONS: dict[str, str] = {
    "1m": "1",
    "3m": "3",
    "5m": "5",
    "15m": "15",
    "30m": "30",
    "1h": "60",
    "2h": "120",
    "1d": "1D",
}
INTERVAL_OF_RESOLUTION: dict[str, str] = {v: k for k, v in RESOLUTIONS.items()}
GROUPED_DEPTHS: tuple[int, ...] = (1, 10, 20)  # levels the grouped book channel accepts

_encode = msgspec.json.Encoder().encode


def request(method: str, params: dict[str, object], id_: int) -> str:
    """A JSON-RPC request, keys in the order Deribit's own examples (and captures) use."""
    return _encode({"jsonrpc": "2.0", "id": id_, "method": method, "params": params}).decode()


SET_HEARTBEAT = request("public/set_heartbeat", {"interval": HEARTBEAT_INTERVAL_S}, HEARTBEAT_ID)
TEST = request("public/test", {}, TEST_ID)


def channel(sub: Subscription) -> str:
    """The channel carrying a subscription's stream for its instrument."""
    name = sub.instrument.native
    match sub.stream:
        case "trade" | "liquidation":  # liquidations are flagged trades
            return f"trades.{name}.100ms"
        case "bbo":
            return f"quote.{name}"
        case "book":
            if sub.depth is None:
                return f"book.{name}.100ms"
            depth = next((d for d in GROUPED_DEPTHS if d >= sub.depth), GROUPED_DEPTHS[-1])
            return f"book.{name}.none.{depth}.100ms"
        case "mark_price" | "funding" | "open_interest" | "ticker":
            return f"ticker.{name}.100ms"
        case "candle":
            interval = sub.interval or "1m"
            res = RESOLUTIONS.get(interval)
            if res is None:
                raise ConfigError(f"deribit has no {interval!r} candles; intervals: {', '.join(RESOLUTIONS)}")
            return f"chart.trades.{name}.{res}"
    raise ConfigError(f"deribit has no websocket stream {sub.stream!r}")


def _batched(method: str, subs: list[Subscription], id0: int) -> list[str]:
    names = list(dict.fromkeys(channel(s) for s in subs))  # streams sharing a channel subscribe once
    n = CHANNELS_PER_MESSAGE
    return [request(method, {"channels": names[i : i + n]}, id0 + i // n) for i in range(0, len(names), n)]


def subscribe_messages(subs: list[Subscription]) -> list[str]:
    return _batched("public/subscribe", subs, SUBSCRIBE_ID0)


def unsubscribe_messages(subs: list[Subscription]) -> list[str]:
    return _batched("public/unsubscribe", subs, UNSUBSCRIBE_ID0)
