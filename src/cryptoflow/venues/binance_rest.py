"""Binance REST market data for USD-M futures and spot: pure request builders and parsers.

Both products share the error format (``{"code": -1121, "msg": "Invalid symbol."}`` with a 4xx
status), the throttling signals (HTTP 429 with ``Retry-After`` and ``X-MBX-USED-WEIGHT-1M``,
body code -1003; HTTP 418 = IP banned for ``Retry-After`` seconds; HTTP 403 = WAF limit), the
kline layout and the trade/ticker bodies; they differ in paths, limits and weights.

Time parameters are milliseconds and *inclusive* on both ends (klines by open time, funding by
settlement time, statistics by period timestamp), so ``DataQuery.end_ns`` (exclusive) is sent
as ``endTime = end - 1 ms``. Statistics (``/futures/data``) serve the last 30 days only.

Documented limits used (developers.binance.com, USD-M "General Info" / each endpoint page; spot
``rest-api.md``):
- USD-M: REQUEST_WEIGHT 2400 / minute / IP (also in the captured exchangeInfo ``rateLimits``);
  depth weight 2/5/10/20 for limit <=50/100/500/1000; trades 5; klines and premiumIndexKlines
  1/2/5/10 for limit <100/<500/<=1000/>1000, max 1500; ticker/24hr 1 per symbol; openInterest 1;
  fundingRate max 1000 and its own bucket "500 / 5 min / IP" shared with fundingInfo;
  ``/futures/data/*`` weight 0, max 500, 30 days, its own IP limit (1000 requests / 5 min);
  insuranceBalance 1.
- Spot: REQUEST_WEIGHT 6000 / minute / IP; depth 5/25/50/250 for limit <=100/500/1000/5000;
  trades 25; klines 2 (max 1000); ticker/24hr 2 per symbol; exchangeInfo 20.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlencode

import msgspec

from cryptoflow.events import BookSnapshot, Funding, OpenInterest, Ticker24h, Trade
from cryptoflow.venues import binance_rest_schemas as S
from cryptoflow.venues.base import ms_to_ns
from cryptoflow.venues.binance_common import DEPTH_SNAPSHOT, OI_REST
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
    register,
)

K = DataKind
_KLINE_PERIODS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")
_STATS_PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
# /futures/data/* (statistics): weight 0 on the venue bucket but their own IP limit of
# 1000 requests / 5 min (3.33/s), kept 20% under.
_FUTURES_DATA_LIMIT = ("futures_data", 2.67, 10.0)
# /fapi/v1/fundingRate: "share 500/5min/IP rate limit with GET /fapi/v1/fundingInfo" (1.67/s), -20%.
_FUNDING_LIMIT = ("fundingRate", 1.33, 5.0)
_FUTURES_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)  # the only values /fapi/v1/depth accepts
_MAX_BAN_WAIT_S = 30.0  # a longer 418 ban is reported, not waited out (retrying extends bans)


def _futures_kline_weight(limit: int) -> float:
    return 1.0 if limit < 100 else 2.0 if limit < 500 else 5.0 if limit <= 1000 else 10.0


def _futures_depth_weight(limit: int) -> float:
    return 2.0 if limit <= 50 else 5.0 if limit <= 100 else 10.0 if limit <= 500 else 20.0


def _spot_depth_weight(limit: int) -> float:
    return 5.0 if limit <= 100 else 25.0 if limit <= 500 else 50.0 if limit <= 1000 else 250.0


def _ms_range(q: DataQuery) -> dict[str, int]:
    """``startTime``/``endTime`` (ms, both inclusive) for ``[start_ns, end_ns)``."""
    out: dict[str, int] = {}
    if q.start_ns is not None:
        out["startTime"] = ms_from(q.start_ns)
    if q.end_ns is not None:
        out["endTime"] = ms_before(q.end_ns)
    return out


def error_of(body: bytes) -> S.ErrorBody | None:
    """The Binance error in ``body``, if it is one."""
    if not body.lstrip().startswith(b'{"code"'):
        return None
    try:
        return S.ERROR.decode(body)
    except msgspec.MsgspecError:
        return None


def _by_time(records: list[Record]) -> list[Record]:
    """Metrics oldest first, by name within one time: one stable order for every page."""
    return sorted(records, key=lambda r: (r.ts, r.metric))  # type: ignore[union-attr]


def _header(headers: dict[str, str], name: str) -> str | None:
    low = name.lower()
    return next((v for k, v in headers.items() if k.lower() == low), None)


class _BinanceRest(VenueRestData):
    """What USD-M and spot share; subclasses give paths, kinds, limits and weights."""

    paths: ClassVar[dict[DataKind, str]]

    # ---- requests ------------------------------------------------------------------------------
    def request(self, q: DataQuery) -> RestCall:
        path = self.paths[q.kind]
        params: dict[str, object] = {}
        weight = self.kinds[q.kind].weight
        limit_call: tuple[str, float, float] | None = None
        native = q.inst.native if q.inst is not None else None
        limit = q.limit or 1
        if q.kind is K.INSTRUMENTS:
            pass
        elif q.kind is K.ORDERBOOK:
            params = {"symbol": native, "limit": self._depth_limit(limit)}
            weight = self._depth_weight(self._depth_limit(limit))
        elif q.kind is K.CANDLES or q.kind is K.PREMIUM_INDEX:
            params = {"symbol": native, "interval": q.period, **_ms_range(q), "limit": limit}
            weight = self._kline_weight(limit)
        elif q.kind is K.TRADES:
            params = {"symbol": native, "limit": limit}
        elif q.kind is K.FUNDING_HISTORY:
            params = {"symbol": native, **_ms_range(q), "limit": limit}
            limit_call = _FUNDING_LIMIT
        elif q.kind is K.BASIS:
            params = {"pair": native, "contractType": "PERPETUAL", "period": q.period, "limit": limit, **_ms_range(q)}
            limit_call = _FUTURES_DATA_LIMIT
        elif q.kind in (K.OPEN_INTEREST_HISTORY, K.LONG_SHORT_RATIO, K.TAKER_VOLUME):
            params = {"symbol": native, "period": q.period, "limit": limit, **_ms_range(q)}
            limit_call = _FUTURES_DATA_LIMIT
        elif native is not None:  # ticker, open_interest, insurance_fund (symbol optional)
            params = {"symbol": native}
        query = f"?{urlencode(params)}" if params else ""
        return RestCall("GET", f"{self.base}{path}{query}", weight=weight, endpoint_limit=limit_call)

    def _depth_limit(self, limit: int) -> int:
        return limit

    def _depth_weight(self, limit: int) -> float:
        return self.kinds[K.ORDERBOOK].weight

    def _kline_weight(self, limit: int) -> float:
        return self.kinds[K.CANDLES].weight

    # ---- responses -----------------------------------------------------------------------------
    def classify(self, status: int, headers: dict[str, str], body: bytes) -> tuple[str, str, float | None]:
        """429 / code -1003 and 403 (WAF) are throttling: retry after ``Retry-After``. 418 is an IP
        ban: retried only when it ends within ``_MAX_BAN_WAIT_S`` (requests during a ban extend
        it). Other 4xx (bad symbol, bad parameter) fail at once with Binance's own message."""
        if status < 400:
            return ("ok", "", None)
        err = error_of(body)
        text = f"Binance {err.code}: {err.msg}" if err else f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"
        ra_text = _header(headers, "Retry-After")
        try:
            retry_after = float(ra_text) if ra_text is not None else None
        except ValueError:
            retry_after = None
        used = _header(headers, "X-MBX-USED-WEIGHT-1M")
        if used is not None:
            text += f" (used weight {used}/min)"
        if status == 418:
            if retry_after is not None and retry_after > _MAX_BAN_WAIT_S:
                return ("fail", f"IP banned by Binance for {retry_after:.0f} s: {text}", None)
            return ("retry", text, retry_after)
        if status in (403, 429) or status >= 500 or (err is not None and err.code == -1003):
            return ("retry", text, retry_after)
        return ("fail", text, None)

    def error_message(self, body: bytes) -> str | None:
        err = error_of(body)
        return f"{err.code}: {err.msg}" if err is not None else None

    def parse_body(self, q: DataQuery, body: bytes, ts_recv: int) -> list[Record]:
        v = self.venue_id
        if q.kind is K.INSTRUMENTS:
            return list(self.venue.parse_instruments(f"{self.base}{self.paths[K.INSTRUMENTS]}", body))
        if q.kind is K.INSURANCE_FUND:
            return self._insurance(q, body, ts_recv)
        inst = q.inst
        assert inst is not None  # check() guarantees a symbol for every other kind
        mkt, sym = inst.market, inst.symbol
        if q.kind is K.TICKER:
            t = S.TICKER.decode(body)
            return [
                Ticker24h(
                    v, mkt, sym, ms_to_ns(t.closeTime), ts_recv, t.lastPrice, t.openPrice, t.highPrice, t.lowPrice,
                    t.volume, t.quoteVolume, t.priceChange, t.priceChangePercent,
                )
            ]
        if q.kind is K.ORDERBOOK:
            d = DEPTH_SNAPSHOT.decode(body)
            n = q.limit or len(d.bids)
            bids, asks = d.bids[:n], d.asks[:n]
            ts = ms_to_ns(d.T) if d.T else ts_recv  # spot snapshots carry no time
            return [
                BookSnapshot(
                    v, mkt, sym, ts, ts_recv,
                    [p for p, _ in bids], [inst.to_base(x, p) for p, x in bids],
                    [p for p, _ in asks], [inst.to_base(x, p) for p, x in asks],
                    d.lastUpdateId,
                )
            ]
        if q.kind is K.TRADES:
            rows = sorted(S.TRADES.decode(body), key=lambda r: r.id)
            return [
                Trade(v, mkt, sym, ms_to_ns(r.time), ts_recv, r.price, inst.to_base(r.qty, r.price),
                      "sell" if r.isBuyerMaker else "buy", str(r.id))
                for r in rows
            ]
        if q.kind is K.CANDLES:
            period = q.period or "1m"
            return [
                candle_from_rest(v, inst, period, ms_to_ns(k.t), k.o, k.h, k.l, k.c, inst.to_base(k.v, k.c), ts_recv,
                                 k.q, k.n)
                for k in S.KLINES.decode(body)
            ]
        if q.kind is K.PREMIUM_INDEX:  # value = the period's close; ts = its open time (paging key)
            return [metric(v, mkt, sym, ms_to_ns(k.t), ts_recv, "premium_index", k.c, q.period)
                    for k in S.KLINES.decode(body)]
        if q.kind is K.FUNDING_HISTORY:
            return [Funding(v, mkt, sym, ms_to_ns(f.fundingTime), ts_recv, f.fundingRate)
                    for f in S.FUNDING.decode(body)]
        if q.kind is K.OPEN_INTEREST:
            oi = OI_REST.decode(body)
            return [OpenInterest(v, mkt, sym, ms_to_ns(oi.time), ts_recv, oi.openInterest,
                                 inst.to_base(oi.openInterest, 1.0), None)]
        if q.kind is K.OPEN_INTEREST_HISTORY:
            return [
                OpenInterest(v, mkt, sym, ms_to_ns(r.timestamp), ts_recv, r.sumOpenInterest,
                             inst.to_base(r.sumOpenInterest, 1.0), r.sumOpenInterestValue)
                for r in S.OI_HIST.decode(body)
            ]
        p = q.period
        out: list[Record] = []
        if q.kind is K.LONG_SHORT_RATIO:
            for r in S.LONG_SHORT.decode(body):
                ts = ms_to_ns(r.timestamp)
                out += [metric(v, mkt, sym, ts, ts_recv, "long_short_ratio", r.longShortRatio, p),
                        metric(v, mkt, sym, ts, ts_recv, "long_account", r.longAccount, p),
                        metric(v, mkt, sym, ts, ts_recv, "short_account", r.shortAccount, p)]
            return _by_time(out)
        if q.kind is K.TAKER_VOLUME:
            for r in S.TAKER.decode(body):
                ts = ms_to_ns(r.timestamp)
                out += [metric(v, mkt, sym, ts, ts_recv, "taker_buy_volume", inst.to_base(r.buyVol, 1.0), p),
                        metric(v, mkt, sym, ts, ts_recv, "taker_sell_volume", inst.to_base(r.sellVol, 1.0), p),
                        metric(v, mkt, sym, ts, ts_recv, "taker_buy_sell_ratio", r.buySellRatio, p)]
            return _by_time(out)
        if q.kind is K.BASIS:
            for r in S.BASIS.decode(body):
                ts = ms_to_ns(r.timestamp)
                out += [metric(v, mkt, sym, ts, ts_recv, "basis", r.basis, p),
                        metric(v, mkt, sym, ts, ts_recv, "basis_rate", r.basisRate, p)]
                annual = fnum(r.annualizedBasisRate)  # "" for perpetuals: no value, not 0
                if annual is not None:
                    out.append(metric(v, mkt, sym, ts, ts_recv, "annualized_basis_rate", annual, p))
            return _by_time(out)
        raise RestDataError(v, f"no parser for {q.kind.value}")

    def _insurance(self, q: DataQuery, body: bytes, ts_recv: int) -> list[Record]:
        """One metric per asset of the fund: the symbol's fund, or (no symbol) the sum of every
        fund per asset, stamped with the latest snapshot time."""
        groups = [S.INSURANCE_ONE.decode(body)] if body.lstrip().startswith(b"{") else S.INSURANCE_ALL.decode(body)
        total: dict[str, tuple[float, int]] = {}
        for g in groups:
            for a in g.assets:
                bal, ts = total.get(a.asset, (0.0, 0))
                total[a.asset] = (bal + a.marginBalance, max(ts, a.updateTime))
        return [
            metric(self.venue_id, "perp", asset, ms_to_ns(ts), ts_recv, "insurance_fund_balance", bal)
            for asset, (bal, ts) in total.items()
        ]


