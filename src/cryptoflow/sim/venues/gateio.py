"""Simulated Gate.io USDT-margined perpetual futures (venue id ``gateio``).

One websocket endpoint (``/v4/ws/usdt``) speaking Gate's futures WS v4: requests
``{"time", "channel": "futures.xxx", "event": "subscribe"|"unsubscribe", "payload": [...]}``,
acks ``{"time", "time_ms", "conn_id", "trace_id", "channel", "event", "payload",
"result": {"status": "success"}}`` (``id`` echoed when the request has one, as in the 2026
capture), errors ``"error": {"code", "message"}``; ``futures.ping`` -> ``futures.pong``. The
server sends websocket-level pings; nothing is sent on connect.

Frames mirror the real captures: prices as strings, sizes as integer CONTRACTS (base units /
the instrument's ``contract_size`` = Gate's ``quanto_multiplier``, rounded, never 0 for a live
level or a trade), ``time`` in s and ``time_ms`` in ms. Book diffs (``futures.order_book_update``)
carry ``U``/``u`` taken from the market's own book update ids (``BookUpdate.first_seq``/``seq``),
and the REST ``order_book?with_id=true`` snapshot's ``id`` is the id of the last diff in the
book, so the venue's first-update rule (``U <= id + 1 <= u``, then ``U == previous u + 1``) holds
exactly. ``futures.tickers`` merges the latest mark price, funding, open interest
(``total_size``, contracts) and 24h stats of a contract into one row; one row is pushed per
market stats tick (when every part of that tick has arrived).

REST (served with and without the real ``/api/v4`` prefix, since the venue module joins its
``endpoints.rest`` base with ``/futures/usdt/...``): ``/futures/usdt/contracts`` (and
``/contracts/{name}``), ``/futures/usdt/order_book``; tickers, trades, candlesticks, premium_index,
funding_rate, insurance and contract_stats in ``gateio_rest.py``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, ClassVar

import msgspec

from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.sim.model_specs import DEFAULT_SYMBOL_SPECS
from cryptoflow.sim.protocol import FLOAT_TEXT, ClientReply, ConnState, RestResponse, SimVenue
from cryptoflow.sim.venues.gateio_rest import GateioRestSim, throttled
from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import BookUpdate

_enc = msgspec.json.encode
_MS = 1_000_000
_S = 1_000_000_000
_R = FLOAT_TEXT  # repr of a float, memoised (the encoders' main cost)

WS_PATH = "/v4/ws/usdt"
REST_PREFIX = "/api/v4"
SETTLE_PATH = "/futures/usdt"

# Channels this simulator serves (all public futures channels the collector uses).
LIST_CHANNELS = ("futures.trades", "futures.book_ticker", "futures.tickers", "futures.public_liquidates")
BOOK_CHANNEL = "futures.order_book_update"
CANDLE_CHANNEL = "futures.candlesticks"
CHANNELS = frozenset((*LIST_CHANNELS, BOOK_CHANNEL, CANDLE_CHANNEL))
BOOK_FREQUENCIES = ("100ms", "20ms")
BOOK_LEVELS = ("100", "50", "20")
CANDLE_INTERVALS = frozenset(("10s", "1m", "5m", "15m", "30m", "1h", "4h", "8h", "1d", "7d"))
ALL_CONTRACTS = "!all"  # futures.public_liquidates: every contract

# Gate WS error codes: 1 invalid request body, 2 invalid argument, 3 server error, 4 auth.
ERR_BODY, ERR_ARG, ERR_SERVER = 1, 2, 3

_TICK, _MARK, _FUND, _OI = 1, 2, 4, 8
_ALL_PARTS = _TICK | _MARK | _FUND | _OI


class _Request(msgspec.Struct):
    channel: str = ""
    event: str = ""
    payload: list[Any] | None = None
    time: int | float | None = None
    id: int | str | None = None


_request = msgspec.json.Decoder(_Request)


def _n(x: float, cs: float) -> int:
    """Base units -> whole contracts; a non-zero quantity is at least one contract."""
    n = round(x / cs)
    return n if n or x <= 0 else 1


def _levels(levels: list[tuple[float, float]], cs: float, R: dict[float, str] = _R) -> str:
    """``[{"p":"price","s":contracts},...]`` as Gate writes book levels (sizes as ``_n`` makes them).

    Most diffs carry one level on one side and none on the other: those skip the join."""
    if not levels:
        return "[]"
    if len(levels) == 1:
        p, q = levels[0]
        return f'[{{"p":"{R[p]}","s":{round(q / cs) or (1 if q > 0 else 0)}}}]'
    return "[" + ",".join([f'{{"p":"{R[p]}","s":{round(q / cs) or (1 if q > 0 else 0)}}}' for p, q in levels]) + "]"


class _C:
    """Precomputed per-contract strings (no per-frame work beyond the f-string)."""

    __slots__ = ("bbo", "bbo_mid", "book", "book_mid", "cs", "inst", "liq", "native", "tickers", "trade_tail", "trades")

    def __init__(self, inst: Instrument) -> None:
        self.inst = inst
        self.native = n = inst.native
        self.cs = inst.contract_size or 1.0
        self.trades = f"futures.trades.{n}"
        self.bbo = f"futures.book_ticker.{n}"
        self.book = f"{BOOK_CHANNEL}.{n}"
        self.tickers = f"futures.tickers.{n}"
        self.liq = f"futures.public_liquidates.{n}"
        # constant frame parts
        self.book_mid = f',"channel":"{BOOK_CHANNEL}","event":"update","result":{{"t":'
        self.bbo_mid = ',"channel":"futures.book_ticker","event":"update","result":{"t":'
        self.trade_tail = f'","contract":"{n}"}}]}}'


class _TickerState:
    """The latest parts of one contract's futures.tickers row and the tick they belong to."""

    __slots__ = ("expect", "flushed", "fund", "got", "mark", "oi", "tick", "ts")

    def __init__(self) -> None:
        self.ts = -1
        self.got = 0
        self.expect = _ALL_PARTS  # the parts a stats tick brings (learned from the last tick)
        self.flushed = True
        self.tick: Ticker24h | None = None
        self.mark: MarkPrice | None = None
        self.fund: Funding | None = None
        self.oi: OpenInterest | None = None


