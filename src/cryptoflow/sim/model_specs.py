"""Per-symbol and per-venue parameters of the synthetic market, with realistic defaults.

Kept apart from the model code so a demo or test can read or override one number (a lag, a
tick, a volatility) without touching the model, and so the protocol servers can see which
venues publish liquidations or which funding interval a venue uses.

Sizes are given as *notionals* (quote units) and turned into base quantities at the symbol's
price, so one set of numbers fits a 95,000 USD coin and a 0.1 USD meme alike.
"""

from __future__ import annotations

import math
from fractions import Fraction

import msgspec

from cryptoflow.errors import ConfigError


class SymbolSpec(msgspec.Struct, frozen=True, kw_only=True):
    """How one symbol's fair price moves and how its books and trades are sized."""

    symbol: str
    price: float  # initial fair price (quote units)
    tick: float  # price tick: every emitted price is a multiple of it
    lot: float  # quantity step (base units): every emitted quantity is a multiple of it
    annual_vol: float  # long-run volatility of the fair price (fraction per sqrt(year))
    jumps_per_hour: float = 1.0  # mean rate of price jumps
    jump_bps: float = 25.0  # standard deviation of a jump (bps)
    level_ticks: int = 1  # spacing of book levels, in ticks
    level_notional: float = 20_000.0  # median size of the best level (quote units)
    trade_notional: float = 1_000.0  # median trade size (quote units)
    liq_notional: float = 10_000.0  # median liquidation size (quote units)
    oi_notional: float = 500e6  # open interest per perp venue at the start (quote units)
    impact_bps_per_m: float = 1.0  # fair-price impact of 1M quote units of forced selling (bps)

    @property
    def base(self) -> str:
        return self.symbol.removesuffix("USDT")


class VenueSpec(msgspec.Struct, frozen=True, kw_only=True):
    """How one venue follows the common market."""

    venue: str
    markets: tuple[str, ...] = ("perp",)
    lag_ms: float = 0.0  # delay behind the fair price (rounded to the model's internal step)
    basis_bps: float = 0.0  # the venue's own constant offset (perps: on top of the common premium)
    noise_bps: float = 0.3  # standard deviation of the venue's own mean-reverting quote noise
    publishes_liquidations: bool = False
    funding_interval_hours: float = 8.0
    size_scale: float = 1.0  # multiplies book and trade sizes (a smaller venue has thinner books)
    symbols: tuple[str, ...] | None = None  # symbols listed (None: every symbol of the market config)
    # Explicit (market, symbol) books; overrides ``markets`` x ``symbols`` when given.
    listings: tuple[tuple[str, str], ...] | None = None


def _sym(base: str, price: float, tick: float, lot: float, vol: float, **kw: float) -> SymbolSpec:
    return SymbolSpec(symbol=f"{base}USDT", price=price, tick=tick, lot=lot, annual_vol=vol, **kw)  # type: ignore[arg-type]


# Approximate 2025-26 levels; ticks and lots close to the big venues' perps. Memes are 2-3x as
# volatile as BTC, jump more often and harder, and have thin books (a large liquidation moves them).
DEFAULT_SYMBOL_SPECS: dict[str, SymbolSpec] = {
    s.symbol: s
    for s in (
        _sym(
            "BTC",
            95_000.0,
            0.1,
            0.001,
            0.50,
            jumps_per_hour=1.0,
            jump_bps=25.0,
            level_ticks=5,
            level_notional=60_000.0,
            trade_notional=2_000.0,
            liq_notional=20_000.0,
            oi_notional=8e9,
            impact_bps_per_m=0.5,
        ),
        _sym(
            "ETH",
            3_500.0,
            0.01,
            0.001,
            0.65,
            jumps_per_hour=1.0,
            jump_bps=35.0,
            level_ticks=2,
            level_notional=40_000.0,
            trade_notional=1_500.0,
            liq_notional=15_000.0,
            oi_notional=4e9,
            impact_bps_per_m=0.8,
        ),
        _sym(
            "SOL",
            200.0,
            0.01,
            0.01,
            0.85,
            jumps_per_hour=1.5,
            jump_bps=50.0,
            level_notional=15_000.0,
            trade_notional=800.0,
            liq_notional=8_000.0,
            oi_notional=1.5e9,
            impact_bps_per_m=2.0,
        ),
        _sym(
            "XRP",
            2.2,
            0.0001,
            0.1,
            0.90,
            jumps_per_hour=1.5,
            jump_bps=50.0,
            level_notional=15_000.0,
            trade_notional=800.0,
            liq_notional=8_000.0,
            oi_notional=1e9,
            impact_bps_per_m=2.0,
        ),
        _sym(
            "AR",
            15.0,
            0.001,
            0.1,
            1.10,
            jumps_per_hour=2.0,
            jump_bps=70.0,
            level_notional=3_000.0,
            trade_notional=300.0,
            liq_notional=2_000.0,
            oi_notional=5e7,
            impact_bps_per_m=20.0,
        ),
        _sym(
            "BRETT",
            0.1,
            0.00001,
            1.0,
            1.60,
            jumps_per_hour=3.0,
            jump_bps=120.0,
            level_notional=2_000.0,
            trade_notional=250.0,
            liq_notional=1_500.0,
            oi_notional=3e7,
            impact_bps_per_m=40.0,
        ),
        _sym(
            "POPCAT",
            0.5,
            0.0001,
            1.0,
            1.60,
            jumps_per_hour=3.0,
            jump_bps=120.0,
            level_notional=3_000.0,
            trade_notional=300.0,
            liq_notional=2_000.0,
            oi_notional=4e7,
            impact_bps_per_m=35.0,
        ),
        _sym(
            "WIF",
            1.5,
            0.0001,
            0.1,
            1.50,
            jumps_per_hour=3.0,
            jump_bps=100.0,
            level_notional=5_000.0,
            trade_notional=400.0,
            liq_notional=3_000.0,
            oi_notional=1.5e8,
            impact_bps_per_m=20.0,
        ),
        _sym(
            "PNUT",
            0.4,
            0.0001,
            1.0,
            1.80,
            jumps_per_hour=3.0,
            jump_bps=140.0,
            level_notional=2_000.0,
            trade_notional=250.0,
            liq_notional=1_500.0,
            oi_notional=3e7,
            impact_bps_per_m=40.0,
        ),
    )
}

