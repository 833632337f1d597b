"""Simulated Deribit (JSON-RPC 2.0 over ``/ws/api/v2``): perpetuals, inverse and USDC-linear.

Client protocol, as the real venue answers it (nothing is sent on connect):

- ``public/subscribe {"channels": [...]}`` -> ``{"jsonrpc","id","result":[channels subscribed],
  "usIn","usOut","usDiff","testnet"}`` (the 2021 capture's ack). Channels that do not exist
  (unknown instrument, resolution, depth, interval) are silently left out of ``result``, as the
  real venue does. Any ``.raw`` channel makes the whole request fail with
  ``13778 raw_subscriptions_not_available_for_unauthorized`` (anonymous connections get
  ``.100ms`` only; the frame is the one quoted in cryptofeed issue #768). ``channels`` that is
  not a list -> ``-32602 Invalid params`` with ``data: {"reason", "param"}``.
- ``public/unsubscribe`` -> the channels actually unsubscribed; ``public/unsubscribe_all`` -> "ok".
- ``public/set_heartbeat {"interval": N}`` (N >= 10, else ``-32602``) -> "ok"; from then on the
  server sends ``{"method":"heartbeat","params":{"type":"test_request"}}`` every N s and closes the
  connection when a test_request is still unanswered at the next one. ``public/test`` ->
  ``{"version": ...}`` answers it; ``public/disable_heartbeat`` stops it.
- ``private/*`` -> ``13009 unauthorized``; unknown method -> ``-32601 Method not found``; junk ->
  ``-32700 Parse error``; no method or id -> ``-32600 Invalid Request``. Refused subscriptions
  (fault injection) get ``10028 too_many_requests``, Deribit's subscribe rate limit.

Heartbeats and the generic server. The exact per-connection rule lives in ``on_tick`` (state in
``ConnState.data``); the server has no per-connection housekeeping hook yet, so until it calls
``on_tick`` the closest thing is used: once a client asks for heartbeats, ``server_ping_interval_s``
becomes the smallest interval asked for (``server_ping`` is the test_request, sent to every
connection) and ``client_idle_timeout_s`` twice that (a client that answers every test_request is
never idle that long; one that ignores them is closed one interval after the unanswered one).

Channels and frames (``{"jsonrpc":"2.0","method":"subscription","params":{"channel","data"}}``,
key order of the live frames, times in ms):

- ``trades.X.100ms``: one trade per frame, ``amount`` in USD for inverse perps (BTC-PERPETUAL,
  ETH-PERPETUAL: base x price rounded to the contract size, 10 / 1 USD, never 0 contracts) and in
  coins for linear ones, ``contracts``, ``trade_seq``, ``tick_direction``, mark and index from the
  latest ticker. The trades of a market ``Liquidation`` (it precedes them, same time, taker side
  = the liquidated position closing: a long is sold) carry ``"liquidation":"T"``, which the
  decoder turns back into liquidations of that side.
- ``book.X.100ms``: on subscribe a ``snapshot`` (``self.market.book_snapshot``; ``change_id`` =
  the market's book update id), then one ``change`` per market diff with ``change_id`` = its id
  and ``prev_change_id`` = the id before it, so the chain links to the snapshot exactly. Entries
  are ``["new"|"change"|"delete", price, amount]``: a mirror of each book tells new from changed.
- ``book.X.none.{1|10|20}.100ms``: full top-N snapshots from the mirror, at most one per 100 ms
  of market time per book (sent with the first diff of each 100 ms window; one on subscribe).
- ``quote.X``: best bid/ask per market BBO.
- ``ticker.X.100ms``: one full ticker per market stats tick, merging the tick's Ticker24h,
  MarkPrice, Funding (``funding_8h`` = rate per 8 h, ``current_funding`` = predicted rate on the
  same basis) and OpenInterest (USD for inverse, coins for linear) with the latest BBO; sent
  once every part of the tick has arrived (the parts a tick brings are learned). The latest one
  is also sent on subscribe.
- ``chart.trades.X.{1|3|5|15|30|60|120|1D}``: the current candle of each resolution, aggregated
  from the market's 1-minute candles (``tick`` = bucket open time). These are the resolutions the
  Deribit venue module names (``subscribe.RESOLUTIONS``). Deribit also serves 10, 180, 360 and 720;
  none of our intervals names them, so no client of ours asks for them: the sim leaves them out of
  a subscribe result like any unknown channel and never encodes them (the decode-only benchmark
  decodes every frame ``encode`` returns, subscribed or not: there they would be decode errors).

REST (with and without the real ``/api/v2`` prefix, since the venue joins its ``endpoints.rest``
base with ``/public/...``): ``public/get_instruments`` (the perpetuals, in the real row shape,
filtered by ``currency`` and ``kind``), ``public/test``, ``public/get_time``; the market-data
methods (ticker, order book, trades, chart data, funding history, options summary, DVOL) are in
``deribit_rest.py``, and ``throttled_response`` is Deribit's ``10028 too_many_requests``. Books
still sync in-stream; the REST book is for snapshots on demand.
"""

