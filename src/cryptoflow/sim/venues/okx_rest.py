"""OKX v5 public REST market data on the simulator (what ``venues/okx/rest.py`` asks for).

Bodies as OKX sends them: ``{"code":"0","msg":"","data":[...]}`` with every number a string,
statistics rows as arrays, pages newest first. Parameter semantics as documented: ``after`` /
``end`` = strictly older than a ms time, ``before`` / ``begin`` = strictly newer; a lone
``before`` returns the newest page; ``limit`` is clamped to each endpoint's maximum; the
trading-statistics endpoints serve only the latest 1,440 points of a period, funding the last
3 months, premium history the last 6 months. SWAP sizes are contracts (base / ctVal; inverse:
USD / ctVal). Errors: an unknown instId is ``51001`` with HTTP 200, a missing parameter
``50014`` and a bad one ``51000`` with HTTP 400.

Data comes from the market's deterministic past (``market.history``) and its live state (book,
open interest, fair price). Recent trades are synthesized from the current book (the simulator
keeps no trade tape for REST): prices at the touch, sizes on the lot grid, newest first.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec
import numpy as np

from cryptoflow.sim.protocol import RestResponse
from cryptoflow.symbols import Instrument

if TYPE_CHECKING:
    from cryptoflow.sim.venues.okx import OkxSim

_MS = 1_000_000
_MIN_MS = 60_000
_DAY_MS = 86_400_000
_enc = msgspec.json.encode
# OKX bar / statistics period -> ms; only the bars that sit on the UTC grid the model keeps
_BARS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1H": 3_600_000,
    "2H": 7_200_000, "4H": 14_400_000, "6Hutc": 21_600_000, "12Hutc": 43_200_000, "1Dutc": _DAY_MS,
}  # fmt: skip
_STAT_PERIODS = {k: v for k, v in _BARS.items() if v >= 300_000}
_STAT_POINTS = 1440  # "This endpoint can retrieve the latest 1,440 data entries"
_OPTION_CT = {"BTC": 0.01, "ETH": 0.1}  # option contract value in coin


class _Refusal(Exception):
    """An OKX error answer raised from deep inside a handler."""

    def __init__(self, status: int, code: str, msg: str) -> None:
        super().__init__(msg)
        self.response = RestResponse(status, _enc({"code": code, "msg": msg, "data": []}))


def num(x: float) -> str:
    """A float as OKX writes numbers: shortest digits, no ``.0``, no exponent."""
    s = repr(float(x))
    if s.endswith(".0"):
        return s[:-2]
    if "e" in s:
        return f"{x:.12f}".rstrip("0").rstrip(".")
    return s


def _ok(data: object) -> RestResponse:
    return RestResponse(200, _enc({"code": "0", "msg": "", "data": data}))


def answer(sim: OkxSim, path: str, query: dict[str, list[str]]) -> RestResponse | None:
    """The response to ``path`` if it is one of these endpoints, else None (the caller goes on)."""
    handler = _HANDLERS.get(path)
    if handler is None:
        return None
    q = {k: v[0] for k, v in query.items() if v}
    try:
        return handler(_Ctx(sim, q))
    except _Refusal as e:
        return e.response


class _Ctx:
    """One request: parameters, and the simulator's instruments and market."""

    def __init__(self, sim: OkxSim, q: dict[str, str]) -> None:
        self.sim, self.q, self.market, self.venue = sim, q, sim.market, sim.venue_id
        self.now_ms = sim.market.now_ns // _MS

    def inst(self, swap_only: bool = False) -> Instrument:
        native = self.q.get("instId", "")
        if not native:
            raise _Refusal(400, "50014", "Parameter instId can not be empty.")
        inst = self.sim.instruments.get(native)
        if inst is None:
            raise _Refusal(200, "51001", "Instrument ID, Instrument ID code or Spread ID doesn't exist.")
        if swap_only and inst.market != "perp":
            raise _Refusal(400, "51000", "Parameter instId error")
        return inst

    def limit(self, default: int, most: int) -> int:
        text = self.q.get("limit", "")
        if not text:
            return default
        try:
            n = int(text)
        except ValueError:
            raise _Refusal(400, "51000", "Parameter limit error") from None
        if n < 1:
            raise _Refusal(400, "51000", "Parameter limit error")
        return min(n, most)

    def ms(self, key: str) -> int | None:
        text = self.q.get(key, "")
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            raise _Refusal(400, "51000", f"Parameter {key} error") from None

    def window(self, older: str, newer: str, step_ms: int, limit: int, floor_ms: int) -> tuple[int, int]:
        """``[lo, hi)`` in ns of the newest ``limit`` points strictly between the cursors."""
        hi_ms = self.ms(older)
        lo_ms = self.ms(newer)
        hi = min(hi_ms if hi_ms is not None else self.now_ms + 1, self.now_ms + 1)
        lo = max(lo_ms + 1 if lo_ms is not None else floor_ms, floor_ms, hi - (limit + 1) * step_ms)
        return lo * _MS, max(lo, hi) * _MS


