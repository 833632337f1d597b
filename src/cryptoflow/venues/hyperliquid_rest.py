"""Hyperliquid public REST market data (``POST {base}/info`` with a JSON body): pure requests and parsers.

=================  ======================================  ============================================
kind               body ``type``                           notes
=================  ======================================  ============================================
instruments        meta                                    main-dex perps (the venue's parser)
ticker             metaAndAssetCtxs                        mark/oracle, hourly funding, OI, 24 h volume
orderbook          l2Book                                  20 levels a side at full precision
trades             recentTrades                            latest trades, newest first (count undocumented)
candles            candleSnapshot (``req`` object)         <= 5000 candles, 1m..1d
funding_history    fundingHistory                          settlements (hourly; 8-hourly in 2023), <= 500
open_interest      metaAndAssetCtxs                        base units (x mark = notional)
=================  ======================================  ============================================

The URL carries the request type as a fragment (``/info#candleSnapshot``), as the websocket module's
``rest_request`` convention does: HTTP never sends the fragment, but logs and errors say what the
request was. Numbers arrive quoted (``"64097.0"``); the ``strict=False`` decoders make them floats.
Times are ms; ``startTime``/``endTime`` are sent as ``[ceil(start), end - 1 ms]`` for our
``[start_ns, end_ns)``. ``metaAndAssetCtxs`` has no exchange time, so its records carry the
receive time, as the websocket ``activeAssetCtx`` does.

History depth: the docs say only the most recent 5000 candles of an interval are available (about
3.5 days of 1m candles); ``KindSpec`` has one ``max_history_days`` for all periods, so it is left
unset and older windows simply come back empty.

Errors: a coin the venue does not list is answered with HTTP 200 and the body ``null``; a body that
does not parse as a request with HTTP 422 (``Failed to deserialize the JSON body into the target
type``); both fail at once. Throttling is HTTP 429. Limits (docs, "Rate limits"): per IP, REST
requests share 1200 weight / minute; ``l2Book`` weighs 2, other info requests 20, plus 1 per 20
items returned (``recentTrades``, ``fundingHistory``) or per 60 (``candleSnapshot``). We keep
16 weight/s (960 / minute) with a burst of 120 (>= the heaviest single request, a full candle page
at ~104), at most 1080 in any minute.
"""

from __future__ import annotations

import math
from typing import ClassVar

import msgspec

from cryptoflow.events import BookSnapshot, Funding, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import ms_to_ns
from cryptoflow.venues.hyperliquid import AssetCtx, Meta, WsBook, WsCandle, next_funding_ns
from cryptoflow.venues.rest_data import (
    DataKind,
    DataQuery,
    KindSpec,
    Record,
    RestCall,
    RestDataError,
    VenueRestData,
    candle_from_rest,
    inclusive_ms_bounds,
    latest_only,
    period_ns,
    register,
)

K = DataKind
_MS = 1_000_000
_HOUR_NS = 3_600_000_000_000
_VENUE = "hyperliquid"
_PERIODS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d")  # candleSnapshot intervals
_SIDES = {"B": "buy", "A": "sell"}  # aggressor side


# ---- wire schemas (field names exactly as on the wire) --------------------------------------
class RestTrade(msgspec.Struct):
    """recentTrades row (the websocket trade's shape: hash and users are not used)."""

    side: str  # aggressor: "B" buy, "A" sell
    px: float
    sz: float  # base units
    time: int  # ms
    tid: int | str
    coin: str | None = None


class FundingRow(msgspec.Struct):
    coin: str
    fundingRate: float  # the rate settled at ``time`` for the past hour
    time: int  # ms, a few ms after the full hour
    premium: float | None = None


_CTXS = msgspec.json.Decoder(tuple[Meta, list[AssetCtx]] | None, strict=False)
_BOOK = msgspec.json.Decoder(WsBook | None, strict=False)
_TRADES = msgspec.json.Decoder(list[RestTrade] | None, strict=False)
_CANDLES = msgspec.json.Decoder(list[WsCandle] | None, strict=False)
_FUNDING = msgspec.json.Decoder(list[FundingRow] | None, strict=False)


