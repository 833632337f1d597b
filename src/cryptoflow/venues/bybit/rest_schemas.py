"""Bybit v5 public REST response schemas (field names exactly as on the wire) and their decoders.

Every response is ``{"retCode": 0, "retMsg": "OK", "result": {...}, "retExtInfo": {}, "time": ms}``;
an error keeps HTTP 200 and says so in ``retCode``/``retMsg`` with ``result`` ``{}`` (or null), so
every result field has a default and the parser checks ``retCode`` before reading ``result``.

Numbers arrive quoted (``"17071.5"``, times ``"1670608800000"``); the ``strict=False`` decoders turn
them into floats/ints while decoding. Kline-style rows (``/kline``, ``/premium-index-price-kline``)
are arrays of strings ``[start, open, high, low, close(, volume, turnover)]``, newest first.
Ticker fields stay text because ``""`` means "not applicable" (spot has no mark price, a
pre-market contract no funding rate) and must become None, never 0.
"""

from __future__ import annotations

from typing import Any

import msgspec

Levels = list[tuple[float, float]]
# aliases: a field named ``list`` (as on the wire) hides the builtin inside its class body
KlineRows = list[tuple[int, float, float, float, float, float, float]]
PremiumRows = list[tuple[int, float, float, float, float]]


class Envelope(msgspec.Struct):
    """Just the status of a response (``classify`` and error checks)."""

    retCode: int
    retMsg: str = ""


# ---- /v5/market/kline, /v5/market/premium-index-price-kline ------------------------------------
class KlineResult(msgspec.Struct):
    category: str = ""
    symbol: str = ""
    # [startTime ms, open, high, low, close, volume, turnover]; volume in contracts (base units on
    # USDT linear contracts, coins on spot), turnover in quote
    list: KlineRows = []


class PremiumResult(msgspec.Struct):
    category: str = ""
    symbol: str = ""
    list: PremiumRows = []  # [start ms, open, high, low, close] fractions


# ---- /v5/market/tickers --------------------------------------------------------------------------
class TickerRow(msgspec.Struct):
    symbol: str
    lastPrice: str = ""
    prevPrice24h: str = ""
    price24hPcnt: str = ""  # fraction: "0.008047" is +0.8047 %
    highPrice24h: str = ""
    lowPrice24h: str = ""
    volume24h: str = ""  # base units (contracts of size 1 on USDT linear)
    turnover24h: str = ""  # quote
    markPrice: str = ""  # linear only
    indexPrice: str = ""
    openInterest: str = ""  # linear: base units, both sides
    openInterestValue: str = ""  # quote notional
    fundingRate: str = ""  # fraction per funding interval
    nextFundingTime: str = ""  # ms
    fundingIntervalHour: str = ""  # sent by newer API versions only


TickerRows = list[TickerRow]


class TickersResult(msgspec.Struct):
    category: str = ""
    list: TickerRows = []


# ---- /v5/market/orderbook ------------------------------------------------------------------------
class BookResult(msgspec.Struct):
    s: str = ""
    b: Levels = []  # bids, best first
    a: Levels = []  # asks, best first
    ts: int = 0  # ms, when the system generated the data
    u: int = 0  # update id: the ``u`` of the deepest websocket book of the category
    seq: int | None = None  # cross sequence
    cts: int | None = None  # ms, matching-engine time


# ---- /v5/market/recent-trade ---------------------------------------------------------------------
class TradeRow(msgspec.Struct):
    execId: str
    symbol: str
    price: float
    size: float
    side: str  # taker side: Buy | Sell
    time: int  # ms
    isBlockTrade: bool = False


TradeRows = list[TradeRow]


class TradesResult(msgspec.Struct):
    category: str = ""
    list: TradeRows = []  # newest first


# ---- /v5/market/funding/history ------------------------------------------------------------------
class FundingRow(msgspec.Struct):
    symbol: str
    fundingRate: float
    fundingRateTimestamp: int  # ms, the settlement time


FundingRows = list[FundingRow]


class FundingResult(msgspec.Struct):
    category: str = ""
    list: FundingRows = []  # newest first


# ---- /v5/market/open-interest --------------------------------------------------------------------
class OpenInterestRow(msgspec.Struct):
    openInterest: float  # both sides; base coin on linear contracts
    timestamp: int  # ms


OpenInterestRows = list[OpenInterestRow]


class OpenInterestResult(msgspec.Struct):
    category: str = ""
    symbol: str = ""
    list: OpenInterestRows = []  # newest first
    nextPageCursor: str = ""


# ---- /v5/market/account-ratio --------------------------------------------------------------------
class RatioRow(msgspec.Struct):
    symbol: str
    buyRatio: float  # share of accounts net long (0-1)
    sellRatio: float  # share of accounts net short
    timestamp: int  # ms


RatioRows = list[RatioRow]


class RatioResult(msgspec.Struct):
    list: RatioRows = []  # newest first
    nextPageCursor: str = ""


# ---- /v5/market/insurance ------------------------------------------------------------------------
class InsuranceRow(msgspec.Struct):
    coin: str
    balance: float
    value: float | None = None  # USD value
    symbols: str = ""  # contracts sharing this pool ("" for the shared pool in older versions)


InsuranceRows = list[InsuranceRow]


class InsuranceResult(msgspec.Struct):
    updatedTime: int = 0  # ms
    list: InsuranceRows = []


def _response(result: type) -> Any:
    """A response struct type whose ``result`` is ``result`` (absent/{}/null on errors)."""
    return msgspec.defstruct(
        f"{result.__name__}Response",
        [("retCode", int), ("retMsg", str, ""), ("result", result | None, None), ("time", int | None, None)],
    )


def _dec(t: Any) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(_response(t), strict=False)


ENVELOPE = msgspec.json.Decoder(Envelope)
KLINE = _dec(KlineResult)
PREMIUM = _dec(PremiumResult)
TICKERS = msgspec.json.Decoder(_response(TickersResult))  # text fields: converted on use
BOOK = _dec(BookResult)
TRADES = _dec(TradesResult)
FUNDING = _dec(FundingResult)
OPEN_INTEREST = _dec(OpenInterestResult)
RATIO = _dec(RatioResult)
INSURANCE = _dec(InsuranceResult)
