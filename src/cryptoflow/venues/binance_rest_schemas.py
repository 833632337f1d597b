"""Wire schemas of Binance's public REST market data (USD-M ``/fapi`` + ``/futures/data``, spot ``/api/v3``).

Field names are Binance's own. Numbers arrive as strings (``"0.01634790"``); the decoders are
built with ``strict=False`` so msgspec turns numeric strings into floats/ints while decoding.
Fields Binance leaves empty (``annualizedBasisRate: ""`` on perpetuals) are typed ``str`` and
converted with ``fnum`` so that "" becomes None, never 0. Fields only one product sends are
``X | None = None``. Kline rows are positional arrays (``array_like``); trailing "ignore"
columns are dropped by msgspec.
"""

from __future__ import annotations

import msgspec


class ErrorBody(msgspec.Struct):
    """``{"code": -1121, "msg": "Invalid symbol."}``: every Binance error, with 4xx/5xx status."""

    code: int
    msg: str = ""


class TradeRow(msgspec.Struct):
    """``/fapi/v1/trades`` and ``/api/v3/trades``: one executed trade."""

    id: int
    price: float
    qty: float  # base units
    time: int  # ms
    isBuyerMaker: bool  # the buyer rested: the aggressor sold
    quoteQty: float | None = None
    isBestMatch: bool | None = None  # spot only


class Ticker24hRest(msgspec.Struct):
    """``/fapi/v1/ticker/24hr`` and ``/api/v3/ticker/24hr`` (``symbol`` given: one object)."""

    symbol: str
    lastPrice: float
    openPrice: float
    highPrice: float
    lowPrice: float
    volume: float  # base units
    quoteVolume: float
    priceChange: float
    priceChangePercent: float  # percent points, like the stream's ``P``
    closeTime: int  # ms: end of the rolling window
    openTime: int | None = None
    count: int | None = None
    weightedAvgPrice: float | None = None
    bidPrice: float | None = None  # spot only
    askPrice: float | None = None  # spot only


class KlineRow(msgspec.Struct, array_like=True):
    """``[openTime, open, high, low, close, volume, closeTime, quoteVolume, trades, ...]``.

    The same layout serves ``premiumIndexKlines``, whose OHLC are premium fractions and whose
    volume columns are ``"0"``."""

    t: int  # open time ms
    o: float
    h: float
    l: float  # noqa: E741 - the kline's low
    c: float
    v: float  # base volume
    T: int  # close time ms (open + interval - 1)
    q: float  # quote volume
    n: int  # number of trades


class FundingRow(msgspec.Struct):
    """``/fapi/v1/fundingRate``: one settled funding."""

    symbol: str
    fundingRate: float
    fundingTime: int  # ms, settlement time
    markPrice: str = ""  # "" on old settlements


class OpenInterestHistRow(msgspec.Struct):
    """``/futures/data/openInterestHist``; ``timestamp`` is documented quoted, sent as a number."""

    symbol: str
    sumOpenInterest: float  # base units
    sumOpenInterestValue: float  # quote units
    timestamp: int


class LongShortRow(msgspec.Struct):
    """``/futures/data/globalLongShortAccountRatio`` (fractions of accounts, 0-1)."""

    symbol: str
    longShortRatio: float
    longAccount: float
    shortAccount: float
    timestamp: int


class TakerRow(msgspec.Struct):
    """``/futures/data/takerlongshortRatio``: taker buy/sell volume (base units) per period."""

    buySellRatio: float
    buyVol: float
    sellVol: float
    timestamp: int


class BasisRow(msgspec.Struct):
    """``/futures/data/basis``: ``annualizedBasisRate`` is "" for perpetuals."""

    pair: str
    contractType: str
    indexPrice: float
    futuresPrice: float
    basis: float
    basisRate: float
    timestamp: int
    annualizedBasisRate: str = ""


class InsuranceAsset(msgspec.Struct):
    asset: str
    marginBalance: float
    updateTime: int


class InsuranceGroup(msgspec.Struct):
    """``/fapi/v1/insuranceBalance``: the symbols sharing one fund and its balance per asset.
    With ``symbol``: one group (an object); without: a list of every group."""

    symbols: list[str]
    assets: list[InsuranceAsset]


def _dec(t: object) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(t, strict=False)  # type: ignore[arg-type]


ERROR = _dec(ErrorBody)
TRADES = _dec(list[TradeRow])
TICKER = _dec(Ticker24hRest)
KLINES = _dec(list[KlineRow])
FUNDING = _dec(list[FundingRow])
OI_HIST = _dec(list[OpenInterestHistRow])
LONG_SHORT = _dec(list[LongShortRow])
TAKER = _dec(list[TakerRow])
BASIS = _dec(list[BasisRow])
INSURANCE_ONE = _dec(InsuranceGroup)
INSURANCE_ALL = _dec(list[InsuranceGroup])
