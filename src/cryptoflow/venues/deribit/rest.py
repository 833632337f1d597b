"""Deribit public REST market data (``GET {base}/public/<method>?<params>``): pure requests and parsers.

=================  =====================================  ===============================================
kind               method                                 notes
=================  =====================================  ===============================================
instruments        get_instruments?currency=any           perpetuals (the venue's ``parse_instruments``)
                   &kind=future
ticker             ticker                                 mark/index, funding (8 h basis), OI, 24 h stats
orderbook          get_order_book                         depth one of 1/5/10/20/50/100/1000/10000
trades             get_last_trades_by_instrument          count <= 1000, asked newest first
candles            get_tradingview_chart_data             resolutions 1..720 minutes and 1D; <= 5000 bars
funding_history    get_funding_rate_history               hourly points, <= 720 per answer (newest kept)
open_interest      ticker                                 USD (inverse) or coins (linear) -> base units
options_summary    get_book_summary_by_currency           kind=option: call/put OI, volume, OI-weighted IV
                   &kind=option
volatility_index   get_volatility_index_data              DVOL (BTC, ETH), percent points -> fraction
=================  =====================================  ===============================================

Ranges: Deribit's ``start_timestamp``/``end_timestamp`` are ms and both required on the history
methods; our ``[start_ns, end_ns)`` is sent as ``[ceil(start), end - 1 ms]``; a missing bound is
filled with one full page (``limit`` periods) from the other one, or from now.

Funding: Deribit funds continuously and reports, per hour, ``interest_1h`` (what that hour paid) and
``interest_8h`` (the trailing 8 hours). A history record is the hour's own payment:
``Funding(rate=interest_1h, interval_hours=1)`` stamped at the hour's end, so the rows of a range sum
to what was paid over it (the websocket ticker's ``funding_8h`` is the trailing 8 h figure with
``interval_hours=8``; both normalise to the same per-8 h rate).

Options: ``currency`` is the options' settlement currency (BTC, ETH for the inverse coins; USDC for
the linear SOL/XRP options, filtered by ``base_currency``); open interest and volume are base coins;
metrics are stamped with market ``option``, like the DVOL index they underlie.

Errors: HTTP 400 with ``{"error": {"code", "message", "data": {"reason", "param"}}}`` (unknown
instrument: ``-32602 Invalid params``, reason ``instrument not found``); throttling is ``10028
too_many_requests`` (HTTP 429). Limits (Deribit "Rate Limits" article, support.deribit.com/hc/en-us/
articles/25944617523357): non-matching-engine requests cost 500 of 50,000 credits refilled at
10,000/s, i.e. 20 requests/s with a burst of 100; we keep 16/s with a burst of 80.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlencode

import msgspec

from cryptoflow.events import BookSnapshot, Funding, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import ms_to_ns
from cryptoflow.venues.deribit import rest_schemas as S
from cryptoflow.venues.deribit.instruments import INSTRUMENTS_PATH
from cryptoflow.venues.deribit.schemas import Ticker
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
    metric,
    period_ns,
    register,
)

K = DataKind
_VENUE = "deribit"
# our candle period -> get_tradingview_chart_data resolution (3h and 10m have no name of ours)
_CHART = {"1m": "1", "3m": "3", "5m": "5", "15m": "15", "30m": "30", "1h": "60", "2h": "120", "6h": "360",
          "12h": "720", "1d": "1D"}  # fmt: skip
# our period -> get_volatility_index_data resolution (seconds, or 1D); "1" (1 s) has no name of ours
_DVOL = {"1h": "3600", "1m": "60", "12h": "43200", "1d": "1D"}
_DEPTHS = (1, 5, 10, 20, 50, 100, 1000, 10000)  # the only depths get_order_book accepts
_SIDES = frozenset(("buy", "sell"))
# JSON-RPC error codes worth retrying: 10028 too_many_requests, 10040 "retry" (the request could not
# be processed now), 13028 temporarily_unavailable
_RETRY_CODES = frozenset((10028, 10040, 13028))


@register
class DeribitRestData(VenueRestData):
    """Deribit perpetuals (inverse BTC/ETH, USDC-linear others), options summary and DVOL."""

    venue_id = "deribit"
    # 20 requests/s, burst 100 (non-matching-engine credits, module doc), kept 20% under.
    rate_limit: ClassVar[tuple[float, float]] = (16.0, 80.0)
    kinds: ClassVar[dict[DataKind, KindSpec]] = {
        K.INSTRUMENTS: KindSpec(K.INSTRUMENTS, doc="listed perpetuals (inverse BTC/ETH, USDC-margined others)"),
        K.TICKER: KindSpec(K.TICKER, doc="24h ticker with mark/index price, funding (8h basis) and open interest"),
        K.ORDERBOOK: KindSpec(K.ORDERBOOK, max_limit=10000, doc="order book snapshot, up to 10000 levels"),
        K.TRADES: KindSpec(K.TRADES, max_limit=1000, doc="most recent trades, up to 1000"),
        K.CANDLES: KindSpec(K.CANDLES, history=True, max_limit=5000, periods=tuple(_CHART),
                            doc="OHLCV candles 1m..1d (TradingView chart data), 5000 per request"),
        K.FUNDING_HISTORY: KindSpec(K.FUNDING_HISTORY, history=True, max_limit=720,
                                    doc="hourly funding actually paid (interest_1h), 720 hours per request"),
        K.OPEN_INTEREST: KindSpec(K.OPEN_INTEREST, doc="current open interest (base units) and its USD value"),
        K.OPTIONS_SUMMARY: KindSpec(K.OPTIONS_SUMMARY,
                                    doc="all listed options on the coin: call/put OI, 24h volume, OI-weighted IV"),
        K.VOLATILITY_INDEX: KindSpec(K.VOLATILITY_INDEX, history=True, max_limit=1000, periods=tuple(_DVOL),
                                     doc="DVOL implied-volatility index (BTC, ETH) as a fraction, 1m..1d"),
    }  # fmt: skip

    # ---- requests ----------------------------------------------------------------------------
    def request(self, q: DataQuery) -> RestCall:
        kind, inst = q.kind, q.inst
        limit = q.limit or self.kinds[kind].max_limit
        if kind is K.INSTRUMENTS:
            return self._get(INSTRUMENTS_PATH, {"currency": "any", "kind": "future"})
        assert inst is not None  # check() refuses symbol-less queries for the other kinds
        name = inst.native
        if kind in (K.TICKER, K.OPEN_INTEREST):
            return self._get("/public/ticker", {"instrument_name": name})
        if kind is K.ORDERBOOK:
            depth = next((d for d in _DEPTHS if d >= limit), _DEPTHS[-1])
            return self._get("/public/get_order_book", {"instrument_name": name, "depth": depth})
        if kind is K.TRADES:
            return self._get("/public/get_last_trades_by_instrument",
                             {"instrument_name": name, "count": limit, "sorting": "desc"})  # fmt: skip
        if kind is K.CANDLES:
            assert q.period is not None
            start, end = inclusive_ms_bounds(q, period_ns(q.period), limit)
            return self._get("/public/get_tradingview_chart_data",
                             {"instrument_name": name, "start_timestamp": start, "end_timestamp": end,
                              "resolution": _CHART[q.period]})  # fmt: skip
        if kind is K.FUNDING_HISTORY:
            start, end = inclusive_ms_bounds(q, period_ns("1h"), limit)
            return self._get("/public/get_funding_rate_history",
                             {"instrument_name": name, "start_timestamp": start, "end_timestamp": end})
        if kind is K.OPTIONS_SUMMARY:
            return self._get("/public/get_book_summary_by_currency", {"currency": _settlement(inst), "kind": "option"})
        if kind is K.VOLATILITY_INDEX:
            assert q.period is not None
            start, end = inclusive_ms_bounds(q, period_ns(q.period), limit)
            return self._get("/public/get_volatility_index_data",
                             {"currency": inst.base, "start_timestamp": start, "end_timestamp": end,
                              "resolution": _DVOL[q.period]})  # fmt: skip
        raise AssertionError(f"unhandled kind {kind}")  # kinds and request() are kept in step

    def _get(self, path: str, params: dict[str, object]) -> RestCall:
        return RestCall("GET", f"{self.base}{path}?{urlencode(params)}")

    # ---- responses ---------------------------------------------------------------------------
    def classify(self, status: int, headers: dict[str, str], body: bytes) -> tuple[str, str, float | None]:
        """2xx ok; ``10028 too_many_requests`` (HTTP 429) and the other transient codes retry; any
        other JSON-RPC error fails at once with Deribit's code, message and reason."""
        if status < 400:
            return ("ok", "", None)
        err = _error(body)
        if err is None:
            return super().classify(status, headers, body)
        code, message = err
        if code in _RETRY_CODES or status == 429 or status >= 500:
            return ("retry", message, super().classify(status, headers, body)[2])
        return ("fail", message, None)

    def error_message(self, body: bytes) -> str | None:
        """"code message" and the error's raw ``data`` (if any) of a JSON-RPC error body."""
        try:
            e = S.ERROR.decode(body).error
        except msgspec.MsgspecError:
            return None  # not JSON-RPC: the kind's decoder says what is wrong
        if e is None:
            return None
        raw = bytes(e.data) if e.data else b""
        extra = f" {raw.decode('utf-8', 'replace')[:200]}" if raw and raw != b"null" else ""
        return f"{e.code} {e.message}{extra}"

    def parse_body(self, q: DataQuery, body: bytes, ts_recv: int) -> list[Record]:
        kind, inst = q.kind, q.inst
        if kind is K.INSTRUMENTS:
            return list(self.venue.parse_instruments(self.request(q).url.partition("?")[0], body))
        assert inst is not None
        if kind in (K.TICKER, K.OPEN_INTEREST):
            return _ticker(_result(S.TICKER.decode(body)), inst, ts_recv, oi_only=kind is K.OPEN_INTEREST)
        if kind is K.ORDERBOOK:
            return [_book(_result(S.ORDER_BOOK.decode(body)), inst, q.limit, ts_recv)]
        if kind is K.TRADES:
            return _trades(_result(S.TRADES.decode(body)).trades, inst, q.limit, ts_recv)
        if kind is K.CANDLES:
            assert q.period is not None
            c = _result(S.CHART.decode(body))
            rows = zip(c.ticks, c.open, c.high, c.low, c.close, c.volume, c.cost, strict=True)
            # chart volume is base currency for every instrument (BTC on BTC-PERPETUAL), cost quote
            return latest_only(q, [candle_from_rest(_VENUE, inst, q.period, ms_to_ns(t), o, h, lo, cl, v, ts_recv, cost)
                               for t, o, h, lo, cl, v, cost in rows])  # fmt: skip
        if kind is K.FUNDING_HISTORY:
            points = sorted(_result(S.FUNDING.decode(body)), key=lambda p: p.timestamp)
            return latest_only(q, [Funding(_VENUE, inst.market, inst.symbol, ms_to_ns(p.timestamp), ts_recv,
                                       p.interest_1h, None, None, 1.0) for p in points])  # fmt: skip
        if kind is K.OPTIONS_SUMMARY:
            return _options(_result(S.BOOK_SUMMARY.decode(body)), inst, ts_recv)
        if kind is K.VOLATILITY_INDEX:
            rows_v = sorted(_result(S.VOLATILITY.decode(body)).data)
            return latest_only(q, [metric(_VENUE, "option", inst.symbol, ms_to_ns(t), ts_recv, "volatility_index",
                                      c / 100.0, q.period) for t, _o, _h, _lo, c in rows_v])  # fmt: skip
        raise AssertionError(f"unhandled kind {kind}")


