"""One synthetic market that drives every simulated venue consistently.

The per-venue protocol servers turn what this produces into each venue's wire frames; they
never invent prices themselves, so a cross-venue question (arbitrage, lead-lag, funding
spreads) has a known answer: the planted dislocations, the configured lags and bases.

Usage::

    market = SyntheticMarket(MarketConfig(seed=7, symbols=("BTCUSDT", "ETHUSDT"), event_rate=20))
    snap = market.book_snapshot("okx", "perp", "BTCUSDT")        # BookUpdate(snapshot=True)
    for ev in market.advance(market.now_ns + 1_000_000_000):     # one simulated second
        ...  # Trade, BBO, BookUpdate (diff), MarkPrice, Funding, OpenInterest, Liquidation, ...

Time: the model runs on a fixed internal grid (``step_ms``, 10 ms by default) starting at
``config.start_ns``. ``advance(to_ns)`` computes every grid step that ends at or before
``to_ns`` and returns its events (times in that step, in time order); a partly elapsed step
waits for the next call. So the output depends only on the seed and the configuration, never
on how time is sliced into ``advance`` calls, nor on the wall clock: the concatenated output
of ``advance(t1); advance(t2)`` equals that of ``advance(t2)``. Queries (snapshots, mids) read
the state after the last computed step and draw no random numbers.

Rates: ``event_rate`` is the mean number of activity events (book diffs, BBOs, trades) per
second per book. A quarter of it (at most one per step) goes to requotes that follow the
venue's target price (a diff and a BBO each), the rest to size churn and trades. Slow streams
come on top: per book per ``stats_interval_ms`` a ticker and an open candle; for perps also a
mark price, a funding rate and open interest. Prices do not depend on ``event_rate``: the same
seed gives the same fair prices, jumps, dislocations and liquidation times at any rate.

Several processes: ``SyntheticMarket(config, active_venues=[...])`` steps only those venues'
books but computes every book's prices and draws every random number of the full market (a
small vectorised cost per step), so an active venue's events are exactly those of the full
market with the same config; ``advance_by_venue`` returns them per venue. That is how
``cryptoflow simulate --workers`` splits venues over processes and still has one market.

What ``advance`` returns (every item has venue, market, symbol; ``ts == ts_recv`` = event time):

- ``BookUpdate`` diffs: ``snapshot=False``, ``instrument`` = the venue's native id, ``bids`` /
  ``asks`` as [(price, base qty)] with qty 0 = remove the level; ``seq == first_seq`` = the
  book's update id (+1 per diff), ``prev_seq == seq - 1``, ``sync = SIM_BOOK_SYNC``
  (STREAM_SEQ, Link.PREV; servers renumber as their venue does). Applied in order on
  ``book_snapshot``, they rebuild the book exactly, and it is never crossed.
- ``BBO`` after every diff that changed the top of book, with ``update_id`` = that diff's seq.
- ``Trade``: one per price level a taker order filled (``side`` = aggressor, ``trade_id`` an
  increasing decimal string per book), followed by the diff and the BBO at the same ts.
- ``Liquidation`` (perps of venues that publish them): ``side`` = the liquidated position,
  ``price`` = worst fill, ``qty`` base, ``notional`` = sum of fills; its trades follow.
- Per ``stats_interval_ms``: ``Ticker24h`` (last trade, 24 h open/high/low/volumes, change,
  change in percent) and ``Candle`` (1m, from trades, ``closed=False``; ``closed=True`` once the
  minute ends) for every book; for perps ``MarkPrice`` (mark = mid rounded to the tick, index =
  the venue's lagged fair price), ``Funding`` (rate per interval, ``next_funding_time``,
  ``interval_hours``) and ``OpenInterest`` (``oi_base``, ``oi_notional``).
"""

from __future__ import annotations

import gc
import logging
import math
import random
from collections.abc import Iterable
from operator import attrgetter

import numpy as np

