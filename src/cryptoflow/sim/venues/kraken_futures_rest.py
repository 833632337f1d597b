"""Simulated Kraken Futures REST market data, answered from the market (shapes: rest_samples/kraken_futures).

- ``/derivatives/api/v3/tickers/{symbol}``: the websocket ticker's state in the REST field names
  (``fundingRate`` is the AMOUNT: rate x index on linear products, rate / index on inverse ones; the
  all-products ``/tickers`` is not served); ``/orderbook?symbol=`` the whole book;
  ``/history?symbol=&lastTime=`` the last 100 trades at or before ``lastTime``, newest first. Errors
  come inside the body (``{"result": "error", "error": "notFound"}``), as Kraken's v3 API does.
- ``/derivatives/api/v4/historicalfundingrates?symbol=``: every hourly rate since the simulated past
  begins, ascending, in one answer; an unknown symbol is a 400 ``BAD_REQUEST`` with code 11 (the
  documented v4 error). The documented v3 path is not served (Kraken answers it with 404 too).
- charts ``/api/charts/v1/{trade|mark|spot}/{symbol}/{resolution}?from=&to=`` (inclusive epoch seconds,
  at most 2000 candles from ``from``, ``more_candles`` when cut; mark/spot candles carry no volume) and
  ``/api/charts/v1/analytics/{symbol}/open-interest?since=&interval=&to=`` (OHLC of the open interest
  per bucket, at most ``MAX_ANALYTICS`` buckets, ``more`` when cut; errors as a list).

Trade ids: a live trade's ``trade_id`` counts on from the minutes of the simulated past (where one
made-up trade per minute stands in until the simulator has streamed enough), so ids rise with time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from cryptoflow.sim.protocol import RestResponse

if TYPE_CHECKING:
    from cryptoflow.sim.venues.kraken_futures import KrakenFuturesSim, _Product

_enc = msgspec.json.encode
_S = 1_000_000_000
_MS = 1_000_000
_MIN = 60 * _S
DERIV = "/derivatives/api/v3"
FUNDING_PATH = "/derivatives/api/v4/historicalfundingrates"
CHARTS = "/api/charts/v1/"
RESOLUTIONS = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "4h": 14_400, "12h": 43_200,
               "1d": 86_400, "1w": 604_800}  # fmt: skip
ANALYTICS_INTERVALS = frozenset((60, 300, 900, 1800, 3600, 14_400, 43_200, 86_400, 604_800))
ANALYTICS_TYPES = frozenset(("open-interest", "aggressor-differential", "trade-volume", "trade-count",
                             "liquidation-volume", "rolling-volatility", "long-short-ratio", "long-short-info",
                             "cvd", "top-traders", "orderbook", "spreads", "liquidity", "slippage", "future-basis",
                             "funding"))  # fmt: skip
MAX_CANDLES = 2000  # measured cap of one charts answer (5000 documented)
MAX_ANALYTICS = 1000
HISTORY_TRADES = 100


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // _MS / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _server_time() -> str:
    return iso(time.time_ns())


def throttled() -> RestResponse:
    """Kraken's documented answer over the IP limit (sent with HTTP 429 here)."""
    return RestResponse(429, _enc({"result": "error", "serverTime": _server_time(), "error": "apiLimitExceeded"}))


def _v3_error(error: str) -> RestResponse:
    return RestResponse(200, _enc({"result": "error", "serverTime": _server_time(), "error": error}))


def _analytics_error(msg: str, field: str, value: str) -> RestResponse:
    err = {"severity": "ERROR", "error_class": "InvalidArgument", "type": "InvalidArgument", "msg": msg,
           "value": value, "field": field}  # fmt: skip
    return RestResponse(400, _enc({"result": None, "errors": [err]}))


def _int(query: dict[str, list[str]], name: str) -> int | None:
    raw = query.get(name, [""])[0]
    try:
        return int(float(raw)) if raw else None
    except ValueError:
        return None


def _dec(x: float) -> str:
    return repr(round(float(x), 8))


