"""Hyperliquid perpetuals (main dex).

One websocket (``wss://api.hyperliquid.xyz/ws``), one subscription per message
(``{"method":"subscribe","subscription":{"type":"trades","coin":"BTC"}}``), acknowledged by
``{"channel":"subscriptionResponse","data":{"method":..., "subscription":{...}}}``; refusals come
as ``{"channel":"error","data":"<sentence>"}``. On connect the server sends the plain text
``Websocket connection established.``. Heartbeat: the client sends ``{"method":"ping"}``, the
server answers ``{"channel":"pong"}``, and it closes connections that sent nothing for 60 s.
Limits are per IP: 1000 subscriptions, 100 connections, 2000 messages a minute.

Channels used: ``trades``, ``l2Book`` (20 levels a side, a FULL snapshot each push, no sequence
ids), ``bbo``, ``candle`` and ``activeAssetCtx`` (funding, open interest, mark, oracle = index,
mid, 24 h volumes; no exchange time, so the receive time stands in). ``allDexsAssetCtxs``
(every perp of every dex, listed by asset index, no names) is decoded for the main dex where
the asset index is known (see ``ASSET_IDS``). There is no public liquidation channel.

Instruments: coins are the native ids (``BTC``); quote and collateral are USDC, sizes are base
units (contract size 1). The canonical symbol of ``BTC`` is ``BTCUSDT``. ``k``-prefixed coins
(``kPEPE``, ``kBONK``, ...) are priced and sized per 1000 tokens, so ``kPEPE`` is ``1000PEPEUSDT``
with base ``1000PEPE`` (as Binance's ``1000PEPEUSDT``), never a rescaled ``PEPEUSDT``.

REST is ``POST /info`` with a JSON body naming the request; the instruments URL is
``https://api.hyperliquid.xyz/info#meta``: the fragment (never sent over HTTP) names the body
(``rest_request(url)`` gives ``("POST", {"type": "meta"})``) so a capture record's URL still says what it is.

Funding is paid every hour on the hour; ``ctx.funding`` is the current hour's rate (a fraction
per 1-hour interval; 0.0000125 = 0.01 % per 8 h, the interest component alone).
"""

from __future__ import annotations

import re
from operator import attrgetter
from typing import Any, ClassVar
from urllib.parse import urlsplit

import msgspec

from cryptoflow.errors import DecodeError, VenueError
from cryptoflow.events import BBO, Candle, Funding, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.symbols import Instrument, InstrumentRegistry
from cryptoflow.venues.base import (
    FULL_SNAPSHOTS,
    BookUpdate,
    Control,
    Endpoints,
    FrameDecoder,
    Item,
    Subscription,
    Venue,
    ms_to_ns,
)

HOUR_NS = 3_600_000_000_000
WELCOME = b"Websocket connection established."

# Asset index in the main dex's ``meta.universe`` -> coin, for the default bases. Hyperliquid
# asset ids never change (orders are signed with them; new listings are appended), so this
# stays right; ``parse_instruments`` replaces it with the whole universe when meta is fetched.
# Checked against a meta dump and the May 2026 allDexsAssetCtxs sample (prices line up).
ASSET_IDS: dict[int, str] = {
    0: "BTC", 1: "ETH", 5: "SOL", 25: "XRP", 98: "WIF", 117: "AR", 128: "POPCAT", 134: "BRETT", 153: "PNUT",
}

_PLAIN_COIN = re.compile(r"[A-Z0-9]+")
_KILO_COIN = re.compile(r"k[A-Z0-9]+")  # kPEPE: 1000 PEPE per unit


# ---- wire schemas (field names exactly as on the wire) --------------------------------------
class Level(msgspec.Struct, gc=False):
    px: float
    sz: float  # base units
    n: int  # number of orders at the level


class WsTrade(msgspec.Struct, gc=False):
    coin: str
    side: str  # aggressor: "B" buy (lifted the ask), "A" sell (hit the bid)
    px: float
    sz: float
    time: int  # ms
    tid: int | str  # 50-bit hash of the two order ids (quoted in 2026 captures)


class WsBook(msgspec.Struct, gc=False):
    coin: str
    time: int
    levels: tuple[list[Level], list[Level]]  # (bids best first, asks best first)


class WsBbo(msgspec.Struct, gc=False):
    coin: str
    time: int
    bbo: tuple[Level | None, Level | None]  # a side with no order is null