from cryptoflow.errors import ConfigError
from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.sim.model_book import SIM_BOOK_SYNC, BookSim
from cryptoflow.sim.model_config import (
    DEFAULT_EVENT_RATE,
    DEFAULT_START_NS,
    MarketConfig,
    PlannedDislocation,
    book_defs,
    check_config,
)
from cryptoflow.sim.model_history import MarketHistory
from cryptoflow.sim.model_price import Dislocation, PriceJump, PriceModel, PriceParams
from cryptoflow.sim.model_specs import (
    DEFAULT_SYMBOL_SPECS,
    DEFAULT_VENUE_SPECS,
    LIQUIDATION_VENUES,
    SymbolSpec,
    VenueSpec,
    symbol_spec,
    venue_spec,
)
from cryptoflow.sim.model_stats import StatsModel
from cryptoflow.venues.base import BookUpdate

__all__ = [
    "DEFAULT_EVENT_RATE",
    "DEFAULT_START_NS",
    "DEFAULT_SYMBOL_SPECS",
    "DEFAULT_VENUE_SPECS",
    "LIQUIDATION_VENUES",
    "SIM_BOOK_SYNC",
    "Dislocation",
    "MarketConfig",
    "PlannedDislocation",
    "PriceJump",
    "PriceParams",
    "SimEvent",
    "SymbolSpec",
    "SyntheticMarket",
    "VenueSpec",
    "symbol_spec",
    "venue_spec",
]

log = logging.getLogger(__name__)

SimEvent = Trade | BBO | BookUpdate | MarkPrice | Funding | OpenInterest | Liquidation | Ticker24h | Candle

_CHURN_EVENTS = 1.19  # a churn diff plus a BBO when it touched the top (~19% of the time)
_TRADE_EVENTS = 3.05  # trade(s), diff, BBO


