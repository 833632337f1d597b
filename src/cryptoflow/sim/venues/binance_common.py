"""Binance (USD-M and spot) server side: combined streams, SUBSCRIBE/UNSUBSCRIBE, REST depth.

Frames mirror the real captures: numbers as strings, ``E``/``T`` in ms, depth diffs with
``U``/``u`` (and ``pu`` on futures) taken from the market's own book update ids, so a REST
snapshot's ``lastUpdateId`` bridges the diffs exactly as on the real venue.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import msgspec

from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.sim.protocol import FLOAT_TEXT, ClientReply, ConnState, RestResponse, SimVenue
from cryptoflow.sim.venues.binance_rest import BinanceRestSim, throttled
from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import BookUpdate

_enc = msgspec.json.encode
_MS = 1_000_000
_R = FLOAT_TEXT  # repr of a float, memoised (the encoders' main cost)


def _lv(levels: list[tuple[float, float]], R: dict[float, str] = _R) -> str:
    """``[["price","qty"],...]`` as Binance writes levels."""
    if not levels:
        return "[]"
    if len(levels) == 1:
        p, q = levels[0]
        return f'[["{R[p]}","{R[q]}"]]'
    return '[["' + '"],["'.join([f'{R[p]}","{R[q]}' for p, q in levels]) + '"]]'


class _Sym:
    """Per instrument: the constant parts of its frames, built once, and its update ids."""

    __slots__ = ("bbo_head", "bbo_s", "depth_head", "depth_s", "depth_topic", "last_u", "low", "market", "native",
                 "prev_u", "ticker_topic", "trade_head", "trade_s", "trade_topic")

    def __init__(self, inst: Instrument, futures: bool) -> None:
        s = self.native = inst.native
        low = self.low = s.lower()
        self.market = inst.market
        self.depth_topic = t = f"{low}@depth@100ms"
        self.depth_head = f'{{"stream":"{t}","data":{{"e":"depthUpdate","E":'
        self.depth_s = f',"s":"{s}","U":'
        self.trade_topic = t = f"{low}@aggTrade"
        self.trade_head = f'{{"stream":"{t}","data":{{"e":"aggTrade","E":'
        self.trade_s = f',"s":"{s}","p":"'
        self.ticker_topic = t = f"{low}@bookTicker"
        self.bbo_head = f'{{"stream":"{t}","data":{{' + ('"e":"bookTicker","u":' if futures else '"u":')
        self.bbo_s = f',"s":"{s}","b":"'
        self.prev_u: int | None = None  # last final update id sent on the depth stream (next pu)
        self.last_u = 0  # last book update id (bookTicker u when a BBO carries none)


class _Request(msgspec.Struct):
    method: str
    params: list[str] = []
    id: int | str | None = None


_request = msgspec.json.Decoder(_Request)


class BinanceSim(SimVenue):
    futures: ClassVar[bool]
    depth_path: ClassVar[str]
    exchange_info_path: ClassVar[str]
    server_ping_interval_s = 180.0  # websocket-level pings; clients answer pongs

    def __init__(self, instruments, market) -> None:  # type: ignore[no-untyped-def]
        super().__init__(instruments, market)
        self._syms = {key: _Sym(inst, self.futures) for key, inst in self.by_symbol.items()}
        self._funding: dict[str, Funding] = {}
        self._oi: dict[str, OpenInterest] = {}
        self._agg_id = 0
        self.rest_api = BinanceRestSim(self)  # REST market data (sim/venues/binance_rest.py)

    # ---- client side ---------------------------------------------------------------------
    def on_open(self, conn: ConnState) -> ClientReply:
        streams = conn.query.get("streams", [""])[0]
        return ClientReply(subscribe=[s for s in streams.split("/") if s])

    def on_message(self, text: str, conn: ConnState) -> ClientReply:
        try:
            req = _request.decode(text)
        except msgspec.DecodeError:
            return ClientReply(send=['{"error":{"code":3,"msg":"Invalid JSON: expected value at line 1 column 1"}}'])
        except msgspec.ValidationError:
            return ClientReply(send=['{"error":{"code":2,"msg":"Invalid request: missing field \'method\'"}}'])
        if req.method == "SUBSCRIBE":
            bad = [s for s in req.params if not self._valid_stream(s)]
            if bad:
                return ClientReply(
                    send=[
                        _enc(
                            {"error": {"code": 2, "msg": f"Invalid request: unknown stream {bad[0]}"}, "id": req.id}
                        ).decode()
                    ]
                )
            return ClientReply(send=[_enc({"result": None, "id": req.id}).decode()], subscribe=list(req.params))
        if req.method == "UNSUBSCRIBE":
            return ClientReply(send=[_enc({"result": None, "id": req.id}).decode()], unsubscribe=list(req.params))
        if req.method == "LIST_SUBSCRIPTIONS":
            return ClientReply(send=[_enc({"result": sorted(conn.topics), "id": req.id}).decode()])
        return ClientReply(
            send=[
                _enc(
                    {"error": {"code": 2, "msg": f"Invalid request: unknown method {req.method}"}, "id": req.id}
                ).decode()
            ]
        )

    def subscription_error(self, text: str, conn: ConnState) -> str:
        try:
            rid = _request.decode(text).id
        except msgspec.MsgspecError:
            rid = None
        return _enc({"error": {"code": 2, "msg": "Invalid request: subscription refused"}, "id": rid}).decode()

    def _valid_stream(self, stream: str) -> bool:
        sym, _, kind = stream.partition("@")
        if sym.upper() not in self.instruments:
            return False
        base = kind.split("@")[0]
        allowed = {"aggTrade", "trade", "bookTicker", "depth", "ticker", "miniTicker"}
        if self.futures:
            allowed |= {"markPrice", "forceOrder"}
        return base in allowed or base.startswith("kline_") or base in ("depth5", "depth10", "depth20")

    # ---- market -> frames ----------------------------------------------------------------------
    def encode(self, item: Any) -> list[tuple[str, str]]:
        t = type(item)
        if t is BookUpdate:
            return self._depth(item)
        if t is Trade:
            return self._trade(item)
        if t is BBO:
            return self._bbo(item)
        inst = self.instrument_for(item.market, item.symbol)
        if inst is None:
            return []
        s = inst.native
        low = s.lower()
        if t is Funding:
            self._funding[s] = item
            return []
        if t is OpenInterest:
            self._oi[s] = item
            return []
        if t is MarkPrice and self.futures:
            f = self._funding.get(s)
            rate = f"{f.rate!r}" if f else "0.00010000"
            nxt = (f.next_funding_time or 0) // _MS if f else 0
            idx = item.index_price if item.index_price is not None else item.mark_price
            e = item.ts // _MS
            frame = (
                f'{{"e":"markPriceUpdate","E":{e},"s":"{s}","p":"{item.mark_price!r}","P":"{item.mark_price!r}",'
                f'"i":"{idx!r}","r":"{rate}","T":{nxt}}}'
            )
            return [(f"{low}@markPrice@1s", f'{{"stream":"{low}@markPrice@1s","data":{frame}}}')]
        if t is Liquidation and self.futures:
            e = item.ts // _MS
            side = "SELL" if item.side == "long" else "BUY"
            frame = (
                f'{{"e":"forceOrder","E":{e},"o":{{"s":"{s}","S":"{side}","o":"LIMIT","f":"IOC",'
                f'"q":"{item.qty!r}","p":"{item.price!r}","ap":"{item.price!r}","X":"FILLED",'
                f'"l":"{item.qty!r}","z":"{item.qty!r}","T":{e}}}}}'
            )
            return [(f"{low}@forceOrder", f'{{"stream":"{low}@forceOrder","data":{frame}}}')]
        if t is Ticker24h:
            e = item.ts // _MS
            o = item.open if item.open is not None else item.last
            d = {
                "e": "24hrTicker",
                "E": e,
                "s": s,
                "p": repr(item.last - o),
                "P": repr(round((item.last - o) / o * 100, 3) if o else 0.0),
                "w": repr(item.last),
                "c": repr(item.last),
                "Q": "1",
                "o": repr(o),
                "h": repr(item.high or item.last),
                "l": repr(item.low or item.last),
                "v": repr(item.volume or 0.0),
                "q": repr(item.quote_volume or 0.0),
                "O": e - 86_400_000,
                "C": e,
                "F": 0,
                "L": 0,
                "n": 0,
            }
            return [(f"{low}@ticker", _enc({"stream": f"{low}@ticker", "data": d}).decode())]
        if t is Candle:
            e = item.ts // _MS
            ot = item.open_time // _MS
            k = {
                "t": ot,
                "T": ot + 59_999,
                "s": s,
                "i": item.interval,
                "f": 0,
                "L": 0,
                "o": repr(item.open),
                "c": repr(item.close),
                "h": repr(item.high),
                "l": repr(item.low),
                "v": repr(item.volume),
                "n": item.trades or 0,
                "x": item.closed,
                "q": repr(item.quote_volume or 0.0),
                "V": "0",
                "Q": "0",
                "B": "0",
            }
            topic = f"{low}@kline_{item.interval}"
            return [(topic, _enc({"stream": topic, "data": {"e": "kline", "E": e, "s": s, "k": k}}).decode())]
        return []

    def _trade(self, tr: Trade) -> list[tuple[str, str]]:
        r = self._syms.get((tr.market, tr.symbol))
        if r is None:
            return []
        self.rest_api.on_trade(r.native, tr)
        self._agg_id += 1
        tid = tr.trade_id if tr.trade_id.isdigit() else str(self._agg_id)
        e = tr.ts // _MS
        m = "true" if tr.side == "sell" else "false"
        R = _R
        return [(r.trade_topic, f'{r.trade_head}{e},"a":{tid}{r.trade_s}{R[tr.price]}","q":"{R[tr.qty]}",'
                                f'"f":{tid},"l":{tid},"T":{e},"m":{m}}}}}')]

    def _bbo(self, b: BBO) -> list[tuple[str, str]]:
        r = self._syms.get((b.market, b.symbol))
        if r is None:
            return []
        u = b.update_id if b.update_id is not None else r.last_u
        R = _R
        body = (f'{r.bbo_head}{u}{r.bbo_s}{R[b.bid_price]}","B":"{R[b.bid_qty]}",'
                f'"a":"{R[b.ask_price]}","A":"{R[b.ask_qty]}"')
        if self.futures:
            e = b.ts // _MS
            return [(r.ticker_topic, f'{body},"T":{e},"E":{e}}}}}')]
        return [(r.ticker_topic, f"{body}}}}}")]

    def _depth(self, d: BookUpdate) -> list[tuple[str, str]]:
        r = self._syms.get((d.market, d.symbol))
        if r is None:
            return []
        seq = d.seq
        first = d.first_seq if d.first_seq >= 0 else seq
        pu = r.prev_u if r.prev_u is not None else first - 1
        r.prev_u = r.last_u = seq
        e = d.ts // _MS
        levels = f'"b":{_lv(d.bids)},"a":{_lv(d.asks)}}}}}'
        if self.futures:
            frame = f'{r.depth_head}{e},"T":{e}{r.depth_s}{first},"u":{seq},"pu":{pu},{levels}'
        else:
            frame = f'{r.depth_head}{e}{r.depth_s}{first},"u":{seq},{levels}'
        return [(r.depth_topic, frame)]

    # ---- REST ------------------------------------------------------------------------------------
    def rest(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> RestResponse | None:
        answered = self.rest_api.handle(method, path, query)  # exchangeInfo, tickers, trades, history
        if answered is not None:
            return answered
        sym = query.get("symbol", [""])[0].upper()
        if path == self.depth_path:
            inst = self.instruments.get(sym)
            if inst is None:
                return RestResponse(400, b'{"code":-1121,"msg":"Invalid symbol."}')
            limit = int(query.get("limit", ["1000"])[0])
            snap = self.market.book_snapshot(self.venue_id, inst.market, inst.symbol, limit)
            head = {"lastUpdateId": snap.seq}
            if self.futures:
                head |= {"E": snap.ts // _MS, "T": snap.ts // _MS}
            out = {
                **head,
                "bids": [[repr(p), repr(q)] for p, q in snap.bids],
                "asks": [[repr(p), repr(q)] for p, q in snap.asks],
            }
            return RestResponse(200, _enc(out))
        if path == "/fapi/v1/openInterest" and self.futures:
            inst = self.instruments.get(sym)
            if inst is None:
                return RestResponse(400, b'{"code":-1121,"msg":"Invalid symbol."}')
            oi = self._oi.get(sym)
            if oi is not None:
                val = oi.oi_base if oi.oi_base is not None else oi.oi_contracts
                return RestResponse(200, _enc({"openInterest": repr(val), "symbol": sym, "time": oi.ts // _MS}))
            # before the market's first open-interest tick: its current state (a perpetual always has OI)
            now_ms = time.time_ns() // _MS
            current = getattr(self.market, "open_interest", None)
            if current is None:
                return RestResponse(400, b'{"code":-4108,"msg":"Symbol is on delivering or delivered or settling."}')
            return RestResponse(200, _enc({"openInterest": repr(current(self.venue_id, inst.market, inst.symbol)),
                                           "symbol": sym, "time": now_ms}))
        return None

    def throttled_response(self, path: str) -> RestResponse:
        return throttled(self.futures)
