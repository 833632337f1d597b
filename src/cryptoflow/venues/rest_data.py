"""REST market data per venue: what streams cannot give, and history for backfill.

Each venue module has a ``rest.py`` (or ``<venue>_rest.py``) with a ``VenueRestData`` subclass:
pure request builders (``request``: a ``DataQuery`` -> ``RestCall``) and pure parsers
(``parse_body``: response body -> normalized records; ``error_message`` tells an error body apart;
the shared ``parse`` turns either failure into ``RestDataError``), no I/O. ``feed/venue_data.py``
does the I/O (shared rate-limited client, retries, time pagination) and ``backfill.py`` stores history.

Records a parser returns, by kind (``KindSpec.yields``):

=======================  ===================  ==================================================
kind                     record               notes
=======================  ===================  ==================================================
instruments              Instrument           the venue's ``parse_instruments``
ticker                   Ticker24h            (+ MarkPrice / Funding / OpenInterest if the same
                                              body carries them, e.g. Bybit tickers)
orderbook                BookSnapshot         top ``limit`` levels, best first
trades                   Trade                most recent trades, oldest first
candles                  Candle               ``candle_from_rest``: closed only when over
funding_history          Funding              ts = funding time, rate = the settled rate
open_interest            OpenInterest         current value, ts = the venue's time
open_interest_history    OpenInterest         ts = the period start as stamped by the venue
long_short_ratio         VenueMetric          long_short_ratio, long_account, short_account
taker_volume             VenueMetric          taker_buy_volume, taker_sell_volume(, ratio)
basis                    VenueMetric          basis, basis_rate(, annualized_basis_rate)
premium_index            VenueMetric          premium_index (history: period close)
insurance_fund           VenueMetric          insurance_fund_balance, symbol = the fund's asset
options_summary          VenueMetric          options_* metrics, market ``option``
volatility_index         VenueMetric          volatility_index (close of each period)
=======================  ===================  ==================================================

Units as everywhere (events.py): base-unit quantities (contracts multiplied out), int ns UTC
times, fractions for rates, None (never 0) for what the venue does not send. Records carry
``ts_recv`` = the time the response arrived.
"""

from __future__ import annotations

import enum
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import msgspec

from cryptoflow.errors import ConfigError
from cryptoflow.events import INTERVALS_NS, Candle, Event, VenueMetric
from cryptoflow.feed.rest import default_classify
from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import Venue


class DataKind(enum.StrEnum):
    INSTRUMENTS = "instruments"
    TICKER = "ticker"
    ORDERBOOK = "orderbook"
    TRADES = "trades"
    CANDLES = "candles"
    FUNDING_HISTORY = "funding_history"
    OPEN_INTEREST = "open_interest"
    OPEN_INTEREST_HISTORY = "open_interest_history"
    LONG_SHORT_RATIO = "long_short_ratio"
    TAKER_VOLUME = "taker_volume"
    BASIS = "basis"
    PREMIUM_INDEX = "premium_index"
    INSURANCE_FUND = "insurance_fund"
    OPTIONS_SUMMARY = "options_summary"
    VOLATILITY_INDEX = "volatility_index"


#: kinds with a time range that ``cryptoflow backfill`` can store, -> the lake table they fill.
BACKFILL_STREAMS: dict[DataKind, str] = {
    DataKind.CANDLES: "candles",
    DataKind.FUNDING_HISTORY: "funding_rates",
    DataKind.OPEN_INTEREST_HISTORY: "open_interest",
    DataKind.LONG_SHORT_RATIO: "venue_metrics",
    DataKind.TAKER_VOLUME: "venue_metrics",
    DataKind.BASIS: "venue_metrics",
    DataKind.PREMIUM_INDEX: "venue_metrics",
    DataKind.VOLATILITY_INDEX: "venue_metrics",
}

#: every period/interval name a venue may be asked for (``INTERVALS_NS`` plus the longer ones).
PERIODS_NS: dict[str, int] = {
    **INTERVALS_NS,
    "6h": 21_600_000_000_000,
    "8h": 28_800_000_000_000,
    "12h": 43_200_000_000_000,
}