class SyntheticMarket:
    """The simulated market: call ``advance`` to move simulated time and collect its events."""

    def __init__(self, config: MarketConfig | None = None, active_venues: Iterable[str] | None = None) -> None:
        """``active_venues``: the venues whose books this instance steps (default: all; see
        "Several processes" in the module docstring)."""
        self.config = cfg = config if config is not None else MarketConfig()
        self.symbols: list[SymbolSpec] = [symbol_spec(s) for s in cfg.symbols]
        self.venues: list[VenueSpec] = [venue_spec(v) for v in cfg.venues]
        check_config(cfg, self.symbols, self.venues)
        all_venues = [v.venue for v in self.venues]
        self.active_venues = frozenset(all_venues if active_venues is None else active_venues)
        unknown = sorted(self.active_venues - set(all_venues))
        if unknown:
            raise ConfigError(f"active venue(s) {unknown} are not in the market: venues are {', '.join(all_venues)}")
        self.step_ns = step_ns = round(cfg.step_ms * 1e6)
        dt = step_ns / 1e9
        defs = book_defs(cfg, self.symbols, self.venues)
        if not defs:
            raise ConfigError("the market has no books: give at least one venue and one symbol")
        self._defs = defs
        self._index = {(d.venue, d.market, d.symbol): i for i, d in enumerate(defs)}
        self._active = np.array([d.venue in self.active_venues for d in defs])
        # Output groups: advance_by_venue() fills one list per active venue (book -> group index).
        self._venue_order = [v for v in dict.fromkeys(d.venue for d in defs) if v in self.active_venues]
        group = {v: g for g, v in enumerate(self._venue_order)}
        self._book_group = [group.get(d.venue, -1) for d in defs]

        seeds = np.random.SeedSequence(cfg.seed).spawn(3 + len(defs))
        self._prices = pm = PriceModel(self.symbols, defs, step_ns, cfg.price, seeds[0], cfg.start_ns)
        self._rng = np.random.Generator(np.random.PCG64(seeds[1]))
        mids = np.exp(pm.log_mid).tolist()
        self._books = [
            BookSim(
                self.symbols[d.sym_index],
                d,
                cfg.book_levels,
                random.Random(int(seeds[3 + i].generate_state(1)[0])),
                mids[i],
                cfg.start_ns,
                1_000,
            )
            for i, d in enumerate(defs)
        ]

        # Per-book rates from the event-rate knob.
        rate = max(0.0, cfg.event_rate)
        quote_rate = min(0.25 * rate, 1.0 / dt)
        rest = max(0.0, rate - 2.0 * quote_rate)
        self._p_quote = quote_rate * dt
        self._churn_mean = 0.5 * rest / _CHURN_EVENTS * dt
        trade_rate = 0.5 * rest / _TRADE_EVENTS
        eta = min(max(cfg.trade_branching, 0.0), 0.95)
        self._hawkes_mu = trade_rate * (1.0 - eta)
        self._hawkes_decay = math.exp(-dt / cfg.trade_decay_s)
        self._hawkes_alpha = eta / cfg.trade_decay_s
        self._lambda = np.full(len(defs), trade_rate)
        self._unit_price = np.array([b.unit_price for b in self._books])
        self._sig_step = pm.sig_bar[pm.book_sym] * math.sqrt(dt)
        self._stats = StatsModel(
            self._books,
            defs,
            self.symbols,
            pm,
            trade_rate,
            cfg.start_ns,
            cfg.funding_avg_s,
            round(cfg.stats_interval_ms * 1e6),
            np.random.Generator(np.random.PCG64(seeds[2])),
            active=np.flatnonzero(self._active).tolist(),
        )
        self._stats_ns = round(cfg.stats_interval_ms * 1e6)
        self._next_stats = (cfg.start_ns // self._stats_ns + 1) * self._stats_ns
        self._now = cfg.start_ns
        self._block_left = 0
        self.events_emitted = 0
        for plan in cfg.dislocations:
            self.plant_dislocation(
                plan.venue,
                plan.market,
                plan.symbol,
                plan.size_bps,
                plan.duration_s,
                at_ns=cfg.start_ns + round(plan.at_s * 1e9),
            )
        log.debug("synthetic market: %d books, %d symbols, seed %d", len(defs), len(self.symbols), cfg.seed)

    # ---- time -------------------------------------------------------------------------------
    @property
    def now_ns(self) -> int:
        """Simulated time of the last computed step (the state that queries read)."""
        return self._now

    def advance(self, to_ns: int) -> list[SimEvent]:
        """Compute every internal step ending at or before ``to_ns``; return their events in time order.

        Event times lie in ``(previous now_ns, new now_ns]``; ``ts_recv`` equals ``ts``.
        """
        out: list[SimEvent] = []
        self._advance(to_ns, [out], [0] * len(self._defs))
        self.events_emitted += len(out)
        return out

    def advance_by_venue(self, to_ns: int) -> dict[str, list[SimEvent]]:
        """``advance`` split per venue: each list is exactly ``[e for e in advance(to_ns) if e.venue == v]``
        (same events, same order), without a pass over all events to split them (the simulator's
        clock publishes per venue). Every active venue has a list, possibly empty."""
        outs: list[list[SimEvent]] = [[] for _ in self._venue_order]
        self._advance(to_ns, outs, self._book_group)
        self.events_emitted += sum(len(o) for o in outs)
        return dict(zip(self._venue_order, outs, strict=True))

    def _advance(self, to_ns: int, outs: list[list[SimEvent]], group: list[int]) -> None:
        step_ns = self.step_ns
        if self._now + step_ns > to_ns:
            return
        sinks = [outs[g] if g >= 0 else [] for g in group]  # the output list of each book
        # The model creates no reference cycles, but it allocates millions of small lists and
        # tuples; pausing the cyclic collector meanwhile makes advance() ~1.6x faster.
        paused = gc.isenabled()
        if paused:
            gc.disable()
        try:
            while self._now + step_ns <= to_ns:
                self._step(outs, group, sinks)
        finally:
            if paused:
                gc.enable()

    def _refill(self) -> None:
        rng, n, nb = self._rng, 256, len(self._defs)
        self._u_quote = rng.random((n, nb)) < self._p_quote
        self._u_spread = rng.random((n, nb))
        self._churn = rng.poisson(self._churn_mean, (n, nb)) if self._churn_mean > 0 else np.zeros((n, nb), int)
        self._block_left = n

    def _step(self, outs: list[list[SimEvent]], group: list[int], sinks: list[list[SimEvent]]) -> None:
        """One internal step: books' events go to ``outs[group[book]]`` (time order within each
        list), the slow streams to ``sinks[book]``."""
        pm = self._prices
        pm.step()
        if self._block_left == 0:
            self._refill()
        j = 256 - self._block_left
        self._block_left -= 1
        t0 = self._now
        self._now = t_end = t0 + self.step_ns

        # Hawkes trade counts, intensity scaled with the symbol's current volatility.
        vol_ratio = np.exp(pm.log_vol)[pm.book_sym]
        lam = self._lambda
        trades = self._rng.poisson(lam * (self.step_ns / 1e9))
        mu = self._hawkes_mu * vol_ratio
        self._lambda = mu + (lam - mu) * self._hawkes_decay + self._hawkes_alpha * trades
        # Takers lean with the move of the venue's price.
        p_buy = (0.5 + 0.3 * np.tanh(pm.dlog_mid / (2.0 * self._sig_step))).tolist()

        quote = self._u_quote[j]
        churn = self._churn[j]
        active = quote | (churn > 0) | (trades > 0)
        liqs = pm.liquidations
        for b in liqs:
            active[b] = True
        active &= self._active  # books of other workers' venues: priced and drawn for, not stepped
        if not active.any():
            self._stats_due(t_end, sinks)
            return
        quote_l, churn_l, trades_l = quote.tolist(), churn.tolist(), trades.tolist()
        bids: list[int] = []
        asks: list[int] = []
        if quote.any():
            # Requote targets: spread of 1 level, wider now and then and when volatile.
            spread = 1 + np.floor(-np.log(self._u_spread[j]) * self.config.spread_extra * vol_ratio)
            bid = np.floor(np.exp(pm.log_mid) / self._unit_price - spread / 2.0 + 0.5)
            bids, asks = bid.astype(np.int64).tolist(), (bid + spread).astype(np.int64).tolist()
        books, dt_ns = self._books, self.step_ns
        # per output list: this step's events and how many books wrote them (>1: merge by time)
        bufs: dict[int, tuple[list[SimEvent], list[int]]] = {}
        for b in np.flatnonzero(active).tolist():
            g = group[b]
            entry = bufs.get(g)
            if entry is None:
                entry = bufs[g] = ([], [0])
            entry[1][0] += 1
            books[b].step(
                t0,
                dt_ns,
                (bids[b], asks[b]) if quote_l[b] else None,
                churn_l[b],
                trades_l[b],
                p_buy[b],
                liqs.get(b),
                entry[0],
            )
        for g, (buf, n) in bufs.items():
            if n[0] > 1:
                buf.sort(key=_event_ts)  # stable: same-time events keep book order
            outs[g].extend(buf)
        self._stats_due(t_end, sinks)

    def _stats_due(self, t_end: int, sinks: list[list[SimEvent]]) -> None:
        if t_end >= self._next_stats:
            self._stats.tick(t_end, sinks)
            self._next_stats += self._stats_ns

    # ---- queries ----------------------------------------------------------------------------
    def book_keys(self) -> list[tuple[str, str, str]]:
        """Every simulated book as (venue, market, symbol)."""
        return [(d.venue, d.market, d.symbol) for d in self._defs]

    def _book(self, venue: str, market: str, symbol: str) -> BookSim:
        i = self._index.get((venue, market, symbol))
        if i is None:
            raise ConfigError(
                f"no simulated book for {venue} {market} {symbol}: books are "
                f"{', '.join(f'{v}/{m}/{s}' for v, m, s in self.book_keys()[:20])}"
            )
        if not self._active[i]:
            raise ConfigError(f"{venue} is not stepped by this market instance (active: {sorted(self.active_venues)})")
        return self._books[i]

    def instrument_id(self, venue: str, market: str, symbol: str) -> str:
        """The ``instrument`` this book's ``BookUpdate``s carry."""
        return self._book(venue, market, symbol).instrument

    def book_snapshot(self, venue: str, market: str, symbol: str, depth: int | None = None) -> BookUpdate:
        """The book now, best ``depth`` levels per side (all when None), as a snapshot whose
        ``seq`` is the id of the last diff applied: the next diff has ``prev_seq == seq``."""
        book = self._book(venue, market, symbol)
        bids, asks = book.levels(depth)
        return BookUpdate(
            venue,
            market,
            symbol,
            book.instrument,
            book.ts,
            book.ts,
            bids,
            asks,
            True,
            SIM_BOOK_SYNC,
            book.seq,
            book.seq,
            -1,
        )

    def bbo(self, venue: str, market: str, symbol: str) -> BBO:
        """The current top of book (the same values as the last BBO event of that book)."""
        book = self._book(venue, market, symbol)
        bp, bq, ap, aq = book.bbo()
        return BBO(venue, market, symbol, book.ts, book.ts, bp, bq, ap, aq, book.seq)

    def tick(self, venue: str, market: str, symbol: str) -> float:
        """Price tick of a book (its venue's tick)."""
        self._book(venue, market, symbol)  # names the books if there is no such one
        return self._defs[self._index[(venue, market, symbol)]].tick

    def closed_candles(self, venue: str, market: str, symbol: str) -> list[Candle]:
        """The book's closed 1m candles since the start (oldest first, up to 30 days)."""
        i = self._index.get((venue, market, symbol))
        return [] if i is None else list(self._stats.closed[i])

    @property
    def history(self) -> MarketHistory:
        """The market's deterministic past (REST history endpoints; ``model_history``)."""
        h = self.__dict__.get("_history")
        if h is None:
            h = self.__dict__["_history"] = MarketHistory(self)
        return h

    def mid(self, venue: str, market: str, symbol: str) -> float:
        """Mid of the book's current best bid and ask."""
        return self._book(venue, market, symbol).mid()

    def open_interest(self, venue: str, market: str, symbol: str) -> float:
        """The book's open interest now, in base units (what a venue's REST endpoint would answer)."""
        self._book(venue, market, symbol)  # raises with the list of books
        return float(self._stats.oi[self._index[(venue, market, symbol)]])

    def fair_price(self, symbol: str) -> float:
        """The common fair (index) price of ``symbol`` now, before any venue's lag or basis."""
        return float(math.exp(self._prices.log_fair[self._sym(symbol)]))

    def premium(self, symbol: str) -> float:
        """The common perp premium of ``symbol`` now (fraction; venues add their basis)."""
        return float(self._prices.premium[self._sym(symbol)])

    def target_mid(self, venue: str, market: str, symbol: str) -> float:
        """Where the venue wants to quote now (lagged fair + premium + basis + noise + dislocation),
        before rounding to its book grid."""
        return float(math.exp(self._prices.log_mid[self._index[(venue, market, symbol)]]))

    def _sym(self, symbol: str) -> int:
        for i, s in enumerate(self.symbols):
            if s.symbol == symbol:
                return i
        raise ConfigError(f"{symbol} is not simulated: symbols are {', '.join(s.symbol for s in self.symbols)}")

    @property
    def planted_dislocations(self) -> list[Dislocation]:
        """Every dislocation planted so far (random and scheduled), in start order."""
        return list(self._prices.dislocations)

    @property
    def price_jumps(self) -> list[PriceJump]:
        """Every jump of a fair price so far."""
        return list(self._prices.jumps)

    def plant_jump(self, symbol: str, size_bps: float, at_ns: int | None = None) -> None:
        """Make ``symbol``'s fair price jump by ``size_bps`` in the internal step that starts at or
        just before ``at_ns`` (default: the next step); every venue follows with its lag, and a
        large jump sets off a liquidation cascade. Recorded in ``price_jumps``."""
        at = self._now if at_ns is None else at_ns
        self._prices.schedule_jump((at - self.config.start_ns) // self.step_ns + 1, self._sym(symbol), size_bps)

    def plant_dislocation(
        self,
        venue: str,
        market: str,
        symbol: str,
        size_bps: float,
        duration_s: float,
        at_ns: int | None = None,
    ) -> None:
        """Schedule a dislocation of one book from the internal step that starts at or just before
        ``at_ns`` (default: the next step). It is recorded in ``planted_dislocations`` when it starts."""
        b = self._index.get((venue, market, symbol))
        if b is None:
            self._book(venue, market, symbol)  # raises with the list of books
            return
        if not self._prices._references(b):
            raise ConfigError(f"no other {market} venue lists {symbol}: a dislocation needs a reference venue")
        at = self._now if at_ns is None else at_ns
        step = (at - self.config.start_ns) // self.step_ns + 1
        self._prices.schedule(step, b, size_bps, duration_s)


_event_ts = attrgetter("ts")
