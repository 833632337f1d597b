"""Cross-venue analytics: arbitrage, spread matrix, venue comparison and funding carry.

Pure functions over the latest quotes and funding rates of several venues (from the collector's
live state or the store, the caller decides). Conventions:

- "buy venue" is where a taker buys (pays the ask), "sell venue" where a taker sells (hits the
  bid). ``gross_bps = (bid_sell - ask_buy) / ask_buy * 1e4``; ``net_bps = gross_bps - taker fee of
  the buy venue - taker fee of the sell venue``. Both legs are taker orders because a quote that
  is crossed across venues does not wait for a maker fill.
- Size available is what the two top-of-book levels hold: ``min(ask_qty_buy, bid_qty_sell)`` in
  base units. Deeper levels are ignored, so the size is conservative.
- Funding rates are fractions per funding interval; ``annualized = rate * (24 / interval_h) * 365``.
  Carry of a pair = short the high-rate venue, long the low-rate venue.

Fee table: base-tier (no VIP, no token discount) taker fees, in basis points, as published by the
venues; checked 2025. Tiers, promotions and token discounts lower them; callers may pass
``fees`` overrides. Sources:

- binance_usdm 5.0 (USD-M regular user 0.0500 %): https://www.binance.com/en/support/faq/360033544231
- binance_spot 10.0 (regular user 0.1000 %): https://www.binance.com/en/fee/schedule
- bybit perp 5.5 (0.055 %), spot 10.0 (0.1 %): https://www.bybit.com/en/help-center/article/Trading-Fee-Structure
- okx perp 5.0 (Regular Lv1 0.050 %), spot 10.0 (0.100 %): https://www.okx.com/fees
- kraken_futures 5.0 (0-100k USD 30-day volume, 0.0500 %):
  https://support.kraken.com/hc/en-us/articles/360048917612-Fee-Schedule
- gateio 5.0 (futures VIP 0, 0.0500 %): https://www.gate.com/fee
- deribit 5.0 (BTC/ETH futures & perpetual, 0.05 %):
  https://support.deribit.com/hc/en-us/articles/25944746248989-Fees
- hyperliquid 4.5 (perps tier 0, 0.045 %): https://hyperliquid.gitbook.io/hyperliquid-docs/trading/fees
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: (venue, market) -> base-tier taker fee in basis points (sources in the module docstring).
TAKER_FEES_BPS: dict[tuple[str, str], float] = {
    ("binance_usdm", "perp"): 5.0,
    ("binance_spot", "spot"): 10.0,
    ("bybit", "perp"): 5.5,
    ("bybit", "spot"): 10.0,
    ("okx", "perp"): 5.0,
    ("okx", "spot"): 10.0,
    ("kraken_futures", "perp"): 5.0,
    ("gateio", "perp"): 5.0,
    ("deribit", "perp"): 5.0,
    ("hyperliquid", "perp"): 4.5,
}
FEE_SOURCES: dict[str, str] = {
    "binance_usdm": "https://www.binance.com/en/support/faq/360033544231",
    "binance_spot": "https://www.binance.com/en/fee/schedule",
    "bybit": "https://www.bybit.com/en/help-center/article/Trading-Fee-Structure",
    "okx": "https://www.okx.com/fees",
    "kraken_futures": "https://support.kraken.com/hc/en-us/articles/360048917612-Fee-Schedule",
    "gateio": "https://www.gate.com/fee",
    "deribit": "https://support.deribit.com/hc/en-us/articles/25944746248989-Fees",
    "hyperliquid": "https://hyperliquid.gitbook.io/hyperliquid-docs/trading/fees",
}
#: Funding interval when a venue's feed does not say (Binance's markPrice stream omits it; most
#: Binance USD-M perps fund every 8 h). Results computed with it are flagged ``interval_assumed``.
DEFAULT_FUNDING_INTERVAL_HOURS: dict[str, float] = {
    "binance_usdm": 8.0, "bybit": 8.0, "okx": 8.0, "gateio": 8.0, "deribit": 8.0,
    "kraken_futures": 1.0, "hyperliquid": 1.0,
}
HOURS_PER_YEAR = 24.0 * 365.0


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book of one venue's instrument."""

    venue: str
    market: str
    symbol: str
    bid: float
    bid_qty: float
    ask: float
    ask_qty: float
    ts_ns: int

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0

    @property
    def spread_bps(self) -> float:
        return (self.ask - self.bid) / self.mid * 1e4


