"""Normalized market events: the one vocabulary every layer speaks.

Units, fixed once at parse time so no later layer has to think about them:
- prices and quantities are float64; quantities are in *base* units (contracts already
  multiplied out), notionals in quote units;
- times are int nanoseconds since the epoch, UTC: ``ts`` is the exchange's time,
  ``ts_recv`` the local receive time;
- ``market`` is ``"perp"`` or ``"spot"``; ``symbol`` is canonical (``BTCUSDT``);
- ``side`` of a trade is the aggressor's side (``"buy"`` = taker bought);
  ``side`` of a liquidation is the side of the *liquidated position* (``"long"``/``"short"``).

Fields a venue does not send are ``None``, never 0. Structs are tagged (``kind``) so a
mixed stream can be encoded and decoded losslessly with msgspec.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Market = Literal["perp", "spot"]
Side = Literal["buy", "sell"]
PositionSide = Literal["long", "short"]

MARKETS: tuple[str, ...] = ("perp", "spot")


class _Event(msgspec.Struct, frozen=True, gc=False, tag_field="kind"):
    venue: str
    market: str
    symbol: str
    ts: int
    ts_recv: int


class Trade(_Event, frozen=True, gc=False, tag="trade"):
    price: float
    qty: float
    side: str
    trade_id: str


class BBO(_Event, frozen=True, gc=False, tag="bbo"):
    bid_price: float
    bid_qty: float
    ask_price: float
    ask_qty: float
    # The venue's book update id this quote belongs to (Binance bookTicker ``u``), if it has one:
    # lets a BBO be cross-checked against the maintained book at the same id.
    update_id: int | None = None


class BookSnapshot(_Event, frozen=True, gc=False, tag="book"):
    """Top levels of a maintained (or venue-sent full) book, best first on each side."""

    bid_prices: list[float]
    bid_qtys: list[float]
    ask_prices: list[float]
    ask_qtys: list[float]
    seq: int | None = None


class MarkPrice(_Event, frozen=True, gc=False, tag="mark_price"):
    mark_price: float
    index_price: float | None = None


class Funding(_Event, frozen=True, gc=False, tag="funding"):
    # Rate as a fraction per funding interval (0.0001 = 1 bp per interval).
    rate: float
    predicted_rate: float | None = None
    next_funding_time: int | None = None
    interval_hours: float | None = None


class OpenInterest(_Event, frozen=True, gc=False, tag="open_interest"):
    oi_contracts: float | None = None
    oi_base: float | None = None
    oi_notional: float | None = None


class Liquidation(_Event, frozen=True, gc=False, tag="liquidation"):
    side: str
    price: float
    qty: float
    notional: float


class Ticker24h(_Event, frozen=True, gc=False, tag="ticker"):
    last: float
    open: float | None = None
    high: float | None = None
    low: float | None = None
    volume: float | None = None
    quote_volume: float | None = None
    price_change: float | None = None
    price_change_pct: float | None = None


class Candle(_Event, frozen=True, gc=False, tag="candle"):
    interval: str
    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    quote_volume: float | None = None
    trades: int | None = None
    closed: bool = False


class VenueMetric(_Event, frozen=True, gc=False, tag="metric"):
    """A venue statistic that only REST serves: long/short ratios, taker volume, basis, premium
    index, insurance fund, options summary, volatility index (names in ``METRICS``).

    Long format (one row per metric and time) because venues offer different sets; ``period``
    is the venue's aggregation period (``5m``, ``1h``; None for point-in-time values) and ``ts``
    the period's *start* as the venue stamps it. Ratios and rates are fractions (0.52, not 52).
    """

    metric: str
    value: float
    period: str | None = None


Event = Trade | BBO | BookSnapshot | MarkPrice | Funding | OpenInterest | Liquidation | Ticker24h | Candle | VenueMetric

EVENT_TYPES: tuple[type[_Event], ...] = (
    Trade,
    BBO,
    BookSnapshot,
    MarkPrice,
    Funding,
    OpenInterest,
    Liquidation,
    Ticker24h,
    Candle,
    VenueMetric,
)
# kind tag -> struct type; the kinds are also the stream names used by the store.
EVENT_KINDS: dict[str, type[_Event]] = {t.__struct_config__.tag: t for t in EVENT_TYPES}  # type: ignore[misc]

INTERVALS_NS: dict[str, int] = {
    "1s": 1_000_000_000,
    "1m": 60_000_000_000,
    "3m": 180_000_000_000,
    "5m": 300_000_000_000,
    "15m": 900_000_000_000,
    "30m": 1_800_000_000_000,
    "1h": 3_600_000_000_000,
    "2h": 7_200_000_000_000,
    "4h": 14_400_000_000_000,
    "1d": 86_400_000_000_000,
}

#: metric name -> what it is. Parsers may only emit these names (a test checks).
METRICS: dict[str, str] = {
    "long_short_ratio": "accounts long / accounts short (all accounts)",
    "long_account": "fraction of accounts net long (0-1)",
    "short_account": "fraction of accounts net short (0-1)",
    "taker_buy_volume": "taker (aggressor) buy volume in the period, base units",
    "taker_sell_volume": "taker (aggressor) sell volume in the period, base units",
    "taker_buy_sell_ratio": "taker buy volume / taker sell volume",
    "basis": "futures price - index price, quote units",
    "basis_rate": "basis / index price (fraction)",
    "annualized_basis_rate": "basis rate annualised (fraction per year)",
    "premium_index": "premium index (fraction): (impact mid - index) / index, period close",
    "insurance_fund_balance": "insurance fund balance in the fund's asset (symbol = asset, e.g. USDT)",
    "options_call_oi": "open interest of all listed calls on the underlying, base units",
    "options_put_oi": "open interest of all listed puts on the underlying, base units",
    "options_put_call_oi_ratio": "put open interest / call open interest",
    "options_volume_24h": "24 h options volume on the underlying, base units",
    "options_oi_weighted_iv": "open-interest-weighted mark implied volatility (fraction, 0.55 = 55%)",
    "volatility_index": "venue volatility index close (Deribit DVOL, OKX vol index), annualised fraction",
}

event_encoder = msgspec.json.Encoder()
event_decoder = msgspec.json.Decoder(Event)


def kind_of(event: Event) -> str:
    """The event's stream kind (``trade``, ``bbo``, ``book``, ...)."""
    return type(event).__struct_config__.tag  # type: ignore[return-value]
