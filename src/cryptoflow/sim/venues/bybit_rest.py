"""Bybit v5 public REST market data on the simulator: tickers, recent trades, klines, premium index
klines, funding history, open interest, long/short account ratio and insurance pools (instruments and
order books are answered in ``bybit.py``).

Formats follow Bybit's documented responses (``tests/venues/rest_samples/bybit``): the
``{"retCode","retMsg","result","retExtInfo","time"}`` envelope, numbers as strings, klines as arrays
of strings newest first, errors as HTTP 200 with ``retCode`` 10001 ("Not supported symbols",
"Illegal category", "params error: ..."). Parameter semantics as documented: ``start``/``end`` (and
``startTime``/``endTime``) in ms and inclusive; a page holds the newest ``limit`` points of the range;
a lone ``startTime`` on funding history is an error; ``limit`` defaults and maxima per endpoint
(klines 200/1000, funding 200/200, open interest 50/200 with ``cursor``, account ratio 50/500 with
``cursor``, trades spot 60/60, linear 500/1000). Cursors are ``lastid%3D<ms>``: the next page holds
the points older than that time.

Data: history from ``market.history`` (deterministic, so repeated pages agree), tickers from the
latest websocket ticker state of the book (so REST and stream agree) filled in from the live market
before the first one, recent trades from the trades the simulator published (a quiet simulated
market is padded with one trade per earlier minute from the candle history, as a real venue always
has trades to show).

Throttling: over the limit, Bybit's per-IP answer, HTTP 403 "access too frequent". Bybit documents
``X-Bapi-Limit-Status`` / ``X-Bapi-Limit-Reset-Timestamp`` on every API response; the simulator puts
a reset time 0.5 s ahead, so clients that honour it retry quickly.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import msgspec

from cryptoflow.events import Trade
from cryptoflow.sim.protocol import RestResponse
from cryptoflow.symbols import Instrument

if TYPE_CHECKING:
    from cryptoflow.sim.venues.bybit import BybitSim

_MS = 1_000_000
_MIN_NS = 60 * 1_000_000_000
_HOUR_NS = 60 * _MIN_NS
_DAY_NS = 24 * _HOUR_NS
_MARKET = {"linear": "perp", "spot": "spot"}
_KLINE_NS = {
    "1": _MIN_NS, "3": 3 * _MIN_NS, "5": 5 * _MIN_NS, "15": 15 * _MIN_NS, "30": 30 * _MIN_NS, "60": _HOUR_NS,
    "120": 2 * _HOUR_NS, "240": 4 * _HOUR_NS, "360": 6 * _HOUR_NS, "720": 12 * _HOUR_NS, "D": _DAY_NS,
}
_STAT_NS = {"5min": 5 * _MIN_NS, "15min": 15 * _MIN_NS, "30min": 30 * _MIN_NS, "1h": _HOUR_NS, "4h": 4 * _HOUR_NS,
            "1d": _DAY_NS}
_TRADES_KEPT = 1000  # recent-trade serves at most 1000
_LINEAR_ROW = (  # linear tickers row, in the documented order
    "symbol", "lastPrice", "indexPrice", "markPrice", "prevPrice24h", "price24hPcnt", "highPrice24h", "lowPrice24h",
    "prevPrice1h", "openInterest", "openInterestValue", "turnover24h", "volume24h", "fundingRate", "nextFundingTime",
    "predictedDeliveryPrice", "basisRate", "deliveryFeeRate", "deliveryTime", "ask1Size", "bid1Price", "ask1Price",
    "bid1Size",
)
_SPOT_ROW = ("symbol", "bid1Price", "bid1Size", "ask1Price", "ask1Size", "lastPrice", "prevPrice24h", "price24hPcnt",
             "highPrice24h", "lowPrice24h", "turnover24h", "volume24h", "usdIndexPrice")
_USD = frozenset(("USDT", "USDC", "USD"))

Query = dict[str, list[str]]


class BadRequest(Exception):
    """A request Bybit refuses: answered as HTTP 200 with retCode 10001 and this message."""


def _s(x: float) -> str:
    """A number as Bybit writes it: plain decimal, never exponent notation."""
    r = repr(float(x))
    return r if "e" not in r else format(Decimal(r), "f")


def _now_ms() -> int:
    return time.time_ns() // _MS


def ok(result: dict[str, Any]) -> RestResponse:
    return RestResponse(200, msgspec.json.encode(
        {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": _now_ms()}))


def error(msg: str, code: int = 10001) -> RestResponse:
    return RestResponse(200, msgspec.json.encode(
        {"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": _now_ms()}))


def throttled() -> RestResponse:
    """Bybit's answer over the per-IP limit (600 requests / 5 s)."""
    reset = _now_ms() + 500
    return RestResponse(403, b"access too frequent",
                        {"X-Bapi-Limit-Status": "0", "X-Bapi-Limit-Reset-Timestamp": str(reset)})