from __future__ import annotations

import heapq
import time
from typing import Any, ClassVar

import msgspec

from cryptoflow.events import BBO, INTERVALS_NS, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.sim.model_specs import DEFAULT_SYMBOL_SPECS, Decimals
from cryptoflow.sim.protocol import FLOAT_TEXT, ClientReply, ConnState, RestResponse, SimVenue
from cryptoflow.sim.venues.deribit_rest import DeribitRestSim, throttled
from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import BookUpdate
from cryptoflow.venues.deribit import subscribe as dsub
from cryptoflow.venues.deribit.instruments import INSTRUMENTS_PATH

_enc = msgspec.json.encode
_MS = 1_000_000
_MINUTE_NS = 60_000_000_000
_8H_MS = 8 * 3_600_000
_R = FLOAT_TEXT  # repr of a float, memoised (the encoders' main cost); amounts are floats too

WS_PATH = "/ws/api/v2"
REST_PREFIX = "/api/v2"
VERSION = "1.2.26"
PUSH = '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"'
TEST_REQUEST = '{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}'
MIN_HEARTBEAT_S = 10

# USD per contract of the inverse perpetuals (the wire amount is a multiple of it)
INVERSE_CONTRACT_USD = {"BTC": 10.0, "ETH": 1.0}
BOOK_INTERVAL = "100ms"  # the only aggregation an anonymous connection gets (.raw needs auth)
GROUPED_DEPTHS = tuple(str(d) for d in dsub.GROUPED_DEPTHS)
GROUPED_EVERY_MS = 100
SNAPSHOT_DEPTH = 10_000  # book.X.100ms snapshots carry the whole book
# chart.trades resolutions served -> minutes: those the venue module names (module doc)
CHART_MINUTES: dict[str, int] = {res: INTERVALS_NS[iv] // _MINUTE_NS for iv, res in dsub.RESOLUTIONS.items()}
PRICE_BAND = 0.015  # min_price / max_price: mark -+ 1.5 % (as in the captured ticker)

_TICK, _MARK, _FUND, _OI = 1, 2, 4, 8
_ALL_PARTS = _TICK | _MARK | _FUND | _OI


class _Request(msgspec.Struct):
    method: str | None = None
    params: dict[str, Any] | None = None
    id: int | str | None = None
    jsonrpc: str | None = None


_request = msgspec.json.Decoder(_Request)


def _num(x: float | None) -> str:
    return "null" if x is None else repr(x)


def _us() -> int:
    return time.time_ns() // 1_000


def _response(rid: int | str | None, result: str) -> str:
    """A JSON-RPC answer with Deribit's timing trailer (key order of the captured ack)."""
    us_in = _us()
    us_out = _us()
    return (
        f'{{"jsonrpc":"2.0","id":{_enc(rid).decode()},"result":{result},'
        f'"usIn":{us_in},"usOut":{us_out},"usDiff":{us_out - us_in},"testnet":false}}'
    )


def _error(rid: int | str | None, code: int, message: str, data: Any = None, with_id: bool = True) -> str:
    """A JSON-RPC error as Deribit sends it: ``{"message", ["data",] "code"}`` and the timing trailer."""
    us_in = _us()
    us_out = _us()
    head = f'{{"jsonrpc":"2.0","id":{_enc(rid).decode()},' if with_id else '{"jsonrpc":"2.0",'
    extra = f',"data":{_enc(data).decode()}' if data is not None else ""
    return (
        f'{head}"error":{{"message":"{message}"{extra},"code":{code}}},'
        f'"usIn":{us_in},"usOut":{us_out},"usDiff":{us_out - us_in},"testnet":false}}'
    )


class _Ticker:
    """The latest parts of one instrument's ticker and the stats tick they belong to."""

    __slots__ = ("expect", "flushed", "fund", "got", "interest", "mark", "oi", "settle", "settle_period", "tick", "ts")

    def __init__(self) -> None:
        self.ts = -1
        self.got = 0
        self.expect = _ALL_PARTS  # the parts a stats tick brings (learned from incomplete ticks)
        self.flushed = True
        self.tick: Ticker24h | None = None
        self.mark: MarkPrice | None = None
        self.fund: Funding | None = None
        self.oi: OpenInterest | None = None
        self.settle: float | None = None  # mark at the last 8 h settlement
        self.settle_period = -1
        self.interest = 0.0  # funding accrued since the start (interest_value)


class _I:
    """One instrument's precomputed channel names and protocol state."""

    __slots__ = (
        "bbo",
        "book",
        "book_head",
        "chart",
        "chart_heads",
        "cs",
        "grouped_heads",
        "grouped_next_ms",
        "grouped_wanted",
        "inst",
        "inverse",
        "last_px",
        "last_td",
        "last_ticker",
        "liq_left",
        "liq_side",
        "liq_ts",
        "mirror_asks",
        "mirror_bids",
        "native",
        "quote",
        "quote_head",
        "seeded",
        "tick",
        "tick_dec",
        "ticker",
        "ticker_head",
        "trade_seq",
        "trades",
        "trades_head",
    )

    def __init__(self, inst: Instrument) -> None:
        self.inst = inst
        self.native = n = inst.native
        self.inverse = inst.contract_type == "inverse"
        # wire amount step: USD per contract (inverse); linear amounts are coins, sent as they are
        self.cs = INVERSE_CONTRACT_USD.get(inst.base, 1.0) if self.inverse else 1.0
        spec = DEFAULT_SYMBOL_SPECS.get(inst.symbol)
        self.tick = inst.tick_size or (spec.tick if spec is not None else 0.0001)
        self.tick_dec = Decimals.of(self.tick)
        self.trades = f"trades.{n}.{BOOK_INTERVAL}"
        self.quote = f"quote.{n}"
        self.book = f"book.{n}.{BOOK_INTERVAL}"
        self.ticker = f"ticker.{n}.{BOOK_INTERVAL}"
        self.trades_head = f'{PUSH}{self.trades}","data":[{{'
        self.quote_head = f'{PUSH}{self.quote}","data":{{'
        self.book_head = f'{PUSH}{self.book}","data":{{'
        self.ticker_head = f'{PUSH}{self.ticker}","data":{{'
        self.grouped_heads = {
            d: (f"book.{n}.none.{d}.{BOOK_INTERVAL}", f'{PUSH}book.{n}.none.{d}.{BOOK_INTERVAL}","data":{{')
            for d in GROUPED_DEPTHS
        }
        self.chart_heads = {
            r: (f"chart.trades.{n}.{r}", f'{PUSH}chart.trades.{n}.{r}","data":{{') for r in CHART_MINUTES
        }
        self.chart: dict[str, list[Any]] = {}  # resolution -> [bucket open ns, closed-minutes aggregate]
        self.grouped_wanted: list[str] = []  # grouped depths ever subscribed (only those are built)
        self.grouped_next_ms = 0
        self.mirror_bids: dict[float, float] = {}
        self.mirror_asks: dict[float, float] = {}
        self.seeded = False
        self.bbo: BBO | None = None
        self.last_ticker: str | None = None
        self.trade_seq = 0
        self.last_px: float | None = None
        self.last_td = 0
        self.liq_left = 0.0  # base quantity of the pending liquidation's trades not yet flagged
        self.liq_side = ""  # taker direction of those trades
        self.liq_ts = -1

    def amount(self, q: float, p: float) -> float:
        """Base units -> the wire amount (USD in whole contracts for inverse, never 0 for q > 0)."""
        if not self.inverse:
            return q
        n = round(q * p / self.cs)
        if n == 0 and q > 0:
            n = 1
        return n * self.cs


class DeribitSim(SimVenue):
    venue_id = "deribit"
    ws_paths: ClassVar[dict[str, str]] = {"public": WS_PATH}
    # None until a client calls public/set_heartbeat (then per instance; see the module doc)
    server_ping_interval_s = None
    client_idle_timeout_s = None

    def __init__(self, instruments: list[Instrument], market: Any) -> None:
        super().__init__(instruments, market)
        self._c = {(i.market, i.symbol): _I(i) for i in instruments if i.market == "perp"}
        self._by_native = {c.native: c for c in self._c.values()}
        self._tickers: dict[str, _Ticker] = {}
        self.rest_api = DeribitRestSim(self)  # REST market data (sim/venues/deribit_rest.py)
        self._encoders = {
            BookUpdate: self._book,
            Trade: self._trade,
            BBO: self._quote,
            Ticker24h: self._ticker_part,
            MarkPrice: self._ticker_part,
            Funding: self._ticker_part,
            OpenInterest: self._ticker_part,
            Liquidation: self._liquidation,
            Candle: self._chart,
        }

    # ---- client side ---------------------------------------------------------------------
    def on_message(self, text: str, conn: ConnState) -> ClientReply:
        try:
            req = _request.decode(text)
        except msgspec.DecodeError:
            return ClientReply(send=[_error(None, -32700, "Parse error", with_id=False)])
        except msgspec.ValidationError:
            return ClientReply(send=[_error(None, -32600, "Invalid Request", with_id=False)])
        rid, method, params = req.id, req.method, req.params or {}
        if method is None or rid is None:
            return ClientReply(send=[_error(rid, -32600, "Invalid Request")])
        if method == "public/subscribe":
            return self._subscribe(rid, params)
        if method == "public/unsubscribe":
            channels = params.get("channels")
            if not isinstance(channels, list):
                return ClientReply(send=[_bad_param(rid, "value must be a list", "channels")])
            gone = [c for c in dict.fromkeys(channels) if c in conn.topics]
            return ClientReply(send=[_response(rid, _enc(gone).decode())], unsubscribe=gone)
        if method == "public/unsubscribe_all":
            return ClientReply(send=[_response(rid, '"ok"')], unsubscribe=sorted(conn.topics))
        if method == "public/set_heartbeat":
            interval = params.get("interval")
            if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < MIN_HEARTBEAT_S:
                return ClientReply(send=[_bad_param(rid, f"must be a number >= {MIN_HEARTBEAT_S}", "interval")])
            self._start_heartbeat(conn, float(interval))
            return ClientReply(send=[_response(rid, '"ok"')])
        if method == "public/disable_heartbeat":
            for k in ("heartbeat_s", "heartbeat_due", "test_pending"):
                conn.data.pop(k, None)
            return ClientReply(send=[_response(rid, '"ok"')])
        if method == "public/test" or method == "public/hello":
            conn.data["test_pending"] = False
            return ClientReply(send=[_response(rid, f'{{"version":"{VERSION}"}}')])
        if method == "public/get_time":
            return ClientReply(send=[_response(rid, str(time.time_ns() // _MS))])
        if method.startswith("private/"):
            return ClientReply(send=[_error(rid, 13009, "unauthorized")])
        return ClientReply(send=[_error(rid, -32601, "Method not found")])

    def _subscribe(self, rid: int | str, params: dict[str, Any]) -> ClientReply:
        channels = params.get("channels")
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            return ClientReply(send=[_bad_param(rid, "value must be a list", "channels")])
        if any(c.endswith(".raw") for c in channels):
            return ClientReply(send=[_error(rid, 13778, "raw_subscriptions_not_available_for_unauthorized")])
        ok = [c for c in dict.fromkeys(channels) if self._channel(c) is not None]
        return ClientReply(send=[_response(rid, _enc(ok).decode())], subscribe=ok)

    def _channel(self, ch: str) -> tuple[str, _I, str] | None:
        """A channel this venue serves -> (kind, instrument, depth or resolution); None if none."""
        parts = ch.split(".")
        head, n = parts[0], len(parts)
        if head == "chart":
            if n == 4 and parts[1] == "trades" and parts[3] in CHART_MINUTES:
                c = self._by_native.get(parts[2])
                return ("chart", c, parts[3]) if c is not None else None
            return None
        c = self._by_native.get(parts[1]) if n >= 2 else None
        if c is None:
            return None
        if head == "quote" and n == 2:
            return "quote", c, ""
        if head in ("trades", "ticker") and n == 3 and parts[2] == BOOK_INTERVAL:
            return head, c, ""
        if head == "book":
            if n == 3 and parts[2] == BOOK_INTERVAL:
                return "book", c, ""
            if n == 5 and parts[2] == "none" and parts[3] in GROUPED_DEPTHS and parts[4] == BOOK_INTERVAL:
                return "grouped", c, parts[3]
        return None

    def on_subscribed(self, topic: str, conn: ConnState) -> list[str]:
        ch = self._channel(topic)
        if ch is None:
            return []
        kind, c, arg = ch
        if kind == "book":
            snap = self.market.book_snapshot(self.venue_id, c.inst.market, c.inst.symbol, SNAPSHOT_DEPTH)
            if not c.seeded:
                self._seed(c, snap)
            R, amount = _R, c.amount
            bids = ",".join([f'["new",{R[p]},{R[amount(q, p)]}]' for p, q in snap.bids if q > 0])
            asks = ",".join([f'["new",{R[p]},{R[amount(q, p)]}]' for p, q in snap.asks if q > 0])
            return [
                f'{c.book_head}"type":"snapshot","timestamp":{snap.ts // _MS},"instrument_name":"{c.native}",'
                f'"change_id":{snap.seq},"bids":[{bids}],"asks":[{asks}]}}}}}}'
            ]
        if kind == "grouped":
            if arg not in c.grouped_wanted:
                c.grouped_wanted.append(arg)
            snap = self.market.book_snapshot(self.venue_id, c.inst.market, c.inst.symbol, int(arg))
            return [self._grouped_frame(c, arg, snap.bids, snap.asks, snap.ts // _MS, snap.seq)]
        if kind == "ticker" and c.last_ticker is not None:
            return [c.last_ticker]
        return []

    def subscription_error(self, text: str, conn: ConnState) -> str:
        try:
            rid = _request.decode(text).id
        except msgspec.MsgspecError:
            rid = None
        return _error(rid, 10028, "too_many_requests")

    # ---- heartbeats ------------------------------------------------------------------------
    def _start_heartbeat(self, conn: ConnState, interval: float) -> None:
        conn.data["heartbeat_s"] = interval
        conn.data["heartbeat_due"] = time.monotonic() + interval
        conn.data["test_pending"] = False

    def on_tick(self, conn: ConnState, now: float) -> ClientReply | None:
        """Deribit's per-connection heartbeat rule, for a server that calls it ~every 100 ms:
        every ``interval`` s a test_request; if the previous one is still unanswered, close."""
        interval = conn.data.get("heartbeat_s")
        if interval is None or now < conn.data["heartbeat_due"]:
            return None
        if conn.data.get("test_pending"):
            return ClientReply(close=True)
        conn.data["test_pending"] = True
        conn.data["heartbeat_due"] = now + interval
        return ClientReply(send=[TEST_REQUEST])

    # ---- market -> frames ----------------------------------------------------------------------
    def encode(self, item: Any) -> list[tuple[str, str]]:
        f = self._encoders.get(type(item))
        if f is None:
            return []
        c = self._c.get((item.market, item.symbol))
        if c is None:
            return []
        return f(item, c)

    def _seed(self, c: _I, snap: BookUpdate) -> None:
        c.mirror_bids = {p: q for p, q in snap.bids if q > 0}
        c.mirror_asks = {p: q for p, q in snap.asks if q > 0}
        c.seeded = True

    def _book(self, d: BookUpdate, c: _I) -> list[tuple[str, str]]:
        if d.snapshot:
            return []  # Deribit snapshots are per subscription (on_subscribed)
        if not c.seeded:
            self._seed(c, self.market.book_snapshot(self.venue_id, c.inst.market, c.inst.symbol, SNAPSHOT_DEPTH))
        ms = d.ts // _MS
        first = d.first_seq if d.first_seq >= 0 else d.seq
        bids = self._levels(c, d.bids, c.mirror_bids)
        asks = self._levels(c, d.asks, c.mirror_asks)
        out = [
            (
                c.book,
                f'{c.book_head}"type":"change","timestamp":{ms},"prev_change_id":{first - 1},'
                f'"instrument_name":"{c.native}","change_id":{d.seq},"bids":{bids},"asks":{asks}}}}}}}',
            )
        ]
        if c.grouped_wanted and ms >= c.grouped_next_ms:
            c.grouped_next_ms = (ms // GROUPED_EVERY_MS + 1) * GROUPED_EVERY_MS
            for depth in c.grouped_wanted:
                n = int(depth)
                bids = heapq.nlargest(n, c.mirror_bids.items())
                asks = heapq.nsmallest(n, c.mirror_asks.items())
                out.append((c.grouped_heads[depth][0], self._grouped_frame(c, depth, bids, asks, ms, d.seq)))
        return out

    @staticmethod
    def _levels(c: _I, levels: list[tuple[float, float]], mirror: dict[float, float]) -> str:
        """Diff rows ``["new"|"change"|"delete", price, amount]``, keeping the mirror in step. Most
        diffs carry one level on one side and none on the other: those skip the join."""
        if not levels:
            return "[]"
        R = _R
        amount = c.amount if c.inverse else None  # linear: the amount is the quantity itself
        if len(levels) == 1:
            p, q = levels[0]
            if q > 0:
                action = "change" if p in mirror else "new"
                mirror[p] = q
                return f'[["{action}",{R[p]},{R[amount(q, p) if amount is not None else q]}]]'
            mirror.pop(p, None)
            return f'[["delete",{R[p]},0.0]]'
        parts: list[str] = []
        add = parts.append
        for p, q in levels:
            if q > 0:
                action = "change" if p in mirror else "new"
                mirror[p] = q
                add(f'["{action}",{R[p]},{R[amount(q, p) if amount is not None else q]}]')
            else:
                mirror.pop(p, None)
                add(f'["delete",{R[p]},0.0]')
        return "[" + ",".join(parts) + "]"

    @staticmethod
    def _grouped_frame(
        c: _I, depth: str, bids: list[tuple[float, float]], asks: list[tuple[float, float]], ms: int, change_id: int
    ) -> str:
        R, amount = _R, c.amount
        b = ",".join([f"[{R[p]},{R[amount(q, p)]}]" for p, q in bids if q > 0])
        a = ",".join([f"[{R[p]},{R[amount(q, p)]}]" for p, q in asks if q > 0])
        return (
            f'{c.grouped_heads[depth][1]}"instrument_name":"{c.native}","timestamp":{ms},'
            f'"change_id":{change_id},"bids":[{b}],"asks":[{a}]}}}}}}'
        )

    def _liquidation(self, lq: Liquidation, c: _I) -> list[tuple[str, str]]:
        # the trades that follow (same time) close the liquidated position: a long is sold
        c.liq_left = lq.qty
        c.liq_side = "sell" if lq.side == "long" else "buy"
        c.liq_ts = lq.ts
        return []

    def _trade(self, tr: Trade, c: _I) -> list[tuple[str, str]]:
        p, side = tr.price, tr.side
        a = c.amount(tr.qty, p)
        c.trade_seq += 1
        last = c.last_px
        if last is None or p > last:
            td = 0
        elif p < last:
            td = 2
        else:
            td = 1 if c.last_td in (0, 1) else 3
        c.last_px, c.last_td = p, td
        liq = ""
        if c.liq_left > 0:
            if tr.ts == c.liq_ts and side == c.liq_side:
                liq = ',"liquidation":"T"'
                c.liq_left -= tr.qty
                if c.liq_left <= 1e-12 * max(1.0, tr.qty):
                    c.liq_left = 0.0
            else:
                c.liq_left = 0.0
        st = self._tickers.get(c.native)
        mark = st.mark if st is not None else None
        mp = mark.mark_price if mark is not None else p
        ip = mark.index_price if mark is not None and mark.index_price is not None else mp
        contracts = a / c.cs if c.inverse else a
        self.rest_api.on_trade(c.native, (tr.ts // _MS, p, a, side, tr.trade_id, c.trade_seq, mp, ip, td, contracts,
                                          "T" if liq else ""))
        R = _R
        return [
            (
                c.trades,
                f'{c.trades_head}"timestamp":{tr.ts // _MS},"price":{R[p]},"amount":{R[a]},"direction":"{side}",'
                f'"index_price":{R[ip]},"instrument_name":"{c.native}","trade_seq":{c.trade_seq},'
                f'"mark_price":{R[mp]},"tick_direction":{td},"contracts":{R[contracts]},'
                f'"trade_id":"{tr.trade_id}"{liq}}}]}}}}',
            )
        ]

    def _quote(self, b: BBO, c: _I) -> list[tuple[str, str]]:
        c.bbo = b
        bp, ap = b.bid_price, b.ask_price
        R = _R
        return [
            (
                c.quote,
                f'{c.quote_head}"timestamp":{b.ts // _MS},"instrument_name":"{c.native}",'
                f'"best_ask_price":{R[ap]},"best_bid_price":{R[bp]},'
                f'"best_ask_amount":{R[c.amount(b.ask_qty, ap)]},"best_bid_amount":{R[c.amount(b.bid_qty, bp)]}}}}}}}',
            )
        ]

    # ---- ticker: one frame per stats tick ------------------------------------------------------
    def _ticker_part(self, item: Any, c: _I) -> list[tuple[str, str]]:
        st = self._tickers.get(c.native)
        if st is None:
            st = self._tickers[c.native] = _Ticker()
        out: list[tuple[str, str]] = []
        if item.ts != st.ts:
            if not st.flushed:  # the last tick lacked a part: expect only what ticks bring
                st.expect = st.got
                out += self._flush(c, st)
            st.ts, st.got, st.flushed = item.ts, 0, False
        t = type(item)
        if t is Ticker24h:
            st.tick, bit = item, _TICK
        elif t is MarkPrice:
            st.mark, bit = item, _MARK
        elif t is Funding:
            st.fund, bit = item, _FUND
        else:
            st.oi, bit = item, _OI
        st.got |= bit
        if st.flushed:  # a part the learned set lacked: expect it from now on, send again
            st.expect |= bit
            out += self._flush(c, st)
        elif st.got & st.expect == st.expect:
            out += self._flush(c, st)
        return out

    def _flush(self, c: _I, st: _Ticker) -> list[tuple[str, str]]:
        st.flushed = True
        tk, mk, fd, oi = st.tick, st.mark, st.fund, st.oi
        mark = mk.mark_price if mk is not None else (tk.last if tk is not None else None)
        if mark is None:
            return []
        index = mk.index_price if mk is not None and mk.index_price is not None else mark
        ms = st.ts // _MS
        period = ms // _8H_MS
        if st.settle is None or period != st.settle_period:
            st.settle, st.settle_period = mark, period
        f8h = cur = 0.0
        if fd is not None:
            scale = 8.0 / fd.interval_hours if fd.interval_hours else 1.0
            f8h = fd.rate * scale
            cur = fd.predicted_rate * scale if fd.predicted_rate is not None else f8h
            st.interest += f8h / 8.0 / 3600.0  # accrued per stats tick (about a second)
        oi_wire = 0.0
        if oi is not None:
            base = oi.oi_base
            if base is None:
                base = oi.oi_notional / mark if oi.oi_notional is not None else (oi.oi_contracts or 0.0)
            oi_wire = c.amount(base, mark) if c.inverse else base
        if tk is not None:
            o = tk.open
            pct = tk.price_change_pct
            if pct is None:
                pct = round((tk.last - o) / o * 100.0, 4) if o else 0.0
            qv = tk.quote_volume if tk.quote_volume is not None else 0.0
            last = repr(tk.last)
            stats = (
                f'{{"high":{_num(tk.high if tk.high is not None else tk.last)},'
                f'"low":{_num(tk.low if tk.low is not None else tk.last)},"price_change":{pct!r},'
                f'"volume":{_num(tk.volume if tk.volume is not None else 0.0)},"volume_usd":{qv!r},'
                f'"volume_notional":{qv!r}}}'
            )
        else:
            last = "null"
            stats = '{"high":null,"low":null,"price_change":null,"volume":0.0,"volume_usd":0.0,"volume_notional":0.0}'
        b = c.bbo
        if b is not None:
            bp, ap = b.bid_price, b.ask_price
            ba, aa = c.amount(b.bid_qty, bp), c.amount(b.ask_qty, ap)
        else:
            bp = ap = ba = aa = 0.0
        tick = c.tick_dec
        lo = tick.value(tick.count(mark * (1.0 - PRICE_BAND)))
        hi = tick.value(tick.count(mark * (1.0 + PRICE_BAND)))
        frame = (
            f'{c.ticker_head}"timestamp":{ms},"state":"open","stats":{stats},"index_price":{index!r},'
            f'"instrument_name":"{c.native}","last_price":{last},"settlement_price":{st.settle!r},'
            f'"min_price":{lo!r},"max_price":{hi!r},"open_interest":{oi_wire!r},"mark_price":{mark!r},'
            f'"interest_value":{st.interest!r},"best_ask_price":{ap!r},"best_bid_price":{bp!r},'
            f'"estimated_delivery_price":{index!r},"best_ask_amount":{aa!r},"best_bid_amount":{ba!r},'
            f'"current_funding":{cur!r},"funding_8h":{f8h!r}}}}}}}'
        )
        c.last_ticker = frame
        return [(c.ticker, frame)]

    # ---- candles -------------------------------------------------------------------------------
    def _chart(self, k: Candle, c: _I) -> list[tuple[str, str]]:
        cost = k.quote_volume if k.quote_volume is not None else k.volume * k.close
        if k.interval != "1m":  # a candle of another interval goes out as it is, if Deribit has it
            res = dsub.RESOLUTIONS.get(k.interval)
            if res is None:
                return []
            topic, head = c.chart_heads[res]
            return [(topic, self._chart_frame(head, k.open_time, (k.open, k.high, k.low, k.close, k.volume, cost)))]
        out = []
        cur = (k.open, k.high, k.low, k.close, k.volume, cost)
        ot = k.open_time
        for res, minutes in CHART_MINUTES.items():
            start = ot - ot % (minutes * _MINUTE_NS)
            st = c.chart.get(res)
            if st is None or st[0] != start:
                st = c.chart[res] = [start, None]
            done = st[1]
            if done is None:
                agg = cur
            else:
                agg = (
                    done[0],
                    max(done[1], k.high),
                    min(done[2], k.low),
                    k.close,
                    round(done[4] + k.volume, 8),
                    round(done[5] + cost, 8),
                )
            if k.closed:
                st[1] = agg
            topic, head = c.chart_heads[res]
            out.append((topic, self._chart_frame(head, start, agg)))
        return out

    @staticmethod
    def _chart_frame(head: str, start_ns: int, v: tuple[float, ...]) -> str:
        return (
            f'{head}"tick":{start_ns // _MS},"open":{v[0]!r},"high":{v[1]!r},"low":{v[2]!r},'
            f'"close":{v[3]!r},"volume":{v[4]!r},"cost":{v[5]!r}}}}}}}'
        )

    # ---- REST ------------------------------------------------------------------------------------
    def rest(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> RestResponse | None:
        if path.startswith(REST_PREFIX + "/"):
            path = path[len(REST_PREFIX) :]
        if path == INSTRUMENTS_PATH:
            currency = query.get("currency", [""])[0]
            if not currency:
                return RestResponse(400, _bad_param(None, "missing", "currency", with_id=False).encode())
            kind = query.get("kind", [""])[0]
            rows = [
                self._instrument_row(n, c)
                for n, c in enumerate(self._c.values())
                if (not kind or kind == "future") and currency in ("any", self._settlement(c))
            ]
            return RestResponse(200, _rest_body(_enc(rows).decode()).encode())
        if path == "/public/test":
            return RestResponse(200, _rest_body(f'{{"version":"{VERSION}"}}').encode())
        if path == "/public/get_time":
            return RestResponse(200, _rest_body(str(time.time_ns() // _MS)).encode())
        return self.rest_api.handle(path, query)  # market data: ticker, book, trades, history, options

    def throttled_response(self, path: str) -> RestResponse:
        return throttled()

    @staticmethod
    def _settlement(c: _I) -> str:
        return c.inst.base if c.inverse else c.inst.quote

    def _instrument_row(self, n: int, c: _I) -> dict[str, Any]:
        i = c.inst
        typ = "reversed" if c.inverse else "linear"
        spec = DEFAULT_SYMBOL_SPECS.get(i.symbol)
        step = c.cs if c.inverse else (spec.lot if spec is not None else 1.0)
        return {
            "tick_size": c.tick,
            "tick_size_steps": [],
            "taker_commission": 0.0005,
            "settlement_period": "perpetual",
            "settlement_currency": self._settlement(c),
            "rfq": False,
            "quote_currency": i.quote,
            "price_index": f"{i.base.lower()}_{i.quote.lower()}",
            "min_trade_amount": step,
            "max_liquidation_commission": 0.0075,
            "max_leverage": 50,
            "maker_commission": 0.0,
            "kind": "future",
            "is_active": True,
            "instrument_name": i.native,
            "instrument_id": 124_972 + n,
            "instrument_type": typ,
            "future_type": typ,
            "expiration_timestamp": 32_503_708_800_000,
            "creation_timestamp": 1_534_242_287_000,
            "counter_currency": i.quote,
            "contract_size": c.cs,
            "block_trade_tick_size": 0.01,
            "block_trade_min_trade_amount": 200_000 if c.inverse else 25,
            "block_trade_commission": 0.00025,
            "base_currency": i.base,
        }


def _bad_param(rid: int | str | None, reason: str, param: str, with_id: bool = True) -> str:
    return _error(rid, -32602, "Invalid params", {"reason": reason, "param": param}, with_id=with_id)


def _rest_body(result: str) -> str:
    us_in = _us()
    us_out = _us()
    return (
        f'{{"jsonrpc":"2.0","result":{result},"usIn":{us_in},"usOut":{us_out},'
        f'"usDiff":{us_out - us_in},"testnet":false}}'
    )


SIM_VENUE = DeribitSim
