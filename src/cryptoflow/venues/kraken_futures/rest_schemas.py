"""Kraken Futures REST bodies for market data (field names exactly as on the wire).

Three services on one host (https://futures.kraken.com): the derivatives API ``/derivatives/api/v3``
(tickers, orderbook, history) and ``/derivatives/api/v4/historicalfundingrates``, whose errors are
``{"result": "error", "error": "apiLimitExceeded"}`` (v3) or ``{"result": "error", "errors": [{"code",
"message"}]}`` (v4); and the charts API ``/api/charts/v1`` (candles; analytics, whose errors are a list of
``{"severity", "error_class", "type", "msg", "value", "field"}``). Times: ISO 8601 strings on the
derivatives API, epoch ms for candles, epoch seconds for analytics. Quantities are contracts (1 base
unit on PF_/FF_, 1 USD on PI_/FI_).
"""

from __future__ import annotations

import msgspec


class ErrorItem(msgspec.Struct):
    code: int | None = None  # v4
    message: str | None = None  # v4
    msg: str | None = None  # charts analytics
    type: str | None = None
    field: str | None = None


class Envelope(msgspec.Struct):
    """The parts of any body that say whether it is an error."""

    result: str | None = None
    error: str | None = None  # v3: apiLimitExceeded, notFound, invalidArgument ...
    errors: list[ErrorItem] | None = None  # v4 and charts analytics
    status: str | None = None  # v4: BAD_REQUEST


class Ticker(msgspec.Struct):
    """``/tickers`` row. ``fundingRate`` is an AMOUNT per contract (the relative rate times the index
    on linear contracts, divided by it on inverse ones); ``change24h`` is percent."""

    symbol: str
    tag: str | None = None
    pair: str | None = None
    markPrice: float | None = None
    bid: float | None = None
    bidSize: float | None = None
    ask: float | None = None
    askSize: float | None = None
    vol24h: float | None = None  # contracts
    volumeQuote: float | None = None
    openInterest: float | None = None  # contracts
    open24h: float | None = None
    high24h: float | None = None
    low24h: float | None = None
    last: float | None = None
    lastTime: str | None = None
    lastSize: float | None = None
    indexPrice: float | None = None
    fundingRate: float | None = None
    fundingRatePrediction: float | None = None
    change24h: float | None = None
    suspended: bool | None = None
    postOnly: bool | None = None


class TickerDoc(msgspec.Struct):
    """``/tickers`` (``tickers``) or ``/tickers/{symbol}`` (``ticker``)."""

    result: str
    ticker: Ticker | None = None
    tickers: list[Ticker] | None = None
    serverTime: str | None = None


class Book(msgspec.Struct):
    bids: list[tuple[float, float]]  # [price, size]
    asks: list[tuple[float, float]]


class OrderBookDoc(msgspec.Struct):
    result: str
    orderBook: Book
    serverTime: str | None = None


class HistoryTrade(msgspec.Struct, gc=False):
    """``/history`` row (newest first); ``side`` is the taker's."""

    time: str  # ISO 8601
    price: float
    size: float  # contracts
    side: str
    trade_id: int | None = None
    type: str | None = None  # fill | liquidation | termination | block | assignment
    uid: str | None = None


class HistoryDoc(msgspec.Struct):
    result: str
    history: list[HistoryTrade] = []
    serverTime: str | None = None


class FundingRate(msgspec.Struct, gc=False):
    timestamp: str  # ISO 8601, the funding period
    fundingRate: float  # absolute, per contract
    relativeFundingRate: float  # fraction of the notional (hourly periods)


class FundingDoc(msgspec.Struct):
    result: str
    rates: list[FundingRate] = []  # ascending by timestamp
    serverTime: str | None = None


class ChartCandle(msgspec.Struct, gc=False):
    time: int  # epoch ms, open time
    open: float
    high: float
    low: float
    close: float
    volume: float  # contracts


class CandlesDoc(msgspec.Struct):
    candles: list[ChartCandle]
    more_candles: bool = False


class AnalyticsResult(msgspec.Struct):
    timestamp: list[int]  # epoch seconds, bucket start
    data: list[list[float | str] | float | str]  # open-interest: [open, high, low, close] per bucket
    more: bool = False


class AnalyticsDoc(msgspec.Struct):
    result: AnalyticsResult | None = None
    errors: list[ErrorItem] = []


def _dec(t: object) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(t, strict=False)


ENVELOPE = _dec(Envelope)
TICKERS = _dec(TickerDoc)
ORDERBOOK = _dec(OrderBookDoc)
HISTORY = _dec(HistoryDoc)
FUNDING = _dec(FundingDoc)
CANDLES = _dec(CandlesDoc)
ANALYTICS = _dec(AnalyticsDoc)
