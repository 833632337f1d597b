"""The price side of the synthetic market: one fair price per symbol, and where each venue quotes.

Everything here is vectorised over symbols and books (numpy, one call per quantity per step), so
its cost per internal step is fixed and small whatever the event rate.

Fair price (per symbol, log scale): stochastic volatility (log-vol mean-reverting, ~20 min) with
Gaussian increments, Poisson jumps that also lift volatility, and a price impact from the
liquidations of the previous step (forced selling pushes the price further down: a cascade).

Where a venue quotes (per book): the fair price ``lag`` steps ago, plus for perps the common
perp premium (mean-reverting, ~10 min) also lagged, plus the venue's constant basis, plus its own
fast mean-reverting noise, plus any planted dislocation. The lagged fair price is the venue's
index price, so ``mark / index - 1`` is premium + basis + noise (+ dislocation): funding follows it.

Liquidations (per symbol, then per publishing perp book): a small steady rate, raised sharply
when the fair price has moved more than ``liq_z0`` standard deviations over the last few seconds,
and self-exciting (each liquidation raises the rate for a while). Longs are liquidated after
drops, shorts after rallies.

The random draws come from generators used only here, so the prices do not change when the
event rate (books and trades) changes.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np

from cryptoflow.sim.model_specs import SymbolSpec, VenueSpec

SECONDS_PER_YEAR = 365.25 * 86_400.0
_BLOCK = 256  # steps of pre-drawn random numbers


class BookDef(msgspec.Struct, frozen=True, kw_only=True):
    """One simulated book: a venue's market for one symbol, with that venue's tick and lot."""

    venue: str
    market: str
    symbol: str
    sym_index: int
    venue_spec: VenueSpec
    instrument: str  # native id carried by the book's BookUpdates
    tick: float  # price tick on this venue
    level_ticks: int  # book level spacing, in this venue's ticks
    lot: float  # quantity step on this venue (base units; whole contracts where contracts are not 1)


class Dislocation(msgspec.Struct, frozen=True):
    """A planted cross-venue mispricing: ``venue``'s ``market`` book of ``symbol`` was quoted
    ``size_bps`` away from where it would otherwise be, from ``start_ns`` (inclusive) to ``end_ns``.

    Positive ``size_bps``: the venue is rich (sell there, buy on a reference venue); negative:
    it is cheap. ``reference_venues`` are the venues listing the same market of the symbol,
    which were left alone.
    """

    symbol: str
    venue: str
    market: str
    start_ns: int
    end_ns: int
    size_bps: float
    reference_venues: tuple[str, ...]

    def active(self, ts: int) -> bool:
        """Whether the dislocation is planted at ``ts`` (quotes follow at the book's next requote,
        which is every step when ``event_rate`` >= 4 / step)."""
        return self.start_ns <= ts < self.end_ns


class PriceJump(msgspec.Struct, frozen=True):
    """A jump of the fair price (recorded so tests and demos can look for the cascade after it)."""

    symbol: str
    ts: int
    size_bps: float


class PriceParams(msgspec.Struct, frozen=True, kw_only=True):
    """Constants of the price model (defaults are reasonable for crypto perps)."""

    vol_scale: float = 1.0  # multiplies every symbol's volatility and jump size
    jump_rate_scale: float = 1.0  # multiplies every symbol's jump rate (0: no jumps)
    vol_reversion_s: float = 1_200.0  # log-volatility mean reversion time
    vol_of_vol: float = 0.35  # stationary standard deviation of log-volatility
    jump_vol_kick: float = 0.5  # log-volatility added by a jump
    premium_bps: float = 1.0  # long-run mean of the perp premium
    premium_sd_bps: float = 3.0  # stationary standard deviation of the perp premium
    premium_reversion_s: float = 600.0
    noise_reversion_s: float = 2.0  # venue quote noise mean reversion time
    liq_rate: float = 0.02  # steady liquidations per second per publishing perp book
    liq_window_s: float = 3.0  # the move that triggers cascades is measured over this window
    liq_z0: float = 3.0  # moves beyond this many standard deviations trigger cascades
    liq_gain: float = 5.0  # rate multiplier per squared standard deviation beyond liq_z0
    liq_branching: float = 0.5  # self-excitation: liquidations each one causes on average
    liq_decay_s: float = 2.0
    liq_max_rate: float = 10.0  # cap per book per second
    dislocations_per_hour: float = 4.0  # random planted dislocations (all symbols together)
    dislocation_bps: tuple[float, float] = (15.0, 50.0)  # size range (absolute)
    dislocation_s: tuple[float, float] = (2.0, 20.0)  # duration range


class PriceModel:
    """Fair prices per symbol and quote targets per book, advanced one internal step at a time."""

    def __init__(
        self,
        symbols: list[SymbolSpec],
        books: list[BookDef],
        step_ns: int,
        params: PriceParams,
        seed: np.random.SeedSequence,
        start_ns: int,
    ) -> None:
        self.symbols = symbols
        self.books = books
        self.params = p = params
        self.step_ns = step_ns
        self.start_ns = start_ns
        dt = self.dt = step_ns / 1e9
        # Symbols' paths draw from their own stream, so they do not change with the set of venues.
        sym_seed, book_seed = seed.spawn(2)
        self._rng_sym = np.random.Generator(np.random.PCG64(sym_seed))
        self._rng = np.random.Generator(np.random.PCG64(book_seed))
        n_sym, n_book = len(symbols), len(books)
        self.n_sym, self.n_book = n_sym, n_book

        # ---- per symbol
        self.log_fair = np.log(np.array([s.price for s in symbols]))
        self.log_vol = np.zeros(n_sym)
        self.premium = np.full(n_sym, p.premium_bps * 1e-4)
        self.sig_bar = np.array([s.annual_vol for s in symbols]) * p.vol_scale / math.sqrt(SECONDS_PER_YEAR)
        self.jump_p = np.array([s.jumps_per_hour for s in symbols]) * p.jump_rate_scale / 3600.0 * dt
        self.jump_sd = np.array([s.jump_bps for s in symbols]) * 1e-4 * p.vol_scale
        self.impact = np.array([s.impact_bps_per_m for s in symbols]) * 1e-4 / 1e6
        self.liq_notional = np.array([s.liq_notional for s in symbols])
        self._pending_impact = np.zeros(n_sym)
        self._vol_a = math.exp(-dt / p.vol_reversion_s)
        self._vol_b = p.vol_of_vol * math.sqrt(1.0 - self._vol_a**2)
        self._prem_a = math.exp(-dt / p.premium_reversion_s)
        self._prem_b = p.premium_sd_bps * 1e-4 * math.sqrt(1.0 - self._prem_a**2)

        # ---- per book
        self.book_sym = np.array([b.sym_index for b in books], dtype=np.int64)
        self.lag = np.array([round(b.venue_spec.lag_ms * 1e6 / step_ns) for b in books], dtype=np.int64)
        self.is_perp = np.array([b.market == "perp" for b in books], dtype=np.float64)
        self.basis = np.array([b.venue_spec.basis_bps * 1e-4 for b in books])
        noise_a = math.exp(-dt / p.noise_reversion_s)
        self._noise_a = noise_a
        self._noise_b = np.array([b.venue_spec.noise_bps * 1e-4 for b in books]) * math.sqrt(1.0 - noise_a**2)
        self.noise = np.zeros(n_book)
        self.disloc = np.zeros(n_book)
        liq_books = [i for i, b in enumerate(books) if b.market == "perp" and b.venue_spec.publishes_liquidations]
        self.liq_books = np.array(liq_books, dtype=np.int64)
        self.liq_book_sym = self.book_sym[self.liq_books]
        self.liq_book_scale = np.array([books[i].venue_spec.size_scale for i in liq_books])
        n_liq_per_sym = np.bincount(self.liq_book_sym, minlength=n_sym).astype(np.float64)
        self._liq_per_sym = np.maximum(n_liq_per_sym, 1.0)
        self.liq_excite = np.zeros(n_sym)
        self._liq_decay = math.exp(-dt / p.liq_decay_s)
        self._liq_alpha = p.liq_branching / p.liq_decay_s  # rate added (per book, per s) by one event
        self._liq_window = max(1, round(p.liq_window_s / dt))

        # ---- history ring (for lags and the cascade trigger)
        max_lag = int(self.lag.max()) if n_book else 0
        hist = 1
        while hist <= max(max_lag, self._liq_window) + 1:
            hist *= 2
        self._hist_n = hist
        self.hist_fair = np.tile(self.log_fair, (hist, 1))
        self.hist_prem = np.tile(self.premium, (hist, 1))

        self.k = 0
        self.log_mid = self._targets()
        self.dlog_mid = np.zeros(n_book)
        self.index_log = self.hist_fair[0, self.book_sym]
        # Liquidations decided this step: per book index, list of (long?, notional).
        self.liquidations: dict[int, list[tuple[bool, float]]] = {}
        self.jumps: list[PriceJump] = []
        self.dislocations: list[Dislocation] = []
        self._disloc_active: dict[int, int] = {}  # book -> step at which it ends
        self._disloc_symbols: set[int] = set()
        self._planned: list[tuple[int, int, float, float]] = []  # (step, book, size_bps, duration_s)
        self._planned_jumps: list[tuple[int, int, float]] = []  # (step, symbol index, size_bps)
        self._block_left = 0

    # ---- random blocks ------------------------------------------------------------------
    def _refill(self) -> None:
        rng, n = self._rng, _BLOCK
        self._z_sym = self._rng_sym.standard_normal((n, 4, self.n_sym))
        self._u_sym = self._rng_sym.random((n, self.n_sym))
        self._z_book = rng.standard_normal((n, self.n_book))
        self._u_step = rng.random(n)
        self._u_liq = rng.random((n, len(self.liq_books)))
        self._block_left = n

    # ---- one step -----------------------------------------------------------------------
    def step(self) -> None:
        """Advance every price one internal step (to ``start + k * step``)."""
        if self._block_left == 0:
            self._refill()
        j = _BLOCK - self._block_left
        self._block_left -= 1
        self.k += 1
        k, dt, p = self.k, self.dt, self.params
        z = self._z_sym[j]

        sig = self.sig_bar * np.exp(self.log_vol)
        jumped = self._u_sym[j] < self.jump_p
        jump = np.where(jumped, z[3] * self.jump_sd, 0.0)
        while self._planned_jumps and self._planned_jumps[0][0] <= k:
            _, s, size_bps = self._planned_jumps.pop(0)
            jumped[s] = True
            jump[s] += size_bps * 1e-4
        self.log_fair += sig * math.sqrt(dt) * z[0] + jump + self._pending_impact
        self.log_vol = self.log_vol * self._vol_a + self._vol_b * z[1]
        self.premium = p.premium_bps * 1e-4 + (self.premium - p.premium_bps * 1e-4) * self._prem_a + self._prem_b * z[2]
        if jumped.any():
            self.log_vol += np.where(jumped, p.jump_vol_kick, 0.0)
            self.premium += 0.1 * jump  # perps overshoot the index in a sharp move
            ts = self.start_ns + (k - 1) * self.step_ns  # the start of the step that carries it
            for s in np.flatnonzero(jumped).tolist():
                self.jumps.append(PriceJump(self.symbols[s].symbol, ts, float(jump[s]) * 1e4))
        np.clip(self.log_vol, -1.5, 2.5, out=self.log_vol)
        h = k % self._hist_n
        self.hist_fair[h] = self.log_fair
        self.hist_prem[h] = self.premium

        self._update_dislocations(j)
        self.noise = self.noise * self._noise_a + self._noise_b * self._z_book[j]
        prev = self.log_mid
        self.log_mid = self._targets()
        self.dlog_mid = self.log_mid - prev
        self.index_log = self.hist_fair[(k - self.lag) % self._hist_n, self.book_sym]
        self._liquidations(j)

    def _targets(self) -> np.ndarray:
        idx = (self.k - self.lag) % self._hist_n
        return (
            self.hist_fair[idx, self.book_sym]
            + self.is_perp * self.hist_prem[idx, self.book_sym]
            + self.basis
            + self.noise
            + self.disloc
        )

    def _liquidations(self, j: int) -> None:
        """Decide this step's liquidations: at most one per book and step (the rate is capped
        at ``liq_max_rate``, so a Bernoulli draw is a close stand-in for Poisson and cheaper)."""
        p, dt = self.params, self.dt
        if self.liquidations:
            self.liquidations = {}
            self._pending_impact = np.zeros(self.n_sym)
        self.liq_excite *= self._liq_decay
        if not len(self.liq_books):
            return
        move = self.log_fair - self.hist_fair[(self.k - self._liq_window) % self._hist_n]
        # Measured against the symbol's normal volatility: in a volatile hour more moves count as
        # sharp, as leverage is set for normal conditions.
        z = np.abs(move) / (self.sig_bar * math.sqrt(self._liq_window * dt))
        excess = np.maximum(z - p.liq_z0, 0.0)
        rate = np.minimum(p.liq_rate * (1.0 + p.liq_gain * excess**2) + self.liq_excite, p.liq_max_rate)
        hits = self._u_liq[j] < rate[self.liq_book_sym] * dt
        if not hits.any():
            return
        rng = self._rng
        per_sym = np.zeros(self.n_sym)
        for i in np.flatnonzero(hits).tolist():
            b, s, n = int(self.liq_books[i]), int(self.liq_book_sym[i]), 1
            p_long = (0.9 if move[s] < 0 else 0.1) if excess[s] > 0 else 0.5
            longs = rng.random(n) < p_long
            notionals = self.liq_notional[s] * self.liq_book_scale[i] * np.exp(rng.standard_normal(n))
            self.liquidations[b] = list(zip(longs.tolist(), notionals.tolist(), strict=True))
            net_sell = float(np.sum(np.where(longs, notionals, -notionals)))
            self._pending_impact[s] -= net_sell * self.impact[s]
            per_sym[s] += n
        self.liq_excite += self._liq_alpha * per_sym / self._liq_per_sym

    # ---- dislocations ---------------------------------------------------------------------
    def _update_dislocations(self, j: int) -> None:
        k = self.k
        for b, end in list(self._disloc_active.items()):
            if k >= end:
                self.disloc[b] = 0.0
                del self._disloc_active[b]
                self._disloc_symbols.discard(self.books[b].sym_index)
        while self._planned and self._planned[0][0] <= k:
            _, b, size, duration = self._planned.pop(0)
            self.plant(b, size, duration)
        p = self.params
        if p.dislocations_per_hour > 0 and self._u_step[j] < p.dislocations_per_hour / 3600.0 * self.dt:
            rng = self._rng
            s = int(rng.integers(self.n_sym))
            candidates = [i for i, b in enumerate(self.books) if b.sym_index == s and self._references(i)]
            if candidates and s not in self._disloc_symbols:
                b = candidates[int(rng.integers(len(candidates)))]
                size = float(rng.uniform(*p.dislocation_bps)) * (1.0 if rng.random() < 0.5 else -1.0)
                self.plant(b, size, float(rng.uniform(*p.dislocation_s)))

    def _references(self, b: int) -> tuple[str, ...]:
        me = self.books[b]
        return tuple(o.venue for o in self.books if o.symbol == me.symbol and o.market == me.market and o is not me)

    def schedule_jump(self, step: int, sym: int, size_bps: float) -> None:
        """Make symbol ``sym``'s fair price jump by ``size_bps`` at step ``step`` (recorded)."""
        self._planned_jumps.append((max(step, self.k + 1), sym, size_bps))
        self._planned_jumps.sort(key=lambda x: (x[0], x[1]))

    def schedule(self, step: int, book: int, size_bps: float, duration_s: float) -> None:
        """Plant a dislocation when step ``step`` is computed (steps count from 1)."""
        self._planned.append((max(step, self.k + 1), book, size_bps, duration_s))
        self._planned.sort(key=lambda x: (x[0], x[1]))

    def plant(self, book: int, size_bps: float, duration_s: float) -> Dislocation:
        """Quote ``book`` ``size_bps`` off from the step being computed on, for ``duration_s``.

        Called from ``step`` (before the targets are computed), so the step that starts at the
        recorded ``start_ns`` already carries it.
        """
        steps = max(1, round(duration_s / self.dt))
        bd = self.books[book]
        start = self.start_ns + (self.k - 1) * self.step_ns  # the step being computed starts here
        rec = Dislocation(
            symbol=bd.symbol,
            venue=bd.venue,
            market=bd.market,
            start_ns=start,
            end_ns=start + steps * self.step_ns,
            size_bps=size_bps,
            reference_venues=self._references(book),
        )
        self.disloc[book] = size_bps * 1e-4
        self._disloc_active[book] = self.k + steps
        self._disloc_symbols.add(bd.sym_index)
        self.dislocations.append(rec)
        return rec