# ---- helpers -------------------------------------------------------------------------------------
def _settlement(inst: Instrument) -> str:
    """The currency Deribit files an instrument's options under: the coin for inverse ones."""
    return inst.base if inst.contract_type == "inverse" else inst.quote


def _error(body: bytes) -> tuple[int, str] | None:
    """(code, "code message (reason param)") of a JSON-RPC error body, None if it is not one."""
    try:
        err = S.ERROR.decode(body).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if err is None:
        return None
    text = f"{err.code} {err.message}"
    raw = bytes(err.data) if err.data else b""
    if raw and raw != b"null":
        try:
            d = S.ERROR_DATA.decode(raw)
            detail = " ".join(x for x in (d.reason, d.param and f"param={d.param}") if x)
        except (msgspec.DecodeError, msgspec.ValidationError):
            detail = raw.decode("utf-8", "replace")[:200]
        if detail:
            text += f" ({detail})"
    return err.code, text


def _result(resp: S.Response):  # type: ignore[type-arg,no-untyped-def]
    """``result`` of a decoded answer (an error body never gets here: ``error_message``)."""
    if resp.result is None:
        raise RestDataError(_VENUE, "response without a result")
    return resp.result


def _qty(inst: Instrument, amount: float, price: float) -> float:
    """Wire amount -> base units: USD / price on inverse contracts, coins otherwise."""
    if inst.contract_type == "inverse":
        return amount / price
    return inst.to_base(amount, price)


