"""Bybit v5 frame decoding: route by topic, parse typed payloads into events and book updates.

Market. A Bybit connection serves one category, and perp and spot share native ids (``BTCUSDT``),
so a decoder made for a connection URL knows its market. A decoder made without one (replay of a
capture that does not say which connection a frame came from) reads the market from the frame where
the frame says it -- linear trades carry ``L``, linear tickers carry ``markPrice`` or are deltas,
liquidations are linear -- and otherwise takes the market the registry lists for the symbol, perp
when it lists both.

Books. ``orderbook.{50,200,1000}`` are snapshot-then-delta streams with ``u`` +1 per message
(``Link.NEXT``); any snapshot (including ``u=1`` after a service restart) resets the book.
``orderbook.1`` is the top-of-book stream: snapshots only, re-sent every 3 s unchanged -> ``BBO``.
Spot and perp books of one symbol would share the native id, so a spot book is keyed
``spot:<native>`` in ``BookUpdate.instrument``.

Tickers. Linear tickers send a snapshot then deltas holding only the changed fields; the decoder
merges each into the last full ticker of that symbol and re-emits, from the merged state, the events
whose fields the frame touched (MarkPrice, Funding, OpenInterest, Ticker24h; best bid/ask come
from ``orderbook.1`` only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from cryptoflow.errors import DecodeError
from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import BookUpdate, Control, FrameDecoder, Item
from cryptoflow.venues.bybit import schemas as w
from cryptoflow.venues.bybit.subscribe import WIRE_TO_INTERVAL

if TYPE_CHECKING:
    from cryptoflow.venues.bybit import Bybit

_MS = 1_000_000
_TAKER_SIDE = {"Buy": "buy", "Sell": "sell"}
_POSITION_SIDE = {"Buy": "long", "Sell": "short"}  # allLiquidation S is the liquidated position's side

# route kinds
_TRADE, _BOOK, _BBO, _TICKER, _CANDLE, _LIQ = range(6)


class _Route(msgspec.Struct, frozen=True):
    kind: int
    native: str
    interval: str = ""  # candles: our interval name


def parse_topic(topic: str) -> _Route | None:
    """``orderbook.50.BTCUSDT`` -> route; None for topics we do not decode."""
    head, _, rest = topic.partition(".")
    if head == "publicTrade":
        return _Route(_TRADE, rest)
    if head == "tickers":
        return _Route(_TICKER, rest)
    if head == "allLiquidation":
        return _Route(_LIQ, rest)
    if head == "orderbook":
        depth, _, native = rest.partition(".")
        return _Route(_BBO if depth == "1" else _BOOK, native)
    if head == "kline":
        wire, _, native = rest.partition(".")
        interval = WIRE_TO_INTERVAL.get(wire)
        if interval is None:
            raise DecodeError("unknown_interval", wire)
        return _Route(_CANDLE, native, interval)
    return None


def book_key(inst: Instrument) -> str:
    """The book engine's key for an instrument (spot and perp share Bybit native ids)."""
    return inst.native


def _ts(env: w.Envelope, engine_time: bool = False) -> int:
    """Exchange time of a frame in ns: ``cts`` (matching engine) for books when sent, else ``ts``."""
    ms = env.cts if engine_time and env.cts is not None else env.ts
    if ms is None:
        raise DecodeError("missing_ts", str(env.topic))
    return ms * _MS


def _num(text: str | msgspec.UnsetType) -> float | None:
    """A ticker text field -> float; absent or "" -> None."""
    return float(text) if text else None  # UNSET and "" are falsy