Record = Event | Instrument


@dataclass(frozen=True, slots=True)
class KindSpec:
    """What a venue offers for one kind and how to page it.

    ``history``: the endpoint takes a time range (``start_ns``/``end_ns``) and is paged by time.
    ``max_limit``: most points one response holds (the pager splits ranges into windows of
    ``max_limit`` periods; a full page is followed by another from its edge).
    ``periods``: accepted period/interval names (our names, e.g. ``1m``, ``5m``, ``1h``), first =
    default; empty for kinds without a period. ``max_history_days``: how far back the venue
    serves (Binance statistics: 30 days); None = no documented limit.
    ``max_history_points``: the venue keeps only the latest N periods (Hyperliquid: 5000 candles
    per interval); the pager does not ask for older ones.
    ``weight``: rate-limit weight of one request (the venue's documented weight).
    ``markets``: markets it applies to. ``doc``: one line for the MCP tool description.
    """

    kind: DataKind
    history: bool = False
    max_limit: int = 1
    periods: tuple[str, ...] = ()
    max_history_days: float | None = None
    max_history_points: int | None = None
    weight: float = 1.0
    markets: tuple[str, ...] = ("perp",)
    doc: str = ""

    @property
    def default_period(self) -> str | None:
        return self.periods[0] if self.periods else None


@dataclass(frozen=True, slots=True)
class DataQuery:
    """One request for one kind. ``inst`` is None only for venue-wide kinds (instruments)."""

    kind: DataKind
    inst: Instrument | None = None
    period: str | None = None
    start_ns: int | None = None  # inclusive
    end_ns: int | None = None  # exclusive
    limit: int | None = None

    def covers(self, ts_ns: int) -> bool:
        """``ts_ns`` lies in ``[start_ns, end_ns)`` (an open bound covers everything on its side)."""
        return (self.start_ns is None or ts_ns >= self.start_ns) and (self.end_ns is None or ts_ns < self.end_ns)


@dataclass(frozen=True, slots=True)
class RestCall:
    """A fully built HTTP request (the client adds nothing but transport)."""

    method: Literal["GET", "POST"]
    url: str
    json_body: object | None = None
    weight: float = 1.0
    # Extra rate-limit bucket for venues that limit per endpoint (OKX: 5 requests / 2 s on
    # rubik statistics): (bucket name, requests per second, burst). None: venue bucket only.
    endpoint_limit: tuple[str, float, float] | None = None


@dataclass
class RestDataError(Exception):
    """A venue refused a data request (4xx or an error code in a 200 body)."""

    venue: str
    message: str
    url: str = ""
    details: dict[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.venue}: {self.message}" + (f" ({self.url})" if self.url else "")


