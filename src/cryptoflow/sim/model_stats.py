"""The slow streams of every book: 1m candles, 24h tickers, and for perps mark/index prices,
funding and open interest. Emitted on a fixed cadence (``stats_ns``, 1 s by default) at the
internal step that reaches it, from the books' own trades and quotes, so they agree with them.

- Candles come from trades (like a venue's): open = previous close, so a minute without trades is
  flat with zero volume. An open candle is emitted every tick; the closed one once the minute ends.
- 24h tickers use a ring of 1440 minute buckets. The 24 hours before the start are backfilled
  (a random walk ending at the start price, volumes at the configured trade rate) so the first
  ticker already looks like a day's worth of trading.
- Mark = the book's mid rounded to the tick; index = the venue's lagged fair price; funding rate
  per interval = (EMA of mark/index - 1) * interval / 8 h, clamped: it follows the premium.
- Open interest moves with traded volume (each trade opens or closes positions, with a pull
  back towards the starting level) and drops by every liquidated quantity.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from cryptoflow.events import INTERVALS_NS, Candle, Funding, MarkPrice, OpenInterest, Ticker24h
from cryptoflow.sim.model_book import BookSim
from cryptoflow.sim.model_price import BookDef, PriceModel
from cryptoflow.sim.model_specs import Decimals, SymbolSpec

MINUTE_NS = INTERVALS_NS["1m"]
HOUR_NS = INTERVALS_NS["1h"]
_DAY_MINUTES = 1440
FUNDING_CAP = 0.0075  # per interval
_KEEP_CLOSED = 60 * 24 * 30  # closed candles kept per book for REST history (30 days)


class StatsModel:
    """Per-book accumulators for the slow streams; ``tick`` emits them."""

    def __init__(
        self,
        books: list[BookSim],
        defs: list[BookDef],
        specs: list[SymbolSpec],
        prices: PriceModel,
        trades_per_s: float,
        start_ns: int,
        funding_avg_s: float,
        stats_ns: int,
        rng: np.random.Generator,
        active: list[int] | None = None,
    ) -> None:
        """``active``: the books to emit for (default: all). Every book is backfilled and every
        random number drawn as for the full market, so a book's streams do not depend on it."""
        self.books, self.defs, self.prices = books, defs, prices
        self.active = list(range(len(books))) if active is None else list(active)
        self.ticks = [Decimals.of(d.tick) for d in defs]
        n = len(books)
        self.minute = start_ns // MINUTE_NS  # epoch minute of the open candle
        self._alpha = 1.0 - math.exp(-stats_ns / 1e9 / funding_avg_s)
        self.rng = rng

        # ---- 24h ring, backfilled
        self.r_open = np.zeros((n, _DAY_MINUTES))
        self.r_high = np.zeros((n, _DAY_MINUTES))
        self.r_low = np.zeros((n, _DAY_MINUTES))
        self.r_vol = np.zeros((n, _DAY_MINUTES))
        self.r_qvol = np.zeros((n, _DAY_MINUTES))
        sym_paths = self._backfill_paths(specs, prices)
        dens = np.array([t.den / t.num for t in self.ticks])
        slots = (self.minute - _DAY_MINUTES + np.arange(_DAY_MINUTES)) % _DAY_MINUTES
        for b, (book, d) in enumerate(zip(books, defs, strict=True)):
            path = sym_paths[d.sym_index] * (book.mid() / specs[d.sym_index].price)
            tick = self.ticks[b]
            closes = np.round(path * dens[b]) / dens[b]
            opens = np.concatenate(([closes[0]], closes[:-1]))
            wiggle = np.abs(rng.standard_normal((2, _DAY_MINUTES))) * (np.abs(closes - opens) + closes * 2e-4)
            base_per_min = trades_per_s * 60.0 * book.trade_lots * book.lnum / book.lden * 1.8
            vols = base_per_min * np.exp(0.5 * rng.standard_normal(_DAY_MINUTES))
            self.r_open[b, slots] = opens
            on_tick = dens[b]
            self.r_high[b, slots] = np.round((np.maximum(opens, closes) + wiggle[0]) * on_tick) / on_tick
            self.r_low[b, slots] = np.maximum(
                np.round((np.minimum(opens, closes) - wiggle[1]) * on_tick) / on_tick, tick.value(1)
            )
            self.r_vol[b, slots] = vols
            self.r_qvol[b, slots] = vols * closes
        self._day_stats()

        # ---- perps: funding EMA and open interest
        p = prices.params
        self.premium_ema = [
            p.premium_bps * 1e-4 + d.venue_spec.basis_bps * 1e-4 if d.market == "perp" else 0.0 for d in defs
        ]
        self.oi0 = [specs[d.sym_index].oi_notional * d.venue_spec.size_scale / specs[d.sym_index].price for d in defs]
        self.oi = list(self.oi0)
        # closed 1m candles since the start, per book (REST candle history; 1 per book per minute)
        self.closed: list[deque[Candle]] = [deque(maxlen=_KEEP_CLOSED) for _ in books]

    def _backfill_paths(self, specs: list[SymbolSpec], prices: PriceModel) -> list[np.ndarray]:
        """Minute closes of the last 24 h per symbol, ending at the start price (a random walk)."""
        out = []
        for s, spec in enumerate(specs):
            steps = self.rng.standard_normal(_DAY_MINUTES) * float(prices.sig_bar[s]) * math.sqrt(60.0)
            after = np.concatenate((np.cumsum(steps[::-1])[::-1][1:], [0.0]))  # moves after each minute
            out.append(spec.price * np.exp(-after))
        return out

    def _day_stats(self) -> None:
        """24h aggregates over the completed minutes still inside the window."""
        cur = self.minute % _DAY_MINUTES
        keep = np.ones(_DAY_MINUTES, dtype=bool)
        keep[cur] = False  # the slot about to be reused holds the minute 24 h ago
        self.d_open = self.r_open[:, (cur + 1) % _DAY_MINUTES].tolist()
        self.d_high = self.r_high[:, keep].max(axis=1).tolist()
        self.d_low = self.r_low[:, keep].min(axis=1).tolist()
        self.d_vol = self.r_vol[:, keep].sum(axis=1).tolist()
        self.d_qvol = self.r_qvol[:, keep].sum(axis=1).tolist()

    # ---- emission ------------------------------------------------------------------------
    def tick(self, ts: int, outs: list[list]) -> None:
        """Emit the slow streams of every active book at ``ts`` to ``outs[book]`` (closing the
        minute if it ended)."""
        minute = ts // MINUTE_NS
        if minute != self.minute:
            self._close_minute(ts, outs)
            self.minute = minute
            self._day_stats()
        index_log = self.prices.index_log.tolist()
        # one draw per book and tick, used or not: a book's open interest path does not depend on
        # which other books are stepped (see SyntheticMarket's active_venues)
        oi_noise = self.rng.standard_normal(len(self.books)).tolist()
        for b in self.active:
            book = self.books[b]
            out = outs[b]
            d = self.defs[b]
            venue, market, symbol = d.venue, d.market, d.symbol
            last = book.c_close
            o24 = self.d_open[b]
            high = max(self.d_high[b], book.c_high)
            low = min(self.d_low[b], book.c_low)
            vol = self.d_vol[b] + book.c_vol
            qvol = self.d_qvol[b] + book.c_qvol
            tick = self.ticks[b]
            change = tick.value(tick.count(last) - tick.count(o24))  # exact: both are on the tick
            out.append(
                Ticker24h(
                    venue,
                    market,
                    symbol,
                    ts,
                    ts,
                    last,
                    o24,
                    high,
                    low,
                    round(vol, 8),
                    round(qvol, 4),
                    change,
                    round(change / o24 * 100.0, 4),
                )
            )
            out.append(self._candle(b, book, ts, closed=False))
            if market != "perp":
                continue
            mark = tick.value(tick.count(book.mid()))
            index = tick.value(tick.count(math.exp(index_log[b])))
            ema = self.premium_ema[b] = self.premium_ema[b] + (mark / index - 1.0 - self.premium_ema[b]) * self._alpha
            hours = d.venue_spec.funding_interval_hours
            rate = max(-FUNDING_CAP, min(FUNDING_CAP, ema * hours / 8.0))
            rate = round(rate, 8)
            interval_ns = int(hours * HOUR_NS)
            nxt = (ts // interval_ns + 1) * interval_ns
            out.append(MarkPrice(venue, market, symbol, ts, ts, mark, index))
            out.append(Funding(venue, market, symbol, ts, ts, rate, rate, nxt, hours))
            oi = self._open_interest(b, book, oi_noise[b])
            out.append(OpenInterest(venue, market, symbol, ts, ts, None, oi, round(oi * mark, 2)))

    def _open_interest(self, b: int, book: BookSim, noise: float) -> float:
        flow, liq = book.flow_base, book.liq_base
        book.flow_base = book.liq_base = 0.0
        oi, oi0 = self.oi[b], self.oi0[b]
        if flow:
            opened = 0.3 * noise + 3.0 * (oi0 - oi) / oi0
            oi += flow * max(-1.0, min(1.0, opened))
        oi = max(oi - liq, 0.05 * oi0)
        lot = book.lnum / book.lden
        oi = round(oi / lot) * lot
        self.oi[b] = oi
        return round(oi, 8)

    def _candle(self, b: int, book: BookSim, ts: int, closed: bool) -> Candle:
        d = self.defs[b]
        return Candle(
            d.venue,
            d.market,
            d.symbol,
            ts,
            ts,
            "1m",
            self.minute * MINUTE_NS,
            book.c_open,
            book.c_high,
            book.c_low,
            book.c_close,
            round(book.c_vol, 8),
            round(book.c_qvol, 4),
            book.c_n,
            closed,
        )

    def _close_minute(self, ts: int, outs: list[list]) -> None:
        slot = self.minute % _DAY_MINUTES
        for b in self.active:
            book = self.books[b]
            closed = self._candle(b, book, ts, closed=True)
            outs[b].append(closed)
            self.closed[b].append(closed)
            self.r_open[b, slot] = book.c_open
            self.r_high[b, slot] = book.c_high
            self.r_low[b, slot] = book.c_low
            self.r_vol[b, slot] = book.c_vol
            self.r_qvol[b, slot] = book.c_qvol
            book.c_open = book.c_high = book.c_low = book.c_close
            book.c_vol = book.c_qvol = 0.0
            book.c_n = 0
