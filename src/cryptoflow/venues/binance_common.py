"""Binance wire schemas and decoding shared by USD-M futures and spot.

Both markets speak the same combined-stream protocol (``{"stream": ..., "data": ...}``) with
the same field letters; futures add ``T`` (transaction time) and ``pu`` (previous final update
id) and a few streams (markPrice, forceOrder). Frames are routed by the stream name, because
some payloads (spot bookTicker, spot partial depth) carry no event type or even no symbol.

Field letters (Binance's own): E event time ms, T transaction/trade time ms, s symbol,
U first update id, u final update id, pu previous final update id, b/a bids/asks or best
bid/ask price, B/A best bid/ask qty, p price, q qty, m buyer is maker, a aggregate trade id.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import msgspec

from cryptoflow.errors import DecodeError
from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, Ticker24h, Trade
from cryptoflow.symbols import KNOWN_QUOTES, Instrument
from cryptoflow.venues.base import (
    FULL_SNAPSHOTS,
    BookSyncSpec,
    BookUpdate,
    Control,
    FrameDecoder,
    Item,
    Subscription,
    Venue,
    ms_to_ns,
)

Levels = list[tuple[float, float]]


# ---- wire schemas (field names exactly as on the wire) --------------------------------------
class Envelope(msgspec.Struct):
    stream: str | None = None
    data: msgspec.Raw = msgspec.Raw()  # empty when absent
    # control frames: {"result": null, "id": 1} / {"error": {...}, "id": 1}
    result: Any = None
    id: int | str | None = None
    error: Any = None
    code: int | None = None  # some errors arrive top level: {"code": 2, "msg": "...", "id": 1}
    msg: str | None = None
    e: str | None = None  # event type of an unwrapped (/ws) frame


class AggTrade(msgspec.Struct):
    s: str
    a: int  # aggregate trade id
    p: float
    q: float
    T: int
    m: bool  # buyer is the maker -> the aggressor sold


class RawTrade(msgspec.Struct):
    s: str
    t: int  # trade id
    p: float
    q: float
    T: int
    m: bool
    X: str | None = None  # futures: MARKET / INSURANCE_FUND / ADL / NA


class BookTicker(msgspec.Struct):
    s: str
    u: int
    b: float
    B: float
    a: float
    A: float
    T: int | None = None  # futures only
    E: int | None = None  # futures only


class DepthUpdate(msgspec.Struct):
    s: str
    E: int
    U: int
    u: int
    b: Levels
    a: Levels
    T: int | None = None  # futures
    pu: int | None = None  # futures


class PartialDepthSpot(msgspec.Struct):
    lastUpdateId: int
    bids: Levels
    asks: Levels


class DepthSnapshot(msgspec.Struct):
    lastUpdateId: int
    bids: Levels
    asks: Levels
    E: int | None = None
    T: int | None = None


class KlineBody(msgspec.Struct):
    t: int
    i: str
    o: float
    h: float
    l: float  # noqa: E741 - Binance's own letter
    c: float
    v: float
    n: int
    x: bool
    q: float


class Kline(msgspec.Struct):
    E: int
    s: str
    k: KlineBody


class MarkPriceUpdate(msgspec.Struct):
    E: int
    s: str
    p: float  # mark price
    i: float  # index price
    r: str  # funding rate; "" on delivery contracts (msgspec cannot turn "" into None)
    T: int  # next funding time ms
    P: float | None = None  # estimated settle price


class ForceOrderBody(msgspec.Struct):
    s: str
    S: str  # side of the liquidation order: SELL liquidates a long
    q: float
    p: float
    ap: float
    z: float  # filled accumulated qty
    T: int


class ForceOrder(msgspec.Struct):
    E: int
    o: ForceOrderBody


class Ticker(msgspec.Struct):
    E: int
    s: str
    c: float
    o: float
    h: float
    l: float  # noqa: E741
    v: float
    q: float
    p: float | None = None  # absent in miniTicker
    P: float | None = None


class OpenInterestRest(msgspec.Struct):
    symbol: str
    openInterest: float
    time: int


class ExInfoFilter(msgspec.Struct):
    filterType: str
    tickSize: float | None = None


class ExInfoSymbol(msgspec.Struct):
    symbol: str
    baseAsset: str
    quoteAsset: str
    status: str
    filters: list[ExInfoFilter] = []
    contractType: str | None = None  # futures: PERPETUAL / CURRENT_QUARTER ...


class ExchangeInfo(msgspec.Struct):
    symbols: list[ExInfoSymbol]


def _dec(t: type) -> msgspec.json.Decoder:
    # strict=False turns Binance's quoted numbers ("7.6110") into floats while decoding.
    return msgspec.json.Decoder(t, strict=False)


ENVELOPE = _dec(Envelope)
AGG_TRADE = _dec(AggTrade)
RAW_TRADE = _dec(RawTrade)
BOOK_TICKER = _dec(BookTicker)
DEPTH_UPDATE = _dec(DepthUpdate)
PARTIAL_SPOT = _dec(PartialDepthSpot)
DEPTH_SNAPSHOT = _dec(DepthSnapshot)
KLINE = _dec(Kline)
MARK_PRICE = _dec(MarkPriceUpdate)
FORCE_ORDER = _dec(ForceOrder)
TICKER = _dec(Ticker)
OI_REST = _dec(OpenInterestRest)
EXCHANGE_INFO = _dec(ExchangeInfo)

# event type ("e") of unwrapped frames -> stream kind used for routing
_E_TO_KIND = {
    "aggTrade": "aggTrade",
    "trade": "trade",
    "bookTicker": "bookTicker",
    "depthUpdate": "depth",
    "kline": "kline",
    "markPriceUpdate": "markPrice",
    "forceOrder": "forceOrder",
    "24hrTicker": "ticker",
    "24hrMiniTicker": "miniTicker",
}


def stream_kind(stream: str) -> tuple[str, str]:
    """``btcusdt@depth20@100ms`` -> (``BTCUSDT``, ``depth20``); ``btcusdt@kline_1m`` -> (.., ``kline``)."""
    sym, _, rest = stream.partition("@")
    kind = rest.split("@", 1)[0]
    if kind.startswith("kline_"):
        kind = "kline"
    return sym.upper(), kind


class BinanceDecoder(FrameDecoder):
    """Decodes Binance combined-stream and raw frames for one market."""

    venue: BinanceVenue

    def __init__(self, venue: BinanceVenue) -> None:
        super().__init__(venue)
        self.market = venue.market
        self.sync = venue.book_sync
        self._routes: dict[str, tuple[str, str]] = {}  # stream name -> (SYMBOL, kind)

    def _decode(self, frame: bytes | str, ts_recv: int) -> list[Item]:
        env = ENVELOPE.decode(frame)
        if env.stream is not None and env.data:
            route = self._routes.get(env.stream)
            if route is None:
                route = self._routes[env.stream] = stream_kind(env.stream)
            return self._payload(route[1], route[0], env.data, ts_recv)
        if env.e is not None:
            kind = _E_TO_KIND.get(env.e)
            return self.unknown() if kind is None else self._payload(kind, "", frame, ts_recv)
        if env.error is not None or env.code is not None:
            detail = env.msg or msgspec.json.encode(env.error).decode()
            return [Control("error", detail)]
        if env.id is not None:  # {"result": null, "id": n} acknowledges (un)subscribe
            return [Control("ack", str(env.id))]
        try:  # an unwrapped spot bookTicker is the one payload with no "e"
            return self._payload("bookTicker", "", frame, ts_recv)
        except msgspec.ValidationError:
            return self.unknown()

    def _payload(self, kind: str, sym: str, data: bytes | str | msgspec.Raw, ts_recv: int) -> list[Item]:
        venue_id, market = self.venue_id, self.market
        if kind == "aggTrade":
            m = AGG_TRADE.decode(data)
            return [
                Trade(
                    venue_id,
                    market,
                    self.venue.lookup(m.s).symbol,
                    ms_to_ns(m.T),
                    ts_recv,
                    m.p,
                    m.q,
                    "sell" if m.m else "buy",
                    str(m.a),
                )
            ]
        if kind == "trade":
            t = RAW_TRADE.decode(data)
            return [
                Trade(
                    venue_id,
                    market,
                    self.venue.lookup(t.s).symbol,
                    ms_to_ns(t.T),
                    ts_recv,
                    t.p,
                    t.q,
                    "sell" if t.m else "buy",
                    str(t.t),
                )
            ]
        if kind == "bookTicker":
            b = BOOK_TICKER.decode(data)
            ts = ms_to_ns(b.T) if b.T is not None else (ms_to_ns(b.E) if b.E is not None else ts_recv)
            return [BBO(venue_id, market, self.venue.lookup(b.s).symbol, ts, ts_recv, b.b, b.B, b.a, b.A, b.u)]
        if kind == "depth":
            d = DEPTH_UPDATE.decode(data)
            inst = self.venue.lookup(d.s)
            ts = ms_to_ns(d.T if d.T is not None else d.E)
            prev = d.pu if d.pu is not None else -1
            return [
                BookUpdate(
                    venue_id, market, inst.symbol, inst.native, ts, ts_recv, d.b, d.a, False, self.sync, d.u, d.U, prev
                )
            ]
        if kind.startswith("depth"):  # partial book depth5/10/20: a full top-N snapshot each time
            if self.market == "spot":
                p = PARTIAL_SPOT.decode(data)
                inst = self.venue.lookup(sym)
                return [
                    BookUpdate(
                        venue_id,
                        market,
                        inst.symbol,
                        inst.native,
                        ts_recv,
                        ts_recv,
                        p.bids,
                        p.asks,
                        True,
                        FULL_SNAPSHOTS,
                        p.lastUpdateId,
                        p.lastUpdateId,
                    )
                ]
            d = DEPTH_UPDATE.decode(data)
            inst = self.venue.lookup(d.s)
            return [
                BookUpdate(
                    venue_id,
                    market,
                    inst.symbol,
                    inst.native,
                    ms_to_ns(d.T or d.E),
                    ts_recv,
                    d.b,
                    d.a,
                    True,
                    FULL_SNAPSHOTS,
                    d.u,
                    d.U,
                )
            ]
        if kind == "kline":
            k = KLINE.decode(data)
            b = k.k
            return [
                Candle(
                    venue_id,
                    market,
                    self.venue.lookup(k.s).symbol,
                    ms_to_ns(k.E),
                    ts_recv,
                    b.i,
                    ms_to_ns(b.t),
                    b.o,
                    b.h,
                    b.l,
                    b.c,
                    b.v,
                    b.q,
                    b.n,
                    b.x,
                )
            ]
        if kind == "markPrice":
            mp = MARK_PRICE.decode(data)
            symbol = self.venue.lookup(mp.s).symbol
            ts = ms_to_ns(mp.E)
            out: list[Item] = [MarkPrice(venue_id, market, symbol, ts, ts_recv, mp.p, mp.i)]
            if mp.r:
                nxt = ms_to_ns(mp.T) if mp.T else None
                out.append(Funding(venue_id, market, symbol, ts, ts_recv, float(mp.r), None, nxt))
            return out
        if kind == "forceOrder":
            fo = FORCE_ORDER.decode(data).o
            price = fo.ap if fo.ap > 0 else fo.p
            qty = fo.z if fo.z > 0 else fo.q
            side = {"SELL": "long", "BUY": "short"}.get(fo.S)
            if side is None:
                raise DecodeError("bad_side", fo.S)
            return [
                Liquidation(
                    venue_id,
                    market,
                    self.venue.lookup(fo.s).symbol,
                    ms_to_ns(fo.T),
                    ts_recv,
                    side,
                    price,
                    qty,
                    price * qty,
                )
            ]
        if kind in ("ticker", "miniTicker"):
            t = TICKER.decode(data)
            change = t.p if t.p is not None else t.c - t.o
            pct = t.P if t.P is not None else ((t.c - t.o) / t.o * 100.0 if t.o else None)
            return [
                Ticker24h(
                    venue_id,
                    market,
                    self.venue.lookup(t.s).symbol,
                    ms_to_ns(t.E),
                    ts_recv,
                    t.c,
                    t.o,
                    t.h,
                    t.l,
                    t.v,
                    t.q,
                    change,
                    pct,
                )
            ]
        return self.unknown()


class BinanceVenue(Venue):
    """Shared Binance behaviour; subclasses fix market, endpoints and paths."""

    market: ClassVar[str]
    depth_path: ClassVar[str]
    exchange_info_path: ClassVar[str]
    exchange = "binance"
    max_subscriptions_per_connection = 200
    max_connection_lifetime_s = 24 * 3600.0
    ping_interval_s = None  # Binance pings; the transport answers pongs
    idle_timeout_s = 600.0
    book_depth = 20
    candle_intervals = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "1d")
    params_per_message: ClassVar[int] = 50
    book_sync: ClassVar[BookSyncSpec]

    def infer_instrument(self, native: str) -> Instrument | None:
        # Binance quantities are always base units: any symbol with a known quote is certain.
        s = native.upper()
        for quote in sorted(KNOWN_QUOTES, key=len, reverse=True):
            if s.endswith(quote) and len(s) > len(quote):
                return Instrument(
                    self.id,
                    s,
                    s,
                    self.market,
                    s[: -len(quote)],
                    quote,
                    "spot" if self.market == "spot" else "linear",
                    1.0,
                )
        return None

    def stream_name(self, sub: Subscription) -> str:
        sym = sub.instrument.native.lower()
        match sub.stream:
            case "trade":
                return f"{sym}@aggTrade"
            case "bbo":
                return f"{sym}@bookTicker"
            case "book":
                return f"{sym}@depth@100ms"
            case "candle":
                return f"{sym}@kline_{sub.interval or '1m'}"
            case "ticker":
                return f"{sym}@ticker"
            case "mark_price" | "funding":
                return f"{sym}@markPrice@1s"
            case "liquidation":
                return f"{sym}@forceOrder"
        raise DecodeError("unsupported_stream", f"{self.id} has no websocket stream for {sub.stream}")

    def subscribe_messages(self, subs: list[Subscription]) -> list[str]:
        return self._method("SUBSCRIBE", subs)

    def unsubscribe_messages(self, subs: list[Subscription]) -> list[str]:
        return self._method("UNSUBSCRIBE", subs)

    def _method(self, method: str, subs: list[Subscription]) -> list[str]:
        names = list(dict.fromkeys(self.stream_name(s) for s in subs if s.stream not in self.rest_polled))
        n = self.params_per_message
        return [
            msgspec.json.encode({"method": method, "params": names[i : i + n], "id": i // n + 1}).decode()
            for i in range(0, len(names), n)
        ]

    def new_decoder(self) -> BinanceDecoder:
        return BinanceDecoder(self)

    def book_snapshot_url(self, inst: Instrument) -> str:
        return f"{self.endpoints.rest}{self.depth_path}?symbol={inst.native}&limit=1000"

    def instruments_urls(self) -> list[str]:
        return [f"{self.endpoints.rest}{self.exchange_info_path}"]

    def parse_rest(self, url: str, body: bytes, ts_recv: int) -> list[Item]:
        parts = urlsplit(url)
        if parts.path.endswith(self.depth_path):
            symbol = parse_qs(parts.query).get("symbol", [""])[0]
            inst = self.lookup(symbol)
            snap = DEPTH_SNAPSHOT.decode(body)
            ts = ms_to_ns(snap.T) if snap.T else ts_recv
            return [
                BookUpdate(
                    self.id,
                    self.market,
                    inst.symbol,
                    inst.native,
                    ts,
                    ts_recv,
                    snap.bids,
                    snap.asks,
                    True,
                    self.book_sync,
                    snap.lastUpdateId,
                    snap.lastUpdateId,
                )
            ]
        return []

    def parse_instruments(self, url: str, body: bytes) -> list[Instrument]:
        if not urlsplit(url).path.endswith(self.exchange_info_path):
            return []
        out = []
        for s in EXCHANGE_INFO.decode(body).symbols:
            if self.market == "perp" and s.contractType != "PERPETUAL":
                continue
            tick = next((f.tickSize for f in s.filters if f.filterType == "PRICE_FILTER"), None)
            out.append(
                Instrument(
                    self.id,
                    s.symbol,
                    s.symbol,
                    self.market,
                    s.baseAsset,
                    s.quoteAsset,
                    "spot" if self.market == "spot" else "linear",
                    1.0,
                    tick,
                )
            )
        return out