def _ticker(t: Ticker, inst: Instrument, ts_recv: int, oi_only: bool) -> list[Record]:
    """public/ticker -> MarkPrice, Funding, OpenInterest, Ticker24h (as the websocket ticker decodes)."""
    vid, mkt, sym, ts, mark = _VENUE, inst.market, inst.symbol, ms_to_ns(t.timestamp), t.mark_price
    out: list[Record] = []
    if not oi_only:
        out.append(MarkPrice(vid, mkt, sym, ts, ts_recv, mark, t.index_price))
        if t.funding_8h is not None:
            out.append(Funding(vid, mkt, sym, ts, ts_recv, t.funding_8h, t.current_funding, None, 8.0))
    if t.open_interest is not None:
        base = _qty(inst, t.open_interest, mark)
        out.append(OpenInterest(vid, mkt, sym, ts, ts_recv, None, base, base * mark))
    if t.last_price is not None and not oi_only:
        s = t.stats
        if s is None:
            out.append(Ticker24h(vid, mkt, sym, ts, ts_recv, t.last_price))
        else:
            qv = s.volume_notional if s.volume_notional is not None else s.volume_usd
            out.append(Ticker24h(vid, mkt, sym, ts, ts_recv, t.last_price, None, s.high, s.low, s.volume, qv,
                                 None, s.price_change))  # fmt: skip
    return out


