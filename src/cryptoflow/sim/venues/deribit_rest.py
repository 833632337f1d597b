"""Deribit public REST market data on the simulator (``/api/v2/public/<method>``, JSON-RPC bodies).

Answers every method ``venues/deribit/rest.py`` asks for, in Deribit's format (the keys and types of
the bodies in tests/venues/rest_samples/deribit; ``{"jsonrpc":"2.0","result":...,"usIn","usOut",
"usDiff","testnet"}``), with Deribit's parameter semantics:

- ``start_timestamp``/``end_timestamp`` (ms) are required on the history methods and inclusive;
  chart data keeps the newest 5000 bars of a longer range, funding history the newest 720 hours,
  the volatility index the newest 1000 points (with ``continuation`` = the end of the next, older
  page); all ascending. ``get_order_book`` takes depth 1/5/10/20/50/100/1000/10000;
  ``get_last_trades_by_instrument`` takes ``count`` 1..1000 and ``sorting`` asc/desc/default.
- errors: HTTP 400 with ``-32602 Invalid params`` and ``data: {"reason", "param"}`` for a missing or
  malformed parameter and for an instrument or currency the venue does not list (reason ``wrong
  format``, the reason a real answer gave for a bad instrument name); ``-32601 Method not found``
  for any other public method. Throttled: HTTP 429 with ``10028 too_many_requests``.

Data: ``market.history`` (deterministic past + the live market's closed candles), the live book,
the ticker the websocket sent last (or one built from the market before the first stats tick),
and the trades the simulator published (``on_trade``; the minutes before the start contribute one
trade each until enough exist). Funding: each hour's ``interest_1h`` is the venue's mean premium
over the hour on an hourly basis (premium index bars), ``interest_8h`` the sum of the last eight.
Options: the synthetic chain (``history.options_chain``) under Deribit's instrument names. Not
modelled: the still-open bar Deribit appends to chart data (only closed bars are served).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from cryptoflow.sim.protocol import RestResponse

if TYPE_CHECKING:
    from cryptoflow.sim.venues.deribit import DeribitSim

_enc = msgspec.json.encode
_MS = 1_000_000
_MIN = 60_000_000_000
_HOUR = 60 * _MIN
_DAY = 24 * _HOUR
_CHART_NS = {"1": _MIN, "3": 3 * _MIN, "5": 5 * _MIN, "10": 10 * _MIN, "15": 15 * _MIN, "30": 30 * _MIN,
             "60": _HOUR, "120": 2 * _HOUR, "180": 3 * _HOUR, "360": 6 * _HOUR, "720": 12 * _HOUR,
             "1D": _DAY}  # fmt: skip
_DVOL_NS = {"1": 1_000_000_000, "60": _MIN, "3600": _HOUR, "43200": 12 * _HOUR, "1D": _DAY}
_DVOL_CURRENCIES = ("BTC", "ETH")
_CURRENCIES = ("BTC", "ETH", "USDC", "USDT", "EURR")
_DEPTHS = (1, 5, 10, 20, 50, 100, 1000, 10000)
_MAX_BARS, _MAX_FUNDING, _MAX_DVOL, _MAX_TRADES = 5000, 720, 1000, 1000
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


class _Invalid(Exception):
    """A request Deribit refuses with ``-32602 Invalid params``."""

    def __init__(self, param: str, reason: str = "wrong format") -> None:
        super().__init__(reason)
        self.param, self.reason = param, reason


def _trailer() -> str:
    us_in = time.time_ns() // 1000
    us_out = time.time_ns() // 1000
    return f'"usIn":{us_in},"usOut":{us_out},"usDiff":{us_out - us_in},"testnet":false'


def rpc_result(result: object) -> RestResponse:
    return RestResponse(200, f'{{"jsonrpc":"2.0","result":{_enc(result).decode()},{_trailer()}}}'.encode())


def rpc_error(status: int, code: int, message: str, data: object = None) -> RestResponse:
    err = {"message": message, "data": data, "code": code} if data is not None else {"message": message, "code": code}
    return RestResponse(status, f'{{"jsonrpc":"2.0","error":{_enc(err).decode()},{_trailer()}}}'.encode())


def throttled() -> RestResponse:
    """Deribit's answer over the credit limit: HTTP 429, ``10028 too_many_requests`` (no Retry-After)."""
    return RestResponse(429, f'{{"jsonrpc":"2.0","error":{{"message":"too_many_requests","data":null,'
                             f'"code":10028}},{_trailer()}}}'.encode())  # fmt: skip


