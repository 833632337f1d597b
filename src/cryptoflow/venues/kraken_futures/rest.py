"""Kraken Futures REST market data: pure request builders and parsers.

Endpoints on https://futures.kraken.com (the venue's ``endpoints.rest`` is the derivatives v3 base;
the host is what precedes ``/derivatives/api/v3``):

- ``/derivatives/api/v3/instruments``, ``/tickers/{symbol}`` (24 h stats, mark/index price, funding,
  open interest), ``/orderbook?symbol=`` (the whole book), ``/history?symbol=`` (the last 100 trades,
  7 days at most), ``/derivatives/api/v4/historicalfundingrates?symbol=`` (every hourly funding since
  listing, in one answer, ascending; the documented v3 path answers 404);
- the charts API ``/api/charts/v1/trade/{symbol}/{resolution}?from=&to=`` (epoch seconds; 2000
  candles a request measured, 5000 documented; ``more_candles``) and
  ``/api/charts/v1/analytics/{symbol}/open-interest?since=&to=&interval=`` (public, "security: []" in
  Kraken's OpenAPI; seconds; OHLC of the open interest per bucket).

Funding: ``relativeFundingRate`` is the rate (fraction per hourly period) and is what we store;
``fundingRate`` is an amount per contract (rate x index on linear contracts, rate / index on inverse
ones), so the tickers' ``fundingRate`` is turned into a rate with the index price, as the websocket
parser does. Quantities are contracts: ``Instrument.to_base`` (1 base unit on PF_/FF_, 1 USD on PI_/FI_).

Requests that need a range the caller did not give (charts ``from``, analytics ``since`` are
required or default to a short window) are anchored on the wall clock: the latest ``limit`` periods.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import quote, urlencode

import msgspec

from cryptoflow.events import BookSnapshot, Funding, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.symbols import Instrument
from cryptoflow.venues.kraken_futures import rest_schemas as S
from cryptoflow.venues.rest_data import (
    DataKind,
    DataQuery,
    KindSpec,
    Record,
    RestCall,
    RestDataError,
    VenueRestData,
    candle_from_rest,
    period_ns,
    register,
)

log = logging.getLogger(__name__)
K = DataKind
_S = 1_000_000_000
_MS = 1_000_000
DERIVATIVES = "/derivatives/api/v3"
FUNDING_PATH = "/derivatives/api/v4/historicalfundingrates"
CHARTS = "/api/charts/v1"
FUNDING_INTERVAL_HOURS = 1.0
_PERIODS = ("1m", "5m", "15m", "30m", "1h", "4h", "12h", "1d")  # charts resolutions we share (+1w)
_ERROR_HEAD = re.compile(rb'"result"\s*:\s*"error"')
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_ns(text: str) -> int:
    """ISO 8601 (``2019-02-14T09:25:33.920Z``) -> int ns UTC, exact to the microsecond."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    d = dt - _EPOCH
    return (d.days * 86_400 + d.seconds) * _S + d.microseconds * 1_000


def error_text(body: bytes, status: int = 200) -> str | None:
    """Kraken's error in ``body`` (v3 ``error``, v4 / analytics ``errors``), or None."""
    head = body[:400]
    if status < 400 and not _ERROR_HEAD.search(head):
        return None
    try:
        env = S.ENVELOPE.decode(body)
    except msgspec.MsgspecError:
        return None if status < 400 else body[:200].decode("utf-8", "replace").strip()
    if env.error:
        return env.error
    if env.errors:
        return "; ".join(_item_text(e) for e in env.errors)
    return "error" if env.result == "error" else None


def _item_text(e: S.ErrorItem) -> str:
    parts = [str(e.code)] if e.code is not None else []
    parts.append(e.message or e.msg or e.type or "error")
    if e.field and e.field not in parts[-1]:
        parts.append(f"[{e.field}]")
    return " ".join(parts)


def _warn_cut(q: DataQuery, n: int) -> None:
    """A ranged page came back flagged "more": Kraken cut it below the page size we assume, so the
    range has a hole (the pager only refetches full pages). Loud, because it would be silent data loss."""
    log.warning("kraken_futures %s %s: answer cut at %d points (more=true) in [%s, %s); lower max_limit",
                q.kind.value, q.inst.native if q.inst else "", n, q.start_ns, q.end_ns)  # fmt: skip


