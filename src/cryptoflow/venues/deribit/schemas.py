"""Deribit wire schemas (JSON-RPC 2.0), field names exactly as on the wire, one decoder each.

Every frame is a JSON-RPC object: a response ``{"id": n, "result": ...}`` or
``{"id": n, "error": {"code", "message"}}`` to one of our requests, a subscription push
``{"method": "subscription", "params": {"channel", "data"}}``, or a server heartbeat
``{"method": "heartbeat", "params": {"type": "heartbeat" | "test_request"}}``. The envelope is
decoded once with ``params.data`` left raw; the payload is then decoded by the channel's schema.
Subscription pushes in Deribit's own key order (``{"jsonrpc":"2.0","method":"subscription",
"params":{"channel":"...``, every live frame) take a faster path: the channel is read from the
prefix and the whole frame decoded in one pass with the channel's ``Push[...]`` schema.

Units on the wire: ``amount`` (trades, books, quotes) and ``open_interest`` are USD for inverse
perpetuals and futures (BTC-PERPETUAL, BTC-24SEP21) and base-currency coins for linear
perpetuals (SOL_USDC-PERPETUAL) and options. Times are integer milliseconds.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

T = TypeVar("T")

# A level of a raw/100ms book: [action, price, amount], action "new" | "change" | "delete".
DiffLevels = list[tuple[str, float, float]]
# A level of a grouped book (book.X.none.10.100ms): [price, amount].
Levels = list[tuple[float, float]]


class Params(msgspec.Struct):
    channel: str | None = None  # subscription pushes
    data: msgspec.Raw = msgspec.Raw()  # subscription payload, decoded by the channel's schema
    type: str | None = None  # heartbeat pushes: "heartbeat" | "test_request"


class RpcError(msgspec.Struct):
    code: int
    message: str
    data: msgspec.Raw = msgspec.Raw()  # usually null; extra detail when present


class Envelope(msgspec.Struct):
    method: str | None = None  # "subscription" | "heartbeat"
    params: Params | None = None
    id: int | None = None  # echoes our request id on responses
    result: msgspec.Raw = msgspec.Raw()  # subscribe: list of channels; set_heartbeat: "ok"; test: {version}
    error: RpcError | None = None


class WsTrade(msgspec.Struct):
    trade_id: str | int  # a string today; integers in some historical data
    instrument_name: str
    timestamp: int
    price: float
    amount: float  # USD for inverse, base coins for linear and options
    direction: str  # aggressor side: "buy" | "sell"
    # "M": the maker was being liquidated, "T": the taker, "MT": both. Absent otherwise.
    liquidation: str | None = None


class BookDiff(msgspec.Struct):
    """book.{instrument}.{interval}: first a snapshot, then changes chained by change_id."""

    instrument_name: str
    timestamp: int
    change_id: int
    bids: DiffLevels
    asks: DiffLevels
    type: str  # "snapshot" | "change"
    prev_change_id: int | None = None  # absent on snapshots


class BookGrouped(msgspec.Struct):
    """book.{instrument}.{group}.{depth}.{interval}: a full top-N snapshot every push."""

    instrument_name: str
    timestamp: int
    change_id: int
    bids: Levels
    asks: Levels


class Quote(msgspec.Struct):
    instrument_name: str
    timestamp: int
    best_bid_price: float | None  # null when that side is empty
    best_bid_amount: float | None
    best_ask_price: float | None
    best_ask_amount: float | None


class TickerStats(msgspec.Struct):
    volume: float | None = None  # 24 h, base currency
    volume_usd: float | None = None
    volume_notional: float | None = None  # 24 h, quote currency (futures and spot)
    high: float | None = None
    low: float | None = None
    price_change: float | None = None  # 24 h change in percent


class Ticker(msgspec.Struct):
    instrument_name: str
    timestamp: int
    mark_price: float
    index_price: float | None = None
    last_price: float | None = None
    open_interest: float | None = None  # USD for inverse, base coins for linear
    current_funding: float | None = None  # perpetuals: the funding rate now, on the 8 h basis
    funding_8h: float | None = None  # perpetuals: funding paid over the trailing 8 h
    stats: TickerStats | None = None


class ChartBar(msgspec.Struct):
    """chart.trades.{instrument}.{resolution}: the current candle, re-sent as it changes."""

    tick: int  # candle open time, ms
    open: float
    high: float
    low: float
    close: float
    volume: float  # base currency
    cost: float  # quote currency (USD for inverse contracts)


class RestInstrument(msgspec.Struct):
    instrument_name: str
    kind: str  # "future" | "option" | "spot" | "future_combo" | "option_combo"
    base_currency: str
    quote_currency: str
    is_active: bool = True
    settlement_period: str | None = None  # "perpetual" | "day" | "week" | "month" ...
    instrument_type: str | None = None  # "linear" | "reversed"
    future_type: str | None = None  # deprecated twin of instrument_type
    settlement_currency: str | None = None
    contract_size: float | None = None  # USD per contract (inverse) or coins (linear); not the wire unit
    tick_size: float | None = None


class RestInstruments(msgspec.Struct):
    result: list[RestInstrument]


class PushParams(msgspec.Struct, Generic[T]):
    channel: str
    data: T


class Push(msgspec.Struct, Generic[T]):
    """A whole subscription frame with its payload typed (one decoding pass)."""

    params: PushParams[T]


class ChannelSchema(msgspec.Struct, frozen=True):
    """The two decoders of one channel kind: payload only (after ENVELOPE) and whole frame."""

    data: msgspec.json.Decoder
    push: msgspec.json.Decoder


def _schema(t: object) -> ChannelSchema:
    return ChannelSchema(msgspec.json.Decoder(t), msgspec.json.Decoder(Push[t]))  # type: ignore[valid-type]


ENVELOPE = msgspec.json.Decoder(Envelope)
TRADES = _schema(list[WsTrade])
BOOK_DIFF = _schema(BookDiff)
BOOK_GROUPED = _schema(BookGrouped)
QUOTE = _schema(Quote)
TICKER = _schema(Ticker)
CHART = _schema(ChartBar)
INSTRUMENTS = msgspec.json.Decoder(RestInstruments)

# every live subscription frame starts with exactly this (Deribit's key order)
PUSH_PREFIX = b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"'
