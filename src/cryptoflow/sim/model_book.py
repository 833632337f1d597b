"""One venue's order book for one symbol, and the events it produces (the hot loop).

The book is kept in integer units so that what we emit, what we hold and what a client rebuilds
from our diffs are bit-for-bit the same floats: prices are grid indices ``g`` (price =
``g * unit / den``, ``unit`` = level spacing in ticks), sizes are whole lots.

Shape: each side always holds exactly ``L`` consecutive grid levels (bids ``bb-L+1 .. bb``,
asks ``ba .. ba+L-1``, ``bb < ba``), so a side is a ring of ``L`` lot counts indexed by
``g % L`` and a move of the top by ``m`` levels is ``m`` deletions plus ``m`` insertions,
computed as ranges. New levels get a size that grows with the distance from the top
(lognormal noise around ``level_lots * (1 + growth * d)``), so sizes grow away from the mid.

What happens to a book within one internal step, each at its own random time in the step:
- a *requote* (at most one): both sides move to the venue's target mid, and sides that did not
  move get a fresh size at the top; always a non-empty diff and a new top;
- *churn*: one level gets a new size (depth biased towards the top: L * U**2.5);
- *trades*: a taker order of lognormal size fills against the top of the other side, sweeping
  deeper levels when it is larger than the top level (up to half the side); one ``Trade`` per
  price level filled, then the diff, then a ``BBO``;
- *liquidations*: a forced order that fills like a trade, preceded by a ``Liquidation``.
Every diff carries the next update id (``seq``, ``prev_seq = seq - 1``); a ``BBO`` follows each
diff that changed the top of the book, carrying the same id.
"""

from __future__ import annotations

import functools
import math
import random
from statistics import NormalDist

from cryptoflow.events import BBO, Liquidation, Trade
from cryptoflow.sim.model_price import BookDef
from cryptoflow.sim.model_specs import Decimals, SymbolSpec
from cryptoflow.venues.base import BookSyncSpec, BookUpdate, Link, SyncMode

SIM_BOOK_SYNC = BookSyncSpec(SyncMode.STREAM_SEQ, Link.PREV)
LEVEL_GROWTH = 0.06  # size at depth d ~ (1 + LEVEL_GROWTH * d) * size at the top


def _lognormal_table(sigma: float, n: int = 4096) -> list[float]:
    """Quantiles of exp(sigma * Z): a uniform index into it is a lognormal draw for ~100 ns."""
    nd = NormalDist()
    return [math.exp(sigma * nd.inv_cdf((i + 0.5) / n)) for i in range(n)]


_LEVEL_LN = _lognormal_table(0.5)
_TRADE_LN = _lognormal_table(1.1)
_LN_N = 4096
CHURN_DEPTH_POWER = 2.5  # churn depth = L * U**2.5: most size changes are near the top


@functools.cache
def _depth_table(levels: int) -> list[int]:
    """4096 quantiles of the churn depth distribution (an index into it is a draw)."""
    return [min(levels - 1, int(levels * ((i + 0.5) / 4096) ** CHURN_DEPTH_POWER)) for i in range(4096)]