@register
class HyperliquidRestData(VenueRestData):
    """Hyperliquid main-dex perpetuals over ``POST /info``."""

    venue_id = "hyperliquid"
    # 1200 weight / minute / IP (docs "Rate limits") = 20/s; 16/s kept, burst 120 (module doc).
    rate_limit: ClassVar[tuple[float, float]] = (16.0, 120.0)
    kinds: ClassVar[dict[DataKind, KindSpec]] = {
        K.INSTRUMENTS: KindSpec(K.INSTRUMENTS, weight=20, doc="listed perpetuals (main dex)"),
        K.TICKER: KindSpec(K.TICKER, weight=20,
                           doc="mark/oracle price, hourly funding, open interest and 24h volume"),
        K.ORDERBOOK: KindSpec(K.ORDERBOOK, max_limit=20, weight=2, doc="order book snapshot, 20 levels"),
        K.TRADES: KindSpec(K.TRADES, max_limit=10, weight=21, doc="the most recent trades"),
        K.CANDLES: KindSpec(K.CANDLES, history=True, max_limit=5000, max_history_points=5000, periods=_PERIODS,
                            weight=104,
                            doc="OHLCV candles 1m..1d, 5000 per request (the venue keeps the last 5000)"),
        K.FUNDING_HISTORY: KindSpec(K.FUNDING_HISTORY, history=True, max_limit=500, weight=45,
                                    doc="hourly funding rates, 500 per request"),
        K.OPEN_INTEREST: KindSpec(K.OPEN_INTEREST, weight=20, doc="current open interest (base units)"),
    }  # fmt: skip

    # ---- requests ----------------------------------------------------------------------------
    def request(self, q: DataQuery) -> RestCall:
        kind, inst = q.kind, q.inst
        limit = q.limit or self.kinds[kind].max_limit
        if kind is K.INSTRUMENTS:
            return self._post({"type": "meta"}, 20)
        assert inst is not None  # check() refuses symbol-less queries for the other kinds
        coin = inst.native
        if kind in (K.TICKER, K.OPEN_INTEREST):
            return self._post({"type": "metaAndAssetCtxs"}, 20)
        if kind is K.ORDERBOOK:
            return self._post({"type": "l2Book", "coin": coin}, 2)
        if kind is K.TRADES:
            return self._post({"type": "recentTrades", "coin": coin}, 20 + 1)
        if kind is K.CANDLES:
            assert q.period is not None
            step = period_ns(q.period)
            start, end = inclusive_ms_bounds(q, step, limit)
            n = min(limit, math.ceil((end + 1 - start) * _MS / step))
            body = {"type": "candleSnapshot",
                    "req": {"coin": coin, "interval": q.period, "startTime": start, "endTime": end}}  # fmt: skip
            return self._post(body, 20 + math.ceil(n / 60))
        if kind is K.FUNDING_HISTORY:
            start, end = inclusive_ms_bounds(q, _HOUR_NS, limit)
            n = min(limit, math.ceil((end + 1 - start) * _MS / _HOUR_NS))
            return self._post({"type": "fundingHistory", "coin": coin, "startTime": start, "endTime": end},
                              20 + math.ceil(n / 20))  # fmt: skip
        raise AssertionError(f"unhandled kind {kind}")  # kinds and request() are kept in step

    def _post(self, body: dict[str, object], weight: float) -> RestCall:
        return RestCall("POST", f"{self.base}/info#{body['type']}", json_body=body, weight=weight)

    # ---- responses ---------------------------------------------------------------------------
    def classify(self, status: int, headers: dict[str, str], body: bytes) -> tuple[str, str, float | None]:
        """``null`` (unknown coin) and 422 (malformed request) fail; 429 and 5xx retry."""
        if status == 200 and body.strip() == b"null":
            return ("fail", "hyperliquid answered null (a coin it does not list?)", None)
        if status == 422:
            return ("fail", f"HTTP 422: {body[:300].decode('utf-8', 'replace').strip()}", None)
        return super().classify(status, headers, body)

    def parse_body(self, q: DataQuery, body: bytes, ts_recv: int) -> list[Record]:
        kind, inst = q.kind, q.inst
        if kind is K.INSTRUMENTS:
            return list(self.venue.parse_instruments(self.request(q).url, body))
        assert inst is not None
        if kind in (K.TICKER, K.OPEN_INTEREST):
            meta, ctxs = _need(_CTXS.decode(body), "metaAndAssetCtxs")
            for asset, ctx in zip(meta.universe, ctxs, strict=False):
                if asset.name == inst.native:
                    return _ctx(inst, ctx, ts_recv, oi_only=kind is K.OPEN_INTEREST)
            raise RestDataError(_VENUE, f"{inst.native} is not in the main dex universe")
        if kind is K.ORDERBOOK:
            b = _need(_BOOK.decode(body), f"l2Book {inst.native}")
            n = q.limit or len(b.levels[0])
            bids, asks = b.levels[0][:n], b.levels[1][:n]
            return [BookSnapshot(_VENUE, inst.market, inst.symbol, ms_to_ns(b.time), ts_recv,
                                 [lv.px for lv in bids], [inst.to_base(lv.sz, lv.px) for lv in bids],
                                 [lv.px for lv in asks], [inst.to_base(lv.sz, lv.px) for lv in asks])]  # fmt: skip
        if kind is K.TRADES:
            rows = sorted(_need(_TRADES.decode(body), f"recentTrades {inst.native}"), key=lambda t: t.time)
            if q.limit is not None:
                rows = rows[-q.limit :]
            return [_trade(inst, t, ts_recv) for t in rows]
        if kind is K.CANDLES:
            assert q.period is not None
            rows_c = sorted(_need(_CANDLES.decode(body), f"candleSnapshot {inst.native}"), key=lambda c: c.t)
            candles: list[Record] = [
                candle_from_rest(_VENUE, inst, q.period, ms_to_ns(c.t), c.o, c.h, c.l, c.c, inst.to_base(c.v, c.c),
                                 ts_recv, None, c.n) for c in rows_c]  # fmt: skip
            return latest_only(q, candles)
        if kind is K.FUNDING_HISTORY:
            rows_f = sorted(_need(_FUNDING.decode(body), f"fundingHistory {inst.native}"), key=lambda f: f.time)
            hours = _intervals([f.time for f in rows_f])
            return latest_only(q, [Funding(_VENUE, inst.market, inst.symbol, ms_to_ns(f.time), ts_recv, f.fundingRate,
                                       None, None, h) for f, h in zip(rows_f, hours, strict=True)])  # fmt: skip
        raise AssertionError(f"unhandled kind {kind}")


