"""OKX v5 public REST wire schemas (field names exactly as on the wire).

Every answer is ``{"code": "0", "msg": "", "data": [...]}``; an error keeps the envelope with
``code != "0"`` and OKX's ``msg`` (often with HTTP 200). The envelope is decoded once with
``data`` kept raw, then ``data`` goes to the endpoint's decoder. Numbers arrive as strings:
``strict=False`` turns quoted numbers into floats/ints; fields OKX may send as ``""`` are typed
``str`` and converted by the parser (``""`` -> None, never 0). The ticker, book, trade, candle
and instrument rows are the same as the websocket ones (``schemas.py``).

The trading-statistics ("rubik") endpoints answer arrays of arrays, newest first:
open-interest-history ``[ts, oi, oiCcy, oiUsd]``, long-short-account-ratio-contract
``[ts, longShortAcctRatio]``, taker-volume-contract ``[ts, sellVol, buyVol]``.
"""

from __future__ import annotations

import msgspec


class Envelope(msgspec.Struct, gc=False):
    code: str | int
    msg: str = ""
    data: msgspec.Raw = msgspec.Raw()  # empty when absent


class FundingHistoryRow(msgspec.Struct, gc=False):
    """GET /api/v5/public/funding-rate-history."""

    instId: str
    fundingTime: int  # settlement time, ms
    fundingRate: str = ""  # the rate as predicted for that settlement
    realizedRate: str = ""  # the rate actually settled
    instType: str = ""
    method: str = ""  # current_period | next_period
    formulaType: str = ""  # noRate | withRate


class OpenInterestRow(msgspec.Struct, gc=False):
    """GET /api/v5/public/open-interest (SWAP and OPTION rows alike)."""

    instId: str
    ts: int
    oi: str = ""  # contracts
    oiCcy: str = ""  # base currency
    oiUsd: str = ""  # USD
    instType: str = ""


class OiHistoryRow(msgspec.Struct, array_like=True, gc=False):
    """``[ts, oi, oiCcy, oiUsd]``: period start (ms), contracts, coin, USD."""

    ts: int
    oi: float
    oiCcy: float
    oiUsd: str = ""


class RatioRow(msgspec.Struct, array_like=True, gc=False):
    """``[ts, longShortAcctRatio]``: accounts net long / accounts net short."""

    ts: int
    ratio: float


class TakerRow(msgspec.Struct, array_like=True, gc=False):
    """``[ts, sellVol, buyVol]`` (in the ``unit`` asked for: 0 coin, 1 contracts, 2 USD)."""

    ts: int
    sellVol: float
    buyVol: float


class PremiumRow(msgspec.Struct, gc=False):
    """GET /api/v5/public/premium-history."""

    instId: str
    premium: float  # [max(0, impact bid - index) - max(0, index - impact ask)] / index
    ts: int


class FundDetail(msgspec.Struct, gc=False):
    balance: float
    ccy: str
    ts: int
    type: str = ""  # regular_update | liquidation_balance_deposit | bankruptcy_loss | ...
    amt: str = ""


class InsuranceFund(msgspec.Struct, gc=False):
    """GET /api/v5/public/insurance-fund: one entry per instrument family."""

    details: list[FundDetail]
    instFamily: str = ""
    instType: str = ""
    total: str = ""  # the whole fund in USD


def _dec(t: object) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(t, strict=False)


ENVELOPE = _dec(Envelope)
FUNDING_HISTORY = _dec(list[FundingHistoryRow])
OPEN_INTEREST = _dec(list[OpenInterestRow])
OI_HISTORY = _dec(list[OiHistoryRow])
RATIOS = _dec(list[RatioRow])
TAKER = _dec(list[TakerRow])
PREMIUM = _dec(list[PremiumRow])
INSURANCE = _dec(list[InsuranceFund])
