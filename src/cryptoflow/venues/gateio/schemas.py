"""Gate.io USDT-margined futures wire schemas (field names exactly as on the wire).

Every frame is ``{"time", "time_ms", "channel", "event", "error", "result"}``; ``result`` is
channel specific and decoded in a second step from the raw bytes. Quantities (``size``, ``s``,
``B``/``A``, ``v``, ``total_size``) are CONTRACTS: base units = contracts * ``quanto_multiplier``.
Since 2025-12 Gate may send sizes as strings (``X-Gate-Size-Decimal: 1``); decoders are built
with ``strict=False`` so ``"-124.5"`` and ``-124`` both decode to floats.
"""

from __future__ import annotations

import msgspec


# ---- envelope --------------------------------------------------------------------------------
class GateError(msgspec.Struct):
    code: int | None = None
    message: str = ""


class Envelope(msgspec.Struct):
    channel: str = ""
    event: str = ""  # subscribe | unsubscribe | update | all | "" (pong)
    time: int | None = None  # seconds
    time_ms: int | None = None  # 0 in some 2023 acks
    error: GateError | None = None
    result: msgspec.Raw = msgspec.Raw()  # empty when absent


class AckResult(msgspec.Struct):
    status: str  # "success" (anything else is a failure)


class SystemNotice(msgspec.Struct):
    """futures.system update, e.g. ``{"type": "upgrade", "msg": "... Please reconnect."}``
    (2026-07 docs): the server will close this connection soon."""

    type: str
    msg: str = ""


# ---- market data -----------------------------------------------------------------------------
class Level(msgspec.Struct, gc=False):
    p: float  # price (quoted on the wire)
    s: float  # size in contracts, absolute; 0 removes the level


class OrderBookUpdate(msgspec.Struct):
    """futures.order_book_update: changes since the previous push."""

    t: int  # book time, ms
    s: str  # contract
    U: int  # first book update id covered
    u: int  # last book update id covered
    b: list[Level] = []
    a: list[Level] = []
    l: str | None = None  # noqa: E741 - level requested at subscription (added 2025)
    full: bool | None = None  # a full book (documented for spot; accepted here defensively)


class BookTicker(msgspec.Struct):
    """futures.book_ticker: best bid/ask in real time."""

    t: int  # ms
    u: int  # book update id (same id space as order_book_update U/u)
    s: str  # contract
    b: float  # best bid price ("" when there are no bids: see BookTickerLoose)
    B: float  # best bid size, contracts
    a: float  # best ask price
    A: float  # best ask size, contracts


class BookTickerLoose(msgspec.Struct):
    """book_ticker with an empty side: Gate sends ``"b": ""`` / ``"a": ""`` and size 0."""

    t: int
    u: int
    s: str
    b: str
    B: float
    a: str
    A: float


class Trade(msgspec.Struct, gc=False):
    """futures.trades row: ``size`` > 0 taker bought, < 0 taker sold."""

    contract: str
    id: int
    size: float  # contracts, signed by aggressor
    price: float
    create_time: int | None = None  # seconds
    create_time_ms: float | None = None
    is_internal: bool = False  # insurance-fund / ADL takeover, not a market match


class Ticker(msgspec.Struct):
    """futures.tickers row (also the REST /futures/usdt/tickers shape)."""

    contract: str
    last: float
    mark_price: float | None = None
    index_price: float | None = None
    funding_rate: float | None = None  # fraction per funding interval
    funding_rate_indicative: float | None = None  # predicted next rate
    funding_interval: int | None = None  # seconds
    funding_next_apply: int | None = None  # seconds
    total_size: float | None = None  # open interest, contracts
    volume_24h: float | None = None  # contracts
    volume_24h_base: float | None = None
    volume_24h_quote: float | None = None
    change_percentage: float | None = None  # percent
    change_price: float | None = None
    high_24h: float | None = None
    low_24h: float | None = None
    t: int | None = None  # ms (recent servers)


class Candle(msgspec.Struct, gc=False):
    """futures.candlesticks row."""

    t: int  # open time, seconds
    o: float
    h: float
    l: float  # noqa: E741 - Gate's own letter
    c: float
    v: float  # volume, contracts
    n: str  # "<interval>_<contract>", e.g. "1m_BTC_USDT" ("1m_mark_BTC_USDT" for mark candles)
    a: float | None = None  # "amount": documented without a unit, so not used as quote volume
    w: bool | None = None  # window closed (recent servers)


class PublicLiquidation(msgspec.Struct, gc=False):
    """futures.public_liquidates row: the liquidation ORDER, ``size`` < 0 sells (a long was
    liquidated), > 0 buys (a short was liquidated)."""

    contract: str
    price: float
    size: float  # contracts, signed
    time: float | None = None  # ms since 2026-08 docs; seconds in older docs
    time_ms: int | None = None  # older docs


# ---- REST ------------------------------------------------------------------------------------
class RestOrderBook(msgspec.Struct):
    """GET /futures/usdt/order_book?contract=X&limit=N&with_id=true"""

    asks: list[Level]
    bids: list[Level]
    id: int | None = None  # last book update id (only with with_id=true)
    current: float | None = None  # response time, seconds (float)
    update: float | None = None  # book's last change time, seconds (float)


class Contract(msgspec.Struct):
    """GET /futures/usdt/contracts row."""

    name: str
    quanto_multiplier: float  # base units per contract ("0" on inverse contracts)
    type: str = "direct"  # direct (linear) | inverse
    order_price_round: float | None = None  # tick size
    in_delisting: bool = False
    status: str | None = None  # trading | delisting | delisted (recent servers)


def _dec(t: object) -> msgspec.json.Decoder:
    # strict=False turns Gate's quoted numbers ("0.2974") into floats while decoding.
    return msgspec.json.Decoder(t, strict=False)


ENVELOPE = _dec(Envelope)
ACK = _dec(AckResult | None)
SYSTEM = _dec(SystemNotice)
BOOK_UPDATE = _dec(OrderBookUpdate)
BOOK_TICKER = _dec(BookTicker)
BOOK_TICKER_LOOSE = _dec(BookTickerLoose)
TRADES = _dec(list[Trade])
TICKERS = _dec(list[Ticker] | Ticker)  # a list on the wire; a bare object has been seen too
CANDLES = _dec(list[Candle] | Candle)
LIQUIDATIONS = _dec(list[PublicLiquidation] | PublicLiquidation)
REST_BOOK = _dec(RestOrderBook)
CONTRACTS = _dec(list[Contract])