class GateioSim(SimVenue):
    venue_id = "gateio"
    ws_paths: ClassVar[dict[str, str]] = {"public": WS_PATH}
    # Gate sends websocket-level pings and drops connections that answer nothing.
    server_ping_interval_s = 10.0
    client_idle_timeout_s = 60.0

    def __init__(self, instruments: list[Instrument], market: Any) -> None:
        super().__init__(instruments, market)
        self._c = {(i.market, i.symbol): _C(i) for i in instruments}
        self._by_native = {c.native: c for c in self._c.values()}
        self._last_u: dict[str, int] = {}  # native -> last book update id (book_ticker u)
        self._tickers: dict[str, _TickerState] = {}
        self._trade_id = 0
        self.rest_api = GateioRestSim(self)  # REST market data (sim/venues/gateio_rest.py)

    # ---- client side ---------------------------------------------------------------------
    def on_open(self, conn: ConnState) -> ClientReply:
        conn.data["conn_id"] = uuid.uuid4().hex[:16]
        return ClientReply()

    def on_message(self, text: str, conn: ConnState) -> ClientReply:
        try:
            req = _request.decode(text)
        except msgspec.DecodeError:
            return ClientReply(send=[self._error(conn, None, "", "", None, ERR_BODY, "invalid request body format")])
        except msgspec.ValidationError as e:
            return ClientReply(send=[self._error(conn, None, "", "", None, ERR_BODY, f"invalid argument struct: {e}")])
        if req.channel == "futures.ping":
            now = time.time_ns() // _MS
            return ClientReply(
                send=[f'{{"time":{now // 1000},"time_ms":{now},"channel":"futures.pong","event":"","result":null}}']
            )
        if req.event not in ("subscribe", "unsubscribe"):
            msg = f"unknown event {req.event}" if req.event else "event is required"
            return ClientReply(send=[self._error(conn, req.id, req.channel, req.event, req.payload, ERR_ARG, msg)])
        topics, problem = self._topics(req.channel, req.payload)
        if problem:
            return ClientReply(send=[self._error(conn, req.id, req.channel, req.event, req.payload, ERR_ARG, problem)])
        ack = self._ack(conn, req)
        if req.event == "subscribe":
            return ClientReply(send=[ack], subscribe=topics)
        return ClientReply(send=[ack], unsubscribe=topics)

    def subscription_error(self, text: str, conn: ConnState) -> str:
        try:
            req = _request.decode(text)
        except msgspec.MsgspecError:
            req = _Request()
        return self._error(conn, req.id, req.channel, req.event, req.payload, ERR_SERVER, "subscription refused")

    def _topics(self, channel: str, payload: list[Any] | None) -> tuple[list[str], str]:
        """Topics a (channel, payload) stands for, or the reason Gate would refuse it."""
        if channel not in CHANNELS:
            return [], f"unknown channel {channel}" if channel else "channel is required"
        if not payload or not all(isinstance(p, str) for p in payload):
            return [], "payload must be a non-empty list of strings"
        if channel in LIST_CHANNELS:
            out = []
            for contract in payload:
                if contract == ALL_CONTRACTS and channel == "futures.public_liquidates":
                    out.append(f"{channel}.{ALL_CONTRACTS}")
                elif contract not in self._by_native:
                    return [], f"unknown contract {contract}"
                else:
                    out.append(f"{channel}.{contract}")
            return out, ""
        if channel == BOOK_CHANNEL:
            contract, freq, level = [*payload, "", ""][:3]
            if contract not in self._by_native:
                return [], f"unknown contract {contract}"
            if freq not in BOOK_FREQUENCIES:
                return [], f"invalid frequency {freq}"
            if level and (level not in BOOK_LEVELS or (freq == "20ms" and level != "20")):
                return [], f"invalid level {level}"
            if len(payload) > 3:
                return [], "too many arguments"
            return [f"{BOOK_CHANNEL}.{contract}"], ""
        # candlesticks: [interval, contract]
        if len(payload) != 2:
            return [], "payload must be [interval, contract]"
        interval, contract = payload
        if interval not in CANDLE_INTERVALS:
            return [], f"invalid interval {interval}"
        if contract not in self._by_native:
            return [], f"unknown contract {contract}"
        return [f"{CANDLE_CHANNEL}.{interval}.{contract}"], ""

    @staticmethod
    def _head(conn: ConnState, rid: int | str | None) -> dict[str, Any]:
        now = time.time_ns() // _MS
        head: dict[str, Any] = {"time": now // 1000, "time_ms": now}
        if rid is not None:
            head["id"] = rid
        head["conn_id"] = conn.data.get("conn_id", "")
        head["trace_id"] = uuid.uuid4().hex
        return head

    def _ack(self, conn: ConnState, req: _Request) -> str:
        out = self._head(conn, req.id)
        out |= {"channel": req.channel, "event": req.event, "payload": req.payload, "result": {"status": "success"}}
        return _enc(out).decode()

    def _error(
        self,
        conn: ConnState,
        rid: int | str | None,
        channel: str,
        event: str,
        payload: list[Any] | None,
        code: int,
        message: str,
    ) -> str:
        out = self._head(conn, rid)
        out |= {
            "channel": channel,
            "event": event,
            "payload": payload if payload is not None else [],
            "error": {"code": code, "message": message},
            "result": None,
        }
        return _enc(out).decode()

    # ---- market -> frames ----------------------------------------------------------------------
    def encode(self, item: Any) -> list[tuple[str, str]]:
        t = type(item)
        c = self._c.get((item.market, item.symbol))
        if c is None:
            return []
        if t is BookUpdate:
            return self._book(c, item) if not item.snapshot else []
        if t is BBO:
            return self._bbo(c, item)
        if t is Trade:
            return self._trade(c, item)
        if t is Candle:
            return self._candle(c, item)
        if t is Liquidation:
            return self._liquidation(c, item)
        if t is Ticker24h:
            return self._ticker_part(c, item, _TICK)
        if t is MarkPrice:
            return self._ticker_part(c, item, _MARK)
        if t is Funding:
            return self._ticker_part(c, item, _FUND)
        if t is OpenInterest:
            return self._ticker_part(c, item, _OI)
        return []

    def _book(self, c: _C, d: BookUpdate) -> list[tuple[str, str]]:
        seq = d.seq
        first = d.first_seq if d.first_seq >= 0 else seq
        self._last_u[c.native] = seq
        ms = d.ts // _MS
        cs = c.cs
        return [
            (
                c.book,
                f'{{"time":{ms // 1000},"time_ms":{ms}{c.book_mid}{ms},"s":"{c.native}","U":{first},"u":{seq},'
                f'"b":{_levels(d.bids, cs)},"a":{_levels(d.asks, cs)}}}}}',
            )
        ]

    def _bbo(self, c: _C, b: BBO) -> list[tuple[str, str]]:
        u = b.update_id if b.update_id is not None else self._last_u.get(c.native, 0)
        ms = b.ts // _MS
        cs = c.cs
        R = _R
        return [
            (
                c.bbo,
                f'{{"time":{ms // 1000},"time_ms":{ms}{c.bbo_mid}{ms},"u":{u},"s":"{c.native}",'
                f'"b":"{R[b.bid_price]}","B":{_n(b.bid_qty, cs)},"a":"{R[b.ask_price]}","A":{_n(b.ask_qty, cs)}}}}}',
            )
        ]

    def _trade(self, c: _C, tr: Trade) -> list[tuple[str, str]]:
        tid = tr.trade_id
        if not tid.isdigit():
            self._trade_id += 1
            tid = str(self._trade_id)
        size = _n(tr.qty, c.cs)
        if tr.side == "sell":
            size = -size
        ms = tr.ts // _MS
        self.rest_api.on_trade(c.native, int(tid), size, tr.ts, tr.price)
        s = ms // 1000
        return [
            (
                c.trades,
                f'{{"time":{s},"time_ms":{ms},"channel":"futures.trades","event":"update",'
                f'"result":[{{"size":{size},"id":{tid},"create_time":{s},"create_time_ms":{ms},'
                f'"price":"{_R[tr.price]}{c.trade_tail}',
            )
        ]

    def _liquidation(self, c: _C, liq: Liquidation) -> list[tuple[str, str]]:
        # the liquidation ORDER: a long position is closed by a sell (negative size)
        size = _n(liq.qty, c.cs)
        if liq.side == "long":
            size = -size
        ms = liq.ts // _MS
        frame = (
            f'{{"time":{ms // 1000},"time_ms":{ms},"channel":"futures.public_liquidates","event":"update",'
            f'"result":[{{"price":"{liq.price!r}","size":{size},"time":{ms},"contract":"{c.native}"}}]}}'
        )
        return [(c.liq, frame), (f"futures.public_liquidates.{ALL_CONTRACTS}", frame)]

    def _candle(self, c: _C, k: Candle) -> list[tuple[str, str]]:
        ms = k.ts // _MS
        closed = "true" if k.closed else "false"
        return [
            (
                f"{CANDLE_CHANNEL}.{k.interval}.{c.native}",
                f'{{"time":{ms // 1000},"time_ms":{ms},"channel":"{CANDLE_CHANNEL}","event":"update",'
                f'"result":[{{"t":{k.open_time // _S},"v":{round(k.volume / c.cs)},"c":"{k.close!r}",'
                f'"h":"{k.high!r}","l":"{k.low!r}","o":"{k.open!r}","n":"{k.interval}_{c.native}",'
                f'"a":"{k.volume!r}","w":{closed}}}]}}',
            )
        ]

    # ---- futures.tickers: one merged row per stats tick -------------------------------------------
    def _ticker_part(self, c: _C, item: Any, part: int) -> list[tuple[str, str]]:
        st = self._tickers.get(c.native)
        if st is None:
            st = self._tickers[c.native] = _TickerState()
        out: list[tuple[str, str]] = []
        if item.ts != st.ts:
            if st.got:
                if not st.flushed:  # the previous tick never completed: send what it had
                    out.extend(self._ticker_frame(c, st))
                st.expect = st.got
            st.ts, st.got, st.flushed = item.ts, 0, False
        if part == _TICK:
            st.tick = item
        elif part == _MARK:
            st.mark = item
        elif part == _FUND:
            st.fund = item
        else:
            st.oi = item
        st.got |= part
        if not st.flushed and st.got & st.expect == st.expect:
            out.extend(self._ticker_frame(c, st))
            st.flushed = True
        return out

    def _ticker_row(self, c: _C, st: _TickerState) -> dict[str, Any] | None:
        tk, mk, fd, oi = st.tick, st.mark, st.fund, st.oi
        if tk is not None:
            last = tk.last
        elif mk is not None:
            last = mk.mark_price
        else:
            return None  # Gate's row always has "last"
        cs = c.cs
        change = 0.0
        pct = 0.0
        if tk is not None:
            if tk.price_change is not None:
                change = tk.price_change
            elif tk.open is not None:
                change = last - tk.open
            if tk.price_change_pct is not None:
                pct = tk.price_change_pct
            elif tk.open:
                pct = round(change / tk.open * 100.0, 4)
        vol_base = tk.volume if tk is not None and tk.volume is not None else 0.0
        vol_quote = tk.quote_volume if tk is not None and tk.quote_volume is not None else 0.0
        mark = mk.mark_price if mk is not None else last
        index = mk.index_price if mk is not None and mk.index_price is not None else mark
        rate = fd.rate if fd is not None else 0.0
        predicted = fd.predicted_rate if fd is not None and fd.predicted_rate is not None else rate
        hours = fd.interval_hours if fd is not None and fd.interval_hours else 8.0
        nxt = fd.next_funding_time // _S if fd is not None and fd.next_funding_time else 0
        if oi is not None and oi.oi_base is not None:
            total = round(oi.oi_base / cs)
        elif oi is not None and oi.oi_contracts is not None:
            total = round(oi.oi_contracts)
        else:
            total = 0
        return {
            "contract": c.native,
            "last": repr(last),
            "change_percentage": repr(pct),
            "total_size": str(total),
            "volume_24h": str(round(vol_base / cs)),
            "volume_24h_base": repr(vol_base),
            "volume_24h_quote": repr(vol_quote),
            "volume_24h_settle": repr(vol_quote),
            "mark_price": repr(mark),
            "funding_rate": repr(rate),
            "funding_rate_indicative": repr(predicted),
            "funding_interval": round(hours * 3600),
            "funding_offset": 0,
            "funding_next_apply": nxt,
            "index_price": repr(index),
            "quanto_base_rate": "",
            "low_24h": repr(tk.low if tk is not None and tk.low is not None else last),
            "high_24h": repr(tk.high if tk is not None and tk.high is not None else last),
            "price_type": "last",
            "change_from": "24h",
            "change_price": repr(change),
            "t": st.ts // _MS,
        }

    def _ticker_frame(self, c: _C, st: _TickerState) -> list[tuple[str, str]]:
        row = self._ticker_row(c, st)
        if row is None:
            return []
        ms = st.ts // _MS
        frame = {"time": ms // 1000, "time_ms": ms, "channel": "futures.tickers", "event": "update", "result": [row]}
        return [(c.tickers, _enc(frame).decode())]

    # ---- REST ------------------------------------------------------------------------------------
    def rest(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> RestResponse | None:
        if path.startswith(REST_PREFIX + "/"):
            path = path[len(REST_PREFIX) :]
        if not path.startswith(SETTLE_PATH + "/") or method != "GET":
            return None
        sub = path[len(SETTLE_PATH) :]
        answered = self.rest_api.handle(sub, query)  # tickers, trades, candles, statistics, ...
        if answered is not None:
            return answered
        if sub == "/order_book":
            return self._rest_book(query)
        if sub == "/contracts":
            return RestResponse(200, _enc([self._contract_row(c) for c in self._c.values()]))
        if sub.startswith("/contracts/"):
            c = self._by_native.get(sub[len("/contracts/") :])
            if c is None:
                return _rest_error(404, "CONTRACT_NOT_FOUND", "Contract not found")
            return RestResponse(200, _enc(self._contract_row(c)))
        return None

    def throttled_response(self, path: str) -> RestResponse:
        return throttled()

    def _rest_book(self, query: dict[str, list[str]]) -> RestResponse:
        contract = query.get("contract", [""])[0]
        if not contract:
            return _rest_error(400, "MISSING_REQUIRED_PARAM", "Missing required parameter: contract")
        c = self._by_native.get(contract)
        if c is None:
            return _rest_error(400, "CONTRACT_NOT_FOUND", "Contract not found")
        try:
            limit = int(query.get("limit", ["10"])[0])
        except ValueError:
            return _rest_error(400, "INVALID_PARAM_VALUE", "Invalid parameter value: limit")
        if not 1 <= limit <= 300:
            return _rest_error(400, "INVALID_PARAM_VALUE", "Invalid parameter value: limit")
        snap = self.market.book_snapshot(self.venue_id, c.inst.market, c.inst.symbol, limit)
        cs = c.cs
        out: dict[str, Any] = {
            "current": round(time.time(), 3),
            "update": round(snap.ts / _S, 3),
            "asks": [{"s": _n(q, cs), "p": repr(p)} for p, q in snap.asks],
            "bids": [{"s": _n(q, cs), "p": repr(p)} for p, q in snap.bids],
        }
        if query.get("with_id", ["false"])[0] == "true":
            out["id"] = snap.seq
        return RestResponse(200, _enc(out))

    def _contract_row(self, c: _C) -> dict[str, Any]:
        inst = c.inst
        tick = inst.tick_size
        if tick is None:
            spec = DEFAULT_SYMBOL_SPECS.get(inst.symbol)
            tick = spec.tick if spec is not None else 0.0001
        st = self._tickers.get(c.native)
        mark = st.mark.mark_price if st is not None and st.mark is not None else 0.0
        index = st.mark.index_price if st is not None and st.mark is not None and st.mark.index_price else mark
        last = st.tick.last if st is not None and st.tick is not None else mark
        fd = st.fund if st is not None else None
        rate = fd.rate if fd is not None else 0.0001
        hours = fd.interval_hours if fd is not None and fd.interval_hours else 8.0
        nxt = fd.next_funding_time // _S if fd is not None and fd.next_funding_time else 0
        return {
            "name": c.native,
            "type": "direct",
            "quanto_multiplier": repr(c.cs),
            "leverage_min": "1",
            "leverage_max": "100",
            "maintenance_rate": "0.005",
            "mark_type": "index",
            "mark_price": repr(mark),
            "index_price": repr(index),
            "last_price": repr(last),
            "maker_fee_rate": "-0.0001",
            "taker_fee_rate": "0.00075",
            "order_price_round": repr(tick),
            "mark_price_round": repr(tick),
            "funding_rate": repr(rate),
            "funding_interval": round(hours * 3600),
            "funding_next_apply": nxt,
            "order_size_min": 1,
            "order_size_max": 1000000,
            "order_price_deviate": "0.5",
            "orderbook_id": self._last_u.get(c.native, 0),
            "trade_id": 0,
            "trade_size": 0,
            "position_size": 0,
            "in_delisting": False,
            "status": "trading",
        }


def _rest_error(status: int, label: str, message: str) -> RestResponse:
    return RestResponse(status, _enc({"label": label, "message": message}))


SIM_VENUE = GateioSim