class BybitRestSim:
    """REST handlers of one ``BybitSim`` (it passes its published trades to ``remember``)."""

    def __init__(self, sim: BybitSim) -> None:
        self.sim = sim
        self.trades: dict[tuple[str, str], deque[Trade]] = {}
        self._routes: dict[str, Callable[[Query], RestResponse]] = {
            "/v5/market/tickers": self._tickers,
            "/v5/market/recent-trade": self._recent_trades,
            "/v5/market/kline": self._kline,
            "/v5/market/premium-index-price-kline": self._premium,
            "/v5/market/funding/history": self._funding,
            "/v5/market/open-interest": self._open_interest,
            "/v5/market/account-ratio": self._account_ratio,
            "/v5/market/insurance": self._insurance,
        }

    def remember(self, t: Trade) -> None:
        key = (t.market, t.symbol)
        q = self.trades.get(key)
        if q is None:
            q = self.trades[key] = deque(maxlen=_TRADES_KEPT)
        q.append(t)

    def answer(self, path: str, query: Query) -> RestResponse | None:
        handler = self._routes.get(path)
        if handler is None:
            return None
        try:
            return handler(query)
        except BadRequest as e:
            return error(str(e))

    # ---- parameters ------------------------------------------------------------------------
    def _inst(self, q: Query, linear_only: bool = False) -> Instrument:
        category = _one(q, "category")
        market = _MARKET.get(category or "")
        if market is None or (linear_only and market != "perp"):
            raise BadRequest("Illegal category")
        inst = self.sim.by_native.get((market, _one(q, "symbol") or ""))
        if inst is None:
            raise BadRequest("Not supported symbols")
        return inst

    @property
    def _vid(self) -> str:
        return self.sim.venue_id

    def _cs(self, inst: Instrument) -> float:
        """Contract size the wire quantities are in (1 on USDT linear and spot)."""
        return self.sim._books[(inst.market, inst.symbol)].cs

    # ---- tickers -----------------------------------------------------------------------------
    def _tickers(self, q: Query) -> RestResponse:
        category = _one(q, "category")
        market = _MARKET.get(category or "")
        if market is None:
            raise BadRequest("Illegal category")
        symbol = _one(q, "symbol")
        if symbol:
            insts = [self._inst(q)]
        else:
            insts = sorted((i for (m, _), i in self.sim.by_native.items() if m == market), key=lambda i: i.native)
        return ok({"category": category, "list": [self._ticker_row(i) for i in insts]})

    def _ticker_row(self, inst: Instrument) -> dict[str, str]:
        m = self.sim.market
        b = self.sim._books[(inst.market, inst.symbol)]
        cs = b.cs
        row: dict[str, str] = {}
        if inst.market == "perp" and b.tick is not None:
            row.update({k: v for k, v in b.tick.items() if v})
        elif inst.market == "spot" and b.spot_tick is not None:
            row.update({k: v for k, v in msgspec.json.decode(b.spot_tick)["data"].items() if v})
        keys = _LINEAR_ROW if inst.market == "perp" else _SPOT_ROW
        if any(not row.get(k) for k in keys if k in _FROM_MARKET):
            row = {**self._market_ticker(inst), **row}  # before the first streamed ticker
        snap = m.book_snapshot(self._vid, inst.market, inst.symbol, 1)  # the live top of book
        if snap.bids:
            row["bid1Price"], row["bid1Size"] = _s(snap.bids[0][0]), _s(snap.bids[0][1] / cs)
        if snap.asks:
            row["ask1Price"], row["ask1Size"] = _s(snap.asks[0][0]), _s(snap.asks[0][1] / cs)
        row["symbol"] = inst.native
        if inst.market == "perp":
            row.setdefault("deliveryTime", "0")
        elif inst.quote in _USD and "usdIndexPrice" not in row:
            row["usdIndexPrice"] = row.get("lastPrice", "")
        return {k: row.get(k, "") for k in keys}

    def _market_ticker(self, inst: Instrument) -> dict[str, str]:
        """A ticker from the market itself: 24 h from hourly history, mark/index/OI/funding now."""
        m, vid, sym = self.sim.market, self._vid, inst.symbol
        now = m.now_ns
        bars = m.history.candles(vid, inst.market, sym, _HOUR_NS, now - _DAY_NS - _HOUR_NS, now)
        snap = m.book_snapshot(vid, inst.market, sym, 1)
        mid = (snap.bids[0][0] + snap.asks[0][0]) / 2.0 if snap.bids and snap.asks else m.fair_price(sym)
        out: dict[str, str] = {"lastPrice": _s(snap.bids[0][0] if snap.bids else mid)}
        if len(bars):
            b = bars.rows()[-24:]
            o = b[0][1]
            out |= {"prevPrice24h": _s(o), "price24hPcnt": _s(round(mid / o - 1.0, 6)),
                    "highPrice24h": _s(max(x[2] for x in b)), "lowPrice24h": _s(min(x[3] for x in b)),
                    "prevPrice1h": _s(b[-1][1]), "volume24h": _s(round(sum(x[5] for x in b) / self._cs(inst), 6)),
                    "turnover24h": _s(round(sum(x[6] for x in b), 4))}
        if inst.market == "perp":
            oi = m.open_interest(vid, "perp", sym)
            hours = m.history.venue_spec(vid).funding_interval_hours
            period = int(hours * _HOUR_NS)
            last = m.history.funding(vid, sym, now - 2 * period, now + 1)
            out |= {"markPrice": _s(round(mid, 8)), "indexPrice": _s(round(m.fair_price(sym), 8)),
                    "openInterest": _s(round(oi, 3)), "openInterestValue": _s(round(oi * mid, 2)),
                    "fundingRate": _s(float(last.values["rate"][-1])) if len(last) else "0.0001",
                    "nextFundingTime": str((now // period + 1) * period // _MS)}
        return out

    # ---- recent trades -------------------------------------------------------------------------
    def _recent_trades(self, q: Query) -> RestResponse:
        inst = self._inst(q)
        spot = inst.market == "spot"
        limit = _limit(q, 60 if spot else 500, 60 if spot else 1000)
        cs = self._cs(inst)
        rows: list[dict[str, Any]] = []
        for t in reversed(self.trades.get((inst.market, inst.symbol), ())):
            if len(rows) == limit:
                break
            rows.append(_trade_row(inst.native, t.trade_id, t.price, t.qty / cs, t.side == "buy", t.ts // _MS))
        if len(rows) < limit:  # a quiet market: one trade per earlier minute, from the candle history
            first = min((int(r["time"]) * _MS for r in rows), default=self.sim.market.now_ns)
            minute = first // _MIN_NS * _MIN_NS
            bars = self.sim.market.history.candles(self._vid, inst.market, inst.symbol, _MIN_NS,
                                                   minute - (limit - len(rows)) * _MIN_NS, minute)
            for t0, o, _h, _lo, c, v, _qv, n in reversed(bars.rows()):
                if v > 0:
                    size = round(v / max(n, 1) / cs, 6) or v / cs
                    rows.append(_trade_row(inst.native, f"h{t0 // _MS}", c, size, c >= o, (t0 + _MIN_NS) // _MS - 1))
        return ok({"category": _one(q, "category"), "list": rows[:limit]})

    # ---- klines ------------------------------------------------------------------------------
    def _kline(self, q: Query) -> RestResponse:
        inst = self._inst(q)
        step = _KLINE_NS.get(_one(q, "interval") or "")
        if step is None:
            raise BadRequest("params error: interval invalid")
        limit = _limit(q, 200, 1000)
        lo, hi = _window(q, "start", "end", step, limit, self.sim.market.now_ns)
        bars = self.sim.market.history.candles(self._vid, inst.market, inst.symbol, step, lo, hi).rows()[-limit:]
        cs = self._cs(inst)
        rows = [[str(t // _MS), _s(o), _s(h), _s(lo_), _s(c), _s(round(v / cs, 6)), _s(round(qv, 4))]
                for t, o, h, lo_, c, v, qv, _n in reversed(bars)]
        return ok({"symbol": inst.native, "category": _one(q, "category"), "list": rows})

    def _premium(self, q: Query) -> RestResponse:
        inst = self._inst(q, linear_only=True)
        step = _KLINE_NS.get(_one(q, "interval") or "")
        if step is None:
            raise BadRequest("params error: interval invalid")
        limit = _limit(q, 200, 1000)
        lo, hi = _window(q, "start", "end", step, limit, self.sim.market.now_ns)
        bars = self.sim.market.history.premium_index(self._vid, inst.symbol, step, lo, hi).rows()[-limit:]
        rows = [[str(t // _MS), f"{o:.6f}", f"{h:.6f}", f"{lo_:.6f}", f"{c:.6f}"]
                for t, o, h, lo_, c, *_ in reversed(bars)]
        return ok({"symbol": inst.native, "category": "linear", "list": rows})

    # ---- statistics --------------------------------------------------------------------------
    def _funding(self, q: Query) -> RestResponse:
        inst = self._inst(q, linear_only=True)
        if _one(q, "startTime") and not _one(q, "endTime"):
            raise BadRequest("params error: endTime is required when startTime is passed")
        limit = _limit(q, 200, 200)
        hours = self.sim.market.history.venue_spec(self._vid).funding_interval_hours
        lo, hi = _window(q, "startTime", "endTime", int(hours * _HOUR_NS), limit, self.sim.market.now_ns)
        s = self.sim.market.history.funding(self._vid, inst.symbol, lo, hi).rows("rate")[-limit:]
        rows = [{"symbol": inst.native, "fundingRate": _s(rate), "fundingRateTimestamp": str(t // _MS)}
                for t, rate in reversed(s)]
        return ok({"category": "linear", "list": rows})

    def _open_interest(self, q: Query) -> RestResponse:
        inst = self._inst(q, linear_only=True)
        step = _STAT_NS.get(_one(q, "intervalTime") or "")
        if step is None:
            raise BadRequest("params error: intervalTime invalid")
        limit = _limit(q, 50, 200)
        lo, hi = _window(q, "startTime", "endTime", step, limit, self.sim.market.now_ns, cursor=True)
        s = self.sim.market.history.open_interest(self._vid, inst.symbol, step, lo, hi).rows("oi_base")
        page, cursor = _page(s, limit)
        rows = [{"openInterest": f"{oi:.8f}", "timestamp": str(t // _MS)} for t, oi in page]
        return ok({"symbol": inst.native, "category": "linear", "list": rows, "nextPageCursor": cursor})

    def _account_ratio(self, q: Query) -> RestResponse:
        inst = self._inst(q, linear_only=True)
        step = _STAT_NS.get(_one(q, "period") or "")
        if step is None:
            raise BadRequest("params error: period invalid")
        limit = _limit(q, 50, 500)
        lo, hi = _window(q, "startTime", "endTime", step, limit, self.sim.market.now_ns, cursor=True)
        s = self.sim.market.history.long_short(self._vid, inst.symbol, step, lo, hi).rows("long_account",
                                                                                            "short_account")
        page, cursor = _page(s, limit)
        rows = [{"symbol": inst.native, "buyRatio": _s(b), "sellRatio": _s(sr), "timestamp": str(t // _MS)}
                for t, b, sr in page]
        return ok({"list": rows, "nextPageCursor": cursor})

    def _insurance(self, q: Query) -> RestResponse:
        coin = _one(q, "coin")
        pools: dict[str, list[str]] = {}
        for (market, native), inst in sorted(self.sim.by_native.items()):
            if market == "perp":
                pools.setdefault(inst.quote, []).append(native)
        now = self.sim.market.now_ns
        rows = []
        for c, natives in sorted(pools.items()):
            if coin and c != coin:
                continue
            bal = self.sim.market.history.insurance_fund(self._vid, c, now)
            rows.append({"coin": c, "symbols": ",".join(natives), "balance": _s(bal), "value": _s(bal)})
        return ok({"updatedTime": str(now // _MIN_NS * _MIN_NS // _MS), "list": rows})


# fields only the market (not the book) can fill before the first streamed ticker
_FROM_MARKET = frozenset(("lastPrice", "prevPrice24h", "highPrice24h", "lowPrice24h", "volume24h", "markPrice",
                          "indexPrice", "openInterest", "fundingRate"))


def _one(q: Query, key: str) -> str | None:
    v = q.get(key)
    return v[0] if v else None


def _limit(q: Query, default: int, cap: int) -> int:
    raw = _one(q, "limit")
    if raw is None:
        return default
    try:
        n = int(raw)
    except ValueError:
        raise BadRequest("params error: limit invalid") from None
    if n < 1:
        raise BadRequest("params error: limit invalid")
    return min(n, cap)


def _ms(q: Query, key: str) -> int | None:
    raw = _one(q, key)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"params error: {key} invalid") from None


def _window(q: Query, start_key: str, end_key: str, step: int, limit: int, now: int,
            cursor: bool = False) -> tuple[int, int]:
    """``[lo, hi)`` in ns for Bybit's inclusive ms bounds (end default: now), cut to the newest
    ``limit + 1`` periods. A ``cursor`` (``lastid=<ms>``) ends the range before that time."""
    end = _ms(q, end_key)
    hi = end * _MS + 1 if end is not None else now + 1
    if cursor and (c := _one(q, "cursor")):
        key, _, val = unquote(c).partition("=")
        if key != "lastid" or not val.isdigit():
            raise BadRequest("params error: cursor invalid")
        hi = min(hi, int(val) * _MS)
    start = _ms(q, start_key)
    if start is not None and start * _MS >= hi:
        raise BadRequest(f"params error: {start_key} must be before {end_key}")
    # only the newest ``limit`` points are served: one period more than that decides the cursor
    lo = hi - (limit + 1) * step
    return (lo if start is None else max(start * _MS, lo)), hi


def _page(rows: list[tuple], limit: int) -> tuple[list[tuple], str]:
    """The newest ``limit`` rows, newest first, and the cursor to the older ones ("" when none)."""
    page = rows[-limit:][::-1]
    cursor = f"lastid%3D{page[-1][0] // _MS}" if len(rows) > limit else ""
    return page, cursor


def _trade_row(native: str, exec_id: str, price: float, size: float, buy: bool, ms: int) -> dict[str, Any]:
    return {"execId": exec_id, "symbol": native, "price": _s(price), "size": _s(size),
            "side": "Buy" if buy else "Sell", "time": str(ms), "isBlockTrade": False}