def _book(b: S.OrderBook, inst: Instrument, limit: int | None, ts_recv: int) -> BookSnapshot:
    n = limit or len(b.bids)
    bids = [(p, _qty(inst, a, p)) for p, a in b.bids[:n]]
    asks = [(p, _qty(inst, a, p)) for p, a in b.asks[:n]]
    return BookSnapshot(_VENUE, inst.market, inst.symbol, ms_to_ns(b.timestamp), ts_recv,
                        [p for p, _ in bids], [q for _, q in bids], [p for p, _ in asks], [q for _, q in asks],
                        b.change_id)  # fmt: skip


def _trades(rows: list[S.RestTrade], inst: Instrument, limit: int | None, ts_recv: int) -> list[Record]:
    """Oldest first; ``limit`` most recent (Deribit sends them newest first when asked ``desc``)."""
    rows = sorted(rows, key=lambda t: (t.timestamp, t.trade_seq or 0))
    if limit is not None:
        rows = rows[-limit:]
    out: list[Record] = []
    for t in rows:
        if t.direction not in _SIDES:
            raise RestDataError(_VENUE, f"unknown trade direction {t.direction!r}")
        out.append(Trade(_VENUE, inst.market, inst.symbol, ms_to_ns(t.timestamp), ts_recv, t.price,
                         _qty(inst, t.amount, t.price), t.direction, str(t.trade_id)))  # fmt: skip
    return out


def _options(rows: list[S.BookSummary], inst: Instrument, ts_recv: int) -> list[Record]:
    """Options of ``inst.base``: call and put OI, their ratio, 24 h volume, OI-weighted mark IV."""
    mine = [r for r in rows if r.base_currency == inst.base]
    if not mine:
        return []
    calls = sum(r.open_interest or 0.0 for r in mine if r.instrument_name.endswith("-C"))
    puts = sum(r.open_interest or 0.0 for r in mine if r.instrument_name.endswith("-P"))
    volume = sum(r.volume or 0.0 for r in mine)
    weighted = [(r.open_interest, r.mark_iv) for r in mine if r.open_interest and r.mark_iv is not None]
    stamps = [r.creation_timestamp for r in mine if r.creation_timestamp]
    ts = ms_to_ns(max(stamps)) if stamps else ts_recv
    vid, sym = _VENUE, inst.symbol
    out: list[Record] = [metric(vid, "option", sym, ts, ts_recv, "options_call_oi", calls),
                         metric(vid, "option", sym, ts, ts_recv, "options_put_oi", puts)]  # fmt: skip
    if calls > 0:
        out.append(metric(vid, "option", sym, ts, ts_recv, "options_put_call_oi_ratio", puts / calls))
    out.append(metric(vid, "option", sym, ts, ts_recv, "options_volume_24h", volume))
    if weighted:
        oi = sum(w for w, _ in weighted)
        iv = sum(w * v for w, v in weighted) / oi / 100.0  # mark_iv is in percent points
        out.append(metric(vid, "option", sym, ts, ts_recv, "options_oi_weighted_iv", iv))
    return out