# Binance USD-M leads (lag 0); the others follow 50-500 ms behind, each with a small basis.
# Liquidations are public on every perp venue except Hyperliquid; spot venues have none.
DEFAULT_VENUE_SPECS: dict[str, VenueSpec] = {
    v.venue: v
    for v in (
        VenueSpec(
            venue="binance_usdm",
            lag_ms=0.0,
            basis_bps=0.0,
            noise_bps=0.2,
            publishes_liquidations=True,
            funding_interval_hours=8.0,
            size_scale=1.5,
        ),
        VenueSpec(venue="binance_spot", markets=("spot",), lag_ms=50.0, basis_bps=0.0, noise_bps=0.2),
        VenueSpec(
            venue="bybit",
            markets=("perp", "spot"),
            lag_ms=80.0,
            basis_bps=0.5,
            publishes_liquidations=True,
            funding_interval_hours=8.0,
            size_scale=1.2,
        ),
        VenueSpec(venue="okx", lag_ms=120.0, basis_bps=-0.5, publishes_liquidations=True, funding_interval_hours=8.0),
        VenueSpec(
            venue="kraken_futures",
            lag_ms=300.0,
            basis_bps=1.0,
            noise_bps=0.5,
            publishes_liquidations=True,
            funding_interval_hours=1.0,
            size_scale=0.4,
        ),
        VenueSpec(
            venue="gateio",
            lag_ms=200.0,
            basis_bps=1.5,
            noise_bps=0.4,
            publishes_liquidations=True,
            funding_interval_hours=8.0,
            size_scale=0.6,
        ),
        VenueSpec(
            venue="deribit",
            lag_ms=250.0,
            basis_bps=-1.0,
            noise_bps=0.4,
            publishes_liquidations=True,
            funding_interval_hours=8.0,
            size_scale=0.5,
        ),
        VenueSpec(
            venue="hyperliquid",
            lag_ms=500.0,
            basis_bps=2.0,
            noise_bps=0.5,
            publishes_liquidations=False,
            funding_interval_hours=1.0,
            size_scale=0.6,
        ),
    )
}

LIQUIDATION_VENUES: frozenset[str] = frozenset(v for v, s in DEFAULT_VENUE_SPECS.items() if s.publishes_liquidations)


def generic_symbol_spec(symbol: str) -> SymbolSpec:
    """Parameters for a symbol we have no defaults for: a volatile 1-USD altcoin."""
    return SymbolSpec(
        symbol=symbol,
        price=1.0,
        tick=0.0001,
        lot=1.0,
        annual_vol=1.2,
        jumps_per_hour=2.0,
        jump_bps=80.0,
        level_notional=3_000.0,
        trade_notional=300.0,
        liq_notional=2_000.0,
        oi_notional=5e7,
        impact_bps_per_m=20.0,
    )


def symbol_spec(symbol: str | SymbolSpec, **overrides: object) -> SymbolSpec:
    """The default spec of a canonical symbol (``BTCUSDT``), with fields overridden."""
    if isinstance(symbol, SymbolSpec):
        spec = symbol
    else:
        spec = DEFAULT_SYMBOL_SPECS.get(symbol)  # type: ignore[assignment]
        if spec is None:
            raise ConfigError(
                f"no default parameters for symbol {symbol!r}: pass a SymbolSpec "
                f"(defaults exist for {', '.join(DEFAULT_SYMBOL_SPECS)})"
            )
    return msgspec.structs.replace(spec, **overrides) if overrides else spec


def venue_spec(venue: str | VenueSpec, **overrides: object) -> VenueSpec:
    """The default spec of a venue id (``okx``), with fields overridden (``lag_ms=300``)."""
    if isinstance(venue, VenueSpec):
        spec = venue
    else:
        spec = DEFAULT_VENUE_SPECS.get(venue)  # type: ignore[assignment]
        if spec is None:
            raise ConfigError(
                f"no default parameters for venue {venue!r}: pass a VenueSpec "
                f"(defaults exist for {', '.join(DEFAULT_VENUE_SPECS)})"
            )
    return msgspec.structs.replace(spec, **overrides) if overrides else spec


class Decimals(msgspec.Struct, frozen=True):
    """A step size (tick or lot) as ``num / den`` with integers, so ``n * num / den`` gives the
    float nearest to the decimal value (95000.1, not 95000.09999999999) in two operations."""

    num: int
    den: int

    @classmethod
    def of(cls, step: float) -> Decimals:
        if not step > 0 or not math.isfinite(step):
            raise ConfigError(f"step size must be a positive number, got {step!r}")
        for places in range(13):
            den = 10**places
            num = round(step * den)
            if num >= 1 and abs(num / den - step) <= 1e-12 * max(1.0, step):
                return cls(num, den)
        raise ConfigError(f"step size {step!r} is not a decimal with at most 12 places")

    @property
    def fraction(self) -> Fraction:
        return Fraction(self.num, self.den)

    def value(self, n: int) -> float:
        return n * self.num / self.den

    def count(self, x: float) -> int:
        """Nearest whole number of steps in ``x``."""
        return round(x * self.den / self.num)
