"""Binance REST market data on the simulator (USD-M ``/fapi/v1`` + ``/futures/data``, spot ``/api/v3``).

Answers every path ``venues/binance_rest.py`` builds, in Binance's own format (numbers as
strings, times in ms, the same keys as the captured/documented bodies in
tests/venues/rest_samples/binance_*), with Binance's parameter semantics:

- ``startTime``/``endTime`` are inclusive ms; with both, the first ``limit`` points from the
  start are returned; with only a start, ``limit`` points from it; with neither, the latest
  ``limit`` (klines, funding, statistics alike); ascending order; ``limit`` capped at the max.
- statistics (``/futures/data``) serve the last 30 days only; their periods are 5m..1d.
- errors: ``{"code": -1121, "msg": "Invalid symbol."}`` (HTTP 400), -1102 for a missing
  mandatory parameter, -1120 for a bad interval, -1130 for a bad period/contract type, -1100
  for a non-numeric value.

Data: ``market.history`` (deterministic past + the live market's closed candles), the live
book, and the trades the simulator published (recorded by ``on_trade``; before enough of them
exist, the last minutes before the start contribute one trade each). Not modelled: the
still-open kline Binance appends to the latest klines page (the latest ``limit`` closed bars
are served instead).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec
import numpy as np

from cryptoflow.events import Trade
from cryptoflow.sim.protocol import RestResponse
from cryptoflow.symbols import Instrument

if TYPE_CHECKING:
    from cryptoflow.sim.venues.binance_common import BinanceSim

_enc = msgspec.json.encode
_MS = 1_000_000
_MIN = 60_000_000_000
_DAY = 86_400_000_000_000
_PERIOD_NS = {
    "1m": _MIN, "3m": 3 * _MIN, "5m": 5 * _MIN, "15m": 15 * _MIN, "30m": 30 * _MIN, "1h": 60 * _MIN,
    "2h": 120 * _MIN, "4h": 240 * _MIN, "6h": 360 * _MIN, "8h": 480 * _MIN, "12h": 720 * _MIN, "1d": 1440 * _MIN,
}  # fmt: skip
_STATS_PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
_TRADE_ID0 = 1_000_000_000  # first id of a live trade (pre-start trades count down from it)


class BinanceApiError(Exception):
    """A request Binance would refuse: becomes ``{"code": ..., "msg": ...}`` with HTTP 400."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


def error_response(code: int, msg: str, status: int = 400) -> RestResponse:
    return RestResponse(status, _enc({"code": code, "msg": msg}))


def _f(x: float, dp: int = 8) -> str:
    return f"{x:.{dp}f}"


class _Params:
    """Query parameters with Binance's validation errors."""

    def __init__(self, query: dict[str, list[str]]) -> None:
        self.q = {k: v[0] for k, v in query.items() if v}

    def text(self, name: str, required: bool = True) -> str | None:
        v = self.q.get(name, "")
        if not v and required:
            raise BinanceApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
        return v or None

    def int(self, name: str) -> int | None:
        v = self.q.get(name)
        if v is None or v == "":
            return None
        if not v.isdigit():
            legal = "'^[0-9]{1,20}$'"
            raise BinanceApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is {legal}.")
        return int(v)

    def limit(self, default: int, maximum: int) -> int:
        n = self.int("limit")
        return default if n is None or n < 1 else min(n, maximum)