class _Params:
    def __init__(self, query: dict[str, list[str]]) -> None:
        self.q = {k: v[0] for k, v in query.items() if v}

    def text(self, name: str) -> str:
        v = self.q.get(name)
        if not v:
            raise _Invalid(name, "missing")
        return v

    def int(self, name: str, default: int | None = None) -> int:
        v = self.q.get(name)
        if v is None and default is not None:
            return default
        try:
            return int(self.text(name))
        except ValueError:
            raise _Invalid(name) from None


def _expiry_code(ns: int) -> str:
    d = datetime.fromtimestamp(ns / 1e9, UTC)
    return f"{d.day}{_MONTHS[d.month - 1]}{d.year % 100:02d}"


def _strike(k: float) -> str:
    return str(int(k)) if k == int(k) else repr(k).replace(".", "d")


class DeribitRestSim:
    """The REST market-data methods of one simulated Deribit (state: published trades)."""

    def __init__(self, sim: DeribitSim) -> None:
        self.sim = sim
        # native -> recent trades (ms, price, wire amount, direction, id, seq, mark, index, tick dir, contracts, liq)
        self._trades: dict[str, deque[tuple[Any, ...]]] = {}
        self.routes: dict[str, Callable[[_Params], object]] = {
            "/public/ticker": self.ticker,
            "/public/get_order_book": self.order_book,
            "/public/get_last_trades_by_instrument": self.last_trades,
            "/public/get_tradingview_chart_data": self.chart,
            "/public/get_funding_rate_history": self.funding,
            "/public/get_book_summary_by_currency": self.book_summary,
            "/public/get_volatility_index_data": self.volatility_index,
        }

    def handle(self, path: str, query: dict[str, list[str]]) -> RestResponse | None:
        """The answer to ``/public/<method>`` (path without the ``/api/v2`` prefix); None: not ours."""
        route = self.routes.get(path)
        if route is None:
            return rpc_error(400, -32601, "Method not found") if path.startswith("/public/") else None
        try:
            return rpc_result(route(_Params(query)))
        except _Invalid as e:
            return rpc_error(400, -32602, "Invalid params", {"reason": e.reason, "param": e.param})

    def on_trade(self, native: str, row: tuple[Any, ...]) -> None:
        """Record a published trade (the last 1000 per instrument) for get_last_trades_by_instrument."""
        q = self._trades.get(native)
        if q is None:
            q = self._trades[native] = deque(maxlen=_MAX_TRADES)
        q.append(row)

    # ---- helpers -------------------------------------------------------------------------------
    @property
    def _venue(self) -> str:
        return self.sim.venue_id

    def _inst(self, p: _Params) -> Any:
        c = self.sim._by_native.get(p.text("instrument_name"))
        if c is None:
            raise _Invalid("instrument_name")
        return c

    def _range(self, p: _Params) -> tuple[int, int]:
        """``[start, end]`` in ns from the inclusive ms bounds, end clipped to now."""
        start, end = p.int("start_timestamp") * _MS, p.int("end_timestamp") * _MS
        if end < start:
            raise _Invalid("end_timestamp")
        return start, min(end, self.sim.market.now_ns)

    # ---- ticker, book, trades ------------------------------------------------------------------
    def ticker(self, p: _Params) -> object:
        return self._ticker(self._inst(p))

    def _ticker(self, c: Any) -> dict[str, Any]:
        if c.last_ticker is not None:  # the one the websocket sent last: REST and stream agree
            return msgspec.json.decode(c.last_ticker)["params"]["data"]
        m, now, sym = self.sim.market, self.sim.market.now_ns, c.inst.symbol
        snap = m.book_snapshot(self._venue, "perp", sym, 1)
        (bid, bq), (ask, aq) = snap.bids[0], snap.asks[0]
        mark, index = round((bid + ask) / 2, 8), m.fair_price(sym)
        h = m.history
        f = h.funding(self._venue, sym, now - 9 * _HOUR, now + 1)
        f8h = float(f.values["rate"][-1]) if len(f) else 0.0
        bars = h.minute_bars(self._venue, "perp", sym, now - _DAY, now)
        o = float(bars.open[0]) if len(bars) else mark
        oi = m.open_interest(self._venue, "perp", sym)
        return {
            "timestamp": now // _MS, "state": "open",
            "stats": {"high": float(bars.high.max()) if len(bars) else mark,
                      "low": float(bars.low.min()) if len(bars) else mark,
                      "price_change": round((mark / o - 1) * 100, 4), "volume": round(float(bars.volume.sum()), 8),
                      "volume_usd": round(float(bars.quote_volume.sum()), 2),
                      "volume_notional": round(float(bars.quote_volume.sum()), 2)},
            "index_price": index, "instrument_name": c.native, "last_price": mark, "settlement_price": mark,
            "min_price": round(mark * 0.985, 8), "max_price": round(mark * 1.015, 8),
            "open_interest": c.amount(oi, mark) if c.inverse else oi, "mark_price": mark, "interest_value": 0.0,
            "best_ask_price": ask, "best_bid_price": bid, "estimated_delivery_price": index,
            "best_ask_amount": c.amount(aq, ask), "best_bid_amount": c.amount(bq, bid),
            "current_funding": f8h, "funding_8h": f8h,
        }  # fmt: skip

    def order_book(self, p: _Params) -> object:
        c = self._inst(p)
        depth = p.int("depth", 20)
        if depth not in _DEPTHS:
            raise _Invalid("depth")
        snap = self.sim.market.book_snapshot(self._venue, "perp", c.inst.symbol, depth)
        out = self._ticker(c)
        out |= {"bids": [[px, c.amount(q, px)] for px, q in snap.bids],
                "asks": [[px, c.amount(q, px)] for px, q in snap.asks],
                "change_id": snap.seq, "timestamp": max(out["timestamp"], snap.ts // _MS)}  # fmt: skip
        if snap.bids and snap.asks:
            (bp, bq), (ap, aq) = snap.bids[0], snap.asks[0]
            out |= {"best_bid_price": bp, "best_bid_amount": c.amount(bq, bp), "best_ask_price": ap,
                    "best_ask_amount": c.amount(aq, ap)}  # fmt: skip
        return out

    def last_trades(self, p: _Params) -> object:
        c = self._inst(p)
        count = p.int("count", 10)
        if not 1 <= count <= _MAX_TRADES:
            raise _Invalid("count")
        sorting = p.q.get("sorting", "default")
        if sorting not in ("asc", "desc", "default"):
            raise _Invalid("sorting")
        rows = list(self._trades.get(c.native, ()))
        if len(rows) < count + 1:  # young simulator: the minutes before its start, one trade each
            rows = self._pre_start(c, count + 1 - len(rows)) + rows
        has_more = len(rows) > count
        rows = rows[-count:]
        if sorting == "desc":
            rows.reverse()
        trades = []
        for ms, px, amount, side, tid, seq, mark, index, td, contracts, liq in rows:
            t = {"trade_seq": seq, "trade_id": tid, "timestamp": ms, "tick_direction": td, "price": px,
                 "mark_price": mark, "instrument_name": c.native, "index_price": index, "direction": side,
                 "contracts": contracts, "amount": amount}  # fmt: skip
            if liq:
                t["liquidation"] = liq
            trades.append(t)
        return {"trades": trades, "has_more": has_more}

    def _pre_start(self, c: Any, n: int) -> list[tuple[Any, ...]]:
        h = self.sim.market.history
        t1 = h.start_minute * _MIN
        bars = h.minute_bars(self._venue, "perp", c.inst.symbol, t1 - n * _MIN, t1)
        out = []
        for k, (t, o, _h, _lo, cl, v, _qv, nt) in enumerate(bars.rows()):
            amount = c.amount(max(v / max(nt, 1), 1e-8), cl)
            contracts = amount / c.cs if c.inverse else amount
            side = "sell" if cl < o else "buy"
            out.append(((t + 59_000 * _MS) // _MS, cl, amount, side, f"{c.inst.base}-{t // _MIN}", k + 1, cl, cl, 1,
                        contracts, ""))  # fmt: skip
        return out

    # ---- history -------------------------------------------------------------------------------
    def chart(self, p: _Params) -> object:
        c = self._inst(p)
        step = _CHART_NS.get(p.text("resolution"))
        if step is None:
            raise _Invalid("resolution")
        lo, hi = self._range(p)
        bars = self.sim.market.history.candles(self._venue, "perp", c.inst.symbol, step, lo, hi + 1)
        rows = bars.rows()[-_MAX_BARS:]
        if not rows:
            return {"volume": [], "ticks": [], "status": "no_data", "open": [], "low": [], "high": [], "cost": [],
                    "close": []}  # fmt: skip
        return {
            "volume": [round(r[5], 8) for r in rows], "ticks": [r[0] // _MS for r in rows], "status": "ok",
            "open": [r[1] for r in rows], "low": [r[3] for r in rows], "high": [r[2] for r in rows],
            "cost": [round(r[6], 2) for r in rows], "close": [r[4] for r in rows],
        }  # fmt: skip

    def funding(self, p: _Params) -> object:
        c = self._inst(p)
        lo, hi = self._range(p)
        first = -(-lo // _HOUR) * _HOUR
        if first > hi:
            return []
        h, sym = self.sim.market.history, c.inst.symbol
        # hour [t - 1h, t) pays interest_1h at t; interest_8h needs the 7 hours before the first
        prem = h.premium_index(self._venue, sym, _HOUR, first - 8 * _HOUR, hi)
        basis = h.basis(self._venue, sym, _HOUR, first - 2 * _HOUR, hi)
        mean = (prem.open + prem.high + prem.low + prem.close) / 4.0
        i1h = np.round(np.clip(mean / 8.0, -0.0075 / 8, 0.0075 / 8), 12)
        one = dict(zip((prem.open_time + _HOUR).tolist(), i1h.tolist(), strict=True))
        index = dict(zip((basis.ts + _HOUR).tolist(), basis.values["index_price"].tolist(), strict=True))
        rows = []
        for t in range(first, hi + 1, _HOUR):
            if t not in one:
                continue
            i8h = sum(one.get(t - k * _HOUR, 0.0) for k in range(8))
            rows.append({"timestamp": t // _MS, "index_price": index.get(t), "prev_index_price": index.get(t - _HOUR),
                         "interest_8h": round(i8h, 12), "interest_1h": one[t]})  # fmt: skip
        return rows[-_MAX_FUNDING:]

    def volatility_index(self, p: _Params) -> object:
        cur = p.text("currency")
        if cur not in _CURRENCIES:
            raise _Invalid("currency")
        step = _DVOL_NS.get(p.text("resolution"))
        if step is None:
            raise _Invalid("resolution")
        lo, hi = self._range(p)
        m = self.sim.market
        if cur not in _DVOL_CURRENCIES or f"{cur}USDT" not in {s.symbol for s in m.symbols}:
            return {"data": [], "continuation": None}
        bars = m.history.volatility_index(cur, max(step, _MIN), lo, hi + 1)
        rows = [[t // _MS, o, h_, lo_, cl] for t, o, h_, lo_, cl, *_ in bars.rows()]
        cont = rows[-_MAX_DVOL][0] - 1 if len(rows) > _MAX_DVOL else None
        return {"data": rows[-_MAX_DVOL:], "continuation": cont}

    # ---- options -------------------------------------------------------------------------------
    def book_summary(self, p: _Params) -> object:
        cur = p.text("currency")
        if cur not in _CURRENCIES:
            raise _Invalid("currency")
        kind = p.q.get("kind")
        if kind is not None and kind not in ("future", "option", "spot", "future_combo", "option_combo"):
            raise _Invalid("kind")
        if kind != "option":
            return []  # only the options summary is modelled
        m, now = self.sim.market, self.sim.market.now_ns
        listed = {s.symbol for s in m.symbols}
        if cur == "USDC":  # linear options of the USDC-margined perps' coins
            bases = sorted({c.inst.base for c in self.sim._by_native.values() if not c.inverse})
        else:
            bases = [cur] if cur in _DVOL_CURRENCIES else []
        rows = []
        for base in bases:
            if f"{base}USDT" not in listed:
                continue
            linear = cur == "USDC"
            prefix = f"{base}_USDC" if linear else base
            for o in m.history.options_chain(base, now):
                px = round(o.mark_price * o.underlying_price, 4) if linear else o.mark_price
                name = f"{prefix}-{_expiry_code(o.expiry_ns)}-{_strike(o.strike)}-{'C' if o.call else 'P'}"
                rows.append({
                    "volume": o.volume_24h, "underlying_price": o.underlying_price, "underlying_index": "index_price",
                    "quote_currency": "USDC" if linear else base, "price_change": None,
                    "open_interest": o.open_interest, "mid_price": px, "mark_price": px,
                    "mark_iv": round(o.mark_iv * 100, 2), "low": None, "last": None, "interest_rate": 0.0,
                    "instrument_name": name, "high": None, "estimated_delivery_price": o.underlying_price,
                    "creation_timestamp": now // _MS, "bid_price": px, "base_currency": base, "ask_price": px,
                    "volume_usd": round(o.volume_24h * o.underlying_price, 2),
                })  # fmt: skip
        return rows