_USDM_KINDS = {
    k.kind: k
    for k in (
        KindSpec(K.INSTRUMENTS, weight=1, doc="perpetual USDT/USDC-margined contracts (exchangeInfo)"),
        KindSpec(K.TICKER, weight=1, doc="24 h rolling ticker: last, open, high, low, volumes"),
        KindSpec(K.ORDERBOOK, max_limit=1000, weight=20, doc="order book snapshot, up to 1000 levels"),
        KindSpec(K.TRADES, max_limit=1000, weight=5, doc="most recent trades (up to 1000)"),
        KindSpec(K.CANDLES, history=True, max_limit=1500, periods=_KLINE_PERIODS, weight=10,
                 doc="OHLCV klines, full history, 1500 a request"),
        KindSpec(K.FUNDING_HISTORY, history=True, max_limit=1000, weight=1,
                 doc="settled funding rates (usually every 8 h), full history"),
        KindSpec(K.OPEN_INTEREST, weight=1, doc="current open interest in base units"),
        KindSpec(K.OPEN_INTEREST_HISTORY, history=True, max_limit=500, periods=_STATS_PERIODS,
                 max_history_days=30, weight=0, doc="open interest (base and USDT) per period, last 30 days"),
        KindSpec(K.LONG_SHORT_RATIO, history=True, max_limit=500, periods=_STATS_PERIODS, max_history_days=30,
                 weight=0, doc="share of all accounts net long / short, last 30 days"),
        KindSpec(K.TAKER_VOLUME, history=True, max_limit=500, periods=_STATS_PERIODS, max_history_days=30,
                 weight=0, doc="taker buy / sell volume (base) per period, last 30 days"),
        KindSpec(K.BASIS, history=True, max_limit=500, periods=_STATS_PERIODS, max_history_days=30, weight=0,
                 doc="perpetual minus index price and basis rate, last 30 days"),
        KindSpec(K.PREMIUM_INDEX, history=True, max_limit=1500, periods=_KLINE_PERIODS, weight=10,
                 doc="premium index (funding basis) per period close"),
        KindSpec(K.INSURANCE_FUND, weight=1, doc="insurance fund balance per margin asset"),
    )
}