class AssetCtx(msgspec.Struct, gc=False):
    funding: float  # rate for the current 1-hour interval
    openInterest: float  # base units
    markPx: float
    oraclePx: float  # index
    prevDayPx: float  # price 24 h ago
    dayNtlVlm: float  # 24 h notional (USDC)
    dayBaseVlm: float  # 24 h volume, base units
    premium: float | None = None  # null on assets without a book
    midPx: float | None = None
    impactPxs: list[float] | None = None


class WsAssetCtx(msgspec.Struct, gc=False):
    coin: str
    ctx: AssetCtx


class WsCandle(msgspec.Struct, gc=False):
    t: int  # open time ms
    T: int  # close time ms
    s: str  # coin
    i: str  # interval
    o: float
    c: float
    h: float
    l: float  # noqa: E741 - Hyperliquid's own letter
    v: float  # base volume
    n: int  # trades


class AllDexsCtxs(msgspec.Struct, gc=False):
    ctxs: list[tuple[str, list[AssetCtx]]]  # (dex name, "" = main dex; ctxs by asset index)


class SubscriptionAck(msgspec.Struct):
    method: str  # subscribe | unsubscribe
    subscription: msgspec.Raw


# One struct per channel, tagged by "channel": a frame decodes in one pass.
class _Frame(msgspec.Struct, tag_field="channel"):
    pass


class TradesFrame(_Frame, tag="trades"):
    data: list[WsTrade]


class BookFrame(_Frame, tag="l2Book"):
    data: WsBook


class BboFrame(_Frame, tag="bbo"):
    data: WsBbo


class AssetCtxFrame(_Frame, tag="activeAssetCtx"):
    data: WsAssetCtx


class CandleFrame(_Frame, tag="candle"):
    data: WsCandle


class AllDexsFrame(_Frame, tag="allDexsAssetCtxs"):
    data: AllDexsCtxs


class AckFrame(_Frame, tag="subscriptionResponse"):
    data: SubscriptionAck


class PongFrame(_Frame, tag="pong"):
    pass


class ErrorFrame(_Frame, tag="error"):
    data: Any = None  # a sentence ("Invalid subscription ...")


Frame = (
    TradesFrame | BookFrame | BboFrame | AssetCtxFrame | CandleFrame | AllDexsFrame | AckFrame | PongFrame | ErrorFrame
)


class Envelope(msgspec.Struct):
    channel: str


class MetaAsset(msgspec.Struct):
    name: str
    szDecimals: int
    maxLeverage: int | None = None
    isDelisted: bool = False


class Meta(msgspec.Struct):
    universe: list[MetaAsset]


# strict=False turns Hyperliquid's quoted numbers ("64097.0") into floats while decoding.
FRAME = msgspec.json.Decoder(Frame, strict=False)
ENVELOPE = msgspec.json.Decoder(Envelope)
META = msgspec.json.Decoder(Meta, strict=False)

_KNOWN_CHANNELS = frozenset(t.__struct_config__.tag for t in Frame.__args__)  # type: ignore[attr-defined]
_SIDES = {"B": "buy", "A": "sell"}
_PX_SZ = attrgetter("px", "sz")  # level -> (price, size) in C: every l2Book push carries ~40 levels


