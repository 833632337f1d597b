"""Bybit v5 server side: two public sockets (linear perps, spot), op subscribe/unsubscribe/ping,
in-stream books, merged linear tickers, instruments-info over REST.

Frames mirror the real captures in ../shared/venue-samples/bybit: numbers as strings, ``ts`` in ms,
the control frames of each category (linear acks ``ret_msg:""`` and always carry ``req_id``; spot
acks say ``ret_msg:"subscribe"`` and echo ``req_id`` only when the client sent one).

Markets. A connection's market follows its path (``/v5/public/linear`` -> perp, ``/v5/public/spot``
-> spot). Perp and spot share native ids (``BTCUSDT``), so the server-side topic keys are the Bybit
topic prefixed with the category (``linear:publicTrade.BTCUSDT``, ``spot:publicTrade.BTCUSDT``):
each socket receives only its own market's items.

Books. ``orderbook.{50,200,1000}.S``: a subscription starts with a ``snapshot`` of the simulated
book, then every market diff is a ``delta`` with ``u`` +1 per message. ``u`` is the market's own
book update id plus a fixed offset per depth (each depth topic has its own ``u`` series), so a
snapshot taken at any moment links exactly to the next delta; ``seq`` (cross sequence) is the same
for every depth of one book and increases with it; ``ts`` = ``cts`` = the diff's time in ms.
Only the depth topics subscribed at least once are encoded (the others would be built for
nobody). Simplification: the deltas are not windowed to the topic's depth (the simulated book is
only ``book_levels`` deep, 64 by default), so each depth topic carries the whole simulated book, and
the snapshot is taken at full depth (up to 1000 levels) so the client's book has no holes.
``orderbook.1.S`` sends a snapshot of the top of book at every BBO event (+1 ``u`` per push) and
one on subscribe (same ``u`` as the last push, as Bybit does); the 3 s unchanged re-push is not
simulated (a SimVenue has no timer).

Tickers. Linear ``tickers.S`` sends a full snapshot (on subscribe, and to everyone when the state of
a symbol is first created), then deltas holding only the fields that changed, merged from the latest
MarkPrice / Funding / OpenInterest / Ticker24h / BBO. Linear tickers push every 100 ms on Bybit, so
bid1/ask1 changes are conflated to one push per 100 ms of item time (a pending top of book also goes
out with the next ticker frame of any kind). Fields the model does not produce yet are
``""`` (as Bybit sends for not-applicable fields) and decode to None. Spot ``tickers.S`` are full
snapshots on each Ticker24h (and the latest one on subscribe).

Heartbeat. Clients send ``{"op":"ping"}`` (Bybit recommends every 20 s); the answer is the public
pong, an ack-shaped frame with ``ret_msg:"pong"`` and ``op:"ping"``. Bybit documents that a
connection with no ping-pong is cut after 10 minutes: ``client_idle_timeout_s`` = 600. Bybit sends
no pings of its own.
"""

from __future__ import annotations

import base64
import os
import time
from decimal import Decimal
from typing import Any, ClassVar

import msgspec

from cryptoflow.errors import ConfigError
from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.sim.model_specs import DEFAULT_SYMBOL_SPECS, DEFAULT_VENUE_SPECS
from cryptoflow.sim.model_stats import FUNDING_CAP
from cryptoflow.sim.protocol import ClientReply, ConnState, FloatText, MarketView, RestResponse, SimVenue
from cryptoflow.sim.venues import bybit_rest
from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import BookUpdate
from cryptoflow.venues.bybit.subscribe import BOOK_DEPTHS, INTERVAL_TO_WIRE, WIRE_TO_INTERVAL

_enc = msgspec.json.encode
_MS = 1_000_000
_HOUR_NS = 3_600_000_000_000
LINEAR_PATH = "/v5/public/linear"
SPOT_PATH = "/v5/public/spot"
_PATH_MARKET = {LINEAR_PATH: "perp", SPOT_PATH: "spot"}
_CATEGORY = {"perp": "linear", "spot": "spot"}  # market -> Bybit category (= topic key prefix)
_MARKET_OF_CATEGORY = {"linear": "perp", "spot": "spot"}
SPOT_ARGS_PER_REQUEST = 10
FULL_BOOK_DEPTH = 1000  # snapshot depth asked of the market for every depth topic (Bybit's deepest)

