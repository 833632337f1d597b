"""Hyperliquid ``POST /info`` market data on the simulator, beyond ``meta`` and ``l2Book``.

Answers the request types ``venues/hyperliquid_rest.py`` sends, in Hyperliquid's format (the keys
and types of the recorded bodies in tests/venues/rest_samples/hyperliquid: numbers as strings,
times and counts as integers), with its semantics:

- ``metaAndAssetCtxs``: ``[meta, [ctx per universe entry]]``, the contexts in the universe's order;
  a coin's context is the one the websocket sent last (``activeAssetCtx``) or, before the market
  has produced one, one built from the market (mid, fair price, hourly funding, open interest).
- ``recentTrades``: the coin's 10 most recent trades, newest first, in the websocket row shape
  (the trades the simulator published; the minutes before the start fill in while there are few).
- ``candleSnapshot`` (``req``: coin, interval, startTime, endTime optional = now): candles whose
  open time is in ``[startTime, endTime]``, ascending, the newest 5000 of a longer range. The
  real venue keeps only its latest 5000 candles per interval; the simulator serves its whole
  history (35 days), so backfills can be tested past that depth.
- ``fundingHistory`` (coin, startTime, endTime optional): hourly settlements stamped a few ms
  after the hour (as the recorded ones are), ``[startTime, endTime]``, ascending, the first 500.
- a coin the venue does not list: HTTP 200 with ``null``; a body that is not a valid request:
  HTTP 422 ``Failed to deserialize the JSON body into the target type``. Throttled: HTTP 429 with
  no body (no Retry-After is documented).
"""

from __future__ import annotations

import zlib
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec

from cryptoflow.sim.protocol import RestResponse

if TYPE_CHECKING:
    from cryptoflow.sim.venues.hyperliquid import HyperliquidSim

_enc = msgspec.json.encode
_MS = 1_000_000
_MIN = 60_000_000_000
_HOUR = 60 * _MIN
_DAY = 24 * _HOUR
_INTERVAL_NS = {"1m": _MIN, "3m": 3 * _MIN, "5m": 5 * _MIN, "15m": 15 * _MIN, "30m": 30 * _MIN, "1h": _HOUR,
                "2h": 2 * _HOUR, "4h": 4 * _HOUR, "8h": 8 * _HOUR, "12h": 12 * _HOUR, "1d": _DAY, "3d": 3 * _DAY,
                "1w": 7 * _DAY}  # fmt: skip
_WIRE_INTERVALS = (*_INTERVAL_NS, "1M")  # 1M (calendar months) is accepted and answered empty
_MAX_CANDLES, _MAX_FUNDING, _RECENT = 5000, 500, 10
_INTEREST = 0.0000125  # the interest component of every hourly rate (0.01 % per 8 h)
_NULL = RestResponse(200, b"null")


class _Malformed(Exception):
    """The body does not deserialize into the request type."""


def malformed() -> RestResponse:
    return RestResponse(422, _enc("Failed to deserialize the JSON body into the target type"))


def throttled() -> RestResponse:
    return RestResponse(429, b"")


def _num(x: float) -> str:
    s = repr(float(x))
    return format(float(x), "f") if "e" in s else s


def _int(req: dict[str, Any], name: str, default: int | None = None) -> int:
    v = req.get(name, default)
    if v is None and default is not None:
        return default
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise _Malformed
    return v


