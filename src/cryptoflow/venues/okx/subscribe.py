"""OKX channel map and (un)subscribe messages.

One stream kind maps to one or two OKX channels (``mark_price`` also needs the index price,
which OKX pushes on ``index-tickers`` keyed by the index id ``BTC-USDT``). Candles live on the
``/business`` endpoint since 2023; everything else on ``/public``. ``liquidation-orders`` is
subscribed by instrument type (every SWAP), never per instrument: the decoder filters it.

Limits (OKX docs): subscribe requests are counted (480 per connection per hour, 3 per second
per IP) and one request may carry many ``args`` up to 64 KB, so args are batched.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from cryptoflow.errors import VenueError
from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import Subscription

ARGS_PER_MESSAGE = 100  # ~5 KB per request, far below the 64 KB cap

# our interval -> OKX candle channel ("1Dutc": the UTC day; plain "1D" is the UTC+8 day)
CANDLE_CHANNELS: dict[str, str] = {
    "1m": "candle1m",
    "3m": "candle3m",
    "5m": "candle5m",
    "15m": "candle15m",
    "30m": "candle30m",
    "1h": "candle1H",
    "2h": "candle2H",
    "4h": "candle4H",
    "1d": "candle1Dutc",
}
CANDLE_INTERVALS: dict[str, str] = {ch: iv for iv, ch in CANDLE_CHANNELS.items()}

LIQUIDATION_ARG: dict[str, str] = {"channel": "liquidation-orders", "instType": "SWAP"}
BOOK5_MAX_DEPTH = 5  # a requested depth up to 5 uses books5 (full top 5 each push)


def index_id(inst: Instrument) -> str:
    """The OKX index a perp marks against: BTC-USDT-SWAP -> BTC-USDT, BTC-USD-SWAP -> BTC-USD."""
    return f"{inst.base}-{inst.quote}"


def channel_args(sub: Subscription) -> list[dict[str, str]]:
    """The OKX subscribe ``args`` one subscription needs."""
    native = sub.instrument.native
    match sub.stream:
        case "trade":
            return [{"channel": "trades", "instId": native}]
        case "bbo":
            return [{"channel": "bbo-tbt", "instId": native}]
        case "book":
            small = sub.depth is not None and sub.depth <= BOOK5_MAX_DEPTH
            return [{"channel": "books5" if small else "books", "instId": native}]
        case "ticker":
            return [{"channel": "tickers", "instId": native}]
        case "candle":
            interval = sub.interval or "1m"
            channel = CANDLE_CHANNELS.get(interval)
            if channel is None:
                raise VenueError(f"okx has no {interval!r} candles; intervals: {', '.join(CANDLE_CHANNELS)}")
            return [{"channel": channel, "instId": native}]
    if sub.instrument.market != "perp":
        raise VenueError(f"okx has no {sub.stream} stream for {sub.instrument.market} ({native})")
    match sub.stream:
        case "mark_price":
            return [
                {"channel": "mark-price", "instId": native},
                {"channel": "index-tickers", "instId": index_id(sub.instrument)},
            ]
        case "funding":
            return [{"channel": "funding-rate", "instId": native}]
        case "open_interest":
            return [{"channel": "open-interest", "instId": native}]
        case "liquidation":
            return [dict(LIQUIDATION_ARG)]
    raise VenueError(f"okx has no websocket stream {sub.stream!r}")


def unique_args(subs: Iterable[Subscription]) -> list[dict[str, str]]:
    """All args of the subscriptions, first occurrence kept (liquidation-orders appears once)."""
    seen: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    for sub in subs:
        for arg in channel_args(sub):
            seen.setdefault(tuple(arg.items()), arg)
    return list(seen.values())


def op_messages(op: str, args: list[dict[str, str]]) -> list[str]:
    """``{"op": op, "args": [...]}`` texts, ``ARGS_PER_MESSAGE`` args each."""
    n = ARGS_PER_MESSAGE
    return [msgspec.json.encode({"op": op, "args": args[i : i + n]}).decode() for i in range(0, len(args), n)]
