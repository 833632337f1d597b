"""Gate.io USDT perpetual futures REST market data (API v4): pure request builders and parsers.

Endpoints (base ``https://api.gateio.ws/api/v4``, documented at
https://www.gate.com/docs/developers/apiv4/en/futures): ``/futures/usdt/contracts``, ``tickers``,
``order_book``, ``trades``, ``candlesticks`` (max 2000 points), ``premium_index`` (max 1000 points),
``funding_rate`` (limit <= 1000), ``insurance`` (limit <= 1000) and ``contract_stats`` (limit <= 100,
interval 5m..1d; open interest, account long/short ratio, taker long/short sizes).

Units: sizes are contracts, turned into base units with the instrument's ``contract_size``
(``quanto_multiplier``) here, once, as the websocket parser does. Times are Unix seconds: our
``[start_ns, end_ns)`` is sent as ``from = ceil(start)`` and ``to = ceil(end) - 1`` (Gate's bounds
are inclusive). ``limit`` conflicts with ``from``/``to`` on candlesticks and premium_index (Gate
rejects the request), so a ranged request carries no limit; a lone start gets the end of one full
page after it. ``contract_stats`` takes no end at all: the parser drops points at or after
``end_ns``.

Errors are ``{"label": ..., "message": ...}`` with a 4xx status; throttling is HTTP 429 with label
``TOO_MANY_REQUESTS`` and ``X-Gate-RateLimit-Requests-Remain`` / ``-Limit`` /
``-Reset-Timestamp`` headers (the reset time, absolute, seconds or milliseconds).
"""

from __future__ import annotations

import time
from typing import ClassVar
from urllib.parse import urlencode

import msgspec

from cryptoflow.events import BookSnapshot, Funding, OpenInterest, Trade
from cryptoflow.venues.gateio import parse as wsparse
from cryptoflow.venues.gateio import rest_schemas as S
from cryptoflow.venues.gateio import schemas as w
from cryptoflow.venues.rest_data import (
    DataKind,
    DataQuery,
    KindSpec,
    Record,
    RestCall,
    RestDataError,
    VenueRestData,
    candle_from_rest,
    metric,
    period_ns,
    register,
)

K = DataKind
_S = 1_000_000_000
SETTLE = "/futures/usdt"
PATHS: dict[DataKind, str] = {
    K.INSTRUMENTS: f"{SETTLE}/contracts",
    K.TICKER: f"{SETTLE}/tickers",
    K.OPEN_INTEREST: f"{SETTLE}/tickers",
    K.ORDERBOOK: f"{SETTLE}/order_book",
    K.TRADES: f"{SETTLE}/trades",
    K.CANDLES: f"{SETTLE}/candlesticks",
    K.PREMIUM_INDEX: f"{SETTLE}/premium_index",
    K.FUNDING_HISTORY: f"{SETTLE}/funding_rate",
    K.OPEN_INTEREST_HISTORY: f"{SETTLE}/contract_stats",
    K.LONG_SHORT_RATIO: f"{SETTLE}/contract_stats",
    K.TAKER_VOLUME: f"{SETTLE}/contract_stats",
    K.INSURANCE_FUND: f"{SETTLE}/insurance",
}
_STATS = (K.OPEN_INTEREST_HISTORY, K.LONG_SHORT_RATIO, K.TAKER_VOLUME)
# Gate's candlestick intervals are 10s 1m 5m 15m 30m 1h 4h 8h 1d 7d: the names we share are spelled alike.
_KLINE_PERIODS = ("1m", "5m", "15m", "30m", "1h", "4h", "8h", "1d")
_STATS_PERIODS = ("5m", "15m", "30m", "1h", "4h", "1d")
INSURANCE_ASSET = "USDT"  # the /futures/usdt insurance fund is kept in the settle currency


