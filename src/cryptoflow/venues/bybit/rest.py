"""Bybit v5 public REST market data: request builders and parsers (pure, no I/O).

Endpoints (``category=linear`` for perps, ``spot`` for spot; one ``api.bybit.com`` base for both):

=======================  =========================================  =====================================
kind                     endpoint                                   paging / notes
=======================  =========================================  =====================================
instruments              /v5/market/instruments-info                linear by default; a spot instrument
                                                                    in the query asks for spot
ticker                   /v5/market/tickers                         linear rows also carry mark/index,
                                                                    funding and open interest
orderbook                /v5/market/orderbook                       linear <= 500 levels, spot <= 200
trades                   /v5/market/recent-trade                    linear <= 1000, spot <= 60; newest first
candles                  /v5/market/kline                           <= 1000, start/end inclusive, newest first
funding_history          /v5/market/funding/history                 <= 200, startTime alone is an error
open_interest            /v5/market/tickers                         current value and notional
open_interest_history    /v5/market/open-interest                   intervalTime 5min..1d, <= 200 (+cursor)
long_short_ratio         /v5/market/account-ratio                   period 5min..1d, <= 500 (+cursor)
premium_index            /v5/market/premium-index-price-kline       <= 1000, like kline
insurance_fund           /v5/market/insurance                       pools per coin, summed
=======================  =========================================  =====================================

Ranges: our ``[start_ns, end_ns)`` becomes Bybit's inclusive ``[start, end]`` in ms (end = the last
ms before ``end_ns``). Where Bybit would answer a lone start badly (funding: an error; klines:
the newest page), the end is set to what one full page from the start can hold, so a query with
only a start always returns the points right after it. Cursor paging is not needed: the shared
pager asks windows of ``max_limit - 1`` periods, which one page always holds.

Errors: HTTP 200 with ``retCode != 0`` (10001 params error, "Not supported symbols"), and throttling
as ``retCode`` 10006 "Too many visits!" (per-UID API limit) or HTTP 403 "access too frequent" (the
per-IP limit, 600 requests / 5 s, followed by a ban of at least 10 minutes). ``classify`` retries
the throttles (waiting until ``X-Bapi-Limit-Reset-Timestamp`` when sent) and fails the rest at once.
"""

from __future__ import annotations

import time
from typing import ClassVar
from urllib.parse import urlencode

import msgspec

from cryptoflow.events import BookSnapshot, Funding, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.symbols import Instrument
from cryptoflow.venues.bybit import rest_schemas as r
from cryptoflow.venues.rest_data import (
    DataKind,
    DataQuery,
    KindSpec,
    Record,
    RestCall,
    RestDataError,
    VenueRestData,
    candle_from_rest,
    fnum,
    metric,
    ms_before,
    ms_from,
    period_ns,
    register,
)

_MS = 1_000_000
_HOUR_MS = 3_600_000
_CATEGORY = {"perp": "linear", "spot": "spot"}
_KLINE_INTERVALS = {  # our name -> Bybit kline interval (klines and premium index klines)
    "1m": "1", "3m": "3", "5m": "5", "15m": "15", "30m": "30", "1h": "60", "2h": "120", "4h": "240",
    "6h": "360", "12h": "720", "1d": "D",
}
_STAT_PERIODS = {"5m": "5min", "15m": "15min", "30m": "30min", "1h": "1h", "4h": "4h", "1d": "1d"}
_SPOT_MAX = {DataKind.ORDERBOOK: 200, DataKind.TRADES: 60}  # spot caps below the linear max_limit
_TAKER = {"Buy": "buy", "Sell": "sell"}
_RETRY_CODES = {
    10000: "server timeout",
    10006: "too many visits",  # per-UID API rate limit
    10016: "server error",
    10018: "IP rate limit",  # struck from the docs' code table, kept in case it is still sent
}
_IP_BAN_WAIT_S = 600.0  # "wait for at least 10 minutes" after "403, access too frequent" (v5 Rate Limit)
_OK_HEAD = b'{"retCode":0,'  # a compact success body: no envelope decode needed