class BinanceRestSim:
    """REST handlers of one simulated Binance venue (``sim`` gives instruments and the market)."""

    def __init__(self, sim: BinanceSim) -> None:
        self.sim = sim
        self._trades: dict[str, deque[tuple[int, int, float, float, bool]]] = {}
        self._next_id: dict[str, int] = {}
        p = "/fapi/v1" if sim.futures else "/api/v3"
        self.routes: dict[str, Callable[[_Params], object]] = {
            f"{p}/exchangeInfo": self.exchange_info,
            f"{p}/ticker/24hr": self.ticker,
            f"{p}/trades": self.trades,
            f"{p}/klines": self.klines,
        }
        if sim.futures:
            self.routes |= {
                "/fapi/v1/fundingRate": self.funding,
                "/fapi/v1/premiumIndexKlines": self.premium_klines,
                "/fapi/v1/insuranceBalance": self.insurance,
                "/futures/data/openInterestHist": self.oi_hist,
                "/futures/data/globalLongShortAccountRatio": self.long_short,
                "/futures/data/takerlongshortRatio": self.taker,
                "/futures/data/basis": self.basis,
            }

    # ---- plumbing ------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, list[str]]) -> RestResponse | None:
        """The answer to a REST request on one of these routes (None: not ours)."""
        route = self.routes.get(path)
        if route is None:
            return None
        if method != "GET":
            return error_response(-1000, f"Request method '{method}' not supported", 405)
        try:
            return RestResponse(200, _enc(route(_Params(query))))
        except BinanceApiError as e:
            return error_response(e.code, e.msg)

    def on_trade(self, native: str, tr: Trade) -> None:
        """Record a published trade for ``/trades`` (the last 1000 per symbol, like the venue)."""
        tid = self._next_id.get(native, _TRADE_ID0)
        self._next_id[native] = tid + 1
        q = self._trades.get(native)
        if q is None:
            q = self._trades[native] = deque(maxlen=1000)
        q.append((tid, tr.ts // _MS, tr.price, tr.qty, tr.side == "sell"))

    @property
    def _venue(self) -> str:
        return self.sim.venue_id

    @property
    def _mkt(self) -> str:
        return "perp" if self.sim.futures else "spot"

    def _inst(self, p: _Params, name: str = "symbol") -> Instrument:
        native = (p.text(name) or "").upper()
        inst = self.sim.instruments.get(native)
        if inst is None:
            raise BinanceApiError(-1121, "Invalid symbol.")
        return inst

    def _window(self, p: _Params, step: int, limit: int, floor_ns: int | None = None) -> tuple[int, int]:
        """``[lo, hi)`` in ns to compute before cutting to ``limit`` (see ``_cut``)."""
        now = self.sim.market.now_ns
        start, end = p.int("startTime"), p.int("endTime")
        hi = min(end * _MS + 1 if end is not None else now + 1, now + 1)
        lo = start * _MS if start is not None else hi - (limit + 1) * step  # +1: the current one may be open
        if floor_ns is not None:
            lo = max(lo, floor_ns)
        if start is not None and end is None:
            hi = min(lo + limit * step, now + 1)
        return lo, max(lo, hi)

    @staticmethod
    def _cut(rows: list, p: _Params, limit: int) -> list:
        return rows[:limit] if p.int("startTime") is not None else rows[-limit:]

    def _interval(self, p: _Params, name: str, allowed: tuple[str, ...] | None = None) -> tuple[str, int]:
        iv = p.text(name) or ""
        if iv not in _PERIOD_NS or (allowed is not None and iv not in allowed):
            if name == "interval":
                raise BinanceApiError(-1120, "Invalid interval.")
            raise BinanceApiError(-1130, f"Data sent for parameter '{name}' is not valid.")
        return iv, _PERIOD_NS[iv]

    # ---- instruments, ticker, trades -----------------------------------------------------------
    def exchange_info(self, p: _Params) -> object:
        now_ms = self.sim.market.now_ns // _MS
        insts = [i for i in self.sim.instruments.values() if i.market == self._mkt]
        if self.sim.futures:
            return {
                "timezone": "UTC", "serverTime": now_ms, "futuresType": "U_MARGINED",
                "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                                "limit": 2400}],
                "exchangeFilters": [],
                "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
                "symbols": [_futures_symbol(i, self._tick(i)) for i in insts],
            }  # fmt: skip
        return {
            "timezone": "UTC", "serverTime": now_ms,
            "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}],
            "exchangeFilters": [], "symbols": [_spot_symbol(i, self._tick(i)) for i in insts],
        }  # fmt: skip

    def _tick(self, i: Instrument) -> float:
        """The price tick the simulated book really uses (falls back to the registry's)."""
        tick = getattr(self.sim.market, "tick", None)  # stand-in markets in unit tests have none
        return tick(self._venue, i.market, i.symbol) if tick is not None else i.tick_size or 0.01

    def ticker(self, p: _Params) -> object:
        inst = self._inst(p)
        m, now = self.sim.market, self.sim.market.now_ns
        bars = m.history.minute_bars(self._venue, inst.market, inst.symbol, now - _DAY, now)
        book = m.book_snapshot(self._venue, inst.market, inst.symbol, 1)
        (bid, bq), (ask, aq) = book.bids[0], book.asks[0]
        recent = self._trades.get(inst.native)
        last, last_qty = (recent[-1][2], recent[-1][3]) if recent else ((bid + ask) / 2, 0.0)
        o = float(bars.open[0]) if len(bars) else last
        vol, qv = float(bars.volume.sum()), float(bars.quote_volume.sum())
        count = int(bars.trades.sum())
        last_id = self._next_id.get(inst.native, _TRADE_ID0) - 1
        out = {
            "symbol": inst.native, "priceChange": _f(last - o), "priceChangePercent": _f((last / o - 1) * 100, 3),
            "weightedAvgPrice": _f(qv / vol if vol else last), "lastPrice": _f(last), "lastQty": _f(last_qty),
            "openPrice": _f(o), "highPrice": _f(max(float(bars.high.max()) if len(bars) else last, last)),
            "lowPrice": _f(min(float(bars.low.min()) if len(bars) else last, last)),
            "volume": _f(vol), "quoteVolume": _f(qv), "openTime": (now - _DAY) // _MS, "closeTime": now // _MS,
            "firstId": last_id - count + 1, "lastId": last_id, "count": count,
        }  # fmt: skip
        if not self.sim.futures:  # spot adds the previous close and the top of book
            out |= {"prevClosePrice": _f(o), "bidPrice": _f(bid), "bidQty": _f(bq), "askPrice": _f(ask),
                    "askQty": _f(aq)}  # fmt: skip
        return out

    def trades(self, p: _Params) -> object:
        inst = self._inst(p)
        limit = p.limit(500, 1000)
        rows = list(self._trades.get(inst.native, ()))[-limit:]
        if len(rows) < limit:  # young simulator: the minutes before its start, one trade each
            rows = self._pre_start_trades(inst, limit - len(rows)) + rows
        out: list[dict[str, object]] = []
        for tid, t_ms, px, qty, buyer_maker in rows:
            row: dict[str, object] = {"id": tid, "price": _f(px), "qty": _f(qty), "quoteQty": _f(px * qty),
                                      "time": t_ms, "isBuyerMaker": buyer_maker}  # fmt: skip
            if not self.sim.futures:
                row["isBestMatch"] = True
            out.append(row)
        return out

    def _pre_start_trades(self, inst: Instrument, n: int) -> list[tuple[int, int, float, float, bool]]:
        h = self.sim.market.history
        t1 = h.start_minute * _MIN
        bars = h.minute_bars(self._venue, inst.market, inst.symbol, t1 - n * _MIN, t1)
        first = _TRADE_ID0 - len(bars)
        return [
            (first + k, (t + 59 * 1000 * _MS) // _MS, c, round(v / max(nt, 1), 6), c < o)
            for k, (t, o, _h, _lo, c, v, _qv, nt) in enumerate(bars.rows())
        ]

    # ---- klines --------------------------------------------------------------------------------
    def klines(self, p: _Params) -> object:
        inst = self._inst(p)
        _, step = self._interval(p, "interval")
        limit = p.limit(500, 1500 if self.sim.futures else 1000)
        lo, hi = self._window(p, step, limit)
        bars = self.sim.market.history.candles(self._venue, inst.market, inst.symbol, step, lo, hi)
        rows = [
            [t // _MS, _f(o), _f(h), _f(lo_), _f(c), _f(v), (t + step) // _MS - 1, _f(qv), int(n), _f(v / 2),
             _f(qv / 2), "0"]
            for t, o, h, lo_, c, v, qv, n in bars.rows()
        ]  # fmt: skip
        return self._cut(rows, p, limit)

    def premium_klines(self, p: _Params) -> object:
        inst = self._inst(p)
        _, step = self._interval(p, "interval")
        limit = p.limit(500, 1500)
        lo, hi = self._window(p, step, limit)
        bars = self.sim.market.history.premium_index(self._venue, inst.symbol, step, lo, hi)
        k = max(1, step // _MIN)
        rows = [
            [t // _MS, _f(o), _f(h), _f(lo_), _f(c), "0", (t + step) // _MS - 1, "0", k, "0", "0", "0"]
            for t, o, h, lo_, c, *_ in bars.rows()
        ]
        return self._cut(rows, p, limit)

    # ---- funding, insurance ----------------------------------------------------------------------
    def funding(self, p: _Params) -> object:
        inst = self._inst(p)
        limit = p.limit(100, 1000)
        h = self.sim.market.history
        lo, hi = self._window(p, int(h.venue_spec(self._venue).funding_interval_hours * 60 * _MIN), limit)
        s = h.funding(self._venue, inst.symbol, lo, hi)
        ts = s.ts
        marks = h.minute_bars(self._venue, "perp", inst.symbol, int(ts[0]) - _MIN, int(ts[-1])) if len(ts) else None
        rows = []
        for t, rate in s.rows("rate"):
            mark = ""
            if marks is not None and len(marks):  # the close of the minute before settlement
                j = int(np.searchsorted(marks.open_time, t - _MIN, side="right")) - 1
                mark = _f(float(marks.close[max(j, 0)]))
            rows.append({"symbol": inst.native, "fundingRate": _f(rate), "fundingTime": t // _MS, "markPrice": mark})
        return self._cut(rows, p, limit)

    def insurance(self, p: _Params) -> object:
        now = self.sim.market.now_ns
        update = now // (3600 * 10**9) * 3600 * 1000  # hourly snapshots, in ms

        def group(i: Instrument) -> dict[str, object]:
            bal = self.sim.market.history.insurance_fund(self._venue, i.quote, now)
            return {"symbols": [i.native],
                    "assets": [{"asset": i.quote, "marginBalance": _f(bal), "updateTime": update}]}  # fmt: skip

        if p.text("symbol", required=False) is not None:
            return group(self._inst(p))
        return [group(i) for i in self.sim.instruments.values() if i.market == "perp"]

    # ---- /futures/data statistics ----------------------------------------------------------------
    def _stats(self, p: _Params, name: str = "symbol") -> tuple[Instrument, str, int, int, int, int]:
        inst = self._inst(p, name)
        period, step = self._interval(p, "period", _STATS_PERIODS)
        limit = p.limit(30, 500)
        lo, hi = self._window(p, step, limit, floor_ns=self.sim.market.now_ns - 30 * _DAY)
        return inst, period, step, limit, lo, hi

    def oi_hist(self, p: _Params) -> object:
        inst, _, step, limit, lo, hi = self._stats(p)
        s = self.sim.market.history.open_interest(self._venue, inst.symbol, step, lo, hi)
        rows = [{"symbol": inst.native, "sumOpenInterest": _f(b), "sumOpenInterestValue": _f(n), "timestamp": t // _MS}
                for t, b, n in s.rows("oi_base", "oi_notional")]  # fmt: skip
        return self._cut(rows, p, limit)

    def long_short(self, p: _Params) -> object:
        inst, _, step, limit, lo, hi = self._stats(p)
        s = self.sim.market.history.long_short(self._venue, inst.symbol, step, lo, hi)
        rows = [{"symbol": inst.native, "longShortRatio": _f(r, 4), "longAccount": _f(la, 4),
                 "shortAccount": _f(sa, 4), "timestamp": t // _MS}
                for t, la, sa, r in s.rows("long_account", "short_account", "ratio")]  # fmt: skip
        return self._cut(rows, p, limit)

    def taker(self, p: _Params) -> object:
        inst, _, step, limit, lo, hi = self._stats(p)
        s = self.sim.market.history.taker_volume(self._venue, inst.symbol, step, lo, hi)
        rows = [{"buySellRatio": _f(b / sv if sv else 0.0, 4), "buyVol": _f(b, 4), "sellVol": _f(sv, 4),
                 "timestamp": t // _MS} for t, b, sv in s.rows("buy", "sell")]  # fmt: skip
        return self._cut(rows, p, limit)

    def basis(self, p: _Params) -> object:
        ctype = p.text("contractType")
        if ctype not in ("PERPETUAL", "CURRENT_QUARTER", "NEXT_QUARTER"):
            raise BinanceApiError(-1130, "Data sent for parameter 'contractType' is not valid.")
        inst, _, step, limit, lo, hi = self._stats(p, "pair")
        if ctype != "PERPETUAL":  # the simulator lists perpetuals only
            return []
        s = self.sim.market.history.basis(self._venue, inst.symbol, step, lo, hi)
        rows = [{"indexPrice": _f(ix), "contractType": ctype, "basisRate": _f(br, 4), "futuresPrice": _f(fp, 2),
                 "annualizedBasisRate": "", "basis": _f(b), "pair": inst.native, "timestamp": t // _MS}
                for t, ix, fp, b, br in s.rows("index_price", "futures_price", "basis", "basis_rate")]  # fmt: skip
        return self._cut(rows, p, limit)


# ---- exchangeInfo symbols, keyed like the captured (futures) and documented (spot) bodies ----------
def _decimals(x: float) -> int:
    s = f"{x:.10f}".rstrip("0")
    return len(s.split(".")[1]) if "." in s else 0


def _futures_symbol(i: Instrument, tick: float) -> dict[str, object]:
    return {
        "symbol": i.native, "pair": i.native, "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000, "status": "TRADING", "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000", "baseAsset": i.base, "quoteAsset": i.quote, "marginAsset": i.quote,
        "pricePrecision": _decimals(tick), "quantityPrecision": 3, "baseAssetPrecision": 8, "quotePrecision": 8,
        "underlyingType": "COIN", "underlyingSubType": [], "settlePlan": 0, "triggerProtect": "0.0500",
        "liquidationFee": "0.012500", "marketTakeBound": "0.05",
        "filters": [{"minPrice": _f(tick, _decimals(tick)), "maxPrice": "4529764", "filterType": "PRICE_FILTER",
                     "tickSize": _f(tick, _decimals(tick))}],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                       "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }  # fmt: skip


def _spot_symbol(i: Instrument, tick: float) -> dict[str, object]:
    return {
        "symbol": i.native, "status": "TRADING", "baseAsset": i.base, "baseAssetPrecision": 8,
        "quoteAsset": i.quote, "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
                       "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True,
        "cancelReplaceAllowed": True, "isSpotTradingAllowed": True, "isMarginTradingAllowed": True,
        "filters": [{"filterType": "PRICE_FILTER", "minPrice": _f(tick), "maxPrice": "1000000.00000000",
                     "tickSize": _f(tick)}],
        "permissions": ["SPOT", "MARGIN"], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }  # fmt: skip


def throttled(futures: bool) -> RestResponse:
    """Binance's answer over the IP weight limit: HTTP 429, code -1003, ``Retry-After`` seconds
    and the weight used this minute."""
    limit = 2400 if futures else 6000
    body = _enc({"code": -1003, "msg": f"Too many requests; current limit of IP(127.0.0.1) is {limit} requests per "
                 "minute. Please use the websocket for live updates to avoid polling the API."})  # fmt: skip
    return RestResponse(429, body, {"Retry-After": "1", "X-MBX-USED-WEIGHT-1M": str(limit + 20)})