@dataclass(frozen=True, slots=True)
class Opportunity:
    symbol: str
    market: str
    buy_venue: str
    sell_venue: str
    buy_price: float  # the buy venue's ask
    sell_price: float  # the sell venue's bid
    gross_bps: float
    buy_fee_bps: float
    sell_fee_bps: float
    net_bps: float
    size_base: float
    notional_quote: float
    net_profit_quote: float
    buy_ts_ns: int
    sell_ts_ns: int


@dataclass(frozen=True, slots=True)
class SpreadMatrix:
    """``gross_bps[i][j]``: buy on ``venues[i]`` at its ask, sell on ``venues[j]`` at its bid."""

    symbol: str
    market: str
    venues: list[str]
    gross_bps: list[list[float | None]]
    net_bps: list[list[float | None]]
    mid_dev_bps: list[float]  # each venue's mid vs the median mid


@dataclass(frozen=True, slots=True)
class VenueComparison:
    venue: str
    mid: float
    mid_dev_bps: float  # vs the median mid of all venues compared
    spread_bps: float
    bid: float
    ask: float
    top_bid_notional: float
    top_ask_notional: float
    taker_fee_bps: float
    taker_cost_bps: float  # half spread + taker fee: cost of crossing once
    volume_base: float | None
    volume_share: float | None
    trades: int | None
    ts_ns: int


@dataclass(frozen=True, slots=True)
class FundingRate:
    venue: str
    symbol: str
    rate: float  # per interval
    interval_hours: float | None
    ts_ns: int
    predicted_rate: float | None = None
    next_funding_ns: int | None = None


@dataclass(frozen=True, slots=True)
class Carry:
    symbol: str
    long_venue: str  # lower rate: longs there pay least / receive most
    short_venue: str  # higher rate: shorts there receive
    long_rate: float
    short_rate: float
    long_interval_hours: float
    short_interval_hours: float
    rate_diff_8h: float  # short rate - long rate, both scaled to 8 h
    gross_annualized: float  # fraction per year
    fees_round_trip_bps: float  # open and close both legs as taker
    net_annualized: float  # gross minus fees amortised over the holding period
    holding_days: float
    interval_assumed: bool


def taker_fee_bps(venue: str, market: str, overrides: Mapping[str, float] | None = None) -> float:
    """Taker fee of a venue in bps: an override by venue id, else the table; unknown -> KeyError."""
    if overrides and venue in overrides:
        return float(overrides[venue])
    return TAKER_FEES_BPS[(venue, market)]


def interval_hours(f: FundingRate) -> tuple[float, bool]:
    """The funding interval, and whether it was assumed from ``DEFAULT_FUNDING_INTERVAL_HOURS``."""
    if f.interval_hours:
        return f.interval_hours, False
    return DEFAULT_FUNDING_INTERVAL_HOURS.get(f.venue, 8.0), True


def annualize(rate: float, hours: float) -> float:
    """Funding rate per ``hours``-long interval -> fraction per year (simple, not compounded)."""
    return rate * HOURS_PER_YEAR / hours


def _groups(quotes: Iterable[Quote]) -> dict[tuple[str, str], list[Quote]]:
    out: dict[tuple[str, str], list[Quote]] = defaultdict(list)
    for q in quotes:
        if q.bid > 0 and q.ask > 0 and q.ask >= q.bid:  # a crossed or empty book is not a quote
            out[(q.symbol, q.market)].append(q)
    return out


def find_arbitrage(
    quotes: Iterable[Quote], *, min_net_bps: float = 0.0, fees: Mapping[str, float] | None = None
) -> list[Opportunity]:
    """Every ordered venue pair of the same symbol and market whose net edge is >= ``min_net_bps``,
    best first. A negative ``min_net_bps`` also lists pairs that would lose (useful to see how far
    from profitable the market is)."""
    out: list[Opportunity] = []
    for (symbol, market), qs in _groups(quotes).items():
        for b in qs:
            fb = taker_fee_bps(b.venue, market, fees)
            for s in qs:
                if s.venue == b.venue:
                    continue
                gross = (s.bid - b.ask) / b.ask * 1e4
                fs = taker_fee_bps(s.venue, market, fees)
                net = gross - fb - fs
                if net < min_net_bps:
                    continue
                size = min(b.ask_qty, s.bid_qty)
                notional = size * b.ask
                out.append(Opportunity(
                    symbol, market, b.venue, s.venue, b.ask, s.bid, gross, fb, fs, net, size, notional,
                    notional * net / 1e4, b.ts_ns, s.ts_ns,
                ))
    out.sort(key=lambda o: o.net_bps, reverse=True)
    return out


