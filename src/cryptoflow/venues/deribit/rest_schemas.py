"""Deribit public REST (``GET /api/v2/public/<method>?<params>``) response schemas, one decoder each.

Every answer is a JSON-RPC 2.0 object: ``{"jsonrpc":"2.0","result":...,"usIn","usOut","usDiff",
"testnet"}`` on success (HTTP 200) or ``{"jsonrpc":"2.0","error":{"message","data","code"},...}``
with HTTP 400 (429 for ``10028 too_many_requests``). Field names exactly as on the wire; numbers
are JSON numbers, times integer ms. ``result`` and ``error`` both default to None so that one
decode tells success from failure.

Units: ``amount`` and ``open_interest`` are USD for inverse perpetuals (BTC-PERPETUAL) and base
coins for linear ones (SOL_USDC-PERPETUAL) and for options; chart ``volume`` is base currency,
``cost`` quote currency; ``mark_iv`` is in percent points; DVOL values are percent points.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

from cryptoflow.venues.deribit.schemas import RpcError, Ticker, WsTrade

T = TypeVar("T")

Levels = list[tuple[float, float]]  # [price, amount]


class Response(msgspec.Struct, Generic[T]):
    result: T | None = None
    error: RpcError | None = None


class ErrorEnvelope(msgspec.Struct):
    """Just the error of an answer (``classify`` and ``error_message``); ``result`` ignored."""

    error: RpcError | None = None


class ErrorData(msgspec.Struct):
    """``error.data`` of parameter errors: ``{"reason": "instrument not found", "param": "..."}``."""

    reason: str | None = None
    param: str | None = None


class OrderBook(msgspec.Struct):
    """public/get_order_book: the top ``depth`` levels plus the ticker fields (not used here)."""

    instrument_name: str
    timestamp: int
    bids: Levels  # best first
    asks: Levels
    change_id: int | None = None


class RestTrade(WsTrade):
    trade_seq: int | None = None  # per-instrument sequence: orders trades of the same ms


class Trades(msgspec.Struct):
    """public/get_last_trades_by_instrument."""

    trades: list[RestTrade]
    has_more: bool = False


class Chart(msgspec.Struct):
    """public/get_tradingview_chart_data: parallel arrays, ascending ``ticks`` (bar open times)."""

    ticks: list[int]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[float]  # base currency
    cost: list[float]  # quote currency (USD for inverse contracts)
    status: str = "ok"  # "ok" | "no_data"


class FundingPoint(msgspec.Struct):
    """public/get_funding_rate_history: one point per hour (ascending, at most 720 per answer)."""

    timestamp: int  # ms, the end of the hour the interest covers
    interest_1h: float  # funding paid over that hour (fraction)
    interest_8h: float  # funding paid over the 8 hours ending then (trailing sum)
    index_price: float | None = None
    prev_index_price: float | None = None


class BookSummary(msgspec.Struct):
    """public/get_book_summary_by_currency, one row per instrument (options: ``kind=option``)."""

    instrument_name: str
    base_currency: str
    quote_currency: str | None = None
    creation_timestamp: int | None = None  # ms
    open_interest: float | None = None  # options: base coins
    volume: float | None = None  # 24 h, base currency
    mark_iv: float | None = None  # options: percent points
    mark_price: float | None = None
    underlying_price: float | None = None


class VolatilityIndex(msgspec.Struct):
    """public/get_volatility_index_data: ``[ms, open, high, low, close]`` rows (percent points)."""

    data: list[tuple[int, float, float, float, float]]
    continuation: int | None = None  # the ``end_timestamp`` of the next (older) page, if any


ERROR = msgspec.json.Decoder(ErrorEnvelope)
ERROR_DATA = msgspec.json.Decoder(ErrorData)
TICKER = msgspec.json.Decoder(Response[Ticker])
ORDER_BOOK = msgspec.json.Decoder(Response[OrderBook])
TRADES = msgspec.json.Decoder(Response[Trades])
CHART = msgspec.json.Decoder(Response[Chart])
FUNDING = msgspec.json.Decoder(Response[list[FundingPoint]])
BOOK_SUMMARY = msgspec.json.Decoder(Response[list[BookSummary]])
VOLATILITY = msgspec.json.Decoder(Response[VolatilityIndex])