# u of orderbook.{D} = market book update id + offset: each depth topic has its own u series.
U_OFFSET: dict[int, int] = {50: 20_000_000, 200: 30_000_000, 1000: 40_000_000}
_BOOK_DEPTH_NAMES = frozenset(str(d) for d in U_OFFSET)
L1_U_START = 10_000_000  # orderbook.1: its own counter, +1 per push
SEQ_BASE = 700_000_000_000  # cross sequence = SEQ_BASE + market book update id
TICKER_PUSH_MS = 100  # linear tickers push every 100 ms: bid1/ask1 changes are conflated to that
_INTERVAL_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "1w": 604_800_000,
}
_USD_QUOTES = frozenset(("USDT", "USDC", "USD"))

# Linear ticker fields in the order of the real snapshot (ccxt_static__linear_tickers_BTCUSDT).
LINEAR_TICKER_KEYS: tuple[str, ...] = (
    "tickDirection",
    "price24hPcnt",
    "lastPrice",
    "prevPrice24h",
    "highPrice24h",
    "lowPrice24h",
    "prevPrice1h",
    "markPrice",
    "indexPrice",
    "openInterest",
    "openInterestValue",
    "turnover24h",
    "volume24h",
    "fundingIntervalHour",
    "fundingCap",
    "singleOpenInterest",
    "singleOpenInterestValue",
    "nextFundingTime",
    "fundingRate",
    "bid1Price",
    "bid1Size",
    "ask1Price",
    "ask1Size",
    "preOpenPrice",
    "preQty",
    "curPreListingPhase",
)


def _plain(x: float) -> str:
    """A float as Bybit writes numbers: a plain decimal string, never exponent notation."""
    r = repr(x)
    return r if "e" not in r else format(Decimal(r), "f")


_S = FloatText(_plain)  # memoised _plain: writing floats is most of the encoders' cost
_s = _S.__getitem__


def _q(x: float) -> str:
    """A size: ``"0"`` deletes a level."""
    return _S[x] if x else "0"


def _lv(levels: list[tuple[float, float]], cs: float, S: FloatText = _S) -> str:
    """``[["price","size"],...]``, sizes in contracts (``cs`` base units each); size "0" deletes."""
    if not levels:
        return "[]"
    if cs != 1.0:
        return "[" + ",".join([f'["{S[p]}","{S[q / cs]}"]' if q else f'["{S[p]}","0"]' for p, q in levels]) + "]"
    if len(levels) == 1:
        p, q = levels[0]
        return f'[["{S[p]}","{S[q]}"]]' if q else f'[["{S[p]}","0"]]'
    return "[" + ",".join([f'["{S[p]}","{S[q]}"]' if q else f'["{S[p]}","0"]' for p, q in levels]) + "]"


def _lv1(p: float, q: float, cs: float, S: FloatText = _S) -> str:
    """One level: ``_lv([(p, q)], cs)``."""
    if not q:
        return f'[["{S[p]}","0"]]'
    return f'[["{S[p]}","{S[q if cs == 1.0 else q / cs]}"]]'


def _hours(h: float | None) -> str:
    if h is None:
        return ""
    return str(int(h)) if h == int(h) else _s(h)


def _bbo_fields(q: BBO, cs: float) -> tuple[tuple[str, str], ...]:
    return (
        ("bid1Price", _S[q.bid_price]),
        ("bid1Size", _q(q.bid_qty / cs)),
        ("ask1Price", _S[q.ask_price]),
        ("ask1Size", _q(q.ask_qty / cs)),
    )


def _new_conn_id() -> str:
    """A connection id shaped like Bybit's (``d9tc9msptl6qssdmv0gg-cwel``)."""
    raw = base64.b32hexencode(os.urandom(15)).decode().lower()
    return f"{raw[:20]}-{raw[20:24]}"


class _Request(msgspec.Struct):
    op: Any = None
    args: Any = None
    req_id: Any = None


_request = msgspec.json.Decoder(_Request)