def spread_matrix(quotes: Iterable[Quote], *, fees: Mapping[str, float] | None = None) -> list[SpreadMatrix]:
    """One venue x venue matrix per (symbol, market), venues in name order."""
    out = []
    for (symbol, market), qs in sorted(_groups(quotes).items()):
        qs = sorted(qs, key=lambda q: q.venue)
        med = statistics.median(q.mid for q in qs)
        gross: list[list[float | None]] = []
        net: list[list[float | None]] = []
        for b in qs:
            fb = taker_fee_bps(b.venue, market, fees)
            grow: list[float | None] = []
            nrow: list[float | None] = []
            for s in qs:
                if s is b:
                    grow.append(None)
                    nrow.append(None)
                    continue
                g = (s.bid - b.ask) / b.ask * 1e4
                grow.append(g)
                nrow.append(g - fb - taker_fee_bps(s.venue, market, fees))
            gross.append(grow)
            net.append(nrow)
        out.append(SpreadMatrix(symbol, market, [q.venue for q in qs], gross, net,
                                [(q.mid / med - 1.0) * 1e4 for q in qs]))
    return out


def compare_venues(
    quotes: Iterable[Quote],
    volumes: Mapping[str, tuple[float, int]] | None = None,
    *,
    fees: Mapping[str, float] | None = None,
) -> list[VenueComparison]:
    """Venues of one symbol side by side: price deviation, spread, top-of-book size, what a taker
    pays to cross once, and (when ``volumes`` {venue: (base volume, trades)} is given) volume share.
    Sorted by taker cost, cheapest first."""
    qs = [q for group in _groups(quotes).values() for q in group]
    if not qs:
        return []
    med = statistics.median(q.mid for q in qs)
    total = sum(v for v, _n in volumes.values()) if volumes else 0.0
    out = []
    for q in qs:
        fee = taker_fee_bps(q.venue, q.market, fees)
        vol = volumes.get(q.venue) if volumes is not None else None
        out.append(VenueComparison(
            venue=q.venue, mid=q.mid, mid_dev_bps=(q.mid / med - 1.0) * 1e4, spread_bps=q.spread_bps,
            bid=q.bid, ask=q.ask, top_bid_notional=q.bid * q.bid_qty, top_ask_notional=q.ask * q.ask_qty,
            taker_fee_bps=fee, taker_cost_bps=q.spread_bps / 2.0 + fee,
            volume_base=None if vol is None else vol[0],
            volume_share=None if vol is None or total <= 0 else vol[0] / total,
            trades=None if vol is None else vol[1], ts_ns=q.ts_ns,
        ))
    out.sort(key=lambda c: c.taker_cost_bps)
    return out


def funding_carry(
    rates: Iterable[FundingRate],
    *,
    holding_days: float = 7.0,
    min_net_annualized: float | None = None,
    fees: Mapping[str, float] | None = None,
) -> list[Carry]:
    """Every pair of venues for each symbol: short where funding is higher, long where it is lower.

    Rates are compared per hour (venues fund every 1, 4 or 8 h). Fees: opening and closing both
    legs as taker (``2 * (fee_long + fee_short)``), spread over ``holding_days`` for ``net``.
    Sorted by net annualized carry, best first.
    """
    if holding_days <= 0:
        raise ValueError(f"holding_days must be > 0, got {holding_days}")
    by_symbol: dict[str, list[FundingRate]] = defaultdict(list)
    for r in rates:
        by_symbol[r.symbol].append(r)
    out = []
    for symbol, rs in by_symbol.items():
        for i, a in enumerate(rs):
            for b in rs[i + 1:]:
                ha, aa = interval_hours(a)
                hb, ab = interval_hours(b)
                lo, hi, hlo, hhi = (a, b, ha, hb) if a.rate / ha <= b.rate / hb else (b, a, hb, ha)
                per_hour = hi.rate / hhi - lo.rate / hlo
                fees_bps = 2.0 * (taker_fee_bps(lo.venue, "perp", fees) + taker_fee_bps(hi.venue, "perp", fees))
                gross = per_hour * HOURS_PER_YEAR
                net = gross - fees_bps / 1e4 * 365.0 / holding_days
                if min_net_annualized is not None and net < min_net_annualized:
                    continue
                out.append(Carry(
                    symbol, lo.venue, hi.venue, lo.rate, hi.rate, hlo, hhi, per_hour * 8.0, gross, fees_bps,
                    net, holding_days, aa or ab,
                ))
    out.sort(key=lambda c: c.net_annualized, reverse=True)
    return out