class BookSim:
    """State and event generation of one (venue, market, symbol) book."""

    __slots__ = (
        "L",
        "ba",
        "bb",
        "c_close",
        "c_high",
        "c_low",
        "c_n",
        "c_open",
        "c_qvol",
        "c_vol",
        "den",
        "depth_tab",
        "flow_base",
        "instrument",
        "lden",
        "level_lots",
        "liq_base",
        "lnum",
        "market",
        "max_sweep",
        "prof",
        "qa",
        "qb",
        "rand",
        "seq",
        "symbol",
        "trade_id",
        "trade_lots",
        "ts",
        "unit",
        "unit_price",
        "venue",
    )

    def __init__(
        self,
        spec: SymbolSpec,
        book: BookDef,
        levels: int,
        rand: random.Random,
        mid_price: float,
        ts: int,
        first_seq: int,
    ) -> None:
        tick, lot = Decimals.of(book.tick), Decimals.of(book.lot)
        self.venue, self.market, self.symbol, self.instrument = book.venue, book.market, book.symbol, book.instrument
        self.unit = tick.num * book.level_ticks
        self.den = tick.den
        self.unit_price = self.unit / self.den
        self.lnum, self.lden = lot.num, lot.den
        lot_size = lot.num / lot.den
        scale = book.venue_spec.size_scale
        self.level_lots = max(1.0, spec.level_notional * scale / spec.price / lot_size)
        self.trade_lots = max(0.5, spec.trade_notional * scale / spec.price / lot_size)
        self.L = levels
        # Median size (lots) of a new level at each depth: sizes grow away from the top.
        self.prof = [self.level_lots * (1.0 + LEVEL_GROWTH * d) for d in range(levels)]
        self.depth_tab = _depth_table(levels)
        self.max_sweep = max(1, levels // 2)
        self.rand = rand
        self.seq = first_seq
        self.ts = ts
        self.trade_id = 0
        self.flow_base = 0.0  # traded base volume since the stats last looked
        self.liq_base = 0.0  # liquidated base volume since the stats last looked
        r = rand.random
        grid = mid_price / self.unit_price
        self.bb = bb = math.floor(grid - 0.5)
        self.ba = ba = bb + 1
        n = levels
        self.qb = [0] * n
        self.qa = [0] * n
        for d in range(n):
            self.qb[(bb - d) % n] = self._new_lots(d, r())
            self.qa[(ba + d) % n] = self._new_lots(d, r())
        # The current 1-minute candle, from trades; before the first trade of a minute it shows
        # the last price (O = H = L = C, like a venue's candle for a minute without trades).
        last = self.bb * self.unit / self.den
        self.c_open = self.c_high = self.c_low = self.c_close = last
        self.c_vol = self.c_qvol = 0.0
        self.c_n = 0

    # ---- reads ---------------------------------------------------------------------------
    def price(self, g: int) -> float:
        return g * self.unit / self.den

    def mid(self) -> float:
        return (self.bb + self.ba) * self.unit / (2 * self.den)

    def bbo(self) -> tuple[float, float, float, float]:
        """(bid price, bid qty, ask price, ask qty) of the current top of book."""
        u, den, ln, ld, n = self.unit, self.den, self.lnum, self.lden, self.L
        return (
            self.bb * u / den,
            self.qb[self.bb % n] * ln / ld,
            self.ba * u / den,
            self.qa[self.ba % n] * ln / ld,
        )

    def levels(self, depth: int | None) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """Best ``depth`` levels per side (all when None), best first, as (price, base qty)."""
        n = self.L if depth is None else max(0, min(depth, self.L))
        u, den, ln, ld, L, bb, ba = self.unit, self.den, self.lnum, self.lden, self.L, self.bb, self.ba
        bids = [((bb - d) * u / den, self.qb[(bb - d) % L] * ln / ld) for d in range(n)]
        asks = [((ba + d) * u / den, self.qa[(ba + d) % L] * ln / ld) for d in range(n)]
        return bids, asks

    def _new_lots(self, d: int, u: float) -> int:
        return int(self.prof[d] * _LEVEL_LN[int(u * _LN_N)] + 0.5) or 1

    # ---- moves of the top (ranges of deletions and insertions) ----------------------------
    def _move_bids(self, nb: int, ch: list[tuple[float, float]]) -> None:
        ob, L, q, u, den = self.bb, self.L, self.qb, self.unit, self.den
        if nb == ob:
            return
        r, prof, ln, ld = self.rand.random, self.prof, self.lnum, self.lden
        if nb > ob:  # up: old bottom levels fall off, new ones on top
            for g in range(ob - L + 1, min(ob, nb - L) + 1):
                ch.append((g * u / den, 0.0))
            add = range(max(ob + 1, nb - L + 1), nb + 1)
        else:  # down: top levels removed, new ones at the bottom
            for g in range(max(nb + 1, ob - L + 1), ob + 1):
                ch.append((g * u / den, 0.0))
            add = range(nb - L + 1, min(nb, ob - L) + 1)
        for g in add:
            n = int(prof[nb - g] * _LEVEL_LN[int(r() * _LN_N)] + 0.5) or 1
            q[g % L] = n
            ch.append((g * u / den, n * ln / ld))
        self.bb = nb

    def _move_asks(self, na: int, ch: list[tuple[float, float]]) -> None:
        oa, L, q, u, den = self.ba, self.L, self.qa, self.unit, self.den
        if na == oa:
            return
        r, prof, ln, ld = self.rand.random, self.prof, self.lnum, self.lden
        if na > oa:  # up: top levels removed, new ones at the far end
            for g in range(oa, min(na - 1, oa + L - 1) + 1):
                ch.append((g * u / den, 0.0))
            add = range(max(oa + L, na), na + L)
        else:  # down: far levels fall off, new ones at the top
            for g in range(max(na + L, oa), oa + L):
                ch.append((g * u / den, 0.0))
            add = range(na, min(oa - 1, na + L - 1) + 1)
        for g in add:
            n = int(prof[g - na] * _LEVEL_LN[int(r() * _LN_N)] + 0.5) or 1
            q[g % L] = n
            ch.append((g * u / den, n * ln / ld))
        self.ba = na

    def _take(self, buy: bool, lots: int, ch: list[tuple[float, float]]) -> list[tuple[int, int]]:
        """Fill a taker order of ``lots`` against the other side; returns (grid, lots) fills."""
        L, u, den, ln, ld = self.L, self.unit, self.den, self.lnum, self.lden
        fills: list[tuple[int, int]] = []
        if buy:
            q, g0, step = self.qa, self.ba, 1
        else:
            q, g0, step = self.qb, self.bb, -1
        g = g0
        for _ in range(self.max_sweep):
            lv = q[g % L]
            if lots < lv:
                q[g % L] = lv - lots
                fills.append((g, lots))
                ch.append((g * u / den, (lv - lots) * ln / ld))
                break
            fills.append((g, lv))
            lots -= lv
            g += step
            if lots == 0:
                break
        if g != g0:
            if buy:
                self._move_asks(g, ch)
            else:
                self._move_bids(g, ch)
        return fills

    # ---- one internal step --------------------------------------------------------------------
    def step(
        self,
        t0: int,
        dt_ns: int,
        quote: tuple[int, int] | None,
        n_churn: int,
        n_trade: int,
        p_buy: float,
        liqs: list[tuple[bool, float]] | None,
        out: list,
    ) -> None:
        """Append this step's events (times in ``(t0, t0 + dt_ns]``, in order) to ``out``.

        ``quote`` is the (best bid, best ask) grid target of a requote, None for no requote;
        ``liqs`` the (long position?, notional) of each liquidation in this step.
        """
        r = self.rand.random
        # Each action is one int: (offset in the step << 2) | kind, so a plain int sort orders them.
        items = [int(r() * dt_ns) << 2 | 1 for _ in range(n_churn)]
        if quote is not None:
            items.append(int(r() * dt_ns) << 2)
        for _ in range(n_trade):
            items.append(int(r() * dt_ns) << 2 | 2)
        if liqs:
            for _ in liqs:
                items.append(int(r() * dt_ns) << 2 | 3)
            liq_iter = iter(liqs)
        items.sort()
        venue, market, symbol, inst = self.venue, self.market, self.symbol, self.instrument
        L, u, den, ln, ld = self.L, self.unit, self.den, self.lnum, self.lden
        qb, qa, prof, depth_tab = self.qb, self.qa, self.prof, self.depth_tab
        seq, tid = self.seq, self.trade_id
        append = out.append
        c_open, c_high, c_low, c_close, c_vol, c_qvol, c_n = (
            self.c_open,
            self.c_high,
            self.c_low,
            self.c_close,
            self.c_vol,
            self.c_qvol,
            self.c_n,
        )
        flow = liq_flow = 0.0
        ts = t1 = t0 + 1
        bids: list[tuple[float, float]]
        asks: list[tuple[float, float]]
        for item in items:
            ts = t1 + (item >> 2)
            kind = item & 3
            if kind == 1:  # churn: a new size on one level; side, depth and size from one draw
                x = int(r() * 16_777_216.0)  # 24 random bits: 1 side, 12 depth, 11 size
                d = depth_tab[(x >> 1) & 4095]
                n = int(prof[d] * _LEVEL_LN[x >> 13 << 1] + 0.5) or 1
                if x & 1:
                    g = self.bb - d
                    qb[g % L] = n
                    bids = [(g * u / den, n * ln / ld)]
                    asks = []
                else:
                    g = self.ba + d
                    qa[g % L] = n
                    bids = []
                    asks = [(g * u / den, n * ln / ld)]
                seq += 1
                append(
                    BookUpdate(venue, market, symbol, inst, ts, ts, bids, asks, False, SIM_BOOK_SYNC, seq, seq, seq - 1)
                )
                if d:
                    continue
            elif kind == 0:  # requote to the venue's target
                bids = []
                asks = []
                nb, na = quote  # type: ignore[misc]
                if nb == self.bb:
                    n = int(prof[0] * _LEVEL_LN[int(r() * _LN_N)] + 0.5) or 1
                    qb[nb % L] = n
                    bids.append((nb * u / den, n * ln / ld))
                if na == self.ba:
                    n = int(prof[0] * _LEVEL_LN[int(r() * _LN_N)] + 0.5) or 1
                    qa[na % L] = n
                    asks.append((na * u / den, n * ln / ld))
                self._move_bids(nb, bids)
                self._move_asks(na, asks)
                seq += 1
                append(
                    BookUpdate(venue, market, symbol, inst, ts, ts, bids, asks, False, SIM_BOOK_SYNC, seq, seq, seq - 1)
                )
            else:  # a trade (2) or a liquidation (3)
                bids = []
                asks = []
                if kind == 2:
                    buy = r() < p_buy
                    lots = int(self.trade_lots * _TRADE_LN[int(r() * _LN_N)] + 0.5) or 1
                else:
                    long_liq, notional = next(liq_iter)
                    buy = not long_liq  # a liquidated long is sold
                    lots = round(notional / (self.mid() * ln / ld)) or 1
                fills = self._take(buy, lots, asks if buy else bids)
                side = "buy" if buy else "sell"
                filled = 0
                fill_notional = 0.0
                px = 0.0
                first = len(out)
                for g, n in fills:
                    px = g * u / den
                    qty = n * ln / ld
                    filled += n
                    fill_notional += px * qty
                    tid += 1
                    append(Trade(venue, market, symbol, ts, ts, px, qty, side, str(tid)))
                    if not c_n:  # first trade of the minute opens the candle
                        c_open = c_high = c_low = px
                    elif px > c_high:
                        c_high = px
                    elif px < c_low:
                        c_low = px
                    c_n += 1
                c_close = px
                qty = filled * ln / ld
                c_vol += qty
                c_qvol += fill_notional
                flow += qty
                if kind == 3:  # the liquidation comes before the trades it caused
                    liq_flow += qty
                    out.insert(
                        first,
                        Liquidation(
                            venue, market, symbol, ts, ts, "long" if long_liq else "short", px, qty, fill_notional
                        ),
                    )
                seq += 1
                append(
                    BookUpdate(venue, market, symbol, inst, ts, ts, bids, asks, False, SIM_BOOK_SYNC, seq, seq, seq - 1)
                )
            bb, ba = self.bb, self.ba
            append(
                BBO(
                    venue,
                    market,
                    symbol,
                    ts,
                    ts,
                    bb * u / den,
                    qb[bb % L] * ln / ld,
                    ba * u / den,
                    qa[ba % L] * ln / ld,
                    seq,
                )
            )
        if items:
            self.ts = ts
        self.seq, self.trade_id = seq, tid
        self.c_open, self.c_high, self.c_low, self.c_close, self.c_vol, self.c_qvol, self.c_n = (
            c_open,
            c_high,
            c_low,
            c_close,
            c_vol,
            c_qvol,
            c_n,
        )
        self.flow_base += flow
        self.liq_base += liq_flow
