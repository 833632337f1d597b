"""Configuration of the synthetic market, and the books it implies.

Kept out of ``market.py`` so the model's driver stays short; ``market.py`` re-exports the names.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping

import msgspec

from cryptoflow.errors import ConfigError
from cryptoflow.sim.model_price import BookDef, PriceParams
from cryptoflow.sim.model_specs import (
    DEFAULT_SYMBOL_SPECS,
    DEFAULT_VENUE_SPECS,
    Decimals,
    SymbolSpec,
    VenueSpec,
    generic_symbol_spec,
)
from cryptoflow.symbols import Instrument, InstrumentRegistry

log = logging.getLogger(__name__)

# 2026-01-01T00:00:00Z: a fixed default so nothing depends on when the simulator was started.
DEFAULT_START_NS = 1_767_225_600_000_000_000
DEFAULT_EVENT_RATE = 50.0


class PlannedDislocation(msgspec.Struct, frozen=True, kw_only=True):
    """A dislocation to plant at a fixed time (``at_s`` seconds after the start)."""

    at_s: float
    symbol: str
    venue: str
    size_bps: float
    duration_s: float
    market: str = "perp"


class MarketConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Everything that defines a synthetic market; the same config and seed give the same market.

    ``symbols`` / ``venues`` take names (defaults from ``model_specs``) or full specs; use
    ``venue_spec("okx", lag_ms=300)`` to change one number. Each book's native id, tick and
    contract size come from ``instruments`` if listed there, else from the bundled instrument
    table, else from the symbol's spec.
    """

    seed: int = 0
    start_ns: int = DEFAULT_START_NS
    symbols: tuple[str | SymbolSpec, ...] = tuple(DEFAULT_SYMBOL_SPECS)
    venues: tuple[str | VenueSpec, ...] = tuple(DEFAULT_VENUE_SPECS)
    instruments: tuple[Instrument, ...] = ()
    event_rate: float = DEFAULT_EVENT_RATE  # activity events per second per book (module docstring)
    step_ms: float = 10.0  # internal clock grid; lags are rounded to it
    book_levels: int = 64  # levels per side of every book
    stats_interval_ms: int = 1_000  # cadence of tickers, candles, mark, funding, open interest
    funding_avg_s: float = 120.0  # averaging time of the premium behind the funding rate
    trade_branching: float = 0.6  # Hawkes: trades each trade triggers on average (< 1)
    trade_decay_s: float = 0.5  # Hawkes: how long a trade keeps exciting the book
    spread_extra: float = 0.3  # mean extra spread levels (scaled by volatility) beyond one
    price: PriceParams = PriceParams()
    dislocations: tuple[PlannedDislocation, ...] = ()

    @classmethod
    def for_instruments(
        cls,
        listings: Mapping[str, Iterable[tuple[str, str] | Instrument]],
        *,
        seed: int = 0,
        rate: float = 1.0,
        start_ns: int = DEFAULT_START_NS,
        **overrides: object,
    ) -> MarketConfig:
        """A market of exactly these books: ``{venue: [(market, symbol), ...] or [Instrument, ...]}``.

        ``rate`` scales activity (1.0 = ``DEFAULT_EVENT_RATE`` events/s per book); an explicit
        ``event_rate=`` wins. Venues and symbols without defaults get generic parameters (logged).
        """
        instruments: list[Instrument] = []
        venues: list[VenueSpec] = []
        symbols: dict[str, SymbolSpec] = {}
        for venue, items in listings.items():
            pairs: list[tuple[str, str]] = []
            for it in items:
                if isinstance(it, Instrument):
                    instruments.append(it)
                    pairs.append((it.market, it.symbol))
                else:
                    pairs.append((it[0], it[1]))
            if not pairs:
                continue
            for _, sym in pairs:
                if sym not in symbols:
                    if sym in DEFAULT_SYMBOL_SPECS:
                        symbols[sym] = DEFAULT_SYMBOL_SPECS[sym]
                    else:
                        log.warning("no default parameters for %s: simulating it as a generic altcoin", sym)
                        symbols[sym] = generic_symbol_spec(sym)
            base = DEFAULT_VENUE_SPECS.get(venue) or VenueSpec(venue=venue, lag_ms=100.0)
            markets = tuple(dict.fromkeys(m for m, _ in pairs))
            venues.append(msgspec.structs.replace(base, markets=markets, symbols=None, listings=tuple(pairs)))
        kw: dict[str, object] = {"event_rate": DEFAULT_EVENT_RATE * rate}
        kw.update(overrides)
        return cls(
            seed=seed,
            start_ns=start_ns,
            symbols=tuple(symbols.values()),
            venues=tuple(venues),
            instruments=tuple(instruments),
            **kw,  # type: ignore[arg-type]
        )