def _rate(amount: float | None, inst: Instrument, index: float | None) -> float | None:
    """A ticker's funding AMOUNT per contract -> the relative rate (needs the index price)."""
    if amount is None or not index:
        return None
    return amount * index if inst.contract_type == "inverse" else amount / index


@register
class KrakenFuturesRestData(VenueRestData):
    """Kraken Futures (futures.kraken.com): derivatives v3/v4 and the charts API."""

    venue_id = "kraken_futures"
    # Kraken's "Derivatives rate limits": public endpoints carry no cost and count against no budget
    # (the /derivatives budget, 500 cost units per 10 s, covers private calls); yet a public call can
    # answer "apiLimitExceeded: the API limit for the calling IP address has been exceeded", with no
    # documented figure. 8 requests/s (a sixth of that budget's 50/s) stays well clear of it.
    rate_limit = (8.0, 16.0)
    kinds: ClassVar[dict[DataKind, KindSpec]] = {
        s.kind: s
        for s in (
            KindSpec(K.INSTRUMENTS, doc="futures contracts (PF_ linear perps, PI_/FI_ inverse, FF_ dated)"),
            KindSpec(K.TICKER, doc="24 h ticker with mark/index price, hourly funding rate and open interest"),
            KindSpec(K.ORDERBOOK, max_limit=1000, doc="order book snapshot (Kraken sends the whole book)"),
            KindSpec(K.TRADES, max_limit=100, doc="the last 100 public trades (up to 7 days back)"),
            # documented 5000 candles a request; 2000 measured (more_candles=true): paged by 2000
            KindSpec(K.CANDLES, history=True, max_limit=2000, periods=_PERIODS,
                     doc="trade OHLCV candles 1m..1d from the charts API, 2000 per request"),
            # the whole history in one answer: one window covers it
            KindSpec(K.FUNDING_HISTORY, history=True, max_limit=100_000,
                     doc="hourly funding rates (relative) since listing, one request"),
            KindSpec(K.OPEN_INTEREST, doc="current open interest (contracts, base units, notional)"),
            # the bucket cap per answer is not documented ("more" flags a cut): pages of 1000
            KindSpec(K.OPEN_INTEREST_HISTORY, history=True, max_limit=1000, periods=_PERIODS,
                     doc="open interest (contracts, base units) per 1m..1d bucket, charts analytics"),
        )
    }  # fmt: skip

    @property
    def host(self) -> str:
        """https://futures.kraken.com (or the simulator's), the root of all three services."""
        return self.base.removesuffix(DERIVATIVES)

    # ---- requests ------------------------------------------------------------------------------
    def request(self, q: DataQuery) -> RestCall:
        kind, h = q.kind, self.host
        native = quote(q.inst.native, safe="") if q.inst is not None else ""
        limit = q.limit or 1
        if kind is K.INSTRUMENTS:
            url = f"{h}{DERIVATIVES}/instruments"
        elif kind in (K.TICKER, K.OPEN_INTEREST):
            url = f"{h}{DERIVATIVES}/tickers/{native}"
        elif kind is K.ORDERBOOK:
            url = f"{h}{DERIVATIVES}/orderbook?symbol={native}"
        elif kind is K.TRADES:
            url = f"{h}{DERIVATIVES}/history?symbol={native}"
        elif kind is K.FUNDING_HISTORY:
            url = f"{h}{FUNDING_PATH}?symbol={native}"
        elif kind is K.CANDLES:
            lo, hi = self._window(q, limit)
            url = f"{h}{CHARTS}/trade/{native}/{q.period}?{urlencode({'from': lo, 'to': hi})}"
        else:  # open interest history
            assert q.period is not None
            lo, hi = self._window(q, limit)
            params = {"since": lo, "to": hi, "interval": period_ns(q.period) // _S}
            url = f"{h}{CHARTS}/analytics/{native}/open-interest?{urlencode(params)}"
        return RestCall("GET", url, weight=self.kinds[kind].weight)

    @staticmethod
    def _window(q: DataQuery, limit: int) -> tuple[int, int]:
        """Inclusive epoch seconds for ``[start_ns, end_ns)``: a lone bound gets one page on its
        other side, none at all the latest ``limit`` periods (from the wall clock)."""
        assert q.period is not None
        step = period_ns(q.period) // _S
        lo = -(-q.start_ns // _S) if q.start_ns is not None else None
        hi = -(-q.end_ns // _S) - 1 if q.end_ns is not None else None
        if lo is None and hi is None:
            hi = time.time_ns() // _S
        if lo is None:
            lo = (hi // step - limit + 1) * step  # type: ignore[operator]
        if hi is None:
            hi = lo + (limit - 1) * step
        return lo, hi

    # ---- responses -----------------------------------------------------------------------------
    def classify(self, status: int, headers: dict[str, str], body: bytes) -> tuple[str, str, float | None]:
        """``apiLimitExceeded`` (in a 200 body or with 429) and 5xx -> retry; any other error body
        (unknown symbol, bad argument) -> fail with Kraken's text; other 4xx fail."""
        err = error_text(body, status)
        if err is None and status < 400:
            return ("ok", "", None)
        text = f"Kraken Futures: {err}" if err else f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"
        if status == 429 or status >= 500 or (err is not None and "apiLimitExceeded" in err):
            ra = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
            try:
                wait = float(ra) if ra is not None else None
            except ValueError:
                wait = None
            return ("retry", text, wait)
        return ("fail", text, None)

    def error_message(self, body: bytes) -> str | None:
        return error_text(body)

    def parse_body(self, q: DataQuery, body: bytes, ts_recv: int) -> list[Record]:
        kind = q.kind
        if kind is K.INSTRUMENTS:
            return list(self.venue.parse_instruments(f"{self.host}{DERIVATIVES}/instruments", body))
        inst = q.inst
        assert inst is not None  # check() guarantees a symbol for every other kind
        if kind in (K.TICKER, K.OPEN_INTEREST):
            doc = S.TICKERS.decode(body)
            ts = iso_ns(doc.serverTime) if doc.serverTime else ts_recv
            rows = [doc.ticker] if doc.ticker is not None else (doc.tickers or [])
            out: list[Record] = []
            for t in rows:
                if t.symbol.upper() == inst.native.upper():
                    out += self._ticker(t, inst, ts, ts_recv)
            return [r for r in out if type(r) is OpenInterest] if kind is K.OPEN_INTEREST else out
        if kind is K.ORDERBOOK:
            return [self._book(q, inst, S.ORDERBOOK.decode(body), ts_recv)]
        if kind is K.TRADES:
            return self._trades(inst, S.HISTORY.decode(body), ts_recv)
        if kind is K.FUNDING_HISTORY:
            rates = [(iso_ns(r.timestamp), r.relativeFundingRate) for r in S.FUNDING.decode(body).rates]
            rates.sort()
            if q.start_ns is None and q.end_ns is None and q.limit:
                rates = rates[-q.limit :]
            return [
                Funding(self.venue_id, inst.market, inst.symbol, ts, ts_recv, rate, None, None, FUNDING_INTERVAL_HOURS)
                for ts, rate in rates
                if q.covers(ts)
            ]
        if kind is K.CANDLES:
            assert q.period is not None
            doc_c = S.CANDLES.decode(body)
            if doc_c.more_candles and q.start_ns is not None:
                _warn_cut(q, len(doc_c.candles))
            out = []
            for c in sorted(doc_c.candles, key=lambda c: c.time):
                t = c.time * _MS
                if q.covers(t):
                    vol = inst.to_base(c.volume, c.close)
                    out.append(candle_from_rest(self.venue_id, inst, q.period, t, c.open, c.high, c.low, c.close,
                                                vol, ts_recv))  # fmt: skip
            return out
        return self._oi_history(q, inst, S.ANALYTICS.decode(body), ts_recv)

    def _ticker(self, t: S.Ticker, inst: Instrument, ts: int, ts_recv: int) -> list[Record]:
        v, mkt, sym = self.venue_id, inst.market, inst.symbol
        out: list[Record] = []
        if t.markPrice is not None:
            out.append(MarkPrice(v, mkt, sym, ts, ts_recv, t.markPrice, t.indexPrice))
        index = t.indexPrice if t.indexPrice is not None else t.markPrice
        rate = _rate(t.fundingRate, inst, index)
        if rate is not None and t.tag in (None, "perpetual"):
            predicted = _rate(t.fundingRatePrediction, inst, index)
            out.append(Funding(v, mkt, sym, ts, ts_recv, rate, predicted, None, FUNDING_INTERVAL_HOURS))
        if t.openInterest is not None:
            out.append(self._oi(inst, ts, ts_recv, t.openInterest, t.markPrice if t.markPrice else t.last))
        if t.last is not None:
            cs = inst.contract_size
            contracts = t.vol24h * cs if t.vol24h is not None else None
            if inst.contract_type == "inverse":  # volume in USD contracts: its base amount is unknown
                volume, quote_volume = None, t.volumeQuote if t.volumeQuote is not None else contracts
            else:
                volume, quote_volume = contracts, t.volumeQuote
            change = t.last - t.open24h if t.open24h is not None else None
            out.append(Ticker24h(v, mkt, sym, ts, ts_recv, t.last, t.open24h, t.high24h, t.low24h, volume,
                                 quote_volume, change, t.change24h))  # fmt: skip
        return out

    def _oi(self, inst: Instrument, ts: int, ts_recv: int, contracts: float, price: float | None) -> OpenInterest:
        cs = inst.contract_size
        if inst.contract_type == "inverse":
            notional: float | None = contracts * cs
            base = notional / price if price else None
        else:
            base = contracts * cs
            notional = base * price if price else None
        return OpenInterest(self.venue_id, inst.market, inst.symbol, ts, ts_recv, contracts, base, notional)

    def _book(self, q: DataQuery, inst: Instrument, doc: S.OrderBookDoc, ts_recv: int) -> BookSnapshot:
        n = q.limit or 1000
        bids = sorted(doc.orderBook.bids, key=lambda lv: -lv[0])[:n]
        asks = sorted(doc.orderBook.asks, key=lambda lv: lv[0])[:n]
        ts = iso_ns(doc.serverTime) if doc.serverTime else ts_recv
        return BookSnapshot(
            self.venue_id, inst.market, inst.symbol, ts, ts_recv,
            [p for p, _ in bids], [inst.to_base(x, p) for p, x in bids],
            [p for p, _ in asks], [inst.to_base(x, p) for p, x in asks],
        )  # fmt: skip

    def _trades(self, inst: Instrument, doc: S.HistoryDoc, ts_recv: int) -> list[Record]:
        rows = sorted(((iso_ns(t.time), t.trade_id or 0, t) for t in doc.history), key=lambda x: x[:2])
        out: list[Record] = []
        for ts, tid, t in rows:
            if t.side not in ("buy", "sell"):
                raise RestDataError(self.venue_id, f"trade {t.uid or tid} has side {t.side!r}")
            qty = inst.to_base(t.size, t.price)
            out.append(Trade(self.venue_id, inst.market, inst.symbol, ts, ts_recv, t.price, qty, t.side,
                             t.uid or str(tid)))  # fmt: skip
        return out

    def _oi_history(self, q: DataQuery, inst: Instrument, doc: S.AnalyticsDoc, ts_recv: int) -> list[Record]:
        """Analytics open interest: the close of each bucket's OHLC, stamped with the bucket start."""
        if doc.result is None:
            raise RestDataError(self.venue_id, "open-interest analytics without a result")
        res = doc.result
        if res.more and q.start_ns is not None:
            _warn_cut(q, len(res.timestamp))
        if len(res.timestamp) != len(res.data):
            raise RestDataError(self.venue_id, "open-interest analytics: timestamps and data differ in length")
        out: list[Record] = []
        for sec, row in sorted(zip(res.timestamp, res.data, strict=True), key=lambda x: x[0]):
            ts = sec * _S
            if not q.covers(ts):
                continue
            value = float(row[-1] if isinstance(row, list) else row)
            out.append(self._oi(inst, ts, ts_recv, value, None))
        return out


__all__ = ["KrakenFuturesRestData", "error_text", "iso_ns"]