class KrakenFuturesRestSim:
    """REST market data of one simulated Kraken Futures venue."""

    def __init__(self, sim: KrakenFuturesSim) -> None:
        self.sim = sim
        self.venue = sim.venue_id

    def handle(self, path: str, query: dict[str, list[str]]) -> RestResponse | None:
        if path.startswith(CHARTS):
            parts = path[len(CHARTS) :].split("/")
            if len(parts) == 3 and parts[0] == "analytics":
                return self._analytics(parts[1], parts[2], query)
            if len(parts) == 3:
                return self._candles(*parts, query)
            return None
        if path == FUNDING_PATH:
            return self._funding(query)
        if path.startswith(f"{DERIV}/tickers/"):
            p = self._product(path.rsplit("/", 1)[1])
            if p is None:
                return _v3_error("notFound")
            row = self._ticker(p)
            return RestResponse(200, _enc({"result": "success", "ticker": row, "serverTime": _server_time()}))
        if path == f"{DERIV}/orderbook":
            return self._book(query)
        if path == f"{DERIV}/history":
            return self._history(query)
        return None

    def _product(self, symbol: str) -> _Product | None:
        return self.sim._products.get(symbol.upper())

    # ---- derivatives API ---------------------------------------------------------------------
    def _ticker(self, p: _Product) -> dict[str, Any]:
        """The REST ticker row: the websocket ticker's state, or the market before the first tick."""
        m, inst = self.sim.market, p.inst
        book = m.book_snapshot(self.venue, inst.market, inst.symbol, 1)
        bid, bid_q = book.bids[0] if book.bids else (0.0, 0.0)
        ask, ask_q = book.asks[0] if book.asks else (0.0, 0.0)
        if p.bbo is not None:
            bid, bid_q, ask, ask_q = p.bbo.bid_price, p.bbo.bid_qty, p.bbo.ask_price, p.bbo.ask_qty
        mid = (bid + ask) / 2 if bid and ask else m.fair_price(inst.symbol)
        mark = p.mark.mark_price if p.mark is not None else mid
        index = p.mark.index_price if p.mark is not None and p.mark.index_price else m.fair_price(inst.symbol)
        last_trade = msgspec.json.decode(p.recent[-1]) if p.recent else None
        st = p.stats
        last = st.last if st is not None else last_trade["price"] if last_trade else mid
        opened = st.open if st is not None and st.open is not None else last
        inverse = inst.contract_type == "inverse"
        if st is not None and (st.quote_volume if inverse else st.volume) is not None:
            vol = (st.quote_volume if inverse else st.volume) / p.cs  # type: ignore[operator]
        else:
            vol = 0.0
        oi_base = p.oi.oi_base if p.oi is not None and p.oi.oi_base is not None else m.open_interest(
            self.venue, inst.market, inst.symbol)  # fmt: skip
        row: dict[str, Any] = {
            "tag": "perpetual" if p.perpetual else "quarter", "pair": p.pair, "symbol": p.native,
            "markPrice": mark, "bid": bid, "bidSize": p.contracts(bid_q, bid), "ask": ask,
            "askSize": p.contracts(ask_q, ask), "vol24h": vol,
            "volumeQuote": st.quote_volume if st is not None and st.quote_volume is not None else 0.0,
            "change24h": (last / opened - 1.0) * 100.0 if opened else 0.0,
            "openInterest": p.contracts(oi_base, mark), "open24h": opened, "indexPrice": index, "last": last,
            "lastTime": iso(last_trade["time"] * _MS if last_trade else m.now_ns),
            "lastSize": last_trade["qty"] if last_trade else 0.0, "suspended": False,
        }  # fmt: skip
        if p.perpetual:
            rate = p.funding.rate if p.funding is not None else 0.0
            predicted = p.funding.predicted_rate if p.funding is not None and p.funding.predicted_rate else rate
            row["fundingRate"] = rate / index if inverse else rate * index  # an amount per contract
            row["fundingRatePrediction"] = predicted / index if inverse else predicted * index
        row["postOnly"] = False
        return row

    def _book(self, query: dict[str, list[str]]) -> RestResponse:
        p = self._product(query.get("symbol", [""])[0])
        if p is None:
            return _v3_error("notFound")
        snap = self.sim.market.book_snapshot(self.venue, p.inst.market, p.inst.symbol, None)
        book = {
            "bids": [[px, p.contracts(q, px)] for px, q in snap.bids if q > 0],
            "asks": [[px, p.contracts(q, px)] for px, q in snap.asks if q > 0],
        }
        return RestResponse(200, _enc({"orderBook": book, "result": "success", "serverTime": iso(snap.ts)}))

    def _history(self, query: dict[str, list[str]]) -> RestResponse:
        p = self._product(query.get("symbol", [""])[0])
        if p is None:
            return _v3_error("notFound")
        before = query.get("lastTime", [""])[0]
        try:
            last_ms = round(datetime.fromisoformat(before).timestamp() * 1000) if before else None
        except ValueError:
            return _v3_error("invalidArgument")
        h = self.sim.market.history
        offset = h.start_minute - h.first_ns // _MIN  # ids of the simulated past's minutes come first
        rows = [msgspec.json.decode(f) for f in p.recent]
        out = [
            {"time": iso(t["time"] * _MS), "trade_id": offset + t["seq"], "price": t["price"], "size": t["qty"],
             "side": t["side"], "type": t["type"], "uid": t["uid"]}
            for t in rows if last_ms is None or t["time"] <= last_ms
        ][::-1][:HISTORY_TRADES]  # fmt: skip
        if len(out) < HISTORY_TRADES:
            out += self._pre_start_trades(p, HISTORY_TRADES - len(out), last_ms)
        return RestResponse(200, _enc({"result": "success", "history": out, "serverTime": _server_time()}))

    def _pre_start_trades(self, p: _Product, n: int, last_ms: int | None) -> list[dict[str, Any]]:
        """One trade per minute of the simulated past (its close, second 59), newest first."""
        h, inst = self.sim.market.history, p.inst
        t1 = h.start_minute * _MIN
        if last_ms is not None:
            t1 = min(t1, (last_ms * _MS - 59 * _S) // _MIN * _MIN + _MIN)
        bars = h.minute_bars(self.venue, inst.market, inst.symbol, t1 - n * _MIN, t1)
        out = []
        for t, o, _h, _lo, c, v, _qv, nt in reversed(bars.rows()):
            tid = (t - h.first_ns) // _MIN + 1
            out.append({"time": iso(t + 59 * _S), "trade_id": tid, "price": c,
                        "size": p.contracts(v / max(nt, 1), c), "side": "sell" if c < o else "buy", "type": "fill",
                        "uid": f"00000000-0000-4000-8000-{tid:012d}"})  # fmt: skip
        return out

    def _funding(self, query: dict[str, list[str]]) -> RestResponse:
        p = self._product(query.get("symbol", [""])[0])
        if p is None or not p.perpetual:
            err = {"code": 11, "message": "Argument invalid: symbol"}
            return RestResponse(400, _enc({"status": "BAD_REQUEST", "result": "error", "errors": [err],
                                           "serverTime": _server_time()}))  # fmt: skip
        h, sym = self.sim.market.history, p.inst.symbol
        now = self.sim.market.now_ns
        series = h.funding(self.venue, sym, h.first_ns, now + 1).rows("rate")
        index = dict(h.basis(self.venue, sym, 3600 * _S, h.first_ns, now + 1).rows("index_price"))
        fair = self.sim.market.fair_price(sym)
        inverse = p.inst.contract_type == "inverse"
        rates = []
        for ts, rate in series:
            px = index.get(ts - 3600 * _S, fair)  # the index over the hour the rate settles
            rates.append({"timestamp": iso(ts), "fundingRate": rate / px if inverse else rate * px,
                          "relativeFundingRate": rate})  # fmt: skip
        return RestResponse(200, _enc({"result": "success", "rates": rates, "serverTime": _server_time()}))

    # ---- charts API ------------------------------------------------------------------------------
    def _candles(self, tick_type: str, symbol: str, resolution: str, query: dict[str, list[str]]) -> RestResponse:
        if tick_type not in ("trade", "mark", "spot"):
            return RestResponse(400, _enc({"error": "Invalid tick type"}))
        p = self._product(symbol)
        if p is None:
            return RestResponse(400, _enc({"error": "Invalid symbol"}))
        step = RESOLUTIONS.get(resolution.lower())  # matched case-insensitively, as Kraken does
        if step is None:
            return RestResponse(400, _enc({"error": "Invalid resolution"}))
        hi = _int(query, "to")
        hi = self.sim.market.now_ns // _S if hi is None else hi
        lo = _int(query, "from")
        if lo is None:
            lo = (hi // step - min(_int(query, "count") or MAX_CANDLES, MAX_CANDLES) + 1) * step
        inst = p.inst
        bars = self.sim.market.history.candles(self.venue, inst.market, inst.symbol, step * _S, lo * _S, (hi + 1) * _S)
        rows = bars.rows()
        more = len(rows) > MAX_CANDLES
        candles = [
            {"time": t // _MS, "open": _dec(o), "high": _dec(hh), "low": _dec(lw), "close": _dec(c),
             "volume": _dec(p.contracts(v, c) if tick_type == "trade" else 0.0)}
            for t, o, hh, lw, c, v, *_rest in rows[:MAX_CANDLES]
        ]  # fmt: skip
        return RestResponse(200, _enc({"candles": candles, "more_candles": more}))

    def _analytics(self, symbol: str, kind: str, query: dict[str, list[str]]) -> RestResponse | None:
        if kind not in ANALYTICS_TYPES:
            return _analytics_error("Invalid analytics type", "analytics_type", kind)
        if kind != "open-interest":
            return None  # documented, not simulated
        p = self._product(symbol)
        if p is None:
            return _analytics_error("Invalid symbol", "symbol", symbol)
        since, interval = _int(query, "since"), _int(query, "interval")
        if since is None:
            return _analytics_error("Missing required parameter", "since", "")
        if interval not in ANALYTICS_INTERVALS:
            return _analytics_error("Invalid interval", "interval", query.get("interval", [""])[0])
        hi = _int(query, "to")
        hi = self.sim.market.now_ns // _S if hi is None else hi
        series = self.sim.market.history.open_interest(self.venue, p.inst.symbol, interval * _S, since * _S,
                                                       (hi + 1) * _S).rows("oi_base", "oi_notional")  # fmt: skip
        more = len(series) > MAX_ANALYTICS
        series = series[:MAX_ANALYTICS]
        inverse = p.inst.contract_type == "inverse"
        ts, data, prev = [], [], None
        for t, base, notional in series:
            close = (notional if inverse else base) / p.cs
            opened = close if prev is None else prev
            ts.append(t // _S)
            data.append([f"{opened:.4f}", f"{max(opened, close):.4f}", f"{min(opened, close):.4f}", f"{close:.4f}"])
            prev = close
        return RestResponse(200, _enc({"result": {"timestamp": ts, "more": more, "data": data}, "errors": []}))