def _contracts(inst: Instrument, base: float, px: float) -> str:
    """Base units -> OKX contract amount text (linear: 0.01-contract lot; inverse: whole USD contracts)."""
    if inst.contract_type == "spot":
        return num(base)
    if inst.contract_type == "inverse":
        return num(float(round(base * px / inst.contract_size)))
    return num(round(base / inst.contract_size, 2))


def _newest(rows: list, limit: int) -> list:
    return rows[::-1][:limit]


# ---- market data ---------------------------------------------------------------------------
def _ticker(c: _Ctx) -> RestResponse:
    inst = c.inst()
    book = c.market.book_snapshot(c.venue, inst.market, inst.symbol, 1)
    (bid, bid_q), (ask, ask_q) = book.bids[0], book.asks[0]
    day = c.market.history.candles(c.venue, inst.market, inst.symbol, 60 * 1_000_000_000,
                                   c.market.now_ns - 86_400 * 1_000_000_000, c.market.now_ns)  # fmt: skip
    last = bid
    o = float(day.open[0]) if len(day) else last
    hi = max(float(day.high.max()), last) if len(day) else last
    lo = min(float(day.low.min()), last) if len(day) else last
    base_vol, quote_vol = float(day.volume.sum()), float(day.quote_volume.sum())
    spot = inst.market == "spot"
    row = {
        "instType": "SPOT" if spot else "SWAP", "instId": inst.native, "last": num(last),
        "lastSz": _contracts(inst, inst.contract_size if not spot else 0.001, last),
        "askPx": num(ask), "askSz": _contracts(inst, ask_q, ask),
        "bidPx": num(bid), "bidSz": _contracts(inst, bid_q, bid),
        "open24h": num(o), "high24h": num(hi), "low24h": num(lo),
        "volCcy24h": num(round(quote_vol, 4)) if spot else num(round(base_vol, 4)),
        "vol24h": num(round(base_vol, 8)) if spot else _contracts(inst, base_vol, last),
        "sodUtc0": num(o), "sodUtc8": num(o), "ts": str(book.ts // _MS),
    }  # fmt: skip
    return _ok([row])


def _trades(c: _Ctx) -> RestResponse:
    inst = c.inst()
    limit = c.limit(100, 500)
    book = c.market.book_snapshot(c.venue, inst.market, inst.symbol, 1)
    (bid, _), (ask, _) = book.bids[0], book.asks[0]
    now = book.ts // _MS
    rng = random.Random(f"{inst.native}/{now // 1000}")
    lot = inst.contract_size if inst.market == "perp" else 1e-5
    rows = []
    for i in range(limit):  # newest first, one every 150 ms
        side = "buy" if rng.random() < 0.5 else "sell"
        px = ask if side == "buy" else bid
        base = lot * max(1, round(rng.lognormvariate(1.0, 1.2)))
        rows.append({"instId": inst.native, "side": side, "sz": _contracts(inst, base, px), "px": num(px),
                     "source": "0", "tradeId": str(now * 10 - i), "ts": str(now - 150 * i)})  # fmt: skip
    return _ok(rows)


def _candles(recent: bool) -> Callable[[_Ctx], RestResponse]:
    def handle(c: _Ctx) -> RestResponse:
        inst = c.inst()
        bar = c.q.get("bar", "1m")
        step = _BARS.get(bar)
        if step is None:
            raise _Refusal(400, "51000", "Parameter bar error")
        limit = c.limit(100, 300)
        floor = c.now_ms - _STAT_POINTS * step if recent else 0  # /market/candles: the latest 1,440
        lo, hi = c.window("after", "before", step, limit, floor)
        b = c.market.history.candles(c.venue, inst.market, inst.symbol, step * _MS, lo, hi)
        rows = []
        for t, o, h, low, cl, vol, quote, _ in b.rows():
            if not lo <= t < hi:
                continue
            if inst.market == "spot":  # vol base, volCcy quote
                size, ccy = num(round(vol, 8)), num(round(quote, 4))
            else:  # vol contracts, volCcy base
                size, ccy = _contracts(inst, vol, cl), num(round(vol, 6))
            rows.append([str(t // _MS), num(o), num(h), num(low), num(cl), size, ccy, num(round(quote, 4)), "1"])
        return _ok(_newest(rows, limit))

    return handle


def _funding_history(c: _Ctx) -> RestResponse:
    inst = c.inst(swap_only=True)
    limit = c.limit(400, 400)
    lo, hi = c.window("after", "before", 3_600_000, 10**6, c.now_ms - 90 * _DAY_MS)  # last 3 months
    f = c.market.history.funding(c.venue, inst.symbol, lo, hi)
    rows = [{"formulaType": "withRate", "fundingRate": num(rate), "fundingTime": str(t // _MS),
             "instId": inst.native, "instType": "SWAP", "method": "current_period", "realizedRate": num(rate)}
            for t, rate in f.rows("rate") if lo <= t < hi]  # fmt: skip
    return _ok(_newest(rows, limit))


def _open_interest(c: _Ctx) -> RestResponse:
    kind = c.q.get("instType", "")
    if not kind:
        raise _Refusal(400, "50014", "Parameter instType can not be empty.")
    if kind == "OPTION":
        return _option_open_interest(c)
    if kind not in ("SWAP", "FUTURES"):
        raise _Refusal(400, "51000", "Parameter instType error")
    if kind == "FUTURES":
        return _ok([])  # the simulator lists no dated futures
    insts = [c.inst(swap_only=True)] if c.q.get("instId") else [
        i for i in c.sim.instruments.values() if i.market == "perp"]  # fmt: skip
    rows = []
    for inst in insts:
        base = c.market.open_interest(c.venue, "perp", inst.symbol)
        px = c.market.fair_price(inst.symbol)
        rows.append({"instType": "SWAP", "instId": inst.native, "oi": _contracts(inst, base, px),
                     "oiCcy": num(round(base, 4)), "oiUsd": num(round(base * px, 2)), "ts": str(c.now_ms)})  # fmt: skip
    return _ok(rows)


def _option_open_interest(c: _Ctx) -> RestResponse:
    family = c.q.get("instFamily", "") or c.q.get("uly", "")
    if not family:
        raise _Refusal(400, "50014", "Parameter instFamily can not be empty.")
    coin, _, quote = family.partition("-")
    chain = c.market.history.options_chain(coin, c.market.now_ns) if quote == "USD" else []
    if not chain:
        raise _Refusal(400, "51000", "Parameter instFamily error")
    ct = _OPTION_CT.get(coin, 1.0)
    rows = []
    for o in chain:
        expiry = np.datetime64(o.expiry_ns, "ns").astype("datetime64[D]").item().strftime("%y%m%d")
        inst_id = f"{coin}-USD-{expiry}-{num(o.strike)}-{'C' if o.call else 'P'}"
        rows.append({"instType": "OPTION", "instId": inst_id, "oi": num(round(o.open_interest / ct, 2)),
                     "oiCcy": num(o.open_interest), "oiUsd": num(round(o.open_interest * o.underlying_price, 2)),
                     "ts": str(c.now_ms)})  # fmt: skip
    return _ok(rows)


# ---- trading statistics (rubik) ------------------------------------------------------------
def _stat_window(c: _Ctx) -> tuple[Instrument, int, int, int, int]:
    inst = c.inst(swap_only=True)
    period = c.q.get("period", "5m")
    step = _STAT_PERIODS.get(period)
    if step is None:
        raise _Refusal(400, "51000", "Parameter period error")
    limit = c.limit(100, 100)
    floor = (c.now_ms // step - (_STAT_POINTS - 1)) * step  # only the latest 1,440 points exist
    lo, hi = c.window("end", "begin", step, limit, floor)
    return inst, step, limit, lo, hi


def _oi_history(c: _Ctx) -> RestResponse:
    inst, step, limit, lo, hi = _stat_window(c)
    s = c.market.history.open_interest(c.venue, inst.symbol, step * _MS, lo, hi)
    rows = [[str(t // _MS), _contracts(inst, base, usd / base if base else 0.0), num(base), num(usd)]
            for t, base, usd in s.rows("oi_base", "oi_notional") if lo <= t < hi]  # fmt: skip
    return _ok(_newest(rows, limit))


def _long_short(c: _Ctx) -> RestResponse:
    inst, step, limit, lo, hi = _stat_window(c)
    s = c.market.history.long_short(c.venue, inst.symbol, step * _MS, lo, hi)
    rows = [[str(t // _MS), num(ratio)] for t, ratio in s.rows("ratio") if lo <= t < hi]
    return _ok(_newest(rows, limit))


def _taker_volume(c: _Ctx) -> RestResponse:
    inst, step, limit, lo, hi = _stat_window(c)
    unit = c.q.get("unit", "1")
    if unit not in ("0", "1", "2"):
        raise _Refusal(400, "51000", "Parameter unit error")
    h = c.market.history
    s = h.taker_volume(c.venue, inst.symbol, step * _MS, lo, hi)
    bars = h.candles(c.venue, "perp", inst.symbol, step * _MS, lo, hi)
    vwap = {t: q / v for t, q, v in zip(bars.open_time.tolist(), bars.quote_volume.tolist(), bars.volume.tolist(),
                                        strict=True) if v > 0}  # fmt: skip
    rows = []
    for t, buy, sell in s.rows("buy", "sell"):
        if not lo <= t < hi:
            continue
        px = vwap.get(t, c.market.fair_price(inst.symbol))
        if unit == "0":
            cells = [num(round(sell, 6)), num(round(buy, 6))]
        elif unit == "1":
            cells = [_contracts(inst, sell, px), _contracts(inst, buy, px)]
        else:
            cells = [num(round(sell * px, 2)), num(round(buy * px, 2))]
        rows.append([str(t // _MS), *cells])
    return _ok(_newest(rows, limit))


def _premium_history(c: _Ctx) -> RestResponse:
    inst = c.inst(swap_only=True)
    limit = c.limit(100, 100)
    lo, hi = c.window("after", "before", _MIN_MS, limit, c.now_ms - 182 * _DAY_MS)  # last 6 months
    b = c.market.history.premium_index(c.venue, inst.symbol, _MIN_MS * _MS, lo, hi)
    rows = [{"instId": inst.native, "premium": num(p), "ts": str(t // _MS)}
            for t, p in zip(b.open_time.tolist(), b.close.tolist(), strict=True) if lo <= t < hi]  # fmt: skip
    return _ok(_newest(rows, limit))


def _insurance_fund(c: _Ctx) -> RestResponse:
    kind = c.q.get("instType", "")
    if not kind:
        raise _Refusal(400, "50014", "Parameter instType can not be empty.")
    family = c.q.get("instFamily", "")
    if kind in ("SWAP", "FUTURES", "OPTION") and not family:
        raise _Refusal(400, "50014", "Parameter instFamily can not be empty.")
    perps = {f"{i.base}-{i.quote}": i for i in c.sim.instruments.values() if i.market == "perp"}
    inst = perps.get(family)
    if kind != "SWAP" or inst is None:
        raise _Refusal(400, "51000", "Parameter instFamily error")
    limit = c.limit(100, 100)
    wanted = c.q.get("type", "regular_update")
    ccy = inst.base if inst.contract_type == "inverse" else inst.quote
    details = []
    if wanted == "regular_update":
        for i in range(limit):  # one regular update a minute, newest first
            t = (c.now_ms // _MIN_MS - i) * _MIN_MS
            bal = c.market.history.insurance_fund(c.venue, ccy, t * _MS)
            details.append({"adlType": "", "amt": "", "balance": num(bal), "ccy": ccy, "decRate": "", "maxBal": "",
                            "maxBalTs": "", "ts": str(t), "type": "regular_update"})  # fmt: skip
    total = float(details[0]["balance"]) if details else 0.0
    return _ok([{"details": details, "instFamily": family, "instType": kind, "total": num(total)}])


_HANDLERS: dict[str, Callable[[_Ctx], RestResponse]] = {
    "/api/v5/market/ticker": _ticker,
    "/api/v5/market/trades": _trades,
    "/api/v5/market/history-candles": _candles(recent=False),
    "/api/v5/market/candles": _candles(recent=True),
    "/api/v5/public/funding-rate-history": _funding_history,
    "/api/v5/public/open-interest": _open_interest,
    "/api/v5/public/premium-history": _premium_history,
    "/api/v5/public/insurance-fund": _insurance_fund,
    "/api/v5/rubik/stat/contracts/open-interest-history": _oi_history,
    "/api/v5/rubik/stat/contracts/long-short-account-ratio-contract": _long_short,
    "/api/v5/rubik/stat/taker-volume-contract": _taker_volume,
}

# OKX over an endpoint's limit: HTTP 429, code 50011, no Retry-After (the server adds the JSON type)
THROTTLED = RestResponse(429, b'{"msg":"Too Many Requests","code":"50011"}')