@register
class BybitRestData(VenueRestData):
    """Bybit v5 public market data (linear USDT perps and spot)."""

    venue_id = "bybit"
    # v5 Rate Limit: "600 requests within a 5-second window per IP" (120/s) for every public
    # endpoint alike (no weights); kept 20% under: 96/s with a burst of 48, so any 5 s window
    # holds at most 528 requests.
    rate_limit: ClassVar[tuple[float, float]] = (96.0, 48.0)
    kinds: ClassVar[dict[DataKind, KindSpec]] = {
        DataKind.INSTRUMENTS: KindSpec(
            DataKind.INSTRUMENTS, max_limit=1000, markets=("perp", "spot"),
            doc="listed instruments (linear perps; a spot symbol lists spot pairs), tick sizes"),
        DataKind.TICKER: KindSpec(
            DataKind.TICKER, markets=("perp", "spot"),
            doc="24h ticker; perps also mark/index price, funding rate and open interest"),
        DataKind.ORDERBOOK: KindSpec(
            DataKind.ORDERBOOK, max_limit=500, markets=("perp", "spot"),
            doc="order book snapshot, up to 500 levels (spot 200)"),
        DataKind.TRADES: KindSpec(
            DataKind.TRADES, max_limit=1000, markets=("perp", "spot"),
            doc="most recent public trades, up to 1000 (spot 60)"),
        DataKind.CANDLES: KindSpec(
            DataKind.CANDLES, history=True, max_limit=1000, periods=tuple(_KLINE_INTERVALS),
            markets=("perp", "spot"), doc="OHLCV candles 1m..1d, 1000 per request"),
        DataKind.FUNDING_HISTORY: KindSpec(
            DataKind.FUNDING_HISTORY, history=True, max_limit=200,
            doc="settled funding rates (each symbol's own interval), 200 per request"),
        DataKind.OPEN_INTEREST: KindSpec(
            DataKind.OPEN_INTEREST, doc="current open interest (base units) and its notional"),
        DataKind.OPEN_INTEREST_HISTORY: KindSpec(
            DataKind.OPEN_INTEREST_HISTORY, history=True, max_limit=200, periods=tuple(_STAT_PERIODS),
            doc="open interest (base units) every 5m..1d, 200 per request"),
        DataKind.LONG_SHORT_RATIO: KindSpec(
            DataKind.LONG_SHORT_RATIO, history=True, max_limit=500, periods=tuple(_STAT_PERIODS),
            doc="share of accounts net long / short and their ratio, 5m..1d"),
        DataKind.PREMIUM_INDEX: KindSpec(
            DataKind.PREMIUM_INDEX, history=True, max_limit=1000, periods=tuple(_KLINE_INTERVALS),
            doc="premium index klines (fraction, period close), 1m..1d"),
        DataKind.INSURANCE_FUND: KindSpec(
            DataKind.INSURANCE_FUND, doc="insurance pool balance per settle coin (all pools summed)"),
    }

    # ---- requests ----------------------------------------------------------------------------
    def request(self, q: DataQuery) -> RestCall:
        kind, inst = q.kind, q.inst
        limit = q.limit or self.kinds[kind].max_limit
        if inst is not None and inst.market == "spot" and kind in _SPOT_MAX:
            limit = min(limit, _SPOT_MAX[kind])
        if kind is DataKind.INSURANCE_FUND:
            return self._get("/v5/market/insurance", {"coin": inst.quote} if inst is not None else {})
        if kind is DataKind.INSTRUMENTS:
            params: dict[str, object] = {"category": _CATEGORY[inst.market] if inst is not None else "linear"}
            if inst is not None:
                params["symbol"] = inst.native
            return self._get("/v5/market/instruments-info", {**params, "limit": limit})
        assert inst is not None  # check() refuses symbol-less queries for the other kinds
        base: dict[str, object] = {"category": _CATEGORY[inst.market], "symbol": inst.native}
        if kind in (DataKind.TICKER, DataKind.OPEN_INTEREST):
            return self._get("/v5/market/tickers", base)
        if kind is DataKind.ORDERBOOK:
            return self._get("/v5/market/orderbook", {**base, "limit": limit})
        if kind is DataKind.TRADES:
            return self._get("/v5/market/recent-trade", {**base, "limit": limit})
        if kind in (DataKind.CANDLES, DataKind.PREMIUM_INDEX):
            assert q.period is not None
            path = "/v5/market/kline" if kind is DataKind.CANDLES else "/v5/market/premium-index-price-kline"
            rng = self._range(q, period_ns(q.period) // _MS, limit, "start", "end")
            return self._get(path, {**base, "interval": _KLINE_INTERVALS[q.period], **rng, "limit": limit})
        if kind is DataKind.FUNDING_HISTORY:
            # the shortest funding interval Bybit uses is 1 h: a page from a lone start never skips any
            rng = self._range(q, _HOUR_MS, limit, "startTime", "endTime")
            return self._get("/v5/market/funding/history", {**base, **rng, "limit": limit})
        if kind in (DataKind.OPEN_INTEREST_HISTORY, DataKind.LONG_SHORT_RATIO):
            assert q.period is not None
            rng = self._range(q, period_ns(q.period) // _MS, limit, "startTime", "endTime")
            if kind is DataKind.OPEN_INTEREST_HISTORY:
                params = {**base, "intervalTime": _STAT_PERIODS[q.period], **rng, "limit": limit}
                return self._get("/v5/market/open-interest", params)
            params = {**base, "period": _STAT_PERIODS[q.period], **rng, "limit": limit}
            return self._get("/v5/market/account-ratio", params)
        raise AssertionError(f"unhandled kind {kind}")  # kinds and request() are kept in step

    def _get(self, path: str, params: dict[str, object]) -> RestCall:
        query = urlencode(params)
        return RestCall("GET", f"{self.base}{path}" + (f"?{query}" if query else ""))

    @staticmethod
    def _range(q: DataQuery, step_ms: int, limit: int, start_key: str, end_key: str) -> dict[str, int]:
        """Bybit's inclusive ms bounds for ``[q.start_ns, q.end_ns)``; a lone start gets the end of
        one full page after it."""
        out: dict[str, int] = {}
        if q.start_ns is not None:
            out[start_key] = ms_from(q.start_ns)
        if q.end_ns is not None:
            out[end_key] = ms_before(q.end_ns)
        elif q.start_ns is not None:
            out[end_key] = out[start_key] + limit * step_ms - 1
        return out

    # ---- responses ---------------------------------------------------------------------------
    def classify(self, status: int, headers: dict[str, str], body: bytes) -> tuple[str, str, float | None]:
        """Throttles -> retry (HTTP 403 "access too frequent", retCode 10006/10018, server busy
        10000/10016); any other retCode -> fail with Bybit's message; HTTP status as usual."""
        if status == 403:
            text = body[:300].decode("utf-8", "replace")
            if "too frequent" in text.lower():
                wait = _reset_wait(headers)
                return ("retry", f"HTTP 403: {text.strip()}", wait if wait is not None else _IP_BAN_WAIT_S)
            return ("fail", f"HTTP 403: {text.strip()}", None)  # e.g. a region block: retrying never helps
        if status != 200:
            return super().classify(status, headers, body)
        if body.startswith(_OK_HEAD):
            return ("ok", "", None)
        try:
            env = r.ENVELOPE.decode(body)
        except msgspec.DecodeError:
            return ("fail", f"not a Bybit response: {body[:200].decode('utf-8', 'replace')}", None)
        if env.retCode == 0:
            return ("ok", "", None)
        message = _message(env)
        if env.retCode in _RETRY_CODES:
            return ("retry", message, _reset_wait(headers))
        return ("fail", message, None)

    def error_message(self, body: bytes) -> str | None:
        if body.startswith(_OK_HEAD):
            return None
        try:
            env = r.ENVELOPE.decode(body)
        except msgspec.MsgspecError:
            return None  # not an envelope: the kind's decoder says what is wrong
        return _message(env) if env.retCode != 0 else None

    def parse_body(self, q: DataQuery, body: bytes, ts_recv: int) -> list[Record]:
        kind, inst = q.kind, q.inst
        if kind is DataKind.INSTRUMENTS:
            return list(self.venue.parse_instruments(self.request(q).url, body))
        if kind is DataKind.INSURANCE_FUND:
            return self._insurance(_result(r.INSURANCE.decode(body)), ts_recv)
        assert inst is not None
        if kind in (DataKind.TICKER, DataKind.OPEN_INTEREST):
            resp = r.TICKERS.decode(body)
            res = _result(resp)
            ts = (resp.time or ts_recv // _MS) * _MS
            out: list[Record] = []
            for row in res.list:
                if row.symbol == inst.native:
                    out += _ticker(row, inst, ts, ts_recv, oi_only=kind is DataKind.OPEN_INTEREST)
            return out
        if kind is DataKind.ORDERBOOK:
            return [self._book(_result(r.BOOK.decode(body)), inst, ts_recv)]
        if kind is DataKind.TRADES:
            return self._trades(_result(r.TRADES.decode(body)), inst, ts_recv)
        if kind is DataKind.CANDLES:
            assert q.period is not None
            rows = _result(r.KLINE.decode(body)).list
            return [
                candle_from_rest(self.venue_id, inst, q.period, t * _MS, o, h, lo, c, inst.to_base(v, c), ts_recv, qv)
                for t, o, h, lo, c, v, qv in reversed(rows)
            ]
        if kind is DataKind.PREMIUM_INDEX:
            rows_p = _result(r.PREMIUM.decode(body)).list
            return [
                metric(self.venue_id, inst.market, inst.symbol, t * _MS, ts_recv, "premium_index", c, q.period)
                for t, _o, _h, _lo, c in reversed(rows_p)
            ]
        if kind is DataKind.FUNDING_HISTORY:
            rows_f = _result(r.FUNDING.decode(body)).list
            return [
                Funding(self.venue_id, inst.market, inst.symbol, f.fundingRateTimestamp * _MS, ts_recv, f.fundingRate)
                for f in reversed(rows_f)
            ]
        if kind is DataKind.OPEN_INTEREST_HISTORY:
            rows_o = _result(r.OPEN_INTEREST.decode(body)).list
            return [
                OpenInterest(self.venue_id, inst.market, inst.symbol, o.timestamp * _MS, ts_recv,
                             o.openInterest, inst.to_base(o.openInterest, 1.0))
                for o in reversed(rows_o)
            ]
        if kind is DataKind.LONG_SHORT_RATIO:
            return self._ratios(_result(r.RATIO.decode(body)).list, inst, q.period, ts_recv)
        raise AssertionError(f"unhandled kind {kind}")

    # ---- parsers -----------------------------------------------------------------------------
    def _book(self, b: r.BookResult, inst: Instrument, ts_recv: int) -> BookSnapshot:
        ts = (b.cts if b.cts is not None else b.ts) * _MS  # engine time when sent, like the ws parser
        bids, asks = b.b, b.a
        if inst.contract_size != 1.0:
            bids = [(p, inst.to_base(s, p)) for p, s in bids]
            asks = [(p, inst.to_base(s, p)) for p, s in asks]
        return BookSnapshot(
            self.venue_id, inst.market, inst.symbol, ts, ts_recv,
            [p for p, _ in bids], [s for _, s in bids], [p for p, _ in asks], [s for _, s in asks], b.u,
        )

    def _trades(self, res: r.TradesResult, inst: Instrument, ts_recv: int) -> list[Record]:
        out: list[Record] = []
        for t in reversed(res.list):  # Bybit sends newest first
            side = _TAKER.get(t.side)
            if side is None:
                raise RestDataError(self.venue_id, f"unknown trade side {t.side!r}")
            out.append(Trade(self.venue_id, inst.market, inst.symbol, t.time * _MS, ts_recv, t.price,
                             inst.to_base(t.size, t.price), side, t.execId))
        return out

    def _ratios(self, rows: list[r.RatioRow], inst: Instrument, period: str | None, ts_recv: int) -> list[Record]:
        vid, mkt, sym = self.venue_id, inst.market, inst.symbol
        out: list[Record] = []
        for x in reversed(rows):
            ts = x.timestamp * _MS
            # one time, metrics in name order (the order records are deduplicated and stored in)
            out.append(metric(vid, mkt, sym, ts, ts_recv, "long_account", x.buyRatio, period))
            if x.sellRatio > 0:
                out.append(metric(vid, mkt, sym, ts, ts_recv, "long_short_ratio", x.buyRatio / x.sellRatio, period))
            out.append(metric(vid, mkt, sym, ts, ts_recv, "short_account", x.sellRatio, period))
        return out

    def _insurance(self, res: r.InsuranceResult, ts_recv: int) -> list[Record]:
        """One balance per coin: the isolated pools and the shared one of a coin summed (a
        contract's own pool is an implementation detail of Bybit's; the coin total is the
        cover for that settle coin)."""
        totals: dict[str, float] = {}
        for row in res.list:
            totals[row.coin] = totals.get(row.coin, 0.0) + row.balance
        ts = res.updatedTime * _MS if res.updatedTime else ts_recv
        return [
            metric(self.venue_id, "perp", coin, ts, ts_recv, "insurance_fund_balance", total)
            for coin, total in sorted(totals.items())
        ]


# ---- helpers -------------------------------------------------------------------------------------
def _message(env: r.Envelope) -> str:
    return f"retCode {env.retCode}: {env.retMsg}"


def _result(resp: msgspec.Struct):  # type: ignore[no-untyped-def]
    """The ``result`` of a decoded response (an error body never gets here: ``error_message``)."""
    res = resp.result  # type: ignore[attr-defined]
    if res is None:
        raise RestDataError("bybit", "response without a result")
    return res


def _reset_wait(headers: dict[str, str]) -> float | None:
    """Seconds until ``X-Bapi-Limit-Reset-Timestamp`` (ms), when Bybit sends it."""
    raw = headers.get("X-Bapi-Limit-Reset-Timestamp") or headers.get("x-bapi-limit-reset-timestamp")
    if not raw:
        return None
    try:
        return max(0.0, int(raw) / 1000.0 - time.time())
    except ValueError:
        return None


def _ticker(row: r.TickerRow, inst: Instrument, ts: int, ts_recv: int, oi_only: bool) -> list[Record]:
    """Events of one tickers row: the 24h ticker, and on perps mark price, funding and OI
    (``oi_only``: just the open interest)."""
    vid, mkt, sym = "bybit", inst.market, inst.symbol
    out: list[Record] = []
    last = fnum(row.lastPrice)
    if last is not None and not oi_only:
        prev, pct, vol = fnum(row.prevPrice24h), fnum(row.price24hPcnt), fnum(row.volume24h)
        out.append(Ticker24h(vid, mkt, sym, ts, ts_recv, last, prev, fnum(row.highPrice24h), fnum(row.lowPrice24h),
                             inst.to_base(vol, last) if vol is not None else None, fnum(row.turnover24h),
                             last - prev if prev is not None else None, pct * 100.0 if pct is not None else None))
    mark = fnum(row.markPrice)
    if mark is not None and not oi_only:
        out.append(MarkPrice(vid, mkt, sym, ts, ts_recv, mark, fnum(row.indexPrice)))
    rate = fnum(row.fundingRate)
    if rate is not None and not oi_only:
        nft = int(row.nextFundingTime) * _MS if row.nextFundingTime not in ("", "0") else None
        out.append(Funding(vid, mkt, sym, ts, ts_recv, rate, None, nft, fnum(row.fundingIntervalHour)))
    oi, oi_value = fnum(row.openInterest), fnum(row.openInterestValue)
    if oi is not None or oi_value is not None:
        base = inst.to_base(oi, 1.0) if oi is not None else None
        out.append(OpenInterest(vid, mkt, sym, ts, ts_recv, oi, base, oi_value))
    return out
