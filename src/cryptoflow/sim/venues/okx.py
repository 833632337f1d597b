"""OKX v5 server side: /ws/v5/public and /ws/v5/business, op subscribe/unsubscribe, text ping.

Frames mirror the real captures (../shared/venue-samples/okx): every push is
``{"arg":{"channel":..,"instId":..},"data":[..]}`` with numbers and times (ms) as strings,
except the integer ``seqId``/``prevSeqId``/``checksum``. SWAP sizes are contracts (base units /
``ctVal`` for linear, USD / ``ctVal`` for inverse), rounded to the 0.01-contract lot (whole
contracts for inverse) and never 0 for a live level; spot sizes are base units.

Books: a ``books`` subscription starts with an ``action: "snapshot"`` (``prevSeqId -1``,
``seqId`` = the market's last book update id, ``checksum`` 0 as since June 2026), then one
``update`` per market diff with ``seqId`` = the diff's id and ``prevSeqId`` = the previous
``seqId`` sent for that book, so a dropped frame breaks the chain exactly as on OKX.
``bbo-tbt`` carries the same ``seqId`` numbering (the BBO's update id); ``books5`` is a full
top-5 snapshot at most every 100 ms of market time, as OKX pushes it.

Routing as on the real venue: candles only on /business (a candle subscription on /public,
or a public channel on /business, gets OKX's 60018 "Wrong URL or channel" error, one error
per bad arg while the good args of the same request are acknowledged). Heartbeat: OKX sends
no pings; it answers the text ``ping`` with ``pong`` and drops a connection that has sent
nothing for 30 s. Channels whose latest value OKX pushes on subscribe (tickers, bbo-tbt,
mark/index, funding, open interest, candles) replay the last frame sent on that topic.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

import msgspec

from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.sim.model_specs import DEFAULT_SYMBOL_SPECS
from cryptoflow.sim.protocol import ClientReply, ConnState, FloatText, MarketView, RestResponse, SimVenue
from cryptoflow.sim.venues import okx_rest
from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import BookUpdate
from cryptoflow.venues.okx.subscribe import CANDLE_CHANNELS

_enc = msgspec.json.encode
_MS = 1_000_000
_HOUR_MS = 3_600_000

LOT = 0.01  # linear SWAP lot (contracts), as BTC-USDT-SWAP's lotSz; inverse contracts are whole
BOOKS_DEPTH = 400  # levels in a ``books`` snapshot
BOOKS5_EVERY_MS = 100  # books5 push period

PUBLIC_CHANNELS = frozenset(
    ("trades", "books", "books5", "bbo-tbt", "tickers", "funding-rate", "mark-price", "index-tickers",
     "open-interest", "liquidation-orders")
)  # fmt: skip
SWAP_ONLY = frozenset(("funding-rate", "mark-price", "open-interest"))
# every OKX candle channel (only the CANDLE_CHANNELS intervals carry data here)
BUSINESS_CHANNELS = frozenset(
    [f"candle{p}" for p in ("1Y", "6M", "3M", "1M", "1W", "1D", "2D", "3D", "5D", "12H", "6H", "4H", "2H", "1H")]
    + [f"candle{p}utc" for p in ("1Y", "3M", "1M", "1W", "1D", "2D", "3D", "5D", "12H", "6H")]
    + ["candle30m", "candle15m", "candle5m", "candle3m", "candle1m", "candle1s"]
)
LIQUIDATION_TYPES = frozenset(("SWAP", "FUTURES", "MARGIN", "OPTION"))
# topics whose last frame is pushed again to a new subscriber (OKX sends the current value first)
_REPLAYED = frozenset(("tickers", "bbo-tbt", "mark-price", "index-tickers", "funding-rate", "open-interest"))


def _okx_text(x: float) -> str:
    """A float as OKX writes numbers: shortest round-trip digits, no ``.0``, no exponent."""
    s = repr(x)
    if s.endswith(".0"):
        s = s[:-2]
    elif "e" in s:
        s = f"{x:.12f}".rstrip("0").rstrip(".")
    return s


# float -> OKX text, memoised (prices and sizes sit on grids, so they repeat): the encoders' main cost
_N = FloatText(_okx_text, max_size=250_000)
_num = _N.__getitem__


class _Spec:
    """One instrument as the encoder needs it (built once; hot paths read slots only)."""

    __slots__ = ("bbo_head", "books5_topic", "books_head", "books_topic", "ct", "family", "index", "inst",
                 "inst_type", "inv", "inverse", "native", "qty_text", "spot", "trades_head", "trades_topic")

    def __init__(self, inst: Instrument) -> None:
        self.inst = inst
        self.native = n = inst.native
        self.spot = inst.contract_type == "spot"
        self.inverse = inst.contract_type == "inverse"
        self.ct = inst.contract_size
        self.inv = 1.0 / inst.contract_size
        self.inst_type = "SPOT" if self.spot else "SWAP"
        self.family = self.index = f"{inst.base}-{inst.quote}"
        # a size's wire text (``size``) depends on the size alone (except inverse: on the price too)
        self.qty_text: FloatText | None = None
        if self.spot:
            self.qty_text = _N
        elif not self.inverse:
            self.qty_text = FloatText(self._lots, max_size=1 << 14)
        # constant frame parts
        self.books_topic = f"books:{n}"
        self.books5_topic = f"books5:{n}"
        self.books_head = f'{{"arg":{{"channel":"books","instId":"{n}"}},"action":"update","data":[{{"asks":['
        self.bbo_head = f'{{"arg":{{"channel":"bbo-tbt","instId":"{n}"}},"data":[{{"asks":[["'
        self.trades_topic = f"trades:{n}"
        self.trades_head = f'{{"arg":{{"channel":"trades","instId":"{n}"}},"data":[{{"instId":"{n}","tradeId":"'

    def _lots(self, q: float) -> str:
        """Linear SWAP: a live quantity (base units) in contracts, at least one lot."""
        if q <= 0.0:
            return "0"
        c = round(q * self.inv, 2)
        return _N[c] if c >= LOT else "0.01"

    def size(self, q: float, px: float) -> str:
        """A live quantity (base units) on the wire: at least one lot, "0" only for 0."""
        if self.spot:
            return _N[q]
        if q <= 0.0:
            return "0"
        if self.inverse:
            c = round(q * px * self.inv)
            return str(c) if c >= 1 else "1"
        c = round(q * self.inv, 2)
        return _N[c] if c >= LOT else "0.01"

    def amount(self, q: float, px: float) -> str:
        """An aggregate (volume, open interest) in contracts for SWAP, base for spot; may be 0."""
        if self.spot:
            return _num(q)
        if self.inverse:
            return _num(float(round(q * px * self.inv)))
        return _num(round(q * self.inv, 2))

    def levels(self, levels: list[tuple[float, float]]) -> str:
        """``["px","sz","0","orders"]`` rows (the third field is OKX's deprecated liquidation count).

        Most diffs carry one level on one side and none on the other: those skip the join."""
        if not levels:
            return ""
        N, S = _N, self.qty_text
        if len(levels) == 1 and S is not None:
            p, q = levels[0]
            return f'["{N[p]}","{S[q]}","0","1"]' if q > 0.0 else f'["{N[p]}","0","0","0"]'
        if S is None:
            size = self.size
            return ",".join([
                f'["{N[p]}","{size(q, p)}","0","1"]' if q > 0.0 else f'["{N[p]}","0","0","0"]' for p, q in levels
            ])
        return ",".join([f'["{N[p]}","{S[q]}","0","1"]' if q > 0.0 else f'["{N[p]}","0","0","0"]' for p, q in levels])


class _Request(msgspec.Struct):
    op: str
    args: list[dict[str, str]] = []


_request = msgspec.json.Decoder(_Request)


class OkxSim(SimVenue):
    venue_id = "okx"
    ws_paths: ClassVar[dict[str, str]] = {"public": "/ws/v5/public", "business": "/ws/v5/business"}
    client_idle_timeout_s = 30.0  # OKX: no client message for 30 s -> closed
    server_ping_interval_s = None  # OKX never pings; clients send "ping"

    def __init__(self, instruments: list[Instrument], market: MarketView) -> None:
        super().__init__(instruments, market)
        specs = [_Spec(i) for i in instruments if i.market in ("perp", "spot")]
        self._specs = {(s.inst.market, s.inst.symbol): s for s in specs}
        self._by_native = {s.native: s for s in specs}
        self._index_ids = {s.index for s in specs}
        self._prev_seq: dict[str, int] = {}  # native -> last book seqId sent (prevSeqId of the next)
        self._books5_due: dict[str, int] = {}  # native -> market time (ns) of the next books5 push
        self._bbo: dict[str, BBO] = {}  # native -> latest BBO (ticker bid/ask)
        self._last_sz: dict[str, str] = {}  # native -> size of the last trade (ticker lastSz)
        self._index_day: dict[str, list[float]] = {}  # index id -> [open, high, low]
        self._latest: dict[str, str] = {}  # topic -> last frame (replayed on subscribe)
        self._trade_no = 0
        self._conn_ids = random.Random(0x0C5)

    # ---- client side ---------------------------------------------------------------------
    def on_open(self, conn: ConnState) -> ClientReply:
        conn.data["connId"] = f"{self._conn_ids.getrandbits(32):08x}"
        return ClientReply()  # OKX sends nothing on connect

    def on_message(self, text: str, conn: ConnState) -> ClientReply:
        if text == "ping":
            return ClientReply(send=["pong"])
        try:
            req = _request.decode(text)
        except msgspec.MsgspecError:
            return ClientReply(send=[self._error("60012", f"Invalid request: {text}", conn)])
        if req.op not in ("subscribe", "unsubscribe"):
            return ClientReply(send=[self._error("60019", f"Invalid op: {req.op}", conn)])
        if not req.args:
            return ClientReply(send=[self._error("60013", "Invalid args", conn)])
        reply = ClientReply()
        topics = reply.subscribe if req.op == "subscribe" else reply.unsubscribe
        business = conn.path == self.ws_paths["business"]
        for arg in req.args:
            topic = self._topic(arg, business)
            if topic is None:
                detail = ",".join(f"{k}:{v}" for k, v in arg.items() if k != "channel")
                msg = (
                    f"Wrong URL or channel:{arg.get('channel', '')},{detail} doesn't exist. "
                    "Please use the correct URL, channel and parameters referring to API document."
                )
                reply.send.append(self._error("60018", msg, conn))
                continue
            reply.send.append(_enc({"event": req.op, "arg": arg, "connId": conn.data.get("connId", "")}).decode())
            topics.append(topic)
        return reply

    def _topic(self, arg: dict[str, str], business: bool) -> str | None:
        """``channel:instId`` (``liquidation-orders:SWAP``) if OKX serves the arg on this URL."""
        channel = arg.get("channel", "")
        if channel == "liquidation-orders":
            kind = arg.get("instType", "")
            return f"{channel}:{kind}" if not business and kind in LIQUIDATION_TYPES else None
        inst_id = arg.get("instId", "")
        if business:
            return f"{channel}:{inst_id}" if channel in BUSINESS_CHANNELS and inst_id in self._by_native else None
        if channel not in PUBLIC_CHANNELS:
            return None
        if channel == "index-tickers":
            return f"{channel}:{inst_id}" if inst_id in self._index_ids else None
        spec = self._by_native.get(inst_id)
        if spec is None or (channel in SWAP_ONLY and spec.spot):
            return None
        return f"{channel}:{inst_id}"

    def _error(self, code: str, msg: str, conn: ConnState) -> str:
        return _enc({"event": "error", "msg": msg, "code": code, "connId": conn.data.get("connId", "")}).decode()

    def subscription_error(self, text: str, conn: ConnState) -> str:
        return self._error("60014", "Requests too frequent.", conn)

    def on_subscribed(self, topic: str, conn: ConnState) -> list[str]:
        channel, _, key = topic.partition(":")
        if channel == "books" or channel == "books5":
            spec = self._by_native.get(key)
            if spec is None:
                return []
            if channel == "books5":
                return [self._books5(spec)]
            snap = self.market.book_snapshot(self.venue_id, spec.inst.market, spec.inst.symbol, BOOKS_DEPTH)
            return [
                f'{{"arg":{{"channel":"books","instId":"{key}"}},"action":"snapshot","data":[{{'
                f'"asks":[{spec.levels(snap.asks)}],"bids":[{spec.levels(snap.bids)}],"ts":"{snap.ts // _MS}",'
                f'"checksum":0,"prevSeqId":-1,"seqId":{snap.seq}}}]}}'
            ]
        if channel in _REPLAYED or channel in BUSINESS_CHANNELS:
            last = self._latest.get(topic)
            return [last] if last is not None else []
        return []

    # ---- market -> frames ----------------------------------------------------------------------
    def encode(self, item: Any) -> list[tuple[str, str]]:
        t = type(item)
        spec = self._specs.get((item.market, item.symbol))
        if spec is None:
            return []
        if t is BookUpdate:
            return self._book(spec, item)
        if t is BBO:
            return self._bbo_tbt(spec, item)
        if t is Trade:
            return self._trade(spec, item)
        if t is Ticker24h:
            return self._ticker(spec, item)
        if t is Candle:
            return self._candle(spec, item)
        if spec.spot:
            return []  # mark, funding, open interest and liquidations are SWAP channels
        if t is MarkPrice:
            return self._mark(spec, item)
        if t is Funding:
            return self._funding(spec, item)
        if t is OpenInterest:
            return self._open_interest(spec, item)
        if t is Liquidation:
            return self._liquidation(spec, item)
        return []

    def _book(self, spec: _Spec, d: BookUpdate) -> list[tuple[str, str]]:
        n = spec.native
        prev_seq = self._prev_seq
        seq = d.seq
        prev = prev_seq.get(n, seq - 1)
        prev_seq[n] = seq
        ts = d.ts
        frame = (
            f'{spec.books_head}{spec.levels(d.asks)}],"bids":[{spec.levels(d.bids)}],"ts":"{ts // _MS}",'
            f'"checksum":0,"prevSeqId":{prev},"seqId":{seq}}}]}}'
        )
        if ts < self._books5_due.get(n, 0):
            return [(spec.books_topic, frame)]
        self._books5_due[n] = ts + BOOKS5_EVERY_MS * _MS
        return [(spec.books_topic, frame), (spec.books5_topic, self._books5(spec))]

    def _books5(self, spec: _Spec) -> str:
        snap = self.market.book_snapshot(self.venue_id, spec.inst.market, spec.inst.symbol, 5)
        n = spec.native
        return (
            f'{{"arg":{{"channel":"books5","instId":"{n}"}},"data":[{{"asks":[{spec.levels(snap.asks)}],'
            f'"bids":[{spec.levels(snap.bids)}],"instId":"{n}","ts":"{snap.ts // _MS}","seqId":{snap.seq}}}]}}'
        )

    def _bbo_tbt(self, spec: _Spec, b: BBO) -> list[tuple[str, str]]:
        n = spec.native
        self._bbo[n] = b
        seq = b.update_id if b.update_id is not None else self._prev_seq.get(n, 0)
        topic = f"bbo-tbt:{n}"
        N, S = _N, spec.qty_text
        ap, bp = b.ask_price, b.bid_price
        if S is not None:
            asz, bsz = S[b.ask_qty], S[b.bid_qty]
        else:
            asz, bsz = spec.size(b.ask_qty, ap), spec.size(b.bid_qty, bp)
        frame = (
            f'{spec.bbo_head}{N[ap]}","{asz}","0","1"]],"bids":[["{N[bp]}","{bsz}",'
            f'"0","1"]],"ts":"{b.ts // _MS}","seqId":{seq}}}]}}'
        )
        self._latest[topic] = frame
        return [(topic, frame)]

    def _trade(self, spec: _Spec, tr: Trade) -> list[tuple[str, str]]:
        n = spec.native
        self._trade_no += 1
        tid = tr.trade_id if tr.trade_id.isdigit() else str(self._trade_no)
        S = spec.qty_text
        sz = self._last_sz[n] = S[tr.qty] if S is not None else spec.size(tr.qty, tr.price)
        frame = (
            f'{spec.trades_head}{tid}","px":"{_N[tr.price]}","sz":"{sz}","side":"{tr.side}","ts":"{tr.ts // _MS}",'
            f'"count":"1","source":"0","seqId":{self._prev_seq.get(n, 0)}}}]}}'
        )
        return [(spec.trades_topic, frame)]

    def _ticker(self, spec: _Spec, t: Ticker24h) -> list[tuple[str, str]]:
        n = spec.native
        last = t.last
        b = self._bbo.get(n)
        if b is not None:
            ask_px, ask_sz = _num(b.ask_price), spec.size(b.ask_qty, b.ask_price)
            bid_px, bid_sz = _num(b.bid_price), spec.size(b.bid_qty, b.bid_price)
        else:
            ask_px = bid_px = _num(last)
            ask_sz = bid_sz = "0"
        open_ = _num(t.open) if t.open is not None else ""
        if spec.spot:  # vol24h base, volCcy24h quote
            vol = _num(t.volume) if t.volume is not None else ""
            vol_ccy = _num(t.quote_volume) if t.quote_volume is not None else ""
        else:  # vol24h contracts, volCcy24h base
            if spec.inverse:
                vol = _num(float(round(t.quote_volume * spec.inv))) if t.quote_volume is not None else ""
            else:
                vol = spec.amount(t.volume, last) if t.volume is not None else ""
            vol_ccy = _num(t.volume) if t.volume is not None else ""
        d = {
            "instType": spec.inst_type,
            "instId": n,
            "last": _num(last),
            "lastSz": self._last_sz.get(n, "0"),
            "askPx": ask_px,
            "askSz": ask_sz,
            "bidPx": bid_px,
            "bidSz": bid_sz,
            "open24h": open_,
            "high24h": _num(t.high) if t.high is not None else "",
            "low24h": _num(t.low) if t.low is not None else "",
            "sodUtc0": open_,
            "sodUtc8": open_,
            "volCcy24h": vol_ccy,
            "vol24h": vol,
            "ts": str(t.ts // _MS),
        }
        topic = f"tickers:{n}"
        frame = self._latest[topic] = _enc({"arg": {"channel": "tickers", "instId": n}, "data": [d]}).decode()
        return [(topic, frame)]

    def _candle(self, spec: _Spec, c: Candle) -> list[tuple[str, str]]:
        channel = CANDLE_CHANNELS.get(c.interval)
        if channel is None:
            return []
        n = spec.native
        quote = c.quote_volume if c.quote_volume is not None else c.volume * c.close
        if spec.spot:  # vol base, volCcy quote
            vol, vol_ccy = _num(c.volume), _num(quote)
        else:  # vol contracts, volCcy base
            vol, vol_ccy = spec.amount(c.volume, c.close), _num(c.volume)
        row = [
            str(c.open_time // _MS), _num(c.open), _num(c.high), _num(c.low), _num(c.close),
            vol, vol_ccy, _num(quote), "1" if c.closed else "0",
        ]  # fmt: skip
        topic = f"{channel}:{n}"
        frame = self._latest[topic] = _enc({"arg": {"channel": channel, "instId": n}, "data": [row]}).decode()
        return [(topic, frame)]

    def _mark(self, spec: _Spec, m: MarkPrice) -> list[tuple[str, str]]:
        n = spec.native
        ms = m.ts // _MS
        out: list[tuple[str, str]] = []
        if m.index_price is not None:  # first, so the decoder attaches it to this mark price
            idx, px = spec.index, m.index_price
            day = self._index_day.get(idx)
            if day is None:
                day = self._index_day[idx] = [px, px, px]
            else:
                day[1], day[2] = max(day[1], px), min(day[2], px)
            o = _num(day[0])
            index_frame = (
                f'{{"arg":{{"channel":"index-tickers","instId":"{idx}"}},"data":[{{"instId":"{idx}",'
                f'"idxPx":"{_num(px)}","high24h":"{_num(day[1])}","low24h":"{_num(day[2])}","open24h":"{o}",'
                f'"sodUtc0":"{o}","sodUtc8":"{o}","ts":"{ms}"}}]}}'
            )
            topic = f"index-tickers:{idx}"
            self._latest[topic] = index_frame
            out.append((topic, index_frame))
        topic = f"mark-price:{n}"
        frame = self._latest[topic] = (
            f'{{"arg":{{"channel":"mark-price","instId":"{n}"}},"data":[{{"instType":"SWAP","instId":"{n}",'
            f'"markPx":"{_num(m.mark_price)}","ts":"{ms}"}}]}}'
        )
        out.append((topic, frame))
        return out

    def _funding(self, spec: _Spec, f: Funding) -> list[tuple[str, str]]:
        n = spec.native
        ms = f.ts // _MS
        step = round((f.interval_hours or 8.0) * _HOUR_MS)
        at = f.next_funding_time // _MS if f.next_funding_time is not None else (ms // step + 1) * step
        predicted = _num(f.predicted_rate) if f.predicted_rate is not None else ""
        topic = f"funding-rate:{n}"
        frame = self._latest[topic] = (
            f'{{"arg":{{"channel":"funding-rate","instId":"{n}"}},"data":[{{"instId":"{n}",'
            f'"fundingRate":"{_num(f.rate)}","nextFundingRate":"{predicted}","fundingTime":"{at}",'
            f'"nextFundingTime":"{at + step}","ts":"{ms}"}}]}}'
        )
        return [(topic, frame)]

    def _open_interest(self, spec: _Spec, o: OpenInterest) -> list[tuple[str, str]]:
        n = spec.native
        if spec.inverse:  # contracts are worth ctVal USD
            if o.oi_contracts is not None:
                contracts = o.oi_contracts
            elif o.oi_notional is not None:
                contracts = float(round(o.oi_notional * spec.inv))
            else:
                return []
            if o.oi_base is None:
                return []  # base needs a price the item does not carry
            base = o.oi_base
        elif o.oi_contracts is not None:
            contracts = o.oi_contracts
            base = o.oi_base if o.oi_base is not None else contracts * spec.ct
        elif o.oi_base is not None:
            base, contracts = o.oi_base, round(o.oi_base * spec.inv, 2)
        else:
            return []
        usd = _num(o.oi_notional) if o.oi_notional is not None else ""
        topic = f"open-interest:{n}"
        frame = self._latest[topic] = (
            f'{{"arg":{{"channel":"open-interest","instId":"{n}"}},"data":[{{"instType":"SWAP","instId":"{n}",'
            f'"oi":"{_num(contracts)}","oiCcy":"{_num(base)}","oiUsd":"{usd}","ts":"{o.ts // _MS}"}}]}}'
        )
        return [(topic, frame)]

    def _liquidation(self, spec: _Spec, liq: Liquidation) -> list[tuple[str, str]]:
        n = spec.native
        side = "sell" if liq.side == "long" else "buy"  # the liquidation order closes the position
        frame = (
            f'{{"arg":{{"channel":"liquidation-orders","instType":"SWAP"}},"data":[{{"details":[{{"bkLoss":"0",'
            f'"bkPx":"{_num(liq.price)}","ccy":"","posSide":"{liq.side}","side":"{side}",'
            f'"sz":"{spec.size(liq.qty, liq.price)}","ts":"{liq.ts // _MS}"}}],"instFamily":"{spec.family}",'
            f'"instId":"{n}","instType":"SWAP","uly":"{spec.family}"}}]}}'
        )
        return [("liquidation-orders:SWAP", frame)]

    # ---- REST ------------------------------------------------------------------------------------
    def rest(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> RestResponse | None:
        answered = okx_rest.answer(self, path, query)  # market data and statistics (okx_rest.py)
        if answered is not None:
            return answered
        if path == "/api/v5/public/instruments":
            kind = query.get("instType", [""])[0]
            if not kind:
                return RestResponse(400, b'{"code":"50014","msg":"Parameter instType can not be empty.","data":[]}')
            if kind not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
                return RestResponse(400, b'{"code":"51000","msg":"Parameter instType error","data":[]}')
            rows = [self._instrument_row(s) for s in self._by_native.values() if s.inst_type == kind]
            return RestResponse(200, _enc({"code": "0", "msg": "", "data": rows}))
        if path == "/api/v5/market/books":
            spec = self._by_native.get(query.get("instId", [""])[0])
            if spec is None:
                return RestResponse(400, b'{"code":"51001","msg":"Instrument ID does not exist","data":[]}')
            try:
                depth = min(max(int(query.get("sz", ["1"])[0] or 1), 1), BOOKS_DEPTH)
            except ValueError:
                return RestResponse(400, b'{"code":"51000","msg":"Parameter sz error","data":[]}')
            snap = self.market.book_snapshot(self.venue_id, spec.inst.market, spec.inst.symbol, depth)
            data = (
                f'{{"code":"0","msg":"","data":[{{"asks":[{spec.levels(snap.asks)}],'
                f'"bids":[{spec.levels(snap.bids)}],"ts":"{snap.ts // _MS}"}}]}}'
            )
            return RestResponse(200, data.encode())
        return None

    def throttled_response(self, path: str) -> RestResponse:
        """OKX over a limit: HTTP 429, code 50011, no Retry-After header."""
        return okx_rest.THROTTLED

    def _instrument_row(self, s: _Spec) -> dict[str, str]:
        """A GET /api/v5/public/instruments row with the fields OKX sends ("" where not applicable)."""
        inst = s.inst
        sym = DEFAULT_SYMBOL_SPECS.get(inst.symbol)
        tick = inst.tick_size if inst.tick_size is not None else (sym.tick if sym is not None else None)
        row = {
            "instType": s.inst_type, "instId": s.native, "uly": "", "instFamily": "", "baseCcy": "", "quoteCcy": "",
            "settleCcy": "", "ctVal": "", "ctMult": "", "ctValCcy": "", "ctType": "", "optType": "", "stk": "",
            "listTime": "1606468572000", "expTime": "", "lever": "", "tickSz": _num(tick) if tick else "",
            "lotSz": "", "minSz": "", "alias": "", "state": "live", "ruleType": "normal",
        }  # fmt: skip
        if s.spot:
            lot = _num(sym.lot) if sym is not None else "0.00000001"
            row |= {"baseCcy": inst.base, "quoteCcy": inst.quote, "lotSz": lot, "minSz": lot, "lever": "10"}
        else:
            lot = "1" if s.inverse else _num(LOT)
            row |= {
                "uly": s.family, "instFamily": s.family, "settleCcy": inst.base if s.inverse else inst.quote,
                "ctVal": _num(inst.contract_size), "ctMult": "1", "ctValCcy": inst.quote if s.inverse else inst.base,
                "ctType": "inverse" if s.inverse else "linear", "lotSz": lot, "minSz": lot, "lever": "100",
            }  # fmt: skip
        return row


SIM_VENUE = OkxSim
