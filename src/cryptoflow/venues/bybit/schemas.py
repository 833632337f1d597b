"""Bybit v5 public wire schemas (field names exactly as on the wire) and their prebuilt decoders.

Every data frame is ``{"topic": ..., "type": "snapshot"|"delta", "ts": ms, "data": ..., "cts"?: ms}``;
control frames (acks, pongs, failures) carry ``success``/``ret_msg``/``conn_id``/``req_id``/``op``
instead. Numbers arrive quoted; ``strict=False`` decoders turn them into floats while decoding.

Ticker fields are kept as text (``""`` occurs for fields a contract does not have, e.g. pre-market
``preOpenPrice``, or an empty book side) and default to ``UNSET`` so a linear *delta*, which carries
only the fields that changed, can be merged field by field into the last full ticker.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

Levels = list[tuple[float, float]]
Text = str | UnsetType  # a ticker field: quoted number, "" (not applicable) or absent


class Envelope(msgspec.Struct):
    topic: str | None = None
    type: str | None = None  # snapshot | delta
    ts: int | None = None  # ms, when the system generated the data
    cts: int | None = None  # ms, matching-engine time of an orderbook frame
    data: msgspec.Raw = msgspec.Raw()  # empty when absent
    # control frames
    success: bool | None = None
    ret_msg: str | None = None
    conn_id: str | None = None
    req_id: str | int | None = None
    op: str | None = None  # subscribe | unsubscribe | ping | pong | auth
    args: Any = None


class TradeItem(msgspec.Struct):
    T: int  # fill time ms
    s: str  # symbol
    S: str  # taker side: Buy | Sell
    v: float  # size (base units on linear and spot)
    p: float  # price
    i: str  # trade id
    L: str | None = None  # tick direction: sent by perps/futures only, never by spot
    BT: bool | None = None  # block trade
    RPI: bool | None = None  # retail-price-improvement trade
    seq: int | None = None  # cross sequence


class BookData(msgspec.Struct):
    s: str  # symbol
    b: Levels  # bids, best first in snapshots
    a: Levels  # asks
    u: int  # update id: +1 per message; a snapshot with u=1 means the service restarted
    seq: int | None = None  # cross sequence (comparable across depths of one symbol)


class Ticker(msgspec.Struct):
    """Linear tickers (snapshot, then deltas of changed fields) and spot tickers (snapshots)."""

    symbol: str
    lastPrice: Text = UNSET
    prevPrice24h: Text = UNSET
    highPrice24h: Text = UNSET
    lowPrice24h: Text = UNSET
    volume24h: Text = UNSET
    turnover24h: Text = UNSET
    price24hPcnt: Text = UNSET  # fraction: "-0.00506" is -0.506 %
    markPrice: Text = UNSET
    indexPrice: Text = UNSET
    openInterest: Text = UNSET  # base units on linear
    openInterestValue: Text = UNSET  # quote notional
    fundingRate: Text = UNSET  # fraction per funding interval
    nextFundingTime: Text = UNSET  # ms, quoted
    fundingIntervalHour: Text = UNSET
    bid1Price: Text = UNSET
    bid1Size: Text = UNSET
    ask1Price: Text = UNSET
    ask1Size: Text = UNSET


TICKER_FIELDS: tuple[str, ...] = tuple(f for f in Ticker.__struct_fields__ if f != "symbol")
# Field groups -> the event each feeds; a delta touching a group re-emits that event.
MARK_FIELDS = ("markPrice", "indexPrice")
FUNDING_FIELDS = ("fundingRate", "nextFundingTime", "fundingIntervalHour")
OI_FIELDS = ("openInterest", "openInterestValue")
TICKER24H_FIELDS = ("lastPrice", "prevPrice24h", "highPrice24h", "lowPrice24h", "volume24h", "turnover24h",
                    "price24hPcnt")
BBO_FIELDS = ("bid1Price", "bid1Size", "ask1Price", "ask1Size")


class KlineItem(msgspec.Struct):
    start: int  # ms
    end: int
    interval: str  # 1 3 5 15 30 60 120 240 360 720 D W M
    open: float
    close: float
    high: float
    low: float
    volume: float  # base
    turnover: float  # quote
    confirm: bool  # candle closed
    timestamp: int  # ms of the last matched order in the candle


class LiquidationItem(msgspec.Struct):
    T: int  # ms
    s: str
    S: str  # side of the liquidated POSITION: Buy = a long was liquidated
    v: float  # executed size
    p: float  # bankruptcy price


class PriceFilter(msgspec.Struct):
    tickSize: str = ""


class InstrumentInfo(msgspec.Struct):
    symbol: str
    baseCoin: str
    quoteCoin: str
    status: str
    contractType: str | None = None  # linear: LinearPerpetual | LinearFutures
    settleCoin: str | None = None
    priceFilter: PriceFilter | None = None


InstrumentList = list[InstrumentInfo]  # alias: the wire field is named "list"


class InstrumentsResult(msgspec.Struct):
    category: str = ""
    list: InstrumentList = []
    nextPageCursor: str = ""


class InstrumentsResponse(msgspec.Struct):
    retCode: int
    retMsg: str
    result: InstrumentsResult  # {} when retCode != 0: empty defaults


def _dec(t: Any) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(t, strict=False)


ENVELOPE = _dec(Envelope)
TRADES = _dec(list[TradeItem])
BOOK = _dec(BookData)
TICKER = msgspec.json.Decoder(Ticker)  # text fields: converted on use, "" -> None
KLINES = _dec(list[KlineItem])
LIQUIDATIONS = _dec(list[LiquidationItem] | LiquidationItem)  # docs show both an object and a list
INSTRUMENTS = _dec(InstrumentsResponse)