def next_funding_ns(ts: int) -> int:
    """Funding settles on every full hour: the next one after ``ts``."""
    return (ts // HOUR_NS + 1) * HOUR_NS


class HyperliquidDecoder(FrameDecoder):
    venue: Hyperliquid

    def __init__(self, venue: Hyperliquid) -> None:
        super().__init__(venue)
        self.market = "perp"

    def _decode(self, frame: bytes | str, ts_recv: int) -> list[Item]:
        try:
            msg = FRAME.decode(frame)
        except msgspec.ValidationError:
            channel = self._channel(frame)
            if channel is None or channel in _KNOWN_CHANNELS:
                raise
            # a channel with nothing to normalise: allMids (mids by coin, spot ids too),
            # activeSpotAssetCtx, post responses, user channels
            return self.unknown()
        except msgspec.DecodeError:
            text = frame if isinstance(frame, bytes) else frame.encode()
            if text.strip() == WELCOME:
                return [Control("info", WELCOME.decode())]
            raise
        if type(msg) is TradesFrame:
            return self._trades(msg.data, ts_recv)
        if type(msg) is BookFrame:
            b = msg.data
            inst = self.venue.lookup(b.coin)
            bids, asks = b.levels
            return [BookUpdate(self.venue_id, self.market, inst.symbol, inst.native, ms_to_ns(b.time), ts_recv,
                               list(map(_PX_SZ, bids)), list(map(_PX_SZ, asks)),
                               True, FULL_SNAPSHOTS)]
        if type(msg) is BboFrame:
            q = msg.data
            bid, ask = q.bbo
            inst = self.venue.lookup(q.coin)
            if bid is None or ask is None:  # one-sided book: no quote to report
                return []
            return [BBO(self.venue_id, self.market, inst.symbol, ms_to_ns(q.time), ts_recv,
                        bid.px, bid.sz, ask.px, ask.sz)]
        if type(msg) is AssetCtxFrame:
            return self._ctx(self.venue.lookup(msg.data.coin), msg.data.ctx, ts_recv)
        if type(msg) is CandleFrame:
            k = msg.data
            inst = self.venue.lookup(k.s)
            # no event time on the wire: the receive time stands in; Hyperliquid sends no "closed" flag
            return [Candle(self.venue_id, self.market, inst.symbol, ts_recv, ts_recv, k.i, ms_to_ns(k.t),
                           k.o, k.h, k.l, k.c, k.v, None, k.n, False)]
        if type(msg) is AllDexsFrame:
            return self._all_dexs(msg.data, ts_recv)
        if type(msg) is AckFrame:
            ack = msg.data
            kind = "unsubscribed" if ack.method == "unsubscribe" else "ack"
            return [Control(kind, bytes(ack.subscription).decode())]
        if type(msg) is PongFrame:
            return [Control("pong")]
        detail = msg.data if isinstance(msg.data, str) else msgspec.json.encode(msg.data).decode()
        return [Control("error", detail)]

    @staticmethod
    def _channel(frame: bytes | str) -> str | None:
        try:
            return ENVELOPE.decode(frame).channel
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None

    def _trades(self, trades: list[WsTrade], ts_recv: int) -> list[Item]:
        venue_id, market, lookup = self.venue_id, self.market, self.venue.lookup
        out: list[Item] = []
        for t in trades:
            side = _SIDES.get(t.side)
            if side is None:
                raise DecodeError("bad_side", t.side)
            out.append(Trade(venue_id, market, lookup(t.coin).symbol, ms_to_ns(t.time), ts_recv,
                             t.px, t.sz, side, str(t.tid)))
        return out

    def _ctx(self, inst: Instrument, c: AssetCtx, ts: int) -> list[Item]:
        """One asset context -> mark (index = oracle), hourly funding, open interest, 24 h ticker."""
        venue_id, market, sym = self.venue_id, self.market, inst.symbol
        oi_base = inst.to_base(c.openInterest, c.markPx)
        last = c.midPx if c.midPx is not None else c.markPx  # no last-trade price in the context
        change = last - c.prevDayPx
        return [
            MarkPrice(venue_id, market, sym, ts, ts, c.markPx, c.oraclePx),
            Funding(venue_id, market, sym, ts, ts, c.funding, None, next_funding_ns(ts), 1.0),
            OpenInterest(venue_id, market, sym, ts, ts, c.openInterest, oi_base, oi_base * c.markPx),
            Ticker24h(venue_id, market, sym, ts, ts, last, c.prevDayPx, None, None, c.dayBaseVlm, c.dayNtlVlm,
                      change, change / c.prevDayPx * 100.0 if c.prevDayPx else None),
        ]

    def _all_dexs(self, data: AllDexsCtxs, ts_recv: int) -> list[Item]:
        """Main-dex contexts whose asset index is known and whose instrument is listed.

        HIP-3 dexes (``xyz``, ``flx``, ...) are skipped: their coin names need ``meta`` of that dex.
        """
        names, registry, venue_id = self.venue.asset_names, self.venue.registry, self.venue_id
        out: list[Item] = []
        for dex, ctxs in data.ctxs:
            if dex:
                continue
            for i, ctx in enumerate(ctxs):
                name = names.get(i)
                inst = registry.get(venue_id, name) if name is not None else None
                if inst is not None:
                    out.extend(self._ctx(inst, ctx, ts_recv))
        return out


class Hyperliquid(Venue):
    id = "hyperliquid"
    exchange = "hyperliquid"
    markets = ("perp",)
    streams = {
        "perp": frozenset(("trade", "bbo", "book", "mark_price", "funding", "open_interest", "ticker", "candle")),
    }
    default_endpoints = Endpoints(ws={"public": "wss://api.hyperliquid.xyz/ws"}, rest="https://api.hyperliquid.xyz")
    # The venue's cap is 1000 subscriptions per IP (over all connections), one per message.
    max_subscriptions_per_connection = 1000
    max_connection_lifetime_s = None
    ping_interval_s = 30.0  # the server closes a connection that sent nothing for 60 s
    idle_timeout_s = 60.0
    book_sync = FULL_SNAPSHOTS
    book_depth = 20  # l2Book sends 20 levels a side
    candle_intervals = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "1d")
    # every interval the candle channel accepts (those outside INTERVALS_NS are not offered above)
    wire_intervals: ClassVar[frozenset[str]] = frozenset(
        ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d", "3d", "1w", "1M")
    )
    info_path: ClassVar[str] = "/info"
    # mark_price, funding, open_interest and ticker all come from one activeAssetCtx subscription
    _TYPES: ClassVar[dict[str, str]] = {
        "trade": "trades", "bbo": "bbo", "book": "l2Book", "candle": "candle", "mark_price": "activeAssetCtx",
        "funding": "activeAssetCtx", "open_interest": "activeAssetCtx", "ticker": "activeAssetCtx",
    }

    def __init__(self, registry: InstrumentRegistry | None = None, endpoints: Endpoints | None = None) -> None:
        super().__init__(registry, endpoints)
        self.asset_names: dict[int, str] = dict(ASSET_IDS)  # main-dex asset index -> coin

    # ---- instruments -------------------------------------------------------------------
    def infer_instrument(self, native: str) -> Instrument | None:
        # Main-dex perps are named by their coin and sized in it, always against USDC. Spot ids
        # ("@107", "PURR/USDC") and HIP-3 coins ("xyz:TSLA", other collateral) are not inferred.
        if _PLAIN_COIN.fullmatch(native):
            base = native
        elif _KILO_COIN.fullmatch(native):
            base = "1000" + native[1:]
        else:
            return None
        return Instrument(self.id, native, base + "USDT", "perp", base, "USDC", "linear", 1.0)

    def instruments_urls(self) -> list[str]:
        return [f"{self.endpoints.rest}{self.info_path}#meta"]

    def rest_request(self, url: str) -> tuple[str, dict[str, str] | None]:
        """(HTTP method, JSON body) for a REST URL of ours: /info takes POST only, the URL's
        fragment names the request type. Matches ``RestClient.request(method=, json_body=)``."""
        parts = urlsplit(url)
        if parts.path.endswith(self.info_path) and parts.fragment:
            return "POST", {"type": parts.fragment}
        return "GET", None

    def parse_instruments(self, url: str, body: bytes) -> list[Instrument]:
        """``meta`` -> listed perps; also learns the asset-index order allDexsAssetCtxs relies on."""
        parts = urlsplit(url)
        if not (parts.path.endswith(self.info_path) and parts.fragment == "meta"):
            return []
        universe = META.decode(body).universe
        self.asset_names = {i: a.name for i, a in enumerate(universe)}
        out = []
        for a in universe:
            if a.isDelisted:
                continue
            inst = self.infer_instrument(a.name)
            if inst is not None:
                out.append(inst)
        return out

    # ---- connections -------------------------------------------------------------------
    def ws_url(self, sub: Subscription) -> str:
        return self.endpoints.ws["public"]

    def subscription(self, sub: Subscription) -> dict[str, str]:
        """The ``subscription`` object of a stream (key order as Hyperliquid's own clients send it)."""
        kind = self._TYPES.get(sub.stream)
        if kind is None:
            raise VenueError(f"{self.id} has no websocket stream for {sub.stream}; offered: "
                             f"{', '.join(sorted(self.streams['perp']))}")
        out = {"type": kind, "coin": sub.instrument.native}
        if kind == "candle":
            interval = sub.interval or "1m"
            if interval not in self.wire_intervals:
                raise VenueError(f"{self.id} has no {interval} candles; intervals: {', '.join(self.candle_intervals)}")
            out["interval"] = interval
        return out

    def subscribe_messages(self, subs: list[Subscription]) -> list[str]:
        return self._method("subscribe", subs)

    def unsubscribe_messages(self, subs: list[Subscription]) -> list[str]:
        return self._method("unsubscribe", subs)

    def _method(self, method: str, subs: list[Subscription]) -> list[str]:
        # one subscription per message (no batching on Hyperliquid); shared ones sent once
        msgs = (msgspec.json.encode({"method": method, "subscription": self.subscription(s)}).decode() for s in subs)
        return list(dict.fromkeys(msgs))

    def ping_message(self) -> str:
        return '{"method":"ping"}'

    def new_decoder(self) -> HyperliquidDecoder:
        return HyperliquidDecoder(self)


VENUE = Hyperliquid