class _Book:
    """Per (market, symbol): topic keys, sequence counters, merged ticker state."""

    __slots__ = (
        "bbo_ms",
        "bbo_pending",
        "cat",
        "cs",
        "hour",
        "inst",
        "k_liq",
        "k_ob1",
        "k_tick",
        "k_trade",
        "l1_head",
        "l1_mid",
        "last_trade",
        "native",
        "obs",
        "obs_all",
        "pfx",
        "prev1h",
        "seq",
        "spot_tick",
        "tick",
        "tick_cs",
        "tick_dir",
        "tick_ts",
        "trade_head",
        "u1",
    )

    def __init__(self, inst: Instrument) -> None:
        cat = _CATEGORY[inst.market]
        s = inst.native
        self.inst = inst
        self.cat = cat
        self.native = s
        self.cs = inst.contract_size if inst.contract_type == "linear" else 1.0
        self.k_trade = f"{cat}:publicTrade.{s}"
        self.k_ob1 = f"{cat}:orderbook.1.{s}"
        self.trade_head = f'{{"topic":"publicTrade.{s}","type":"snapshot","ts":'
        self.l1_head = f'{{"topic":"orderbook.1.{s}","type":"snapshot","ts":'
        self.l1_mid = f',"data":{{"s":"{s}","b":'
        self.k_tick = f"{cat}:tickers.{s}"
        self.k_liq = f"{cat}:allLiquidation.{s}"
        self.pfx = f"{cat}:"  # topic key prefix
        # (topic key, wire topic, u offset, delta frame head) per maintained-book depth; ``obs``: the
        # depths ever subscribed (only those are encoded: u follows the market's ids, so a late start links)
        self.obs_all = {
            d: (f"{cat}:orderbook.{d}.{s}", f"orderbook.{d}.{s}", U_OFFSET[d],
                f'{{"topic":"orderbook.{d}.{s}","type":"delta","ts":')
            for d in BOOK_DEPTHS
        }
        self.obs: list[tuple[str, str, int, str]] = []
        self.seq = 0  # last market book update id seen
        self.u1 = L1_U_START  # orderbook.1 u (last pushed)
        self.last_trade = 0.0
        self.tick_dir = "ZeroPlusTick"
        self.tick: dict[str, str] | None = None  # linear merged ticker (wire strings)
        self.tick_cs = 0
        self.tick_ts = 0
        self.bbo_pending: BBO | None = None  # a top of book not yet pushed on tickers (100 ms conflation)
        self.bbo_ms = -TICKER_PUSH_MS  # item time (ms) the bid1/ask1 fields were last pushed
        self.hour = -1
        self.prev1h = ""
        self.spot_tick: str | None = None  # last spot ticker frame

    def next_cs(self) -> int:
        self.tick_cs = cs = max(self.tick_cs + 1, SEQ_BASE + self.seq)
        return cs