class HyperliquidRestSim:
    """The ``/info`` market-data request types of one simulated Hyperliquid (state: published trades)."""

    def __init__(self, sim: HyperliquidSim) -> None:
        self.sim = sim
        # coin -> recent trades (ms, side, price, size, hash, tid, buyer, seller)
        self._trades: dict[str, deque[tuple[Any, ...]]] = {}

    def handle(self, req: dict[str, Any]) -> RestResponse | None:
        """The answer to a decoded ``/info`` body, None for a type these handlers do not serve."""
        kind = req.get("type")
        try:
            if kind == "metaAndAssetCtxs":
                return RestResponse(200, _enc(self.meta_and_ctxs()))
            if kind == "recentTrades":
                return self._coin_reply(req.get("coin"), self.recent_trades)
            if kind == "candleSnapshot":
                sub = req.get("req")
                if not isinstance(sub, dict):
                    raise _Malformed
                return self._coin_reply(sub.get("coin"), lambda coin: self.candles(coin, sub))
            if kind == "fundingHistory":
                return self._coin_reply(req.get("coin"), lambda coin: self.funding(coin, req))
        except _Malformed:
            return malformed()
        return None

    def _coin_reply(self, coin: object, answer: Any) -> RestResponse:
        if not isinstance(coin, str):
            raise _Malformed
        if coin not in self.sim.instruments:
            return _NULL  # the real /info answers null for a coin it does not list
        return RestResponse(200, _enc(answer(coin)))

    def on_trade(self, coin: str, row: tuple[Any, ...]) -> None:
        """Record a published trade (the websocket row's values) for ``recentTrades``."""
        q = self._trades.get(coin)
        if q is None:
            q = self._trades[coin] = deque(maxlen=_RECENT)
        q.append(row)

    @property
    def _venue(self) -> str:
        return self.sim.venue_id

    # ---- contexts ------------------------------------------------------------------------------
    def meta_and_ctxs(self) -> list[object]:
        meta = msgspec.json.decode(self.sim._meta())
        return [meta, [self._ctx(a["name"]) for a in meta["universe"]]]

    def _ctx(self, coin: str) -> dict[str, object]:
        ctx = self.sim._ctx.get(coin)
        frame = ctx.frame(coin) if ctx is not None else None
        if frame is not None:  # the context the websocket sent last: REST and stream agree
            return msgspec.json.decode(frame)["data"]["ctx"]
        inst = self.sim.instruments[coin]
        m, now = self.sim.market, self.sim.market.now_ns
        snap = m.book_snapshot(self._venue, inst.market, inst.symbol, 1)
        bid, ask = snap.bids[0][0], snap.asks[0][0]
        mid, oracle = (bid + ask) / 2, m.fair_price(inst.symbol)
        f = m.history.funding(self._venue, inst.symbol, now - 2 * _HOUR, now + 1)
        rate = float(f.values["rate"][-1]) if len(f) else _INTEREST
        bars = m.history.minute_bars(self._venue, inst.market, inst.symbol, now - _DAY, now)
        prev = float(bars.open[0]) if len(bars) else mid
        return {
            "funding": _num(round(rate, 10)),
            "openInterest": _num(m.open_interest(self._venue, inst.market, inst.symbol)),
            "prevDayPx": _num(prev), "dayNtlVlm": _num(round(float(bars.quote_volume.sum()), 4)),
            "premium": _num(round(mid / oracle - 1.0, 10)), "oraclePx": _num(round(oracle, 6)), "markPx": _num(mid),
            "midPx": _num(mid), "impactPxs": [_num(bid), _num(ask)],
            "dayBaseVlm": _num(round(float(bars.volume.sum()), 6)),
        }  # fmt: skip

    # ---- trades --------------------------------------------------------------------------------
    def recent_trades(self, coin: str) -> list[dict[str, object]]:
        rows = list(self._trades.get(coin, ()))
        if len(rows) < _RECENT:  # young simulator: the minutes before its start, one trade each
            rows = self._pre_start(coin, _RECENT - len(rows)) + rows
        return [
            {"coin": coin, "side": side, "px": _num(px), "sz": _num(sz), "time": ms, "hash": h, "tid": tid,
             "users": [u1, u2]}
            for ms, side, px, sz, h, tid, u1, u2 in reversed(rows)  # newest first
        ]  # fmt: skip

    def _pre_start(self, coin: str, n: int) -> list[tuple[Any, ...]]:
        inst, h = self.sim.instruments[coin], self.sim.market.history
        t1 = h.start_minute * _MIN
        bars = h.minute_bars(self._venue, inst.market, inst.symbol, t1 - n * _MIN, t1)
        zero = "0x" + "0" * 40
        return [
            ((t + 59_000 * _MS) // _MS, "A" if c < o else "B", c, round(v / max(nt, 1), 5), "0x" + "0" * 64,
             str(t // _MIN), zero, zero)
            for t, o, _h, _lo, c, v, _qv, nt in bars.rows()
        ]  # fmt: skip

    # ---- history -------------------------------------------------------------------------------
    def _window(self, req: dict[str, Any]) -> tuple[int, int]:
        now = self.sim.market.now_ns
        start = _int(req, "startTime") * _MS
        end = min(_int(req, "endTime", now // _MS) * _MS, now)
        return start, end

    def candles(self, coin: str, req: dict[str, Any]) -> list[dict[str, object]]:
        interval = req.get("interval")
        if interval not in _WIRE_INTERVALS:
            raise _Malformed
        lo, hi = self._window(req)
        step = _INTERVAL_NS.get(interval)
        if step is None or hi < lo:
            return []
        inst = self.sim.instruments[coin]
        bars = self.sim.market.history.candles(self._venue, inst.market, inst.symbol, step, lo, hi + 1)
        return [
            {"T": (t + step) // _MS - 1, "c": _num(c), "h": _num(h), "i": interval, "l": _num(lo_), "n": n,
             "o": _num(o), "s": coin, "t": t // _MS, "v": _num(round(v, 6))}
            for t, o, h, lo_, c, v, _qv, n in bars.rows()[-_MAX_CANDLES:]
        ]  # fmt: skip

    def funding(self, coin: str, req: dict[str, Any]) -> list[dict[str, object]]:
        lo, hi = self._window(req)
        inst = self.sim.instruments[coin]
        # settlements fall a few ms after the hour: look one hour either side, then cut by stamped time
        s = self.sim.market.history.funding(self._venue, inst.symbol, lo - _HOUR, hi + 1)
        rows = []
        for t, rate in s.rows("rate"):
            stamped = t + (zlib.crc32(f"{coin}{t}".encode()) % 700) * _MS
            if lo <= stamped <= hi:
                rows.append({"coin": coin, "fundingRate": _num(rate), "premium": _num(round(rate - _INTEREST, 10)),
                             "time": stamped // _MS})  # fmt: skip
        return rows[:_MAX_FUNDING]