class BybitDecoder(FrameDecoder):
    """Decodes the frames of one Bybit connection (or of a replay, market read per frame)."""

    venue: Bybit

    def __init__(self, venue: Bybit, market: str | None = None) -> None:
        super().__init__(venue)
        self.market = market
        self.sync = venue.book_sync
        self._routes: dict[str, _Route | None] = {}
        self._instruments: dict[tuple[str, str], Instrument] = {}
        self._tickers: dict[tuple[str, str], w.Ticker] = {}  # (market, native) -> merged linear ticker

    # ---- helpers -------------------------------------------------------------------------
    def _inst(self, native: str, market: str) -> Instrument:
        key = (market, native)
        inst = self._instruments.get(key)
        if inst is None:
            inst = self._instruments[key] = self.venue.lookup(native, market)
        return inst

    def _market(self, native: str, hint: str | None = None) -> str:
        if self.market is not None:
            return self.market
        if hint is not None:
            return hint
        reg, vid = self.venue.registry, self.venue_id
        if reg.find(vid, native, "perp") is None and reg.find(vid, native, "spot") is not None:
            return "spot"
        return "perp"

    # ---- routing -------------------------------------------------------------------------
    def _decode(self, frame: bytes | str, ts_recv: int) -> list[Item]:
        env = w.ENVELOPE.decode(frame)
        if env.topic is None:
            return self._control(env)
        try:
            route = self._routes[env.topic]
        except KeyError:
            route = self._routes[env.topic] = parse_topic(env.topic)
        if route is None or not env.data:
            return self.unknown()
        kind = route.kind
        if kind == _TRADE:
            return self._trades(env, ts_recv)
        if kind == _BOOK:
            return self._book(env, ts_recv)
        if kind == _TICKER:
            return self._ticker(env, ts_recv)
        if kind == _BBO:
            return self._bbo(env, ts_recv)
        if kind == _CANDLE:
            return self._candles(env, route, ts_recv)
        return self._liquidations(env, ts_recv)

    def _control(self, env: w.Envelope) -> list[Item]:
        op = env.op
        if env.success is False:
            return [Control("error", env.ret_msg or f"{op} failed")]
        if op == "pong" or (op == "ping" and env.ret_msg == "pong"):  # spot and linear pong shapes
            return [Control("pong")]
        req = "" if env.req_id is None else str(env.req_id)
        if op == "subscribe" and env.success:
            return [Control("ack", req)]
        if op == "unsubscribe" and env.success:
            return [Control("unsubscribed", req)]
        return self.unknown()

    # ---- handlers ------------------------------------------------------------------------
    def _trades(self, env: w.Envelope, ts_recv: int) -> list[Item]:
        out: list[Item] = []
        vid = self.venue_id
        for t in w.TRADES.decode(env.data):
            side = _TAKER_SIDE.get(t.S)
            if side is None:
                raise DecodeError("bad_side", t.S)
            market = self._market(t.s, "spot" if t.L is None else "perp")
            inst = self._inst(t.s, market)
            qty = t.v if inst.contract_size == 1.0 else inst.to_base(t.v, t.p)
            out.append(Trade(vid, market, inst.symbol, t.T * _MS, ts_recv, t.p, qty, side, t.i))
        return out

    def _book(self, env: w.Envelope, ts_recv: int) -> list[Item]:
        d = w.BOOK.decode(env.data)
        if env.type == "snapshot":
            snapshot = True
        elif env.type == "delta":
            snapshot = False
        else:
            raise DecodeError("unknown_type", str(env.type))
        market = self._market(d.s)
        inst = self._inst(d.s, market)
        bids, asks = d.b, d.a
        ts = _ts(env, engine_time=True)
        if inst.contract_size != 1.0:
            bids = [(p, inst.to_base(q, p)) for p, q in bids]
            asks = [(p, inst.to_base(q, p)) for p, q in asks]
        return [BookUpdate(self.venue_id, market, inst.symbol, book_key(inst), ts, ts_recv, bids, asks,
                           snapshot, self.sync, d.u, d.u)]

    def _bbo(self, env: w.Envelope, ts_recv: int) -> list[Item]:
        if env.type != "snapshot":
            # Level 1 is documented snapshot-only; a lone diff cannot give a complete quote.
            return self.unknown()
        d = w.BOOK.decode(env.data)
        if not d.b or not d.a:
            return self.unknown()  # one side empty: no two-sided quote to report
        market = self._market(d.s)
        inst = self._inst(d.s, market)
        (bp, bq), (ap, aq) = d.b[0], d.a[0]
        if inst.contract_size != 1.0:
            bq, aq = inst.to_base(bq, bp), inst.to_base(aq, ap)
        ts = _ts(env, engine_time=True)
        # update_id stays None: orderbook.1's u is its own counter, not the maintained book's.
        return [BBO(self.venue_id, market, inst.symbol, ts, ts_recv, bp, bq, ap, aq)]

    def _candles(self, env: w.Envelope, route: _Route, ts_recv: int) -> list[Item]:
        market = self._market(route.native)
        inst = self._inst(route.native, market)
        out: list[Item] = []
        for k in w.KLINES.decode(env.data):
            if WIRE_TO_INTERVAL.get(k.interval) != route.interval:
                raise DecodeError("unknown_interval", k.interval)
            out.append(Candle(self.venue_id, market, inst.symbol, k.timestamp * _MS, ts_recv, route.interval,
                              k.start * _MS, k.open, k.high, k.low, k.close, k.volume, k.turnover, None, k.confirm))
        return out

    def _liquidations(self, env: w.Envelope, ts_recv: int) -> list[Item]:
        items = w.LIQUIDATIONS.decode(env.data)
        out: list[Item] = []
        for liq in items if isinstance(items, list) else (items,):
            side = _POSITION_SIDE.get(liq.S)
            if side is None:
                raise DecodeError("bad_side", liq.S)
            market = self._market(liq.s, "perp")
            inst = self._inst(liq.s, market)
            qty = inst.to_base(liq.v, liq.p)
            out.append(Liquidation(self.venue_id, market, inst.symbol, liq.T * _MS, ts_recv, side, liq.p, qty,
                                   liq.p * qty))
        return out

    def _ticker(self, env: w.Envelope, ts_recv: int) -> list[Item]:
        t = w.TICKER.decode(env.data)
        delta = env.type == "delta"
        if not delta and env.type != "snapshot":
            raise DecodeError("unknown_type", str(env.type))
        # Spot tickers are snapshots without mark/funding fields; linear ones have them or are deltas.
        linear = delta or bool(t.markPrice) or bool(t.fundingRate)
        market = self._market(t.symbol, "perp" if linear else "spot")
        inst = self._inst(t.symbol, market)
        if market == "spot":
            state = t
        else:
            key = (market, t.symbol)
            state = self._tickers.get(key)  # type: ignore[assignment]
            if not delta or state is None:
                state = self._tickers[key] = t
            else:
                for f in w.TICKER_FIELDS:
                    v = getattr(t, f)
                    if v is not msgspec.UNSET:
                        setattr(state, f, v)
        ts = _ts(env)
        return self._ticker_events(t, state, inst, market, ts, ts_recv)

    def _ticker_events(self, frame: w.Ticker, s: w.Ticker, inst: Instrument, market: str, ts: int,
                       ts_recv: int) -> list[Item]:
        """Events for the field groups ``frame`` touched, built from the merged state ``s``."""
        vid, sym = self.venue_id, inst.symbol
        out: list[Item] = []

        def touched(fields: tuple[str, ...]) -> bool:
            return any(getattr(frame, f) is not msgspec.UNSET for f in fields)

        if touched(w.MARK_FIELDS) and (mark := _num(s.markPrice)) is not None:
            out.append(MarkPrice(vid, market, sym, ts, ts_recv, mark, _num(s.indexPrice)))
        if touched(w.FUNDING_FIELDS) and (rate := _num(s.fundingRate)) is not None:
            nft = int(s.nextFundingTime) * _MS if s.nextFundingTime else None
            out.append(Funding(vid, market, sym, ts, ts_recv, rate, None, nft, _num(s.fundingIntervalHour)))
        if touched(w.OI_FIELDS):
            oi, oi_value = _num(s.openInterest), _num(s.openInterestValue)
            if oi is not None or oi_value is not None:
                base = inst.to_base(oi, 1.0) if oi is not None else None
                out.append(OpenInterest(vid, market, sym, ts, ts_recv, oi, base, oi_value))
        if touched(w.TICKER24H_FIELDS) and (last := _num(s.lastPrice)) is not None:
            prev, pct = _num(s.prevPrice24h), _num(s.price24hPcnt)
            out.append(Ticker24h(vid, market, sym, ts, ts_recv, last, prev, _num(s.highPrice24h),
                                 _num(s.lowPrice24h), _num(s.volume24h), _num(s.turnover24h),
                                 last - prev if prev is not None else None, pct * 100.0 if pct is not None else None))
        # bid1/ask1 in tickers are a 100 ms-throttled copy of orderbook.1, the BBO stream: emitting
        # both would interleave two quote sources of different freshness in one BBO table
        return out