_SPOT_KINDS = {
    k.kind: k
    for k in (
        KindSpec(K.INSTRUMENTS, weight=20, markets=("spot",), doc="spot pairs (exchangeInfo)"),
        KindSpec(K.TICKER, weight=2, markets=("spot",), doc="24 h rolling ticker: last, open, high, low, volumes"),
        KindSpec(K.ORDERBOOK, max_limit=5000, weight=250, markets=("spot",),
                 doc="order book snapshot, up to 5000 levels"),
        KindSpec(K.TRADES, max_limit=1000, weight=25, markets=("spot",), doc="most recent trades (up to 1000)"),
        KindSpec(K.CANDLES, history=True, max_limit=1000, periods=_KLINE_PERIODS, weight=2, markets=("spot",),
                 doc="OHLCV klines, full history, 1000 a request"),
    )
}


@register
class BinanceUsdmRest(_BinanceRest):
    """Binance USD-M futures: fapi.binance.com ``/fapi/v1`` and ``/futures/data``."""

    venue_id = "binance_usdm"
    kinds = _USDM_KINDS
    # REQUEST_WEIGHT 2400 / min / IP = 40/s (USD-M "General Info", and exchangeInfo rateLimits):
    # kept 20% under; a burst of 20% of the minute's budget.
    rate_limit = (32.0, 480.0)
    paths = {
        K.INSTRUMENTS: "/fapi/v1/exchangeInfo",
        K.TICKER: "/fapi/v1/ticker/24hr",
        K.ORDERBOOK: "/fapi/v1/depth",
        K.TRADES: "/fapi/v1/trades",
        K.CANDLES: "/fapi/v1/klines",
        K.FUNDING_HISTORY: "/fapi/v1/fundingRate",
        K.OPEN_INTEREST: "/fapi/v1/openInterest",
        K.OPEN_INTEREST_HISTORY: "/futures/data/openInterestHist",
        K.LONG_SHORT_RATIO: "/futures/data/globalLongShortAccountRatio",
        K.TAKER_VOLUME: "/futures/data/takerlongshortRatio",
        K.BASIS: "/futures/data/basis",
        K.PREMIUM_INDEX: "/fapi/v1/premiumIndexKlines",
        K.INSURANCE_FUND: "/fapi/v1/insuranceBalance",
    }

    def _depth_limit(self, limit: int) -> int:
        return next((n for n in _FUTURES_DEPTH_LIMITS if n >= limit), _FUTURES_DEPTH_LIMITS[-1])

    def _depth_weight(self, limit: int) -> float:
        return _futures_depth_weight(limit)

    def _kline_weight(self, limit: int) -> float:
        return _futures_kline_weight(limit)


@register
class BinanceSpotRest(_BinanceRest):
    """Binance spot: api.binance.com ``/api/v3``."""

    venue_id = "binance_spot"
    kinds = _SPOT_KINDS
    # REQUEST_WEIGHT 6000 / min / IP = 100/s (spot rest-api.md "LIMITS" since 2023-08): kept 20% under.
    rate_limit = (80.0, 1200.0)
    paths = {
        K.INSTRUMENTS: "/api/v3/exchangeInfo",
        K.TICKER: "/api/v3/ticker/24hr",
        K.ORDERBOOK: "/api/v3/depth",
        K.TRADES: "/api/v3/trades",
        K.CANDLES: "/api/v3/klines",
    }

    def _depth_weight(self, limit: int) -> float:
        return _spot_depth_weight(limit)

    def _kline_weight(self, limit: int) -> float:
        return 2.0
