"""Kraken Futures server side: ws v1 feeds (book, trade, ticker, ticker_lite, heartbeat), REST v3 instruments
(market data REST in ``kraken_futures_rest.py``).

Frames mirror the 2021 capture and Kraken's documentation (see ``cryptoflow.venues.kraken_futures``):

- on connect ``{"event":"info","version":1}``; a subscribe names one feed and lower-case product ids
  and is acked once per product, upper case (``{"event":"subscribed","feed":"book","product_ids":
  ["PF_XBTUSD"]}``); errors are ``{"event":"error","message":...}`` with Kraken's three messages
  (``Invalid product id``, ``Invalid feed``, ``Json Error``).
- ``book``: a ``book_snapshot`` (the whole book) on subscribe, then one message per changed price
  level, ``seq`` +1 per message and per product: one market diff becomes several level messages.
  Deletions go out before insertions, so no intermediate message leaves the book crossed.
- ``trade``: a ``trade_snapshot`` of the last 100 trades (newest first) on subscribe, then trades.
  The market reports a liquidation as a ``Liquidation`` followed by the fills it caused; on
  Kraken those fills *are* the liquidation, so they go out as trades of type ``liquidation``
  (the ``Liquidation`` item itself sends nothing).
- ``ticker``: one full ticker per product and stats tick, merging the latest MarkPrice, Funding,
  OpenInterest, Ticker24h and BBO; it goes out with the tick's OpenInterest, the last of the
  market's per-product stats items. ``relative_funding_rate`` is the rate per (hourly) period,
  ``funding_rate`` the amount (rate * index on linear products, rate / index on inverse ones); a
  funding field that is zero is left out, as Kraken documents.
- ``heartbeat``: ``{"feed":"heartbeat","time":...}`` every ``HEARTBEAT_INTERVAL_NS`` of market time.

Keep-alive: Kraken documents no application-level ping; clients send websocket pings (answered by
the server's transport) and a connection with no client message or ping for 60 s is closed.

Quantities are contracts: PF_/FF_ contracts are one base unit (base quantities go out as they
are); PI_/FI_ contracts are one USD (base * price, rounded, at least one contract when non-zero).
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import Any

import msgspec

from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.sim.model_specs import DEFAULT_SYMBOL_SPECS
from cryptoflow.sim.protocol import FLOAT_TEXT, ClientReply, ConnState, FloatText, MarketView, RestResponse, SimVenue
from cryptoflow.sim.venues.kraken_futures_rest import KrakenFuturesRestSim, throttled
from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import BookUpdate

_enc = msgspec.json.encode
_MS = 1_000_000
_R = FLOAT_TEXT  # repr of a float, memoised (the encoders' main cost)

HEARTBEAT_INTERVAL_NS = 5_000_000_000  # "at timed intervals": the period is not documented
SNAPSHOT_DEPTH = 10_000  # book_snapshot carries the whole book
RECENT_TRADES = 100  # trades in a trade_snapshot (as in the capture)
BOOK_SEQ_START = 1_000  # first book seq of a product (its snapshot before any delta)
PRODUCT_FEEDS = frozenset(("book", "trade", "ticker", "ticker_lite"))
INSTRUMENTS_PATHS = ("/derivatives/api/v3/instruments", "/instruments")  # real path; path under a bare base

ERR_JSON = '{"event":"error","message":"Json Error"}'
ERR_FEED = '{"event":"error","message":"Invalid feed"}'
ERR_PRODUCT = '{"event":"error","message":"Invalid product id"}'
INFO = '{"event":"info","version":1}'

_LINEAR_1, _LINEAR, _INVERSE = 0, 1, 2  # contract conversion of a product


class _Request(msgspec.Struct):
    event: str
    feed: str | None = None
    product_ids: list[str] | None = None


_request = msgspec.json.Decoder(_Request)


class _Product:
    """Wire state of one product: sequence numbers, recent trades, merged ticker."""

    __slots__ = (
        "bbo",
        "book_buy",
        "book_sell",
        "book_seq",
        "book_topic",
        "conv",
        "cs",
        "funding",
        "inst",
        "liq_eps",
        "liq_left",
        "liq_side",
        "liq_ts",
        "lite_topic",
        "mark",
        "native",
        "oi",
        "pair",
        "perpetual",
        "qty_text",
        "recent",
        "stats",
        "ticker_topic",
        "ticker_ts",
        "trade_pre",
        "trade_seq",
        "trade_topic",
    )

    def __init__(self, inst: Instrument) -> None:
        p = inst.native.upper()
        self.inst = inst
        self.native = p
        self.cs = inst.contract_size or 1.0
        if inst.contract_type == "inverse":
            self.conv = _INVERSE
        else:
            self.conv = _LINEAR_1 if self.cs == 1.0 else _LINEAR
        # a book quantity (base units) -> its contracts text, memoised (None: inverse, it needs the price)
        cs = self.cs
        self.qty_text: FloatText | None = None
        if self.conv == _LINEAR_1:
            self.qty_text = _R
        elif self.conv == _LINEAR:
            self.qty_text = FloatText(lambda q: repr(q / cs), max_size=1 << 14)
        self.perpetual = p[:3] in ("PF_", "PI_")
        code = p[3:].split("_")[0].removesuffix("USD")
        self.pair = f"{code}:USD"
        self.book_topic = f"book:{p}"
        self.trade_topic = f"trade:{p}"
        self.ticker_topic = f"ticker:{p}"
        self.lite_topic = f"ticker_lite:{p}"
        self.book_buy = f'{{"feed":"book","product_id":"{p}","side":"buy","seq":'
        self.book_sell = f'{{"feed":"book","product_id":"{p}","side":"sell","seq":'
        self.trade_pre = f'{{"feed":"trade","product_id":"{p}","uid":"'
        self.book_seq = BOOK_SEQ_START
        self.trade_seq = 0
        self.recent: deque[str] = deque(maxlen=RECENT_TRADES)
        self.liq_left = 0.0  # base quantity of a liquidation whose fills are still to come
        self.liq_eps = 0.0
        self.liq_side = ""  # taker side of its fills
        self.liq_ts = 0
        self.mark: MarkPrice | None = None
        self.funding: Funding | None = None
        self.oi: OpenInterest | None = None
        self.stats: Ticker24h | None = None
        self.bbo: BBO | None = None
        self.ticker_ts = 0

    def contracts(self, qty: float, price: float) -> float:
        """Base quantity -> contracts (never 0 for a non-zero quantity)."""
        conv = self.conv
        if conv == _LINEAR_1:
            return qty
        if conv == _LINEAR:
            return qty / self.cs
        if qty == 0.0:
            return 0.0
        return float(round(qty * price / self.cs) or 1)


class KrakenFuturesSim(SimVenue):
    venue_id = "kraken_futures"
    ws_paths = {"public": "/ws/v1"}
    client_idle_timeout_s = 60.0  # no client message or websocket ping for 60 s: closed
    server_ping_interval_s = None  # the server sends no pings; clients ping

    def __init__(self, instruments: list[Instrument], market: MarketView) -> None:
        super().__init__(instruments, market)
        self.instruments = {n.upper(): i for n, i in self.instruments.items()}
        self._products = {p: _Product(i) for p, i in self.instruments.items()}
        self._by_symbol = {(i.market, i.symbol): self._products[p] for p, i in self.instruments.items()}
        self._next_heartbeat = 0
        self.rest_api = KrakenFuturesRestSim(self)  # REST market data (sim/venues/kraken_futures_rest.py)
        self._handlers = {
            BookUpdate: self._book,
            Trade: self._trade,
            BBO: self._bbo,
            MarkPrice: self._mark,
            Funding: self._funding,
            OpenInterest: self._open_interest,
            Ticker24h: self._ticker24h,
            Liquidation: self._liquidation,
            Candle: self._nothing,  # no websocket candles on Kraken Futures
        }

    # ---- client side ---------------------------------------------------------------------
    def on_open(self, conn: ConnState) -> ClientReply:
        return ClientReply(send=[INFO])

    def on_message(self, text: str, conn: ConnState) -> ClientReply:
        try:
            req = _request.decode(text)
        except msgspec.MsgspecError:
            return ClientReply(send=[ERR_JSON])
        if req.event not in ("subscribe", "unsubscribe"):
            return ClientReply(send=[ERR_JSON])  # no app-level ping, no private feeds here
        feed = req.feed
        done = "subscribed" if req.event == "subscribe" else "unsubscribed"
        if feed == "heartbeat":
            frames = [_enc({"event": done, "feed": feed}).decode()]
            return self._reply(req.event, frames, ["heartbeat"])
        if feed not in PRODUCT_FEEDS:
            return ClientReply(send=[ERR_FEED])
        products = [p.upper() for p in req.product_ids or ()]
        if not products or any(p not in self._products for p in products):
            return ClientReply(send=[ERR_PRODUCT])
        products = list(dict.fromkeys(products))
        frames = [_enc({"event": done, "feed": feed, "product_ids": [p]}).decode() for p in products]
        return self._reply(req.event, frames, [f"{feed}:{p}" for p in products])

    @staticmethod
    def _reply(event: str, frames: list[str], topics: list[str]) -> ClientReply:
        if event == "subscribe":
            return ClientReply(send=frames, subscribe=topics)
        return ClientReply(send=frames, unsubscribe=topics)

    def on_subscribed(self, topic: str, conn: ConnState) -> list[str]:
        feed, _, native = topic.partition(":")
        p = self._products.get(native)
        if p is None:
            return []
        if feed == "book":
            return [self._book_snapshot(p)]
        if feed == "trade":
            trades = ",".join(reversed(p.recent))
            return [f'{{"feed":"trade_snapshot","product_id":"{native}","trades":[{trades}]}}']
        if feed == "ticker" and p.ticker_ts:
            return [self._ticker_frame(p, p.ticker_ts)]
        if feed == "ticker_lite" and p.ticker_ts:
            return [self._ticker_lite_frame(p)]
        return []

    def subscription_error(self, text: str, conn: ConnState) -> str:
        try:
            req = _request.decode(text)
        except msgspec.MsgspecError:
            return ERR_JSON
        event = "subscribed_failed" if req.event == "subscribe" else "unsubscribed_failed"
        out: dict[str, Any] = {"event": event, "feed": req.feed}
        if req.product_ids:
            out["product_ids"] = [p.upper() for p in req.product_ids]
        out["message"] = "Subscription refused"
        return _enc(out).decode()

    def _book_snapshot(self, p: _Product) -> str:
        inst = p.inst
        snap = self.market.book_snapshot(self.venue_id, inst.market, inst.symbol, SNAPSHOT_DEPTH)
        contracts, R = p.contracts, _R
        bids = ",".join([f'{{"price":{R[px]},"qty":{R[contracts(q, px)]}}}' for px, q in snap.bids if q > 0.0])
        asks = ",".join([f'{{"price":{R[px]},"qty":{R[contracts(q, px)]}}}' for px, q in snap.asks if q > 0.0])
        return (
            f'{{"feed":"book_snapshot","product_id":"{p.native}","timestamp":{snap.ts // _MS},'
            f'"seq":{p.book_seq},"tickSize":null,"bids":[{bids}],"asks":[{asks}]}}'
        )

    # ---- market -> frames ----------------------------------------------------------------
    def encode(self, item: Any) -> list[tuple[str, str]]:
        ts = item.ts
        if ts >= self._next_heartbeat:
            self._next_heartbeat = ts - ts % HEARTBEAT_INTERVAL_NS + HEARTBEAT_INTERVAL_NS
            beat = ("heartbeat", f'{{"feed":"heartbeat","time":{ts // _MS}}}')
            # after the item's own frames, so the server's "gap" fault still drops a book level
            return [*self._handlers.get(type(item), self._nothing)(item), beat]
        return self._handlers.get(type(item), self._nothing)(item)

    def _product(self, item: Any) -> _Product | None:
        return self._by_symbol.get((item.market, item.symbol))

    def _nothing(self, item: Any) -> list[tuple[str, str]]:
        return []

    def _book(self, d: BookUpdate) -> list[tuple[str, str]]:
        p = self._products.get(d.instrument) or self._product(d)
        if p is None:
            return []
        bids, asks = d.bids, d.asks
        R, Q = _R, p.qty_text
        if len(bids) + len(asks) == 1:  # most diffs: one level, one frame
            pre, (px, q) = (p.book_buy, bids[0]) if bids else (p.book_sell, asks[0])
            seq = p.book_seq = p.book_seq + 1
            qty = "0.0" if q == 0.0 else Q[q] if Q is not None else R[p.contracts(q, px)]
            return [(p.book_topic, f'{pre}{seq},"price":{R[px]},"qty":{qty},"timestamp":{d.ts // _MS}}}')]
        if len(bids) > 1:
            bids = list(dict(bids).items())  # a price listed twice: its last size counts
        if len(asks) > 1:
            asks = list(dict(asks).items())
        topic, buy, sell, seq, contracts = p.book_topic, p.book_buy, p.book_sell, p.book_seq, p.contracts
        tail = f',"timestamp":{d.ts // _MS}}}'
        out = []
        add = out.append
        # deletions first: every intermediate state is then a subset of the final, uncrossed book
        for pre, levels in ((buy, bids), (sell, asks)):
            for px, q in levels:
                if q == 0.0:
                    seq += 1
                    add((topic, f'{pre}{seq},"price":{R[px]},"qty":0.0{tail}'))
        for pre, levels in ((buy, bids), (sell, asks)):
            for px, q in levels:
                if q != 0.0:
                    seq += 1
                    qty = Q[q] if Q is not None else R[contracts(q, px)]
                    add((topic, f'{pre}{seq},"price":{R[px]},"qty":{qty}{tail}'))
        p.book_seq = seq
        return out

    def _trade(self, t: Trade) -> list[tuple[str, str]]:
        p = self._product(t)
        if p is None:
            return []
        kind = "fill"
        if p.liq_left:
            if t.ts == p.liq_ts and t.side == p.liq_side:
                kind = "liquidation"
                p.liq_left -= t.qty
                if p.liq_left <= p.liq_eps:
                    p.liq_left = 0.0
            else:
                p.liq_left = 0.0  # another trade: the liquidation's fills are over
        p.trade_seq += 1
        tid = t.trade_id
        if '"' in tid or "\\" in tid:
            tid = _enc(tid).decode()[1:-1]
        frame = (
            f'{p.trade_pre}{tid}","side":"{t.side}","type":"{kind}","seq":{p.trade_seq},"time":{t.ts // _MS},'
            f'"qty":{_R[p.contracts(t.qty, t.price)]},"price":{_R[t.price]}}}'
        )
        p.recent.append(frame)
        return [(p.trade_topic, frame)]

    def _liquidation(self, liq: Liquidation) -> list[tuple[str, str]]:
        p = self._product(liq)
        if p is not None:
            p.liq_left = liq.qty
            p.liq_eps = liq.qty * 1e-9
            p.liq_side = "sell" if liq.side == "long" else "buy"  # a long is liquidated by selling
            p.liq_ts = liq.ts
        return []

    def _bbo(self, b: BBO) -> list[tuple[str, str]]:
        p = self._product(b)
        if p is not None:
            p.bbo = b
        return []

    def _mark(self, m: MarkPrice) -> list[tuple[str, str]]:
        p = self._product(m)
        if p is not None:
            p.mark = m
        return []

    def _funding(self, f: Funding) -> list[tuple[str, str]]:
        p = self._product(f)
        if p is not None:
            p.funding = f
        return []

    def _ticker24h(self, t: Ticker24h) -> list[tuple[str, str]]:
        p = self._product(t)
        if p is not None:
            p.stats = t
        return []

    def _open_interest(self, oi: OpenInterest) -> list[tuple[str, str]]:
        p = self._product(oi)
        if p is None:
            return []
        p.oi = oi
        p.ticker_ts = oi.ts
        return [(p.ticker_topic, self._ticker_frame(p, oi.ts)), (p.lite_topic, self._ticker_lite_frame(p))]

    # ---- ticker ------------------------------------------------------------------------------
    def _ticker_frame(self, p: _Product, ts: int) -> str:
        """The full ticker from the latest state; fields not known yet are left out."""
        inverse = p.conv == _INVERSE
        m, f, oi, st, b = p.mark, p.funding, p.oi, p.stats, p.bbo
        index = None if m is None else (m.index_price if m.index_price is not None else m.mark_price)
        out: dict[str, Any] = {"time": ts // _MS, "product_id": p.native}
        if p.perpetual and f is not None:
            for rate, rel_key, amount_key in (
                (f.rate, "relative_funding_rate", "funding_rate"),
                (f.predicted_rate, "relative_funding_rate_prediction", "funding_rate_prediction"),
            ):
                if rate:  # Kraken leaves out a funding field that is zero
                    if index:
                        out[amount_key] = rate / index if inverse else rate * index
                    out[rel_key] = rate
            if f.next_funding_time is not None:
                out["next_funding_rate_time"] = f.next_funding_time // _MS
        out["feed"] = "ticker"
        if b is not None:
            out["bid"] = b.bid_price
            out["ask"] = b.ask_price
            out["bid_size"] = p.contracts(b.bid_qty, b.bid_price)
            out["ask_size"] = p.contracts(b.ask_qty, b.ask_price)
        volume = _volume_contracts(p, st)
        if volume is not None:
            out["volume"] = volume
        out["dtm"] = 0
        out["leverage"] = "50x"
        if m is not None and index:
            out["index"] = index
            out["premium"] = round((m.mark_price / index - 1.0) * 100.0, 4)
        if st is not None:
            out["last"] = st.last
            change = _change_pct(st)
            if change is not None:
                out["change"] = change
        out["suspended"] = False
        out["tag"] = "perpetual" if p.perpetual else "quarter"
        out["pair"] = p.pair
        if oi is not None:
            contracts = _oi_contracts(p, oi, m)
            if contracts is not None:
                out["openInterest"] = contracts
        if m is not None:
            out["markPrice"] = m.mark_price
        out["maturityTime"] = 0
        out["post_only"] = False
        if st is not None:
            if st.quote_volume is not None:
                out["volumeQuote"] = st.quote_volume
            for key, value in (("open", st.open), ("high", st.high), ("low", st.low)):
                if value is not None:
                    out[key] = value
        return _enc(out).decode()

    def _ticker_lite_frame(self, p: _Product) -> str:
        m, st, b = p.mark, p.stats, p.bbo
        out: dict[str, Any] = {"feed": "ticker_lite", "product_id": p.native}
        if b is not None:
            out["bid"] = b.bid_price
            out["ask"] = b.ask_price
        if st is not None:
            change = _change_pct(st)
            if change is not None:
                out["change"] = change
        if m is not None and m.index_price:
            out["premium"] = round((m.mark_price / m.index_price - 1.0) * 100.0, 4)
        volume = _volume_contracts(p, st)
        if volume is not None:
            out["volume"] = volume
        out["tag"] = "perpetual" if p.perpetual else "quarter"
        out["pair"] = p.pair
        out["dtm"] = 0
        out["maturityTime"] = 0
        return _enc(out).decode()

    # ---- REST ------------------------------------------------------------------------------------
    def rest(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> RestResponse | None:
        if path in INSTRUMENTS_PATHS:
            now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            doc = {
                "result": "success",
                "instruments": [_rest_instrument(i) for i in self.instruments.values()],
                "serverTime": now,
            }
            return RestResponse(200, _enc(doc))
        return self.rest_api.handle(path, query)  # tickers, book, trades, funding, charts

    def throttled_response(self, path: str) -> RestResponse:
        return throttled()


def _change_pct(st: Ticker24h) -> float | None:
    if st.price_change_pct is not None:
        return st.price_change_pct
    if st.open:
        return (st.last - st.open) / st.open * 100.0
    return None


def _volume_contracts(p: _Product, st: Ticker24h | None) -> float | None:
    """24h volume in contracts: base units on linear products, USD (the quote volume) on inverse ones."""
    if st is None:
        return None
    if p.conv == _INVERSE:
        return None if st.quote_volume is None else st.quote_volume / p.cs
    return None if st.volume is None else st.volume / p.cs


def _oi_contracts(p: _Product, oi: OpenInterest, m: MarkPrice | None) -> float | None:
    if oi.oi_base is None:
        return oi.oi_contracts
    if p.conv != _INVERSE:
        return oi.oi_base / p.cs
    price = m.mark_price if m is not None else None
    return oi.oi_base * price / p.cs if price else oi.oi_contracts


_MARGIN = [{"contracts": 0, "initialMargin": 0.02, "maintenanceMargin": 0.01}]
_RETAIL_MARGIN = [{"contracts": 0, "initialMargin": 0.5, "maintenanceMargin": 0.25}]


def _rest_instrument(inst: Instrument) -> dict[str, Any]:
    """One ``/instruments`` entry: the 2021 shape for inverse (PI_/FI_) products, today's
    multi-collateral shape (``flexible_futures`` with base/quote/pair) for PF_/FF_ ones."""
    native = inst.native.upper()
    perpetual = native[:3] in ("PF_", "PI_")
    expiry = native.split("_")[2] if native.count("_") == 2 else None
    last_trading = f"20{expiry[:2]}-{expiry[2:4]}-{expiry[4:]}T16:00:00.000Z" if expiry else None
    spec = DEFAULT_SYMBOL_SPECS.get(f"{inst.base}USDT")  # the tick the market quotes when the table has none
    tick = inst.tick_size or (spec.tick if spec is not None else None)
    cs = inst.contract_size
    size: float | int = int(cs) if cs == int(cs) else cs
    code = native[3:].split("_")[0].removesuffix("USD")
    e: dict[str, Any] = {"symbol": native}
    if inst.contract_type == "inverse":
        e["type"] = "futures_inverse"
        e["underlying"] = f"rr_{code.lower()}usd"
        if last_trading:
            e["lastTradingTime"] = last_trading
    else:
        e["type"] = "flexible_futures"
    if tick is not None:
        e["tickSize"] = tick
    e["contractSize"] = size
    e["tradeable"] = True
    e["marginLevels"] = _MARGIN
    if perpetual:
        e["fundingRateCoefficient"] = 8
        e["maxRelativeFundingRate"] = 0.001
    if inst.contract_type == "inverse":
        e["isin"] = f"SIM-{native}"
    else:
        if last_trading:
            e["lastTradingTime"] = last_trading
        e["contractValueTradePrecision"] = 4
        e["postOnly"] = False
        e["pair"] = f"{inst.base}:{inst.quote}"
        e["base"] = inst.base
        e["quote"] = inst.quote
    e["retailMarginLevels"] = _RETAIL_MARGIN
    return e


SIM_VENUE = KrakenFuturesSim