# ---- helpers -------------------------------------------------------------------------------------
def _intervals(times_ms: list[int]) -> list[float]:
    """Funding interval of each settlement: hourly today, 8-hourly in Hyperliquid's early history
    (mid-2023 recordings settle every 8 h); told apart by the spacing to the nearest neighbour."""
    out = []
    for i, t in enumerate(times_ms):
        gaps = [abs(t - times_ms[j]) for j in (i - 1, i + 1) if 0 <= j < len(times_ms)]
        out.append(8.0 if gaps and min(gaps) >= 7.5 * _HOUR_NS // _MS else 1.0)
    return out


def _need(value, what: str):  # type: ignore[no-untyped-def]
    if value is None:
        raise RestDataError(_VENUE, f"{what}: the venue answered null (a coin it does not list?)")
    return value


def _trade(inst: Instrument, t: RestTrade, ts_recv: int) -> Trade:
    side = _SIDES.get(t.side)
    if side is None:
        raise RestDataError(_VENUE, f"unknown trade side {t.side!r}")
    return Trade(_VENUE, inst.market, inst.symbol, ms_to_ns(t.time), ts_recv, t.px, inst.to_base(t.sz, t.px),
                 side, str(t.tid))  # fmt: skip


def _ctx(inst: Instrument, c: AssetCtx, ts: int, oi_only: bool) -> list[Record]:
    """One asset context -> mark (index = oracle), hourly funding, open interest, 24 h ticker
    (the same values as the websocket decoder's ``activeAssetCtx``)."""
    vid, mkt, sym = _VENUE, inst.market, inst.symbol
    oi_base = inst.to_base(c.openInterest, c.markPx)
    oi = OpenInterest(vid, mkt, sym, ts, ts, c.openInterest, oi_base, oi_base * c.markPx)
    if oi_only:
        return [oi]
    last = c.midPx if c.midPx is not None else c.markPx  # no last-trade price in the context
    change = last - c.prevDayPx
    return [
        MarkPrice(vid, mkt, sym, ts, ts, c.markPx, c.oraclePx),
        Funding(vid, mkt, sym, ts, ts, c.funding, None, next_funding_ns(ts), 1.0),
        oi,
        Ticker24h(vid, mkt, sym, ts, ts, last, c.prevDayPx, None, None, c.dayBaseVlm, c.dayNtlVlm, change,
                  change / c.prevDayPx * 100.0 if c.prevDayPx else None),
    ]
