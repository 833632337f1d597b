"""Simulated Gate.io USDT futures REST market data (``/futures/usdt/...``), answered from the market.

Bodies have the shape of Gate's documented examples (tests/venues/rest_samples/gateio): numbers and
sizes as strings, sizes in whole CONTRACTS (base units / ``quanto_multiplier``), times in Unix seconds.
Parameter semantics follow the API v4 docs: ``from``/``to`` inclusive seconds; on candlesticks and
premium_index ``limit`` conflicts with ``from``/``to`` (400) and one request holds at most 2000 / 1000
points (400 beyond); ``contract_stats`` takes ``from`` + ``limit`` (<= 100) and no end; funding,
insurance and trades are newest first, candles and statistics oldest first. Errors are
``{"label", "message"}`` with status 400; an unknown contract is ``CONTRACT_NOT_FOUND``.

History comes from ``market.history`` (deterministic, joins the live market's closed candles);
recent trades from what the simulator streamed (``on_trade``), before enough of them exist one
trade per minute before the market's start.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec

from cryptoflow.sim.protocol import RestResponse

if TYPE_CHECKING:
    from cryptoflow.sim.venues.gateio import _C, GateioSim

_enc = msgspec.json.encode
_S = 1_000_000_000
_DAY = 86_400
KLINE_INTERVALS = {"10s": 10, "1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "4h": 14_400,
                   "8h": 28_800, "1d": 86_400, "7d": 604_800}  # fmt: skip
PREMIUM_INTERVALS = {k: v for k, v in KLINE_INTERVALS.items() if k != "10s"}
STATS_INTERVALS = {"5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "4h": 14_400, "1d": 86_400}
MAX_CANDLES, MAX_PREMIUM, MAX_LIST, MAX_STATS = 2000, 1000, 1000, 100
RECENT_TRADES = 1000
PRE_START_ID0 = 9_000_000_000_000  # ids of the trades made up for the minutes before the start
STATS_USERS = 2000  # accounts with a position, for the long/short user counts


class _Bad(Exception):
    """A request Gate would refuse: status, label, message."""

    def __init__(self, label: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.response = RestResponse(status, _enc({"label": label, "message": message}))


def throttled() -> RestResponse:
    """Gate's answer over the limit: HTTP 429, label TOO_MANY_REQUESTS, X-Gate-RateLimit-* headers
    (the reset time in ms, as in the API v4 docs' rate-limit example)."""
    reset_ms = time.time_ns() // 1_000_000 + 500
    headers = {
        "X-Gate-RateLimit-Requests-Remain": "0",
        "X-Gate-RateLimit-Limit": "200",
        "X-Gate-RateLimit-Reset-Timestamp": str(reset_ms),
    }
    body = _enc({"label": "TOO_MANY_REQUESTS", "message": "Request Rate limit Exceeded"})
    return RestResponse(429, body, headers)


def _int(query: dict[str, list[str]], name: str) -> int | None:
    raw = query.get(name, [None])[0]
    if raw is None or raw == "":
        return None
    try:
        return int(float(raw))
    except ValueError:
        raise _Bad("INVALID_PARAM_VALUE", f"Invalid parameter value: {name}") from None


def _limit(query: dict[str, list[str]], default: int, cap: int) -> int:
    n = _int(query, "limit")
    if n is None:
        return default
    if not 1 <= n <= cap:
        raise _Bad("INVALID_PARAM_VALUE", f"Invalid parameter value: limit, must be between 1 and {cap}")
    return n


def _num(x: float) -> str:
    return repr(float(x))


class GateioRestSim:
    """REST market data of one simulated Gate venue; ``handle`` answers ``/futures/usdt`` sub-paths."""

    def __init__(self, sim: GateioSim) -> None:
        self.sim = sim
        self.venue = sim.venue_id
        self._trades: dict[str, deque[dict[str, Any]]] = {}
        self._routes = {
            "/candlesticks": self._candles,
            "/premium_index": self._premium,
            "/funding_rate": self._funding,
            "/contract_stats": self._stats,
            "/insurance": self._insurance,
            "/trades": self._recent_trades,
            "/tickers": self._tickers,
        }

    def on_trade(self, native: str, trade_id: int, size: int, ts_ns: int, price: float) -> None:
        """Remember a streamed trade for ``/trades`` (``size`` signed contracts). Called for every
        streamed trade: it keeps the raw values and formats them only when ``/trades`` is asked."""
        q = self._trades.get(native)
        if q is None:
            q = self._trades[native] = deque(maxlen=RECENT_TRADES)
        q.append((trade_id, ts_ns, size, price))

    def handle(self, sub: str, query: dict[str, list[str]]) -> RestResponse | None:
        route = self._routes.get(sub)
        if route is None:
            return None
        try:
            return RestResponse(200, _enc(route(query)))
        except _Bad as bad:
            return bad.response

    # ---- helpers -----------------------------------------------------------------------------
    def _contract(self, query: dict[str, list[str]]) -> _C:
        name = query.get("contract", [""])[0]
        if not name:
            raise _Bad("MISSING_REQUIRED_PARAM", "Missing required parameter: contract")
        c = self.sim._by_native.get(name)
        if c is None:
            raise _Bad("CONTRACT_NOT_FOUND", "Contract not found")
        return c

    def _now_s(self) -> int:
        return self.sim.market.now_ns // _S

    def _bar_window(self, query: dict[str, list[str]], step: int, cap: int) -> tuple[int, int]:
        """``[from, to]`` inclusive seconds of a K-line request, validated like Gate."""
        lo, hi, limit = _int(query, "from"), _int(query, "to"), _int(query, "limit")
        if limit is not None and (lo is not None or hi is not None):
            raise _Bad("INVALID_PARAM_VALUE", "limit conflicts with from and to")
        if hi is None:
            # Gate counts the candle still open among the latest `limit`; the simulated past has
            # complete bars only, so the latest `limit` complete ones stand in for them
            hi = self._now_s() // step * step - 1 if lo is None else self._now_s()
        if lo is None:
            n = _limit(query, 100, cap)
            lo = (hi // step - n + 1) * step
        if lo > hi:
            raise _Bad("INVALID_PARAM_VALUE", "from must be earlier than to")
        if (hi - lo) // step + 1 > cap:
            raise _Bad("INVALID_PARAM_VALUE", f"Too many points requested: at most {cap} per request")
        return lo, hi

    # ---- endpoints -----------------------------------------------------------------------------
    def _candles(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        c = self._contract(query)
        interval = query.get("interval", ["5m"])[0]
        step = KLINE_INTERVALS.get(interval)
        if step is None:
            raise _Bad("INVALID_PARAM_VALUE", "Invalid parameter value: interval")
        lo, hi = self._bar_window(query, step, MAX_CANDLES)
        if step < 60:
            return []  # the simulated past is built of whole minutes
        inst = c.inst
        bars = self.sim.market.history.candles(self.venue, inst.market, inst.symbol, step * _S, lo * _S, (hi + 1) * _S)
        return [
            {"t": t // _S, "v": str(round(v / c.cs)), "c": _num(cl), "h": _num(h), "l": _num(low), "o": _num(o),
             "sum": _num(round(qv, 4))}
            for t, o, h, low, cl, v, qv, _n in bars.rows()
        ]  # fmt: skip

    def _premium(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        c = self._contract(query)
        step = PREMIUM_INTERVALS.get(query.get("interval", ["5m"])[0])
        if step is None:
            raise _Bad("INVALID_PARAM_VALUE", "Invalid parameter value: interval")
        lo, hi = self._bar_window(query, step, MAX_PREMIUM)
        bars = self.sim.market.history.premium_index(self.venue, c.inst.symbol, step * _S, lo * _S, (hi + 1) * _S)
        return [
            {"t": t // _S, "c": _num(cl), "h": _num(h), "l": _num(low), "o": _num(o)}
            for t, o, h, low, cl, *_rest in bars.rows()
        ]

    def _funding(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        c = self._contract(query)
        limit = _limit(query, 100, MAX_LIST)
        lo, hi = _int(query, "from"), _int(query, "to")
        h = self.sim.market.history
        start = lo * _S if lo is not None else h.first_ns
        end = (hi + 1) * _S if hi is not None else self.sim.market.now_ns + 1
        rows = h.funding(self.venue, c.inst.symbol, start, end).rows("rate")
        return [{"t": t // _S, "r": _num(r)} for t, r in reversed(rows[-limit:])]  # newest first

    def _stats(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        c = self._contract(query)
        interval = query.get("interval", ["5m"])[0]
        step = STATS_INTERVALS.get(interval)
        if step is None:
            raise _Bad("INVALID_PARAM_VALUE", "Invalid parameter value: interval")
        limit = _limit(query, 30, MAX_STATS)
        lo = _int(query, "from")
        now = self._now_s()
        start = -(-lo // step) * step if lo is not None else (now // step - limit) * step
        end = min(start + limit * step, now // step * step)  # complete periods only
        if end <= start:
            return []
        h, sym, p = self.sim.market.history, c.inst.symbol, step * _S
        oi = {t: (b, n) for t, b, n in h.open_interest(self.venue, sym, p, start * _S, end * _S).rows(
            "oi_base", "oi_notional")}  # fmt: skip
        ls = {t: (la, r) for t, la, r in h.long_short(self.venue, sym, p, start * _S, end * _S).rows(
            "long_account", "ratio")}  # fmt: skip
        tv = {t: (b, s) for t, b, s in h.taker_volume(self.venue, sym, p, start * _S, end * _S).rows("buy", "sell")}
        marks = dict(h.basis(self.venue, sym, p, start * _S, end * _S).rows("futures_price"))
        out: list[dict[str, Any]] = []
        for t in sorted(oi.keys() & ls.keys() & tv.keys()):
            base, notional = oi[t]
            long_share, ratio = ls[t]
            buy, sell = tv[t]
            long_users = round(STATS_USERS * long_share)
            out.append({
                "time": t // _S, "lsr_taker": round(buy / sell, 4) if sell > 0 else 0, "lsr_account": ratio,
                "long_liq_size": "0", "short_liq_size": "0", "open_interest": str(round(base / c.cs)),
                "short_liq_usd": 0, "mark_price": _num(round(marks.get(t, 0.0), 2)), "top_lsr_size": "1",
                "short_liq_amount": 0, "long_liq_amount": 0, "open_interest_usd": notional,
                "top_lsr_account": ratio, "long_liq_usd": 0,
                "long_taker_size": str(round(buy / c.cs)), "short_taker_size": str(round(sell / c.cs)),
                "long_users": str(long_users), "short_users": str(STATS_USERS - long_users),
            })  # fmt: skip
        return out

    def _insurance(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        limit = _limit(query, 100, MAX_LIST)
        today = self._now_s() // _DAY * _DAY
        h = self.sim.market.history
        return [
            {"t": t, "b": _num(h.insurance_fund(self.venue, "USDT", t * _S))}
            for t in (today - k * _DAY for k in range(limit))
        ]  # daily balances, newest first

    def _recent_trades(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        c = self._contract(query)
        limit = _limit(query, 100, MAX_LIST)
        lo, hi = _int(query, "from"), _int(query, "to")
        rows = [_trade_row(c.native, *t) for t in self._trades.get(c.native, ())]
        if len(rows) < limit:  # young simulator: the minutes before its start, one trade each
            rows = self._pre_start_trades(c, limit - len(rows)) + rows
        rows = [r for r in rows if (lo is None or r["create_time"] >= lo) and (hi is None or r["create_time"] <= hi)]
        return rows[::-1][:limit]  # newest first

    def _pre_start_trades(self, c: _C, n: int) -> list[dict[str, Any]]:
        """One trade per minute before the market's start (at its close price, second 59). Their ids
        are ``PRE_START_ID0 + epoch minute``: unique, but not below the streamed ids (those start at
        the market's own counter), so clients must order by time, as the parser does."""
        h, inst = self.sim.market.history, c.inst
        t1 = h.start_minute * 60 * _S
        bars = h.minute_bars(self.venue, inst.market, inst.symbol, t1 - n * 60 * _S, t1)
        out = []
        for t, o, _h, _lo, cl, v, _qv, nt in bars.rows():
            size = max(1, round(v / max(nt, 1) / c.cs)) * (-1 if cl < o else 1)
            secs = float(t // _S + 59)
            out.append({"id": PRE_START_ID0 + t // (60 * _S), "create_time": secs, "create_time_ms": secs,
                        "contract": c.native, "size": str(size), "price": _num(cl)})  # fmt: skip
        return out

    def _tickers(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        want = query.get("contract", [""])[0]
        cs = [self._contract(query)] if want else list(self.sim._by_native.values())
        return [self._ticker(c) for c in cs]

    def _ticker(self, c: _C) -> dict[str, Any]:
        """The REST row (the documented fields) from the websocket ticker state, or from the market
        before the first stats tick."""
        sim, inst = self.sim, c.inst
        st = sim._tickers.get(c.native)
        row = sim._ticker_row(c, st) if st is not None else None
        book = sim.market.book_snapshot(self.venue, inst.market, inst.symbol, 1)
        if row is None:
            fair = sim.market.fair_price(inst.symbol)
            mid = (book.bids[0][0] + book.asks[0][0]) / 2 if book.bids and book.asks else fair
            oi = sim.market.open_interest(self.venue, inst.market, inst.symbol)
            row = {"last": _num(mid), "low_24h": _num(mid), "high_24h": _num(mid), "change_percentage": "0",
                   "total_size": str(round(oi / c.cs)), "volume_24h": "0", "volume_24h_base": "0",
                   "volume_24h_quote": "0", "volume_24h_settle": "0", "mark_price": _num(mid),
                   "funding_rate": "0.0001", "funding_rate_indicative": "0.0001",
                   "index_price": _num(fair), "change_price": "0"}  # fmt: skip
        bid, bid_q = book.bids[0] if book.bids else (0.0, 0.0)
        ask, ask_q = book.asks[0] if book.asks else (0.0, 0.0)
        return {
            "contract": c.native, "last": row["last"], "low_24h": row["low_24h"], "high_24h": row["high_24h"],
            "change_percentage": row["change_percentage"], "total_size": row["total_size"],
            "volume_24h": row["volume_24h"], "volume_24h_btc": row["volume_24h_base"],
            "volume_24h_usd": row["volume_24h_quote"], "volume_24h_base": row["volume_24h_base"],
            "volume_24h_quote": row["volume_24h_quote"], "volume_24h_settle": row["volume_24h_settle"],
            "mark_price": row["mark_price"], "funding_rate": row["funding_rate"],
            "funding_rate_indicative": row["funding_rate_indicative"], "index_price": row["index_price"],
            "highest_bid": _num(bid), "highest_size": str(round(bid_q / c.cs)),
            "lowest_ask": _num(ask), "lowest_size": str(round(ask_q / c.cs)), "change_price": row["change_price"],
        }  # fmt: skip


def _trade_row(native: str, trade_id: int, ts_ns: int, size: int, price: float) -> dict[str, Any]:
    secs = round(ts_ns // 1_000_000 / 1000.0, 3)
    return {"id": trade_id, "create_time": secs, "create_time_ms": secs, "contract": native, "size": str(size),
            "price": _num(price)}