class VenueRestData(ABC):
    """Request builders and parsers for one venue's public REST data (pure, no I/O)."""

    venue_id: ClassVar[str]
    kinds: ClassVar[dict[DataKind, KindSpec]]
    #: venue-wide budget in weight units per second and burst (documented limits, kept below).
    rate_limit: ClassVar[tuple[float, float]] = (5.0, 10.0)

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.base = venue.endpoints.rest.rstrip("/")  # e.g. https://fapi.binance.com (or the simulator's)

    # ---- to implement --------------------------------------------------------------------
    @abstractmethod
    def request(self, q: DataQuery) -> RestCall:
        """The HTTP request for ``q`` (already validated by ``check``)."""

    @abstractmethod
    def parse_body(self, q: DataQuery, body: bytes, ts_recv: int) -> list[Record]:
        """Records from a body that is not an error (``error_message`` said None): the kind's
        decoder and conversion. A msgspec error raised here becomes ``RestDataError`` in ``parse``."""

    def error_message(self, body: bytes) -> str | None:
        """The venue's error message if ``body`` is an error answer (Binance ``code``/``msg``, OKX
        ``code != "0"``, Bybit ``retCode``, Deribit ``error``, ...), else None. A body that is not
        even the venue's envelope is None too: the kind's decoder then says what is wrong."""
        return None

    def classify(self, status: int, headers: dict[str, str], body: bytes) -> tuple[str, str, float | None]:
        """("ok" | "retry" | "fail", message, retry-after seconds) for a response; the shared
        client (``feed/rest.py``) retries on "retry" and raises on "fail". The default:
        2xx ok; 429, 418 and 5xx retry (``Retry-After`` honoured); other 4xx fail. Venues that
        signal errors inside 200 bodies (OKX ``code``, Bybit ``retCode``, Deribit ``error``) or
        throttle with another status override this."""
        return default_classify(status, headers, body)

    # ---- shared ------------------------------------------------------------------------------
    def parse(self, q: DataQuery, body: bytes, ts_recv: int) -> list[Record]:
        """Records from a response body. Every failure is a ``RestDataError`` naming the venue: an
        error body with the venue's message, a body the schemas do not fit with "unexpected <kind>
        response" (never a bare msgspec error, whichever venue answered)."""
        err = self.error_message(body)
        if err is not None:
            raise RestDataError(self.venue_id, err)
        try:
            return self.parse_body(q, body, ts_recv)
        except msgspec.MsgspecError as e:
            raise RestDataError(self.venue_id, f"unexpected {q.kind.value} response: {e}") from e

    def offered(self, market: str = "perp") -> list[DataKind]:
        return [k for k, s in self.kinds.items() if market in s.markets]

    def check(self, q: DataQuery) -> DataQuery:
        """Validate ``q`` against ``kinds``; fill the default period and limit. Errors name what
        is accepted (and, for a kind this venue lacks, which venues have it)."""
        spec = self.kinds.get(q.kind)
        if spec is None:
            have = [v for v, api in _REGISTRY.items() if q.kind in api.kinds]
            raise ConfigError(
                f"{self.venue_id} has no {q.kind.value!r} data; venues with it: {', '.join(have) or 'none'}; "
                f"{self.venue_id} offers: {', '.join(k.value for k in self.kinds)}"
            )
        if q.inst is not None and q.inst.market not in spec.markets:
            raise ConfigError(
                f"{self.venue_id} {q.kind.value} is for {'/'.join(spec.markets)} markets, not {q.inst.market}"
            )
        if q.inst is None and q.kind is not DataKind.INSTRUMENTS and q.kind is not DataKind.INSURANCE_FUND:
            raise ConfigError(f"{q.kind.value} needs a symbol")
        period = q.period or spec.default_period
        if spec.periods and period not in spec.periods:
            raise ConfigError(
                f"{self.venue_id} {q.kind.value}: period {period!r} not offered; use one of {', '.join(spec.periods)}"
            )
        if not spec.periods:
            period = None
        limit = q.limit if q.limit is not None else spec.max_limit
        if limit < 1:
            raise ConfigError(f"limit must be >= 1, got {limit}")
        limit = min(limit, spec.max_limit)
        if q.start_ns is not None and q.end_ns is not None and q.start_ns >= q.end_ns:
            raise ConfigError("start must be before end")
        return DataQuery(q.kind, q.inst, period, q.start_ns, q.end_ns, limit)


# ---- helpers parsers share ---------------------------------------------------------------------
def period_ns(period: str) -> int:
    try:
        return PERIODS_NS[period]
    except KeyError:
        raise ConfigError(f"unknown period {period!r}; periods are: {', '.join(PERIODS_NS)}") from None


_MS = 1_000_000