def check_config(cfg: MarketConfig, symbols: list[SymbolSpec], venues: list[VenueSpec]) -> None:
    """Refuse a configuration the model cannot run, with a message that says what to change."""
    if not cfg.step_ms > 0:
        raise ConfigError(f"step_ms must be positive, got {cfg.step_ms}")
    if cfg.book_levels < 2:
        raise ConfigError(f"book_levels must be at least 2, got {cfg.book_levels}")
    if not 0 < cfg.stats_interval_ms <= 60_000 or 60_000 % cfg.stats_interval_ms:
        raise ConfigError(f"stats_interval_ms must divide one minute, got {cfg.stats_interval_ms}")
    names = [s.symbol for s in symbols]
    if len(set(names)) != len(names):
        raise ConfigError(f"symbols listed twice: {names}")
    ids = [v.venue for v in venues]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"venues listed twice: {ids}")
    for v in venues:
        if v.lag_ms < 0:
            raise ConfigError(f"venue {v.venue}: lag_ms must be >= 0, got {v.lag_ms}")


def book_defs(cfg: MarketConfig, symbols: list[SymbolSpec], venues: list[VenueSpec]) -> list[BookDef]:
    """Every (venue, market, symbol) book with its native id, tick and lot.

    The venue's tick is used where the instrument table knows it (Kraken quotes BTC in whole
    dollars), with the level spacing kept close to the symbol's; where contracts are not one
    base unit (OKX, Gate) the lot is a whole number of contracts, so the protocol servers can
    convert sizes exactly.
    """
    registry = InstrumentRegistry.bundled()
    registry.add(cfg.instruments)
    sym_index = {s.symbol: i for i, s in enumerate(symbols)}
    defs: list[BookDef] = []
    for v in venues:
        if v.listings is not None:
            pairs = list(v.listings)
        else:
            listed = v.symbols if v.symbols is not None else tuple(sym_index)
            pairs = [(m, sym) for m in v.markets for sym in listed]
        for market, sym in pairs:
            if market not in ("perp", "spot"):
                raise ConfigError(f"venue {v.venue}: market {market!r} is not 'perp' or 'spot'")
            if sym not in sym_index:
                raise ConfigError(f"venue {v.venue} lists {sym}, which is not among the symbols")
            spec = symbols[sym_index[sym]]
            inst = registry.find(v.venue, sym, market)
            tick = inst.tick_size if inst is not None and inst.tick_size else spec.tick
            spacing = spec.tick * spec.level_ticks
            lot = spec.lot
            if inst is not None and inst.contract_type == "linear" and inst.contract_size != 1.0:
                contract = Decimals.of(inst.contract_size).fraction
                contracts = Decimals.of(spec.lot).fraction / contract
                if contracts.denominator != 1:
                    lot = float(contract * math.ceil(contracts))
            defs.append(
                BookDef(
                    venue=v.venue,
                    market=market,
                    symbol=sym,
                    sym_index=sym_index[sym],
                    venue_spec=v,
                    instrument=inst.native if inst is not None else sym,
                    tick=tick,
                    level_ticks=max(1, round(spacing / tick)),
                    lot=lot,
                )
            )
    return defs
