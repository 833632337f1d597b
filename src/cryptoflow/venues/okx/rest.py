"""OKX v5 public REST market data: request builders and parsers (pure, no I/O).

Kinds and endpoints (paging / notes):

- instruments: /api/v5/public/instruments?instType=SWAP (perps: USDT linear, USD inverse)
- ticker: /api/v5/market/ticker (24h stats, SWAP and SPOT)
- orderbook: /api/v5/market/books (sz <= 400 levels)
- trades: /api/v5/market/trades (<= 500 most recent, newest first)
- candles: /api/v5/market/history-candles (<= 300, after/before, newest first, years back)
- funding_history: /api/v5/public/funding-rate-history (<= 400, the last 3 months)
- open_interest: /api/v5/public/open-interest?instType=SWAP (oi contracts, oiCcy coin, oiUsd)
- open_interest_history: /api/v5/rubik/stat/contracts/open-interest-history (5m..1d, <= 100)
- long_short_ratio: /api/v5/rubik/stat/contracts/long-short-account-ratio-contract (5m..1d, <= 100)
- taker_volume: /api/v5/rubik/stat/taker-volume-contract (5m..1d, <= 100, ``unit=0``: coin)
- premium_index: /api/v5/public/premium-history (one point a minute, <= 100, the last 6 months)
- insurance_fund: /api/v5/public/insurance-fund?instType=SWAP (the family's fund, latest update)
- options_summary: /api/v5/public/open-interest?instType=OPTION (all calls/puts of BASE-USD)

The three statistics ("rubik") endpoints keep only the latest 1,440 points of each period.

OKX's cursors: ``after`` = records strictly older than a ms time, ``before`` = strictly newer;
pages come newest first. Our ``[start_ns, end_ns)`` becomes ``before = start - 1 ms`` and
``after = end`` (ms). The statistics endpoints take ``begin``/``end`` whose inclusiveness the docs
leave open: ``begin = start - 1 ms``, ``end = end - 1 ms`` is right either way on the period grid.
A lone start gets the end one full page later (a lone ``before`` would return the newest page).
Statistics periods of 6h and longer use OKX's UTC-aligned bars (``6Hutc``, ``1Dutc``); the plain
``6H``/``1D`` bars open at UTC+8 midnight and would not sit on our grid. No ``basis`` endpoint
exists for perps and no public volatility index (``opt-summary`` has per-option vols only).

Units: SWAP sizes are contracts (``Instrument.to_base``: linear ``sz * ctVal``, inverse
``sz * ctVal / px``); candles and tickers carry the base volume directly (``volCcy``);
open interest carries ``oiCcy`` (coin); taker volume is asked in coin (``unit=0``).

Errors: ``code != "0"`` in the body (51001 "Instrument ID ... doesn't exist" comes with HTTP
200, 51000 "Parameter ... error" and 50014 with HTTP 400); throttling is HTTP 429 with code
50011 "Too Many Requests" (no Retry-After header). ``classify`` retries 50011, 50013 (systems
busy), 50001/50004/50026 and 5xx, and fails the rest at once with OKX's message.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlencode

import msgspec

from cryptoflow.events import BookSnapshot, Funding, OpenInterest, Ticker24h, Trade
from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import ms_to_ns
from cryptoflow.venues.okx import rest_schemas as r
from cryptoflow.venues.okx import schemas as s
from cryptoflow.venues.okx.parse import to_base_levels
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
    period_ns,
    register,
)

_MS = 1_000_000
_HOUR_MS = 3_600_000
_CANDLE_BARS = {  # our name -> OKX bar (history-candles)
    "1m": "1m", "3m": "3m", "5m": "5m", "15m": "15m", "30m": "30m", "1h": "1H", "2h": "2H", "4h": "4H",
    "6h": "6Hutc", "12h": "12Hutc", "1d": "1Dutc",
}  # fmt: skip
_STAT_PERIODS = {  # our name -> OKX trading-statistics period
    "5m": "5m", "15m": "15m", "30m": "30m", "1h": "1H", "2h": "2H", "4h": "4H",
    "6h": "6Hutc", "12h": "12Hutc", "1d": "1Dutc",
}  # fmt: skip
_INST_TYPE = {"perp": "SWAP", "spot": "SPOT"}
_RETRY_CODES = {
    "50001": "service temporarily unavailable",
    "50004": "endpoint request timeout",
    "50011": "too many requests",  # HTTP 429: over the endpoint's limit
    "50013": "systems are busy",
    "50026": "system error",
}
# Per-endpoint limits (OKX docs, "Rate Limit: N requests per 2 seconds"), kept 20% under as
# (rate/s, burst) with burst + 2 s x rate <= 0.8 N, so no 2 s window can exceed the limit.
_FUNDING_LIMIT = ("funding-rate-history", 3.0, 2.0)  # 10 / 2 s (IP + instrument)
_OI_HISTORY_LIMIT = ("rubik-open-interest-history", 3.0, 2.0)  # 10 / 2 s (IP + instrument)
_LONG_SHORT_LIMIT = ("rubik-long-short-account-ratio-contract", 1.5, 1.0)  # 5 / 2 s
_TAKER_LIMIT = ("rubik-taker-volume-contract", 1.5, 1.0)  # 5 / 2 s
_INSURANCE_LIMIT = ("insurance-fund", 3.0, 2.0)  # 10 / 2 s


def _ms_ceil(ns: int) -> int:
    return -(-ns // _MS)


@register
class OkxRestData(VenueRestData):
    """OKX v5 public market data (SWAP perps and spot; options as a per-coin summary)."""

    venue_id = "okx"
    # OKX limits each endpoint separately (no IP weight budget): most market/public endpoints
    # allow 20 requests / 2 s per IP (ticker, history-candles, instruments, open-interest,
    # premium-history, opt-summary); books 40, trades 100. Venue bucket: 6/s with a burst of 4,
    # i.e. at most 16 requests in any 2 s (80% of 20). Stricter endpoints add their own bucket.
    rate_limit: ClassVar[tuple[float, float]] = (6.0, 4.0)
    kinds: ClassVar[dict[DataKind, KindSpec]] = {
        DataKind.INSTRUMENTS: KindSpec(
            DataKind.INSTRUMENTS, doc="listed perpetual swaps (USDT linear, USD inverse) with contract values"),
        DataKind.TICKER: KindSpec(
            DataKind.TICKER, markets=("perp", "spot"), doc="24h ticker (last, open, high, low, base volume)"),
        DataKind.ORDERBOOK: KindSpec(
            DataKind.ORDERBOOK, max_limit=400, markets=("perp", "spot"), doc="order book snapshot, up to 400 levels"),
        DataKind.TRADES: KindSpec(
            DataKind.TRADES, max_limit=500, markets=("perp", "spot"), doc="most recent public trades, up to 500"),
        DataKind.CANDLES: KindSpec(
            DataKind.CANDLES, history=True, max_limit=300, periods=tuple(_CANDLE_BARS), markets=("perp", "spot"),
            doc="OHLCV candles 1m..1d (UTC days), 300 per request, years back"),
        DataKind.FUNDING_HISTORY: KindSpec(
            DataKind.FUNDING_HISTORY, history=True, max_limit=400, max_history_days=90,
            doc="settled (realized) funding rates of the last 3 months, 400 per request"),
        DataKind.OPEN_INTEREST: KindSpec(
            DataKind.OPEN_INTEREST, doc="current open interest: contracts, base units and USD"),
        DataKind.OPEN_INTEREST_HISTORY: KindSpec(
            DataKind.OPEN_INTEREST_HISTORY, history=True, max_limit=100, periods=tuple(_STAT_PERIODS),
            doc="open interest every 5m..1d (the latest 1,440 points of each period), 100 per request"),
        DataKind.LONG_SHORT_RATIO: KindSpec(
            DataKind.LONG_SHORT_RATIO, history=True, max_limit=100, periods=tuple(_STAT_PERIODS),
            doc="accounts net long / net short (ratio only), 5m..1d, latest 1,440 points"),
        DataKind.TAKER_VOLUME: KindSpec(
            DataKind.TAKER_VOLUME, history=True, max_limit=100, periods=tuple(_STAT_PERIODS),
            doc="taker buy and sell volume (base units) per 5m..1d, latest 1,440 points"),
        DataKind.PREMIUM_INDEX: KindSpec(
            DataKind.PREMIUM_INDEX, history=True, max_limit=100, periods=("1m",), max_history_days=180,
            doc="premium index (fraction) once a minute, last 6 months"),
        DataKind.INSURANCE_FUND: KindSpec(
            DataKind.INSURANCE_FUND, doc="insurance fund balance of the symbol's family (BTC-USDT without one)"),
        DataKind.OPTIONS_SUMMARY: KindSpec(
            DataKind.OPTIONS_SUMMARY, doc="open interest of all calls and puts on the coin (BASE-USD options)"),
    }

    # ---- requests ----------------------------------------------------------------------------
    def request(self, q: DataQuery) -> RestCall:
        kind, inst = q.kind, q.inst
        limit = q.limit or self.kinds[kind].max_limit
        if kind is DataKind.INSTRUMENTS:
            return self._get("/api/v5/public/instruments", {"instType": "SWAP"})
        if kind is DataKind.INSURANCE_FUND:
            family = f"{inst.base}-{inst.quote}" if inst is not None else "BTC-USDT"
            params = {"instType": "SWAP", "instFamily": family, "type": "regular_update", "limit": 1}
            return self._get("/api/v5/public/insurance-fund", params, _INSURANCE_LIMIT)
        assert inst is not None  # check() refuses symbol-less queries for the other kinds
        native = inst.native
        if kind is DataKind.TICKER:
            return self._get("/api/v5/market/ticker", {"instId": native})
        if kind is DataKind.ORDERBOOK:
            return self._get("/api/v5/market/books", {"instId": native, "sz": limit})
        if kind is DataKind.TRADES:
            return self._get("/api/v5/market/trades", {"instId": native, "limit": limit})
        if kind is DataKind.OPEN_INTEREST:
            return self._get("/api/v5/public/open-interest", {"instType": "SWAP", "instId": native})
        if kind is DataKind.OPTIONS_SUMMARY:
            return self._get("/api/v5/public/open-interest", {"instType": "OPTION", "instFamily": f"{inst.base}-USD"})
        if kind is DataKind.CANDLES:
            assert q.period is not None
            rng = self._cursor(q, period_ns(q.period) // _MS, limit)
            params = {"instId": native, "bar": _CANDLE_BARS[q.period], **rng, "limit": limit}
            return self._get("/api/v5/market/history-candles", params)
        if kind is DataKind.FUNDING_HISTORY:  # OKX funding intervals are 1 h at the shortest
            rng = self._cursor(q, _HOUR_MS, limit)
            return self._get("/api/v5/public/funding-rate-history", {"instId": native, **rng, "limit": limit},
                             _FUNDING_LIMIT)  # fmt: skip
        if kind is DataKind.PREMIUM_INDEX:
            rng = self._cursor(q, 60_000, limit)
            return self._get("/api/v5/public/premium-history", {"instId": native, **rng, "limit": limit})
        assert q.period is not None  # the three statistics kinds
        params = {"instId": native, "period": _STAT_PERIODS[q.period], **self._begin_end(q, limit), "limit": limit}
        if kind is DataKind.OPEN_INTEREST_HISTORY:
            return self._get("/api/v5/rubik/stat/contracts/open-interest-history", params, _OI_HISTORY_LIMIT)
        if kind is DataKind.LONG_SHORT_RATIO:
            path = "/api/v5/rubik/stat/contracts/long-short-account-ratio-contract"
            return self._get(path, params, _LONG_SHORT_LIMIT)
        if kind is DataKind.TAKER_VOLUME:
            return self._get("/api/v5/rubik/stat/taker-volume-contract", {**params, "unit": 0}, _TAKER_LIMIT)
        raise AssertionError(f"unhandled kind {kind}")  # kinds and request() are kept in step

    def _get(self, path: str, params: dict[str, object], limit: tuple[str, float, float] | None = None) -> RestCall:
        return RestCall("GET", f"{self.base}{path}?{urlencode(params)}", endpoint_limit=limit)

    @staticmethod
    def _cursor(q: DataQuery, step_ms: int, limit: int) -> dict[str, int]:
        """``before``/``after`` (both exclusive, ms) for ``[q.start_ns, q.end_ns)``."""
        out: dict[str, int] = {}
        if q.start_ns is not None:
            out["before"] = _ms_ceil(q.start_ns) - 1
        if q.end_ns is not None:
            out["after"] = _ms_ceil(q.end_ns)
        elif q.start_ns is not None:
            out["after"] = _ms_ceil(q.start_ns) + limit * step_ms
        return out

    @staticmethod
    def _begin_end(q: DataQuery, limit: int) -> dict[str, int]:
        """Statistics ``begin``/``end`` (ms), right whether OKX treats them as inclusive or not."""
        out: dict[str, int] = {}
        if q.start_ns is not None:
            out["begin"] = _ms_ceil(q.start_ns) - 1
        if q.end_ns is not None:
            out["end"] = _ms_ceil(q.end_ns) - 1
        elif q.start_ns is not None and q.period is not None:
            out["end"] = _ms_ceil(q.start_ns) + limit * (period_ns(q.period) // _MS) - 1
        return out

    # ---- responses ---------------------------------------------------------------------------
    def classify(self, status: int, headers: dict[str, str], body: bytes) -> tuple[str, str, float | None]:
        """Throttling (HTTP 429 / code 50011) and busy codes -> retry; any other ``code != "0"``
        or 4xx -> fail with OKX's code and message; 5xx -> retry."""
        code, msg = _error_of(body)
        text = f"HTTP {status}: {code}: {msg}" if code is not None else f"HTTP {status}"
        if status == 429 or (code is not None and code in _RETRY_CODES) or status >= 500:
            return ("retry", text, None)
        if code is not None and code != "0":
            return ("fail", f"{code}: {msg}", None)
        if status >= 400:
            return ("fail", f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}", None)
        return ("ok", "", None)

    def error_message(self, body: bytes) -> str | None:
        if body.startswith(b'{"code":"0",'):  # a compact success body: no second envelope decode
            return None
        code, msg = _error_of(body)
        return f"{code}: {msg}" if code is not None and code != "0" else None

    def parse_body(self, q: DataQuery, body: bytes, ts_recv: int) -> list[Record]:
        kind, inst, data = q.kind, q.inst, _envelope(body).data
        if kind is DataKind.INSTRUMENTS:
            return list(self.venue.parse_instruments(f"{self.base}/api/v5/public/instruments?instType=SWAP", body))
        if kind is DataKind.INSURANCE_FUND:
            return self._insurance(r.INSURANCE.decode(data), inst, ts_recv)
        assert inst is not None
        if kind is DataKind.OPTIONS_SUMMARY:
            return self._options(r.OPEN_INTEREST.decode(data), inst, ts_recv)
        if kind is DataKind.TICKER:
            return [self._ticker(t, inst, ts_recv) for t in s.TICKERS.decode(data)]
        if kind is DataKind.ORDERBOOK:
            return [self._book(b, inst, q.limit, ts_recv) for b in s.BOOKS.decode(data)]
        if kind is DataKind.TRADES:
            return [self._trade(t, inst, ts_recv) for t in reversed(s.TRADES.decode(data))]
        if kind is DataKind.CANDLES:
            return [self._candle(c, inst, q.period or "1m", ts_recv) for c in reversed(s.CANDLES.decode(data))]
        if kind is DataKind.FUNDING_HISTORY:
            return self._funding(r.FUNDING_HISTORY.decode(data), inst, ts_recv)
        if kind is DataKind.OPEN_INTEREST:
            return [_oi(inst, o.ts, ts_recv, fnum(o.oi), fnum(o.oiCcy), fnum(o.oiUsd))
                    for o in r.OPEN_INTEREST.decode(data)]  # fmt: skip
        if kind is DataKind.OPEN_INTEREST_HISTORY:
            return [_oi(inst, o.ts, ts_recv, o.oi, o.oiCcy, fnum(o.oiUsd)) for o in reversed(r.OI_HISTORY.decode(data))]
        m = self._metric
        if kind is DataKind.LONG_SHORT_RATIO:
            rows_r = reversed(r.RATIOS.decode(data))
            return [m(inst, x.ts, ts_recv, "long_short_ratio", x.ratio, q.period) for x in rows_r]
        if kind is DataKind.TAKER_VOLUME:  # asked with unit=0: coin (base) units
            return [m(inst, x.ts, ts_recv, name, v, q.period)
                    for x in reversed(r.TAKER.decode(data))
                    for name, v in (("taker_buy_volume", x.buyVol), ("taker_sell_volume", x.sellVol))]  # fmt: skip
        if kind is DataKind.PREMIUM_INDEX:
            rows_p = reversed(r.PREMIUM.decode(data))
            return [m(inst, x.ts, ts_recv, "premium_index", x.premium, q.period) for x in rows_p]
        raise AssertionError(f"unhandled kind {kind}")

    # ---- row -> record -------------------------------------------------------------------------
    def _metric(self, inst: Instrument, ts_ms: int, ts_recv: int, name: str, value: float, period: str | None
                ) -> Record:  # fmt: skip
        return metric(self.venue_id, inst.market, inst.symbol, ms_to_ns(ts_ms), ts_recv, name, value, period)

    def _ticker(self, t: s.TickerRow, inst: Instrument, ts_recv: int) -> Ticker24h:
        open_ = fnum(t.open24h)
        if inst.contract_type == "spot":  # vol24h base, volCcy24h quote
            volume, quote = fnum(t.vol24h), fnum(t.volCcy24h)
        else:  # vol24h contracts, volCcy24h base; an inverse contract is worth ctVal USD
            volume, contracts = fnum(t.volCcy24h), fnum(t.vol24h)
            inverse = inst.contract_type == "inverse" and contracts is not None
            quote = contracts * inst.contract_size if inverse and contracts is not None else None
        change = t.last - open_ if open_ is not None else None
        pct = change / open_ * 100.0 if change is not None and open_ else None
        return Ticker24h(self.venue_id, inst.market, inst.symbol, ms_to_ns(t.ts), ts_recv, t.last, open_,
                         fnum(t.high24h), fnum(t.low24h), volume, quote, change, pct)  # fmt: skip

    def _book(self, b: s.Book, inst: Instrument, depth: int | None, ts_recv: int) -> BookSnapshot:
        bids, asks = to_base_levels(inst, b.bids[:depth]), to_base_levels(inst, b.asks[:depth])
        return BookSnapshot(self.venue_id, inst.market, inst.symbol, ms_to_ns(b.ts), ts_recv,
                            [p for p, _ in bids], [q for _, q in bids], [p for p, _ in asks], [q for _, q in asks],
                            b.seqId)  # fmt: skip

    def _trade(self, t: s.TradeRow, inst: Instrument, ts_recv: int) -> Trade:
        if t.side not in ("buy", "sell"):
            raise RestDataError(self.venue_id, f"trade {t.tradeId}: unknown side {t.side!r}")
        return Trade(self.venue_id, inst.market, inst.symbol, ms_to_ns(t.ts), ts_recv, t.px,
                     inst.to_base(t.sz, t.px), t.side, t.tradeId)  # fmt: skip

    def _candle(self, c: s.CandleRow, inst: Instrument, period: str, ts_recv: int) -> Record:
        if inst.contract_type == "spot":  # vol base, volCcy quote
            volume, quote = c.vol, c.volCcyQuote if c.volCcyQuote is not None else c.volCcy
        else:  # vol contracts, volCcy base, volCcyQuote quote
            volume, quote = c.volCcy, c.volCcyQuote
        return candle_from_rest(self.venue_id, inst, period, ms_to_ns(c.ts), c.o, c.h, c.l, c.c, volume, ts_recv, quote)

    def _funding(self, rows: list[r.FundingHistoryRow], inst: Instrument, ts_recv: int) -> list[Record]:
        """Settled rates, oldest first. ``interval_hours`` from the spacing to the neighbouring
        settlement in the same page (OKX moves some coins to 4 h/2 h/1 h intervals)."""
        rows = sorted(rows, key=lambda x: x.fundingTime)
        out: list[Record] = []
        for i, f in enumerate(rows):
            rate = fnum(f.realizedRate)
            if rate is None:
                rate = fnum(f.fundingRate)
            if rate is None:
                raise RestDataError(self.venue_id, f"funding at {f.fundingTime}: neither realizedRate nor fundingRate")
            j = i - 1 if i > 0 else i + 1
            gap = abs(f.fundingTime - rows[j].fundingTime) if 0 <= j < len(rows) and j != i else 0
            hours = gap / _HOUR_MS if gap else None
            out.append(Funding(self.venue_id, inst.market, inst.symbol, ms_to_ns(f.fundingTime), ts_recv, rate,
                               None, None, hours))  # fmt: skip
        return out

    def _insurance(self, funds: list[r.InsuranceFund], inst: Instrument | None, ts_recv: int) -> list[Record]:
        market = inst.market if inst is not None else "perp"
        return [metric(self.venue_id, market, d.ccy, ms_to_ns(d.ts), ts_recv, "insurance_fund_balance", d.balance)
                for f in funds for d in f.details]  # fmt: skip

    def _options(self, rows: list[r.OpenInterestRow], inst: Instrument, ts_recv: int) -> list[Record]:
        """Sum the coin OI of every listed option (``BTC-USD-250328-60000-C``) by call/put."""
        calls = puts = 0.0
        ts = 0
        for o in rows:
            oi = fnum(o.oiCcy)
            if oi is None:
                continue
            if o.instId.endswith("-C"):
                calls += oi
            elif o.instId.endswith("-P"):
                puts += oi
            else:
                raise RestDataError(self.venue_id, f"not an option id: {o.instId!r}")
            ts = max(ts, o.ts)
        if not ts:
            return []
        t, vid, sym = ms_to_ns(ts), self.venue_id, inst.symbol
        out = [
            metric(vid, "option", sym, t, ts_recv, "options_call_oi", calls),
            metric(vid, "option", sym, t, ts_recv, "options_put_oi", puts),
        ]
        if calls > 0:
            out.append(metric(vid, "option", sym, t, ts_recv, "options_put_call_oi_ratio", puts / calls))
        return out


def _oi(inst: Instrument, ts_ms: int, ts_recv: int, contracts: float | None, base: float | None,
        usd: float | None) -> OpenInterest:  # fmt: skip
    return OpenInterest("okx", inst.market, inst.symbol, ms_to_ns(ts_ms), ts_recv, contracts, base, usd)


def _envelope(body: bytes) -> r.Envelope:
    try:
        return r.ENVELOPE.decode(body)
    except msgspec.DecodeError as e:
        raise RestDataError("okx", f"unreadable response: {e}: {body[:120]!r}") from None


def _error_of(body: bytes) -> tuple[str | None, str]:
    """(code, msg) of an OKX envelope, or (None, "") if the body is not one."""
    try:
        env = r.ENVELOPE.decode(body)
    except msgspec.DecodeError:
        return None, ""
    return str(env.code), env.msg