def ms_from(ns: int) -> int:
    """First whole ms at or after ``ns``: an inclusive start in a venue's ms units."""
    return -(-ns // _MS)


def ms_before(ns: int) -> int:
    """Last whole ms before ``ns``: our exclusive end as a venue's inclusive ms end."""
    return (ns - 1) // _MS


def inclusive_ms_bounds(q: DataQuery, step_ns: int, limit: int) -> tuple[int, int]:
    """Inclusive ms bounds for ``[q.start_ns, q.end_ns)`` for venues that need both ends; a missing
    side is one page away (no start: one extra period, as the venue may add the still-open one;
    ``latest_only`` trims the answer back to ``limit``)."""
    if q.end_ns is not None:
        end = ms_before(q.end_ns)
    elif q.start_ns is not None:
        end = ms_from(q.start_ns) + limit * step_ns // _MS - 1
    else:
        end = time.time_ns() // _MS
    if q.start_ns is not None:
        return ms_from(q.start_ns), end
    # the latest ``limit`` points: from ``limit`` whole periods before the current one
    return ((end * _MS) // step_ns - limit) * step_ns // _MS, end


def latest_only(q: DataQuery, recs: list[Record]) -> list[Record]:
    """A query without a start asks for the latest ``limit`` points (``inclusive_ms_bounds`` asked one more)."""
    return recs[-q.limit :] if q.start_ns is None and q.limit else recs


def candle_from_rest(
    venue: str,
    inst: Instrument,
    interval: str,
    open_time_ns: int,
    o: float,
    h: float,
    lo: float,
    c: float,
    volume: float,
    ts_recv: int,
    quote_volume: float | None = None,
    trades: int | None = None,
) -> Candle:
    """A REST candle: ``ts`` = its close time (open + interval), capped at ``ts_recv`` for the
    still-open last candle, which is ``closed=False`` (backfill stores closed candles only).
    ``volume`` must already be in base units."""
    close_ns = open_time_ns + period_ns(interval)
    return Candle(
        venue=venue,
        market=inst.market,
        symbol=inst.symbol,
        ts=min(close_ns, ts_recv),
        ts_recv=ts_recv,
        interval=interval,
        open_time=open_time_ns,
        open=o,
        high=h,
        low=lo,
        close=c,
        volume=volume,
        quote_volume=quote_volume,
        trades=trades,
        closed=close_ns <= ts_recv,
    )


def metric(
    venue: str, market: str, symbol: str, ts: int, ts_recv: int, name: str, value: float, period: str | None = None
) -> VenueMetric:
    return VenueMetric(
        venue=venue, market=market, symbol=symbol, ts=ts, ts_recv=ts_recv, metric=name, value=value, period=period
    )


def fnum(x: object) -> float | None:
    """Float from a venue's number or numeric string; None for ``""``/None (never 0)."""
    if x is None or x == "":
        return None
    return float(x)  # type: ignore[arg-type]


# ---- registry ----------------------------------------------------------------------------------
_REGISTRY: dict[str, type[VenueRestData]] = {}


def register(cls: type[VenueRestData]) -> type[VenueRestData]:
    """Class decorator: make a venue's REST data available to ``rest_data_for``."""
    _REGISTRY[cls.venue_id] = cls
    return cls


_MODULES = (  # binance_rest registers both Binance venues
    "cryptoflow.venues.binance_rest",
    "cryptoflow.venues.binance_rest",
    "cryptoflow.venues.bybit.rest",
    "cryptoflow.venues.okx.rest",
    "cryptoflow.venues.kraken_futures.rest",
    "cryptoflow.venues.gateio.rest",
    "cryptoflow.venues.deribit.rest",
    "cryptoflow.venues.hyperliquid_rest",
)


def _load_all() -> None:
    import importlib

    for mod in dict.fromkeys(_MODULES):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:  # a venue without REST data yet
            if exc.name != mod:
                raise


def rest_data_classes() -> dict[str, type[VenueRestData]]:
    """venue id -> its ``VenueRestData`` class, for every venue that has one."""
    if len(_REGISTRY) < len(_MODULES):  # a test may have imported one venue module directly
        _load_all()
    return dict(_REGISTRY)


def rest_data_for(venue: Venue) -> VenueRestData:
    """The REST data API bound to ``venue`` (its endpoints and instrument registry)."""
    classes = rest_data_classes()
    cls = classes.get(venue.id)
    if cls is None:
        raise ConfigError(f"{venue.id} has no REST data API; venues with one: {', '.join(sorted(classes))}")
    return cls(venue)


def kinds_by_venue() -> dict[str, Sequence[str]]:
    """venue id -> kinds it offers (for tool descriptions and error messages)."""
    return {v: [k.value for k in cls.kinds] for v, cls in sorted(rest_data_classes().items())}