def _from_s(ns: int) -> int:
    return -(-ns // _S)  # the first whole second at or after ``ns``


def _to_s(ns: int) -> int:
    return -(-ns // _S) - 1  # the last whole second before ``ns`` (Gate's ``to`` is inclusive)


def _ns(seconds: float) -> int:
    """Gate's float seconds (``1514764800.123``; ms when > 1e11) -> int ns, exact to the µs."""
    return wsparse.ms_float_to_ns(seconds) if seconds > 1e11 else wsparse.s_float_to_ns(seconds)


def _trade_time(r: S.RestTrade) -> float:
    when = r.create_time_ms if r.create_time_ms is not None else r.create_time
    return when if when is not None else 0.0


def error_of(body: bytes) -> S.GateRestError | None:
    """The Gate error in ``body``, if it is one."""
    head = body[:200]
    if not head.lstrip().startswith(b"{") or b'"label"' not in head:
        return None
    try:
        return S.ERROR.decode(body)
    except msgspec.MsgspecError:
        return None


def _header(headers: dict[str, str], name: str) -> str | None:
    low = name.lower()
    return next((v for k, v in headers.items() if k.lower() == low), None)


def _reset_wait(headers: dict[str, str]) -> float | None:
    """Seconds until ``X-Gate-RateLimit-Reset-Timestamp`` (absolute; ms if it looks like ms)."""
    raw = _header(headers, "X-Gate-RateLimit-Reset-Timestamp")
    try:
        reset = float(raw) if raw is not None else None
    except ValueError:
        return None
    if reset is None:
        return None
    if reset > 1e12:
        reset /= 1000.0
    return max(0.0, reset - time.time())


@register
class GateioRestData(VenueRestData):
    """Gate.io USDT-settled perpetuals: api.gateio.ws ``/api/v4/futures/usdt``."""

    venue_id = "gateio"
    # "All public endpoints: 200r/10s per endpoint, based on IP" (API v4 docs, "Frequency limit
    # rule"): 20/s per endpoint. One venue bucket at 16/s (20% under) keeps every endpoint under
    # its own limit; a burst of 40 is a fifth of one endpoint's 10-second window.
    rate_limit = (16.0, 40.0)
    kinds: ClassVar[dict[DataKind, KindSpec]] = {
        s.kind: s
        for s in (
            KindSpec(K.INSTRUMENTS, doc="USDT-settled perpetual contracts (contract size = quanto_multiplier)"),
            KindSpec(K.TICKER, doc="24 h ticker with mark/index price, funding rate and open interest"),
            # no documented maximum; 100 levels is what the websocket book sync asks for (captured)
            KindSpec(K.ORDERBOOK, max_limit=100, doc="order book snapshot with update id, up to 100 levels"),
            KindSpec(K.TRADES, max_limit=1000, doc="most recent public trades, up to 1000"),
            KindSpec(K.CANDLES, history=True, max_limit=2000, periods=_KLINE_PERIODS,
                     doc="OHLCV candlesticks 1m..1d, 2000 per request"),
            KindSpec(K.FUNDING_HISTORY, history=True, max_limit=1000,
                     doc="settled funding rates (8 h on most contracts), 1000 per request"),
            KindSpec(K.OPEN_INTEREST, doc="current open interest (contracts, base units, notional)"),
            KindSpec(K.OPEN_INTEREST_HISTORY, history=True, max_limit=100, periods=_STATS_PERIODS,
                     doc="open interest (contracts, base, USDT) per 5m..1d period, 100 per request"),
            KindSpec(K.LONG_SHORT_RATIO, history=True, max_limit=100, periods=_STATS_PERIODS,
                     doc="accounts long / short (lsr_account) per 5m..1d period"),
            KindSpec(K.TAKER_VOLUME, history=True, max_limit=100, periods=_STATS_PERIODS,
                     doc="taker long / short volume (base units) per 5m..1d period"),
            KindSpec(K.PREMIUM_INDEX, history=True, max_limit=1000, periods=_KLINE_PERIODS,
                     doc="premium index klines (fraction, period close), 1000 per request"),
            KindSpec(K.INSURANCE_FUND, max_limit=1000, doc="USDT futures insurance fund balance history"),
        )
    }  # fmt: skip

    # ---- requests ------------------------------------------------------------------------------
    def request(self, q: DataQuery) -> RestCall:
        kind = q.kind
        native = q.inst.native if q.inst is not None else ""
        limit = q.limit or 1
        params: dict[str, object] = {}
        if kind in (K.TICKER, K.OPEN_INTEREST):
            params = {"contract": native}
        elif kind is K.ORDERBOOK:
            params = {"contract": native, "limit": limit, "with_id": "true"}
        elif kind is K.TRADES:
            params = {"contract": native, "limit": limit}
        elif kind in (K.CANDLES, K.PREMIUM_INDEX):
            assert q.period is not None
            params = {"contract": native, "interval": q.period, **self._bar_range(q, limit)}
        elif kind is K.FUNDING_HISTORY:
            params = {"contract": native, "limit": limit}
            if q.start_ns is not None:
                params["from"] = _from_s(q.start_ns)
            if q.end_ns is not None:
                params["to"] = _to_s(q.end_ns)
        elif kind in _STATS:
            params = {"contract": native, "interval": q.period, "limit": limit}
            if q.start_ns is not None:
                params["from"] = _from_s(q.start_ns)
        elif kind is K.INSURANCE_FUND:
            params = {"limit": limit}
        query = f"?{urlencode(params)}" if params else ""
        return RestCall("GET", f"{self.base}{PATHS[kind]}{query}", weight=self.kinds[kind].weight)

    @staticmethod
    def _bar_range(q: DataQuery, limit: int) -> dict[str, int]:
        """``from``/``to`` (inclusive seconds) for a range, else ``limit`` (Gate refuses both)."""
        if q.start_ns is None and q.end_ns is None:
            return {"limit": limit}
        assert q.period is not None
        span = (limit - 1) * (period_ns(q.period) // _S)
        lo = _from_s(q.start_ns) if q.start_ns is not None else None
        hi = _to_s(q.end_ns) if q.end_ns is not None else None
        if hi is None:
            hi = lo + span  # type: ignore[operator]
        if lo is None:
            lo = hi - span
        return {"from": lo, "to": hi}

    # ---- responses -----------------------------------------------------------------------------
    def classify(self, status: int, headers: dict[str, str], body: bytes) -> tuple[str, str, float | None]:
        """429 / TOO_MANY_REQUESTS -> retry at ``X-Gate-RateLimit-Reset-Timestamp``; 5xx -> retry;
        any other 4xx (unknown contract, bad parameter) -> fail with Gate's label and message."""
        if status < 400:
            return ("ok", "", None)
        err = error_of(body)
        text = f"Gate {err.label}: {err.message}" if err else f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"
        if status == 429 or (err is not None and err.label == "TOO_MANY_REQUESTS"):
            remain = _header(headers, "X-Gate-RateLimit-Requests-Remain")
            cap = _header(headers, "X-Gate-RateLimit-Limit")
            if cap is not None:
                text += f" (remaining {remain}/{cap})"
            return ("retry", text, _reset_wait(headers))
        if status >= 500:
            return ("retry", text, None)
        return ("fail", text, None)

    def error_message(self, body: bytes) -> str | None:
        err = error_of(body)
        return f"{err.label}: {err.message}" if err is not None else None

    def parse_body(self, q: DataQuery, body: bytes, ts_recv: int) -> list[Record]:
        v, kind = self.venue_id, q.kind
        if kind is K.INSTRUMENTS:
            return list(self.venue.parse_instruments(f"{self.base}{PATHS[kind]}", body))
        if kind is K.INSURANCE_FUND:
            rows = sorted(S.INSURANCE.decode(body), key=lambda r: r.t)
            return [metric(v, "perp", INSURANCE_ASSET, r.t * _S, ts_recv, "insurance_fund_balance", r.b) for r in rows]
        inst = q.inst
        assert inst is not None  # check() guarantees a symbol for every other kind
        mkt, sym, cs = inst.market, inst.symbol, inst.contract_size
        if kind in (K.TICKER, K.OPEN_INTEREST):
            rows_t = w.TICKERS.decode(body)
            out: list[Record] = []
            for t in rows_t if isinstance(rows_t, list) else (rows_t,):
                if t.contract == inst.native:
                    out += wsparse.ticker_events(v, inst, t, ts_recv, ts_recv)  # type: ignore[arg-type]
            return [r for r in out if type(r) is OpenInterest] if kind is K.OPEN_INTEREST else out
        if kind is K.ORDERBOOK:
            snap = w.REST_BOOK.decode(body)
            n = q.limit or len(snap.bids)
            when = snap.update or snap.current
            return [
                BookSnapshot(
                    v, mkt, sym, wsparse.s_float_to_ns(when) if when else ts_recv, ts_recv,
                    [x.p for x in snap.bids[:n]], [x.s * cs for x in snap.bids[:n]],
                    [x.p for x in snap.asks[:n]], [x.s * cs for x in snap.asks[:n]],
                    snap.id,
                )
            ]  # fmt: skip
        if kind is K.TRADES:
            rows_tr = sorted(S.TRADES.decode(body), key=lambda r: (_trade_time(r), r.id))
            return [self._trade(r, mkt, sym, cs, ts_recv) for r in rows_tr]
        if kind is K.CANDLES:
            return self._candles(q, body, ts_recv)
        if kind is K.PREMIUM_INDEX:
            bars = sorted(S.PREMIUM.decode(body), key=lambda b: b.t)
            return [
                metric(v, mkt, sym, _ns(b.t), ts_recv, "premium_index", b.c, q.period)
                for b in bars
                if q.covers(_ns(b.t))
            ]
        if kind is K.FUNDING_HISTORY:
            rows_f = sorted(S.FUNDING.decode(body), key=lambda r: r.t)
            return [Funding(v, mkt, sym, r.t * _S, ts_recv, r.r) for r in rows_f if q.covers(r.t * _S)]
        return self._stats(q, S.STATS.decode(body), ts_recv)

    def _trade(self, r: S.RestTrade, market: str, sym: str, cs: float, ts_recv: int) -> Trade:
        when = r.create_time_ms if r.create_time_ms is not None else r.create_time
        if when is None:
            raise RestDataError(self.venue_id, f"trade {r.id} has no time")
        if r.size == 0:
            raise RestDataError(self.venue_id, f"trade {r.id} has size 0")
        side = "buy" if r.size > 0 else "sell"
        return Trade(self.venue_id, market, sym, _ns(when), ts_recv, r.price, abs(r.size) * cs, side, str(r.id))

    def _candles(self, q: DataQuery, body: bytes, ts_recv: int) -> list[Record]:
        inst, period = q.inst, q.period
        assert inst is not None and period is not None
        out: list[Record] = []
        for k in sorted(S.CANDLES.decode(body), key=lambda k: k.t):
            t = _ns(k.t)
            if not q.covers(t):
                continue
            if k.v is None:
                raise RestDataError(self.venue_id, f"candle at {k.t} has no volume (mark/index candles?)")
            vol = k.v * inst.contract_size
            out.append(candle_from_rest(self.venue_id, inst, period, t, k.o, k.h, k.l, k.c, vol, ts_recv, k.sum))
        return out

    def _stats(self, q: DataQuery, rows: list[S.ContractStat], ts_recv: int) -> list[Record]:
        """contract_stats -> open interest, long/short ratio or taker volume (base units); a value
        Gate leaves out gives no record (never 0)."""
        inst, p, v = q.inst, q.period, self.venue_id
        assert inst is not None
        mkt, sym, cs = inst.market, inst.symbol, inst.contract_size
        out: list[Record] = []
        for r in sorted(rows, key=lambda r: r.time):
            ts = r.time * _S
            if not q.covers(ts):
                continue
            if q.kind is K.OPEN_INTEREST_HISTORY:
                if r.open_interest is not None:
                    out.append(OpenInterest(v, mkt, sym, ts, ts_recv, r.open_interest, r.open_interest * cs,
                                            r.open_interest_usd))  # fmt: skip
            elif q.kind is K.LONG_SHORT_RATIO:
                out += _long_short(v, mkt, sym, ts, ts_recv, p, r)
            else:
                out += _taker(v, mkt, sym, ts, ts_recv, p, r, cs)
        return out


def _long_short(v: str, mkt: str, sym: str, ts: int, ts_recv: int, p: str | None, r: S.ContractStat) -> list[Record]:
    """``lsr_account`` is the ratio; the long/short shares come from the user counts when Gate
    sends them, else from the ratio (long share = r / (1 + r))."""
    ratio = r.lsr_account
    lu, su = r.long_users, r.short_users
    if lu is not None and su is not None and lu + su > 0:
        long_share = lu / (lu + su)
        if ratio is None and su > 0:
            ratio = lu / su
    elif ratio is not None:
        long_share = ratio / (1.0 + ratio)
    else:
        return []
    out: list[Record] = []
    if ratio is not None:
        out.append(metric(v, mkt, sym, ts, ts_recv, "long_short_ratio", ratio, p))
    out.append(metric(v, mkt, sym, ts, ts_recv, "long_account", long_share, p))
    out.append(metric(v, mkt, sym, ts, ts_recv, "short_account", 1.0 - long_share, p))
    return out


def _taker(
    v: str, mkt: str, sym: str, ts: int, ts_recv: int, p: str | None, r: S.ContractStat, cs: float
) -> list[Record]:
    out: list[Record] = []
    ratio = r.lsr_taker
    if r.long_taker_size is not None and r.short_taker_size is not None:
        buy, sell = r.long_taker_size * cs, r.short_taker_size * cs
        out.append(metric(v, mkt, sym, ts, ts_recv, "taker_buy_volume", buy, p))
        out.append(metric(v, mkt, sym, ts, ts_recv, "taker_sell_volume", sell, p))
        ratio = buy / sell if sell > 0 else None
    if ratio is not None:
        out.append(metric(v, mkt, sym, ts, ts_recv, "taker_buy_sell_ratio", ratio, p))
    return out


__all__ = ["PATHS", "GateioRestData", "error_of"]
