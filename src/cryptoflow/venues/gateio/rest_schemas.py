"""Gate.io USDT futures REST v4 bodies (field names exactly as on the wire), market data only.

Documented in https://www.gate.com/docs/developers/apiv4/en/futures (each endpoint's "Example
responses"). Gate quotes most numbers (``"97151"``, ``"0.000157"``) and, since 2025-12, sizes too;
decoders are built with ``strict=False`` so quoted and bare numbers both become floats. Sizes are
CONTRACTS (base units = contracts * ``quanto_multiplier``); times are Unix seconds, some with a
fractional millisecond part (``create_time`` 1514764800.123).
"""

from __future__ import annotations

import msgspec


class GateRestError(msgspec.Struct):
    """Every 4xx body: ``{"label": "CONTRACT_NOT_FOUND", "message": "Contract not found"}``."""

    label: str
    message: str = ""


class Candlestick(msgspec.Struct, gc=False):
    """GET /futures/usdt/candlesticks row; ``t`` is the open time."""

    t: float  # seconds
    o: float
    h: float
    l: float  # noqa: E741 - Gate's own letter
    c: float
    v: float | None = None  # contracts; absent on mark_/index_ candles
    sum: float | None = None  # quote volume


class PremiumIndexBar(msgspec.Struct, gc=False):
    """GET /futures/usdt/premium_index row: premium index (fraction) OHLC of the period."""

    t: float  # seconds, period start
    o: float
    h: float
    l: float  # noqa: E741
    c: float


class FundingRecord(msgspec.Struct, gc=False):
    """GET /futures/usdt/funding_rate row: the rate settled at ``t``."""

    t: int  # seconds
    r: float  # fraction per funding interval


class InsuranceRecord(msgspec.Struct, gc=False):
    """GET /futures/usdt/insurance row: fund balance (settle currency, USDT) at ``t``."""

    t: int
    b: float


class ContractStat(msgspec.Struct, gc=False):
    """GET /futures/usdt/contract_stats row (one period). Only the fields we use; the documented
    example carries no taker sizes or user counts, so every value field is optional."""

    time: int  # seconds, the period as Gate stamps it
    lsr_taker: float | None = None  # taker long volume / taker short volume
    lsr_account: float | None = None  # accounts long / accounts short
    open_interest: float | None = None  # contracts
    open_interest_usd: float | None = None  # quote
    mark_price: float | None = None
    long_taker_size: float | None = None  # contracts bought by takers in the period
    short_taker_size: float | None = None  # contracts sold by takers
    long_users: float | None = None  # accounts holding a long position
    short_users: float | None = None


class RestTrade(msgspec.Struct, gc=False):
    """GET /futures/usdt/trades row (newest first). ``size`` > 0: the taker bought."""

    id: int
    size: float  # contracts, signed
    price: float
    contract: str = ""
    create_time: float | None = None  # seconds (3 decimals in live bodies)
    create_time_ms: float | None = None  # "millisecond precision to 3 decimal places": seconds.mmm


def _dec(t: object) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(t, strict=False)


ERROR = _dec(GateRestError)
CANDLES = _dec(list[Candlestick])
PREMIUM = _dec(list[PremiumIndexBar])
FUNDING = _dec(list[FundingRecord])
INSURANCE = _dec(list[InsuranceRecord])
STATS = _dec(list[ContractStat])
TRADES = _dec(list[RestTrade])
