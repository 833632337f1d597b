"""OKX v5 public wire schemas, field names exactly as on the wire.

Every push is ``{"arg": {"channel": ..., "instId": ...}, "data": [...]}`` (books add
``"action": "snapshot" | "update"``); control frames are ``{"event": ...}``. The envelope is
decoded once with ``data`` kept raw, then ``data`` goes to the channel's own decoder.

OKX quotes every number as a string. ``strict=False`` turns quoted numbers into floats and
ints while decoding; fields OKX may send as ``""`` (a predicted funding rate that does not
exist, an empty side) are typed ``str`` and converted by the parser, so ``""`` becomes
``None`` and never 0. Sizes (``sz``, ``oi``, ``vol24h`` ...) are contracts for SWAP/FUTURES
and base units for SPOT: the parser turns them into base units with the instrument.
"""

from __future__ import annotations

import msgspec


class Arg(msgspec.Struct, gc=False):
    channel: str
    instId: str | None = None  # instrument id: BTC-USDT-SWAP, BTC-USDT, index id for index-tickers
    instType: str | None = None  # liquidation-orders subscribes by type (SWAP)
    instFamily: str | None = None


class Envelope(msgspec.Struct, gc=False):
    arg: Arg | None = None
    data: msgspec.Raw = msgspec.Raw()  # empty when absent
    action: str | None = None  # books: "snapshot" | "update"
    # control frames: {"event": "subscribe" | "unsubscribe" | "error" | "notice" | ..., ...}
    event: str | None = None
    code: str | int | None = None  # error code, a string on the wire ("60012")
    msg: str | None = None
    connId: str | None = None  # connection id (acks and errors since 2023)
    channel: str | None = None  # channel-conn-count events name the channel top level
    connCount: str | None = None


class Level(msgspec.Struct, array_like=True, gc=False):
    """One book level ``[px, sz, liquidated_orders (deprecated, "0"), num_orders]``."""

    px: float
    sz: float
    liq: float | None = None
    n: float | None = None


class Book(msgspec.Struct, gc=False):
    """books (400 levels, snapshot then updates), books5 and bbo-tbt (full top-N each push)."""

    asks: list[Level]
    bids: list[Level]
    ts: int
    checksum: int | None = None  # CRC32 of the top 25 levels; fixed to 0 since June 2026
    seqId: int | None = None  # absent in captures from before 2023
    prevSeqId: int | None = None  # -1 on snapshots
    instId: str | None = None  # books5 / bbo-tbt only


class BookText(msgspec.Struct, gc=False):
    """The same book frame with prices and sizes kept as the venue's strings (for CRC32)."""

    asks: list[list[str]]
    bids: list[list[str]]
    checksum: int = 0


class TradeRow(msgspec.Struct, gc=False):
    instId: str
    tradeId: str
    px: float
    sz: float  # contracts (SWAP/FUTURES) or base (SPOT)
    side: str  # taker side: buy | sell
    ts: int
    count: int | None = None  # trades aggregated into this row (2023+)
    source: str | None = None  # 0 normal, 1 enhanced liquidity program (2023+)
    seqId: int | None = None  # 2023+


class TickerRow(msgspec.Struct, gc=False):
    instType: str  # SPOT | SWAP | FUTURES
    instId: str
    last: float
    ts: int
    lastSz: str = ""
    askPx: str = ""
    askSz: str = ""
    bidPx: str = ""
    bidSz: str = ""
    open24h: str = ""
    high24h: str = ""
    low24h: str = ""
    volCcy24h: str = ""  # derivatives: base currency; SPOT: quote currency
    vol24h: str = ""  # derivatives: contracts; SPOT: base currency
    sodUtc0: str = ""  # open at 00:00 UTC
    sodUtc8: str = ""  # open at 00:00 UTC+8


class CandleRow(msgspec.Struct, array_like=True, gc=False):
    """``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]``."""

    ts: int  # candle open time ms
    o: float
    h: float
    l: float  # noqa: E741 - OKX's own letter
    c: float
    vol: float  # derivatives: contracts; SPOT: base
    volCcy: float  # derivatives: base; SPOT: quote
    volCcyQuote: float | None = None  # quote currency (USDT/USD)
    confirm: str | None = None  # "0" still forming, "1" closed


class FundingRow(msgspec.Struct, gc=False):
    instId: str
    fundingRate: float  # the rate settled at fundingTime, fraction per interval
    fundingTime: int  # the coming settlement time ms
    nextFundingRate: str = ""  # predicted rate for the period after; "" when not forecast
    nextFundingTime: str = ""  # settlement time after fundingTime
    method: str | None = None  # current_period | next_period
    ts: int | None = None
    instType: str | None = None


class MarkPriceRow(msgspec.Struct, gc=False):
    instId: str
    markPx: float
    ts: int
    instType: str | None = None


class IndexTickerRow(msgspec.Struct, gc=False):
    instId: str  # index id: BTC-USDT, BTC-USD
    idxPx: float
    ts: int


class OpenInterestRow(msgspec.Struct, gc=False):
    instId: str
    oi: float  # contracts
    oiCcy: float  # base currency
    ts: int
    oiUsd: str = ""  # USD value (2024+)
    instType: str | None = None


class LiquidationDetail(msgspec.Struct, gc=False):
    side: str  # side of the liquidation ORDER: sell closes a long, buy closes a short
    posSide: str  # long | short (hedge mode) | net
    bkPx: float  # bankruptcy price
    sz: float  # contracts
    ts: int
    bkLoss: str = ""
    ccy: str = ""


class LiquidationRow(msgspec.Struct, gc=False):
    instId: str
    details: list[LiquidationDetail]
    instType: str | None = None
    instFamily: str | None = None
    uly: str | None = None


class RestInstrument(msgspec.Struct, gc=False):
    """One row of GET /api/v5/public/instruments (all strings; "" where not applicable)."""

    instType: str
    instId: str
    baseCcy: str = ""  # SPOT
    quoteCcy: str = ""  # SPOT
    uly: str = ""  # derivatives: BTC-USDT
    instFamily: str = ""
    settleCcy: str = ""
    ctVal: str = ""  # contract value (base units for linear, USD for inverse)
    ctMult: str = ""
    ctValCcy: str = ""
    ctType: str = ""  # linear | inverse
    tickSz: str = ""
    state: str = ""  # live | suspend | preopen | test


class RestInstruments(msgspec.Struct, gc=False):
    code: str
    data: list[RestInstrument]
    msg: str = ""


def _dec(t: object) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(t, strict=False)


ENVELOPE = _dec(Envelope)
BOOKS = _dec(list[Book])
BOOKS_TEXT = _dec(list[BookText])
TRADES = _dec(list[TradeRow])
TICKERS = _dec(list[TickerRow])
CANDLES = _dec(list[CandleRow])
FUNDING = _dec(list[FundingRow])
MARK_PRICES = _dec(list[MarkPriceRow])
INDEX_TICKERS = _dec(list[IndexTickerRow])
OPEN_INTEREST = _dec(list[OpenInterestRow])
LIQUIDATIONS = _dec(list[LiquidationRow])
REST_INSTRUMENTS = _dec(RestInstruments)
