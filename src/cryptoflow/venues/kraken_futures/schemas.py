"""Kraken Futures wire schemas (ws v1 and REST v3), field names exactly as on the wire.

Data frames carry ``feed`` (``book_snapshot``, ``book``, ``trade_snapshot``, ``trade``, ``ticker``,
``ticker_lite``, ``heartbeat``) and are decoded in one pass as a union tagged by ``feed``. Control
frames carry ``event`` (``info``, ``subscribed``, ``unsubscribed``, ``subscribed_failed``, ``error``,
``alert``, ``pong``, ``challenge``); the acks also carry ``feed`` but never ``product_id``, so they
fail the data union (every data struct requires ``product_id`` or ``time``) and are decoded as
``EventFrame`` instead. Times are epoch milliseconds; product ids are upper case in payloads.

Field spelling is mixed on the wire (``product_id``, ``bid_size`` but ``markPrice``,
``openInterest``, ``volumeQuote``): kept as sent.
"""

from __future__ import annotations

import msgspec


class Level(msgspec.Struct, gc=False):
    price: float
    qty: float  # contracts: base units on PF_/FF_, USD on PI_/FI_


class BookSnapshotFrame(msgspec.Struct, tag_field="feed", tag="book_snapshot"):
    product_id: str
    timestamp: int  # ms
    seq: int  # the first delta after it carries seq + 1
    bids: list[Level]
    asks: list[Level]
    tickSize: float | None = None  # always null in the captures


class BookDeltaFrame(msgspec.Struct, tag_field="feed", tag="book", gc=False):
    """One price level of one side; ``qty`` 0 removes the level. ``seq`` is +1 per product."""

    product_id: str
    side: str  # "buy" = bid, "sell" = ask
    seq: int
    price: float
    qty: float
    timestamp: int  # ms


class TradeItem(msgspec.Struct, gc=False):
    """A trade inside a ``trade_snapshot`` (``product_id`` repeated there in older captures)."""

    uid: str  # trade id (UUID)
    side: str  # taker side: buy | sell
    type: str  # fill | liquidation | termination | block | assignment
    seq: int  # per-product trade sequence
    time: int  # ms
    qty: float
    price: float
    product_id: str | None = None


class TradeFrame(TradeItem, tag_field="feed", tag="trade", gc=False):
    pass


class TradeSnapshotFrame(msgspec.Struct, tag_field="feed", tag="trade_snapshot"):
    product_id: str
    trades: list[TradeItem]  # newest first


class TickerFrame(msgspec.Struct, tag_field="feed", tag="ticker", gc=False):
    """Full ticker, published at most once a second per product with every field filled in.

    Funding fields (perpetuals only; the docs say a field that is zero is left out):
    ``funding_rate`` is an AMOUNT per contract (quote per base unit on linear products, base per
    USD contract on inverse ones); ``relative_funding_rate`` is the rate as a fraction of the spot
    price per funding period (one hour). ``change`` is the 24h change in percent.
    """

    product_id: str
    time: int | None = None  # ms
    tag: str | None = None  # perpetual | month | quarter | semiannual
    bid: float | None = None
    ask: float | None = None
    bid_size: float | None = None  # contracts
    ask_size: float | None = None
    last: float | None = None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    change: float | None = None  # 24h change, percent
    volume: float | None = None  # 24h, contracts
    volumeQuote: float | None = None  # 24h, quote currency
    index: float | None = None
    markPrice: float | None = None
    openInterest: float | None = None  # contracts
    funding_rate: float | None = None
    funding_rate_prediction: float | None = None
    relative_funding_rate: float | None = None
    relative_funding_rate_prediction: float | None = None
    next_funding_rate_time: float | None = None  # epoch ms in every example (docs call it "time until")


class TickerLiteFrame(msgspec.Struct, tag_field="feed", tag="ticker_lite"):
    """bid/ask without sizes, change, premium, volume: nothing our events can be made of."""

    product_id: str


class HeartbeatFrame(msgspec.Struct, tag_field="feed", tag="heartbeat"):
    time: int  # ms


DataFrame = (
    BookDeltaFrame
    | BookSnapshotFrame
    | TradeFrame
    | TradeSnapshotFrame
    | TickerFrame
    | TickerLiteFrame
    | HeartbeatFrame
)


class EventFrame(msgspec.Struct):
    event: str
    feed: str | None = None
    product_ids: list[str] | None = None
    message: str | None = None  # error / alert text, or the challenge
    version: int | None = None  # info


class FeedOnly(msgspec.Struct):
    """Fallback probe for a frame that failed the data union: which feed, if any."""

    feed: str | None = None
    event: str | None = None


# ---- REST v3 -----------------------------------------------------------------------------------
class RestInstrument(msgspec.Struct):
    symbol: str  # lower case in 2021 bodies (pi_xbtusd), upper case now (PF_XBTUSD)
    type: str  # futures_inverse | flexible_futures | futures_vanilla | spot index ...
    tradeable: bool = True
    tickSize: float | None = None
    contractSize: float | None = None  # 1 USD on inverse, 1 base unit on linear
    lastTradingTime: str | None = None  # dated futures only
    base: str | None = None  # newer bodies only ("BTC" for PF_XBTUSD)
    quote: str | None = None


class RestInstruments(msgspec.Struct):
    result: str
    instruments: list[RestInstrument] = []
    error: str | None = None


# strict=False: lenient number parsing (e.g. an int where a float is expected is fine either way).
DATA = msgspec.json.Decoder(DataFrame, strict=False)
EVENT = msgspec.json.Decoder(EventFrame, strict=False)
FEED_ONLY = msgspec.json.Decoder(FeedOnly)
INSTRUMENTS = msgspec.json.Decoder(RestInstruments, strict=False)