class BybitSim(SimVenue):
    venue_id = "bybit"
    ws_paths: ClassVar[dict[str, str]] = {"linear": LINEAR_PATH, "spot": SPOT_PATH}
    # "if there is no ping-pong and no stream data sent from server end, the connection will be cut
    # off after 10 minutes" (v5 docs, Connect); clients are asked to ping every 20 s.
    client_idle_timeout_s = 600.0
    server_ping_interval_s = None  # Bybit sends no pings

    def __init__(self, instruments: list[Instrument], market: MarketView) -> None:
        super().__init__(instruments, market)
        # perp and spot share native ids: keep instruments per (market, native)
        self.by_native: dict[tuple[str, str], Instrument] = {
            (i.market, i.native): i for i in instruments if i.market in _CATEGORY
        }
        self._books: dict[tuple[str, str], _Book] = {
            (i.market, i.symbol): _Book(i) for i in instruments if i.market in _CATEGORY
        }
        self._dispatch = {
            BookUpdate: self._depth,
            Trade: self._trade,
            BBO: self._bbo,
            MarkPrice: self._mark,
            Funding: self._funding,
            OpenInterest: self._oi,
            Ticker24h: self._ticker24h,
            Candle: self._candle,
            Liquidation: self._liquidation,
        }
        self._rest_data = bybit_rest.BybitRestSim(self)  # the other REST market data (bybit_rest.py)

    # ---- client side ---------------------------------------------------------------------------
    def on_open(self, conn: ConnState) -> ClientReply:
        self._conn(conn)
        return ClientReply()  # Bybit sends nothing on connect; topics come from subscribe

    @staticmethod
    def _conn(conn: ConnState) -> tuple[str, str]:
        """(market, conn_id) of a connection, set on first use."""
        d = conn.data
        if "market" not in d:
            d["market"] = _PATH_MARKET.get(conn.path.rstrip("/"), "perp")
            d["conn_id"] = _new_conn_id()
        return d["market"], d["conn_id"]

    def _reply(self, conn: ConnState, success: bool, ret_msg: str, op: str, req_id: Any) -> str:
        """A control frame in the connection's category's shape."""
        market, conn_id = self._conn(conn)
        frame: dict[str, Any] = {"success": success, "ret_msg": ret_msg, "conn_id": conn_id}
        if market == "perp" or req_id is not None:  # linear always says req_id; spot echoes a given one
            frame["req_id"] = "" if req_id is None else str(req_id)
        frame["op"] = op
        return _enc(frame).decode()

    def on_message(self, text: str, conn: ConnState) -> ClientReply:
        market, _ = self._conn(conn)
        try:
            req = _request.decode(text)
        except msgspec.MsgspecError:
            snippet = text[:10]
            msg = (
                f"Failed to decode incoming data:readObjectStart: expect {{ or n, but found {text[:1]}, "
                f"error found in #1 byte of ...|{snippet}|..., bigger context ...|{text[:40]}|..."
            )
            return ClientReply(send=[self._reply(conn, False, msg, "", None)])
        op, rid = req.op, req.req_id
        if op == "ping":
            return ClientReply(send=[self._reply(conn, True, "pong", "ping", rid)])
        if op not in ("subscribe", "unsubscribe"):
            return ClientReply(send=[self._reply(conn, False, "error:invalid op", str(op or ""), rid)])
        args = req.args if isinstance(req.args, list) else []
        ok_msg = "" if market == "perp" else op
        if market == "spot" and len(args) > SPOT_ARGS_PER_REQUEST:
            return ClientReply(send=[self._reply(conn, False, f"args size >{SPOT_ARGS_PER_REQUEST}", op, rid)])
        keys: list[str] = []
        for a in args:
            if not isinstance(a, str) or not self.valid_topic(market, a):
                return ClientReply(send=[self._reply(conn, False, f"error:handler not found,topic:{a}", op, rid)])
            key = f"{_CATEGORY[market]}:{a}"
            if key not in keys:
                keys.append(key)
        if op == "unsubscribe":
            gone = [k for k in keys if k in conn.topics]
            return ClientReply(send=[self._reply(conn, True, ok_msg, op, rid)], unsubscribe=gone)
        for k in keys:
            if k in conn.topics:  # the whole request fails; the live subscription carries on
                topic = k.partition(":")[2]
                return ClientReply(send=[self._reply(conn, False, f"error:already subscribed,topic:{topic}", op, rid)])
        return ClientReply(send=[self._reply(conn, True, ok_msg, op, rid)], subscribe=keys)

    def subscription_error(self, text: str, conn: ConnState) -> str:
        try:
            req = _request.decode(text)
            op, rid = str(req.op or "subscribe"), req.req_id
            args = req.args if isinstance(req.args, list) else []
        except msgspec.MsgspecError:
            op, rid, args = "subscribe", None, []
        first = args[0] if args else ""
        return self._reply(conn, False, f"error:handler not found,topic:{first}", op, rid)

    def valid_topic(self, market: str, topic: str) -> bool:
        """Whether the socket of ``market`` serves ``topic`` (exact case, as Bybit)."""
        head, _, rest = topic.partition(".")
        if head in ("publicTrade", "tickers"):
            native = rest
        elif head == "allLiquidation":
            if market != "perp":
                return False
            native = rest
        elif head == "orderbook":
            depth, _, native = rest.partition(".")
            if depth != "1" and depth not in _BOOK_DEPTH_NAMES:
                return False
        elif head == "kline":
            wire, _, native = rest.partition(".")
            if wire not in WIRE_TO_INTERVAL:
                return False
        else:
            return False
        return (market, native) in self.by_native

    def on_subscribed(self, topic: str, conn: ConnState) -> list[str]:
        cat, _, wire = topic.partition(":")
        market = _MARKET_OF_CATEGORY.get(cat)
        head, _, rest = wire.partition(".")
        if market is None:
            return []
        if head == "orderbook":
            depth, _, native = rest.partition(".")
            inst = self.by_native.get((market, native))
            if inst is None:
                return []
            b = self._books[(market, inst.symbol)]
            if depth != "1" and b.obs_all[int(depth)] not in b.obs:
                b.obs.append(b.obs_all[int(depth)])
            snap = self._snapshot(market, inst.symbol, 1 if depth == "1" else FULL_BOOK_DEPTH)
            if snap is None:
                return []
            if depth == "1":
                return [self._l1_frame(b, snap.ts // _MS, snap.bids[:1], snap.asks[:1], b.u1, SEQ_BASE + snap.seq)]
            ms = snap.ts // _MS
            u = snap.seq + U_OFFSET[int(depth)]
            return [
                f'{{"topic":"{wire}","type":"snapshot","ts":{ms},"data":{{"s":"{native}","b":{_lv(snap.bids, b.cs)},'
                f'"a":{_lv(snap.asks, b.cs)},"u":{u},"seq":{SEQ_BASE + snap.seq}}},"cts":{ms}}}'
            ]
        if head == "tickers":
            inst = self.by_native.get((market, rest))
            if inst is None:
                return []
            b = self._books[(market, inst.symbol)]
            if market == "perp":
                return [self._tick_snapshot(b)] if b.tick is not None else []
            return [b.spot_tick] if b.spot_tick is not None else []
        return []

    def _snapshot(self, market: str, symbol: str, depth: int) -> BookUpdate | None:
        try:
            return self.market.book_snapshot(self.venue_id, market, symbol, depth)
        except (ConfigError, LookupError):  # no simulated book for this instrument
            return None

    # ---- market -> frames -----------------------------------------------------------------------
    def encode(self, item: Any) -> list[tuple[str, str]]:
        f = self._dispatch.get(type(item))
        if f is None:
            return []
        b = self._books.get((item.market, item.symbol))
        if b is None:
            return []
        return f(item, b)

    def _depth(self, d: BookUpdate, b: _Book) -> list[tuple[str, str]]:
        seq = d.seq
        b.seq = seq
        if not b.obs:
            return []
        ms = d.ts // _MS
        s = b.native
        body = f',"data":{{"s":"{s}","b":{_lv(d.bids, b.cs)},"a":{_lv(d.asks, b.cs)},"u":'
        tail = f',"seq":{SEQ_BASE + seq}}},"cts":{ms}}}'
        if d.snapshot:
            return [
                (key, f'{{"topic":"{wire}","type":"snapshot","ts":{ms}{body}{seq + off}{tail}')
                for key, wire, off, _ in b.obs
            ]
        return [(key, f"{head}{ms}{body}{seq + off}{tail}") for key, _, off, head in b.obs]

    def _l1_frame(
        self, b: _Book, ms: int, bids: list[tuple[float, float]], asks: list[tuple[float, float]], u: int, seq: int
    ) -> str:
        return f'{b.l1_head}{ms}{b.l1_mid}{_lv(bids, b.cs)},"a":{_lv(asks, b.cs)},"u":{u},"seq":{seq}}},"cts":{ms}}}'

    def _bbo(self, q: BBO, b: _Book) -> list[tuple[str, str]]:
        b.u1 += 1
        seq = SEQ_BASE + (q.update_id if q.update_id is not None else b.seq)
        ms = q.ts // _MS
        cs = b.cs
        l1 = (
            f'{b.l1_head}{ms}{b.l1_mid}{_lv1(q.bid_price, q.bid_qty, cs)},"a":{_lv1(q.ask_price, q.ask_qty, cs)},'
            f'"u":{b.u1},"seq":{seq}}},"cts":{ms}}}'
        )
        out = [(b.k_ob1, l1)]
        if b.cat == "linear":
            b.bbo_pending = q
            if b.tick is None or q.ts // _MS - b.bbo_ms >= TICKER_PUSH_MS:
                out += self._tick_update(b, q.ts, ())
            # else: pushed with the next ticker frame
        return out

    def _trade(self, t: Trade, b: _Book) -> list[tuple[str, str]]:
        self._rest_data.remember(t)  # for /v5/market/recent-trade
        ms = t.ts // _MS
        s = b.native
        side = "Buy" if t.side == "buy" else "Sell"
        qty = _S[t.qty / b.cs if b.cs != 1.0 else t.qty]
        px = t.price
        seq = SEQ_BASE + b.seq + 1  # the book update this fill causes
        if b.cat == "spot":
            d = (
                f'{{"i":"{t.trade_id}","T":{ms},"p":"{_S[px]}","v":"{qty}","S":"{side}","s":"{s}","BT":false,'
                f'"RPI":false,"seq":{seq}}}'
            )
        else:
            last = b.last_trade
            if px > last:
                b.tick_dir = "PlusTick"
            elif px < last:
                b.tick_dir = "MinusTick"
            elif b.tick_dir in ("PlusTick", "MinusTick"):
                b.tick_dir = "Zero" + b.tick_dir
            d = (
                f'{{"T":{ms},"s":"{s}","S":"{side}","v":"{qty}","p":"{_S[px]}","L":"{b.tick_dir}",'
                f'"i":"{t.trade_id}","BT":false,"RPI":false,"seq":{seq}}}'
            )
        b.last_trade = px
        return [(b.k_trade, f'{b.trade_head}{ms},"data":[{d}]}}')]

    def _liquidation(self, liq: Liquidation, b: _Book) -> list[tuple[str, str]]:
        if b.cat != "linear":
            return []
        ms = liq.ts // _MS
        s = b.native
        side = "Buy" if liq.side == "long" else "Sell"  # S is the liquidated position's side
        qty = _s(liq.qty / b.cs if b.cs != 1.0 else liq.qty)
        d = f'{{"T":{ms},"s":"{s}","S":"{side}","v":"{qty}","p":"{_s(liq.price)}"}}'
        return [(b.k_liq, f'{{"topic":"allLiquidation.{s}","type":"snapshot","ts":{ms},"data":[{d}]}}')]

    def _candle(self, c: Candle, b: _Book) -> list[tuple[str, str]]:
        wire = INTERVAL_TO_WIRE.get(c.interval)
        span = _INTERVAL_MS.get(c.interval)
        if wire is None or span is None:
            return []
        ms = c.ts // _MS
        start = c.open_time // _MS
        topic = f"kline.{wire}.{b.native}"
        vol = c.volume / b.cs if b.cs != 1.0 else c.volume
        k = (
            f'{{"start":{start},"end":{start + span - 1},"interval":"{wire}","open":"{_s(c.open)}",'
            f'"close":"{_s(c.close)}","high":"{_s(c.high)}","low":"{_s(c.low)}","volume":"{_s(vol)}",'
            f'"turnover":"{_s(c.quote_volume or 0.0)}","confirm":{"true" if c.closed else "false"},"timestamp":{ms}}}'
        )
        return [(b.pfx + topic, f'{{"topic":"{topic}","data":[{k}],"ts":{ms},"type":"snapshot"}}')]

    # ---- tickers ---------------------------------------------------------------------------------
    def _mark(self, m: MarkPrice, b: _Book) -> list[tuple[str, str]]:
        if b.cat != "linear":
            return []
        idx = _s(m.index_price) if m.index_price is not None else ""
        return self._tick_update(b, m.ts, (("markPrice", _s(m.mark_price)), ("indexPrice", idx)))

    def _funding(self, f: Funding, b: _Book) -> list[tuple[str, str]]:
        if b.cat != "linear":
            return []
        nxt = str(f.next_funding_time // _MS) if f.next_funding_time is not None else ""
        return self._tick_update(
            b,
            f.ts,
            (
                ("fundingRate", _s(f.rate)),
                ("nextFundingTime", nxt),
                ("fundingIntervalHour", _hours(f.interval_hours)),
            ),
        )

    def _oi(self, o: OpenInterest, b: _Book) -> list[tuple[str, str]]:
        if b.cat != "linear":
            return []
        base = o.oi_base if o.oi_base is not None else (o.oi_contracts * b.cs if o.oi_contracts is not None else None)
        if base is None and o.oi_notional is None:
            return []
        upd: list[tuple[str, str]] = []
        if base is not None:
            upd += [("openInterest", _s(base)), ("singleOpenInterest", _s(base / 2))]
        if o.oi_notional is not None:
            upd += [("openInterestValue", _s(o.oi_notional)), ("singleOpenInterestValue", _s(o.oi_notional / 2))]
        return self._tick_update(b, o.ts, upd)

    def _ticker24h(self, t: Ticker24h, b: _Book) -> list[tuple[str, str]]:
        last, o = t.last, t.open
        if t.price_change_pct is not None:
            pct = _s(round(t.price_change_pct / 100.0, 6))
        elif o:
            pct = _s(round((last - o) / o, 6))
        else:
            pct = ""
        prev24 = _s(o) if o is not None else ""
        high = _s(t.high) if t.high is not None else ""
        low = _s(t.low) if t.low is not None else ""
        vol = _s(t.volume / b.cs if b.cs != 1.0 else t.volume) if t.volume is not None else ""
        turn = _s(t.quote_volume) if t.quote_volume is not None else ""
        if b.cat == "spot":
            ms = t.ts // _MS
            usd = _s(last) if b.inst.quote in _USD_QUOTES else ""
            body = (
                f'{{"symbol":"{b.native}","lastPrice":"{_s(last)}","highPrice24h":"{high}","lowPrice24h":"{low}",'
                f'"prevPrice24h":"{prev24}","volume24h":"{vol}","turnover24h":"{turn}","price24hPcnt":"{pct}",'
                f'"usdIndexPrice":"{usd}"}}'
            )
            b.spot_tick = frame = (
                f'{{"topic":"tickers.{b.native}","ts":{ms},"type":"snapshot","cs":{b.next_cs()},"data":{body}}}'
            )
            return [(b.k_tick, frame)]
        hour = t.ts // _HOUR_NS
        if hour != b.hour:  # the last price at the top of the hour stands for "an hour ago"
            prev = b.tick.get("lastPrice", "") if b.tick is not None else ""
            b.prev1h = prev or _s(last)
            b.hour = hour
        return self._tick_update(
            b,
            t.ts,
            (
                ("tickDirection", b.tick_dir),
                ("price24hPcnt", pct),
                ("lastPrice", _s(last)),
                ("prevPrice24h", prev24),
                ("highPrice24h", high),
                ("lowPrice24h", low),
                ("prevPrice1h", b.prev1h),
                ("turnover24h", turn),
                ("volume24h", vol),
            ),
        )

    def _tick_update(
        self, b: _Book, ts: int, fields: tuple[tuple[str, str], ...] | list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """Merge fields (and a pending top of book) into the linear ticker: a delta of the fields that
        changed, or a full snapshot the first time."""
        st = b.tick
        b.tick_ts = ts
        pending = b.bbo_pending
        if pending is not None:
            fields = (*fields, *_bbo_fields(pending, b.cs))
            b.bbo_pending = None
            b.bbo_ms = ts // _MS
        if st is None:
            st = b.tick = dict.fromkeys(LINEAR_TICKER_KEYS, "")
            st["fundingCap"] = _s(FUNDING_CAP)
            st.update(fields)
            return [(b.k_tick, self._tick_snapshot(b))]
        changed = [(k, v) for k, v in fields if st[k] != v]
        if not changed:
            return []
        st.update(changed)
        body = ",".join(f'"{k}":"{v}"' for k, v in changed)
        s = b.native
        return [
            (
                b.k_tick,
                f'{{"topic":"tickers.{s}","type":"delta","data":{{"symbol":"{s}",{body}}},'
                f'"cs":{b.next_cs()},"ts":{ts // _MS}}}',
            )
        ]

    def _tick_snapshot(self, b: _Book) -> str:
        st = b.tick
        assert st is not None
        if b.bbo_pending is not None:  # a new subscriber sees the latest top of book too
            st = {**st, **dict(_bbo_fields(b.bbo_pending, b.cs))}
        s = b.native
        body = ",".join(f'"{k}":"{v}"' for k, v in st.items())
        return (
            f'{{"topic":"tickers.{s}","type":"snapshot","data":{{"symbol":"{s}",{body}}},'
            f'"cs":{b.next_cs()},"ts":{b.tick_ts // _MS}}}'
        )

    # ---- REST ------------------------------------------------------------------------------------
    def rest(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> RestResponse | None:
        category = query.get("category", [""])[0]
        market = _MARKET_OF_CATEGORY.get(category)
        if path == "/v5/market/instruments-info":
            if market is None:
                return self._rest_error(10001, "Illegal category")
            sym = query.get("symbol", [""])[0]
            rows = [
                self._instrument_row(i)
                for i in self.by_native.values()
                if i.market == market and (not sym or i.native == sym)
            ]
            return self._rest_ok({"category": category, "list": rows, "nextPageCursor": ""})
        if path == "/v5/market/orderbook":
            if market is None:
                return self._rest_error(10001, "Illegal category")
            inst = self.by_native.get((market, query.get("symbol", [""])[0]))
            if inst is None:
                return self._rest_error(10001, "params error: symbol invalid")
            cap = 500 if market == "perp" else 200
            try:
                limit = int(query.get("limit", ["25" if market == "perp" else "1"])[0])
            except ValueError:
                return self._rest_error(10001, "params error: limit invalid")
            snap = self._snapshot(market, inst.symbol, max(1, min(limit, cap)))
            if snap is None:
                return self._rest_error(10001, "params error: symbol invalid")
            cs = self._books[(market, inst.symbol)].cs
            ms = snap.ts // _MS
            # u matches the deepest stream of the category (linear 1000, spot 200), as Bybit documents
            u = snap.seq + U_OFFSET[1000 if market == "perp" else 200]
            return self._rest_ok(
                {
                    "s": inst.native,
                    "b": [[_s(p), _q(q / cs)] for p, q in snap.bids],
                    "a": [[_s(p), _q(q / cs)] for p, q in snap.asks],
                    "ts": ms,
                    "u": u,
                    "seq": SEQ_BASE + snap.seq,
                    "cts": ms,
                }
            )
        return self._rest_data.answer(path, query)

    def throttled_response(self, path: str) -> RestResponse:
        return bybit_rest.throttled()

    @staticmethod
    def _rest_ok(result: dict[str, Any]) -> RestResponse:
        return RestResponse(
            200, _enc({"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": time.time_ns() // _MS})
        )

    @staticmethod
    def _rest_error(code: int, msg: str) -> RestResponse:
        return RestResponse(
            200, _enc({"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": time.time_ns() // _MS})
        )

    def _instrument_row(self, i: Instrument) -> dict[str, Any]:
        spec = DEFAULT_SYMBOL_SPECS.get(i.symbol)
        tick = i.tick_size or (spec.tick if spec is not None else 0.01)
        lot = spec.lot if spec is not None else 0.001
        tick_s, lot_s = _s(tick), _s(lot)
        scale = len(tick_s.partition(".")[2].rstrip("0")) if "." in tick_s else 0
        price_filter = {"minPrice": tick_s, "maxPrice": _s(round(tick * 19_999_998, scale)), "tickSize": tick_s}
        if i.market == "spot":
            return {
                "symbol": i.native,
                "baseCoin": i.base,
                "quoteCoin": i.quote,
                "innovation": "0",
                "status": "Trading",
                "marginTrading": "utaOnly",
                "stTag": "0",
                "lotSizeFilter": {
                    "basePrecision": lot_s,
                    "quotePrecision": "0.00000001",
                    "minOrderQty": lot_s,
                    "maxOrderQty": _s(lot * 10_000_000),
                    "minOrderAmt": "5",
                    "maxOrderAmt": "8000000",
                },
                "priceFilter": {"tickSize": tick_s},
                "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
            }
        vspec = DEFAULT_VENUE_SPECS.get(self.venue_id)
        hours = vspec.funding_interval_hours if vspec is not None else 8.0
        return {
            "symbol": i.native,
            "contractType": "LinearPerpetual",
            "status": "Trading",
            "baseCoin": i.base,
            "quoteCoin": i.quote,
            "launchTime": "1584230400000",
            "deliveryTime": "0",
            "deliveryFeeRate": "",
            "priceScale": str(scale),
            "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
            "priceFilter": price_filter,
            "lotSizeFilter": {
                "maxOrderQty": _s(lot * 1_000_000),
                "minOrderQty": lot_s,
                "qtyStep": lot_s,
                "postOnlyMaxOrderQty": _s(lot * 1_000_000),
                "maxMktOrderQty": _s(lot * 500_000),
                "minNotionalValue": "5",
            },
            "unifiedMarginTrade": True,
            "fundingInterval": int(hours * 60),
            "settleCoin": i.quote,
            "copyTrading": "both",
            "upperFundingRate": _s(FUNDING_CAP),
            "lowerFundingRate": _s(-FUNDING_CAP),
            "isPreListing": False,
            "preListingInfo": None,
            "displayName": "",
        }


SIM_VENUE = BybitSim
