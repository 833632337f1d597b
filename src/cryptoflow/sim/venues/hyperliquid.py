"""Simulated Hyperliquid perpetuals: one ``/ws`` socket, one subscription per message, ``POST /info``.

Wire behaviour mirrored from the real venue (see ``cryptoflow.venues.hyperliquid`` and the captures
in ../shared/venue-samples/hyperliquid):

- On connect the server sends the plain text ``Websocket connection established.``.
- ``{"method":"subscribe","subscription":{"type":..,"coin":..}}`` is answered by
  ``{"channel":"subscriptionResponse","data":{"method":"subscribe","subscription":{..}}}`` echoing
  the subscription as the server re-serialises it (its own key order, defaults filled in: an
  l2Book echo carries ``nSigFigs``/``mantissa``/``fast``, a candle echo is type, interval, coin).
  A request that does not parse (bad JSON, unknown method or type, a missing field, an interval
  the venue does not have) gets ``{"channel":"error","data":"Error parsing JSON into valid
  websocket request: <the request text>"}`` and the connection stays open. A coin the venue does
  not list closes the socket without any frame (as reported from the real venue). Subscribing twice
  gives ``Already subscribed: {..}``, unsubscribing what is not subscribed ``Already
  unsubscribed: {..}``, more than 1000 subscriptions ``Cannot subscribe to more than 1000
  channels.``.
- ``{"method":"ping"}`` -> ``{"channel":"pong"}``; no server pings; a client that sends nothing
  for 60 s is disconnected.

Channels (topics are ``<type>:<coin>``, candles ``candle:<coin>:<interval>``):

- ``l2Book``: a full 20-level snapshot per push. The encoder mirrors every book from the
  market's diffs (seeded from ``market.book_snapshot`` on the first diff or subscription) and
  sends the current top 20 per side after each diff; a subscription starts with the current book.
- ``trades`` (side ``B`` = buyer aggressor, ``A`` = seller; ``tid`` quoted as in 2026 captures),
  ``bbo`` (from BBO events), ``candle`` (no closed flag on the wire).
- ``activeAssetCtx``: mark/oracle, hourly funding, open interest, 24 h ticker in one frame. The
  latest MarkPrice, Funding, OpenInterest and Ticker24h of each coin are cached; once all four
  are known a ctx frame goes out whenever one of them changes the frame (and on subscription).
  ``midPx`` carries the ticker's last price (the decoder reads the ticker's last from it),
  ``impactPxs`` the latest best bid/ask.
- No liquidations: Hyperliquid has no public liquidation channel.

REST: ``POST /info`` with ``{"type":"meta"}`` (the universe: main-dex asset order where the
venue module knows the asset index, then the rest) and ``{"type":"l2Book","coin":..}``; the
market-data types (metaAndAssetCtxs, recentTrades, candleSnapshot, fundingHistory) are in
``hyperliquid_rest.py``, and ``throttled_response`` is a bare HTTP 429.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from bisect import bisect_left, insort
from decimal import Decimal
from typing import Any, ClassVar

import msgspec

from cryptoflow.errors import ConfigError
from cryptoflow.events import BBO, Candle, Funding, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.sim.model_specs import DEFAULT_SYMBOL_SPECS
from cryptoflow.sim.protocol import ClientReply, ConnState, FloatText, MarketView, RestResponse, SimVenue
from cryptoflow.sim.venues.hyperliquid_rest import HyperliquidRestSim, throttled
from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import BookUpdate
from cryptoflow.venues.hyperliquid import ASSET_IDS, Hyperliquid

_MS = 1_000_000
_MIN_MS = 60_000
_DAY_MS = 86_400_000
WELCOME = "Websocket connection established."
PONG = '{"channel":"pong"}'
BOOK_DEPTH = Hyperliquid.book_depth  # 20 levels a side
MAX_SUBSCRIPTIONS = 1000
_SEED_DEPTH = 10_000  # "the whole book" when seeding a mirror from the market
_PARSE_ERROR = "Error parsing JSON into valid websocket request: "
# Candle durations (the decoder only needs ``t``; ``T`` is the last ms of the candle).
_INTERVAL_MS = {
    "1m": _MIN_MS, "3m": 3 * _MIN_MS, "5m": 5 * _MIN_MS, "15m": 15 * _MIN_MS, "30m": 30 * _MIN_MS,
    "1h": 60 * _MIN_MS, "2h": 120 * _MIN_MS, "4h": 240 * _MIN_MS, "8h": 480 * _MIN_MS, "12h": 720 * _MIN_MS,
    "1d": _DAY_MS, "3d": 3 * _DAY_MS, "1w": 7 * _DAY_MS, "1M": 30 * _DAY_MS,
}
_COIN_TYPES = frozenset(("trades", "l2Book", "bbo", "activeAssetCtx"))
# Trade counterparties: a small fixed pool of addresses (the wire has two per trade).
_USERS = ["0x" + hashlib.sha1(f"cryptoflow-sim-user-{i}".encode()).hexdigest() for i in range(16)]
_HASH_MUL = 0x2545F4914F6CDD1D9E3779B97F4A7C15F39CC0605CEDC8341082276BF3A27251
_HASH_MOD = 1 << 256


def _num(x: float) -> str:
    """A number as Hyperliquid quotes it: shortest decimal, never exponent notation."""
    s = repr(x)
    if "e" in s:
        s = format(Decimal(s), "f")
    return s


# trade prices and sizes as Hyperliquid writes them, memoised (they sit on the tick and lot grids).
# Not for values that may be -0.0 (funding): the memo writes it as 0.0.
_NUM = FloatText(_num)

_PX: dict[float, str] = {}  # price -> '{"px":"<price>","sz":"' (shared: a price's text never changes)
_CACHE_MAX = 100_000


def _px(p: float) -> str:
    s = _PX.get(p)
    if s is None:
        if len(_PX) >= _CACHE_MAX:
            _PX.clear()
        s = _PX[p] = f'{{"px":"{_num(p)}","sz":"'
    return s


class _Levels:
    """Level texts ``{"px":..,"sz":..,"n":..}`` of one coin, from cached price and size parts.

    ``n`` (orders at the level) grows with the level's notional at the coin's first price seen,
    so the size part depends on the size alone and is cached too.
    """

    __slots__ = ("k", "sz")

    def __init__(self, ref_price: float) -> None:
        self.k = math.sqrt(abs(ref_price)) / 30.0
        self.sz: dict[float, str] = {}

    def size(self, q: float) -> str:
        s = self.sz.get(q)
        if s is None:
            if len(self.sz) >= _CACHE_MAX:
                self.sz.clear()
            s = self.sz[q] = f'{_num(q)}","n":{1 + int(self.k * math.sqrt(abs(q)))}}}'
        return s

    def level(self, p: float, q: float) -> str:
        return (_PX.get(p) or _px(p)) + (self.sz.get(q) or self.size(q))


class _Side:
    """One side of a mirrored book: level texts by key (price for asks, -price for bids), the keys
    sorted best first, and the joined text of the best ``BOOK_DEPTH`` levels (rebuilt only when a
    change reaches them)."""

    __slots__ = ("cut", "fmt", "keys", "sign", "text", "txt")

    def __init__(self, levels: list[tuple[float, float]], sign: float, fmt: _Levels) -> None:
        self.sign = sign
        self.fmt = fmt
        self.txt: dict[float, str] = {p * sign: fmt.level(p, q) for p, q in levels if q > 0.0}
        self.keys: list[float] = sorted(self.txt)
        self._rebuild()

    def _rebuild(self) -> None:
        keys, txt = self.keys, self.txt
        top = keys[:BOOK_DEPTH]
        self.text = ",".join([txt[k] for k in top])
        # a change at a key beyond ``cut`` cannot touch the best BOOK_DEPTH levels
        self.cut = top[-1] if len(keys) >= BOOK_DEPTH else math.inf

    def update(self, levels: list[tuple[float, float]]) -> None:
        keys, txt, sign, cut = self.keys, self.txt, self.sign, self.cut
        px_get, fmt = _PX.get, self.fmt
        sz_get = fmt.sz.get
        dirty = False
        for p, q in levels:
            k = p * sign
            if q > 0.0:
                if k not in txt:
                    insort(keys, k)
                txt[k] = (px_get(p) or _px(p)) + (sz_get(q) or fmt.size(q))
            elif k in txt:
                del txt[k]
                del keys[bisect_left(keys, k)]
            else:
                continue
            if k <= cut:
                dirty = True
        if dirty:
            self._rebuild()


class _Book:
    """The encoder's mirror of one book (from the market's diffs), sent as 20-level snapshots."""

    __slots__ = ("asks", "bids", "seq", "ts")

    def __init__(self, snap: BookUpdate, fmt: _Levels) -> None:
        self.bids = _Side(snap.bids, -1.0, fmt)
        self.asks = _Side(snap.asks, 1.0, fmt)
        self.seq = snap.seq
        self.ts = snap.ts

    def apply(self, d: BookUpdate) -> None:
        if d.bids:
            self.bids.update(d.bids)
        if d.asks:
            self.asks.update(d.asks)
        if d.seq >= 0:
            self.seq = d.seq
        self.ts = d.ts

    def levels(self) -> str:
        return f"[[{self.bids.text}],[{self.asks.text}]]"

    def frame(self, coin: str) -> str:
        return (
            f'{{"channel":"l2Book","data":{{"coin":"{coin}","time":{self.ts // _MS},'
            f'"levels":[[{self.bids.text}],[{self.asks.text}]]}}}}'
        )


class _Ctx:
    """Latest mark, funding, open interest, ticker and quote of one coin (activeAssetCtx)."""

    __slots__ = ("bbo", "funding", "last", "mark", "oi", "ticker")

    def __init__(self) -> None:
        self.last = ""  # the last ctx frame sent
        self.mark: MarkPrice | None = None
        self.funding: Funding | None = None
        self.oi: OpenInterest | None = None
        self.ticker: Ticker24h | None = None
        self.bbo: BBO | None = None

    def frame(self, coin: str) -> str | None:
        m, f, oi, t = self.mark, self.funding, self.oi, self.ticker
        if m is None or f is None or oi is None or t is None:
            return None
        mark = m.mark_price
        oracle = m.index_price if m.index_price is not None else mark
        rate = f.rate
        if f.interval_hours and f.interval_hours != 1.0:  # the wire rate is per 1-hour interval
            rate = rate / f.interval_hours
        if oi.oi_base is not None:
            oi_base = oi.oi_base
        elif oi.oi_contracts is not None:
            oi_base = oi.oi_contracts  # contract size 1
        else:
            oi_base = (oi.oi_notional or 0.0) / mark if mark else 0.0
        last = t.last
        if t.open is not None:
            prev = t.open
        elif t.price_change is not None:
            prev = last - t.price_change
        else:
            prev = last
        premium = round(mark / oracle - 1.0, 10) if oracle else 0.0
        b = self.bbo
        bid, ask = (b.bid_price, b.ask_price) if b is not None else (last, last)
        return (
            f'{{"channel":"activeAssetCtx","data":{{"coin":"{coin}","ctx":{{'
            f'"funding":"{_num(round(rate, 10))}","openInterest":"{_num(oi_base)}","prevDayPx":"{_num(prev)}",'
            f'"dayNtlVlm":"{_num(t.quote_volume or 0.0)}","premium":"{_num(premium)}","oraclePx":"{_num(oracle)}",'
            f'"markPx":"{_num(mark)}","midPx":"{_num(last)}","impactPxs":["{_num(bid)}","{_num(ask)}"],'
            f'"dayBaseVlm":"{_num(t.volume or 0.0)}"}}}}}}'
        )


class _BadRequest(Exception):
    """The request does not parse as a websocket request of the venue."""


class _UnknownCoin(Exception):
    """A well-formed subscription for a coin the venue does not list."""


_request = msgspec.json.Decoder()
_enc = msgspec.json.encode


class HyperliquidSim(SimVenue):
    venue_id = "hyperliquid"
    ws_paths: ClassVar[dict[str, str]] = {"public": "/ws"}
    client_idle_timeout_s = Hyperliquid.idle_timeout_s  # 60 s without a client message: closed
    server_ping_interval_s = None  # the client pings ({"method":"ping"}); the server never does

    def __init__(self, instruments: list[Instrument], market: MarketView) -> None:
        super().__init__(instruments, market)
        self._coin: dict[tuple[str, str], str] = {k: i.native for k, i in self.by_symbol.items()}
        self._books: dict[str, _Book] = {}
        self._ctx: dict[str, _Ctx] = {}
        self._fmt: dict[str, _Levels] = {}  # level text parts per coin (book and bbo)
        self.rest_api = HyperliquidRestSim(self)  # /info market data (sim/venues/hyperliquid_rest.py)

    # ---- client side ---------------------------------------------------------------------
    def on_open(self, conn: ConnState) -> ClientReply:
        return ClientReply(send=[WELCOME])

    def on_message(self, text: str, conn: ConnState) -> ClientReply:
        try:
            msg = _request.decode(text)
            if not isinstance(msg, dict):
                raise _BadRequest
            method = msg.get("method")
            if method == "ping":
                return ClientReply(send=[PONG])
            if method != "subscribe" and method != "unsubscribe":
                raise _BadRequest
            echo, topic = self._subscription(msg.get("subscription"))
        except (msgspec.DecodeError, _BadRequest):
            return ClientReply(send=[self._error(_PARSE_ERROR + text)])
        except _UnknownCoin:
            return ClientReply(close=True)  # the real venue drops the socket without a word
        if method == "subscribe":
            if topic in conn.topics:
                return ClientReply(send=[self._error(f"Already subscribed: {echo}")])
            if len(conn.topics) >= MAX_SUBSCRIPTIONS:
                return ClientReply(send=[self._error(f"Cannot subscribe to more than {MAX_SUBSCRIPTIONS} channels.")])
            return ClientReply(send=[self._ack(method, echo)], subscribe=[topic])
        if topic not in conn.topics:
            return ClientReply(send=[self._error(f"Already unsubscribed: {echo}")])
        return ClientReply(send=[self._ack(method, echo)], unsubscribe=[topic])

    def on_subscribed(self, topic: str, conn: ConnState) -> list[str]:
        kind, _, rest = topic.partition(":")
        if kind == "l2Book":
            book = self._book(rest)
            return [book.frame(rest)] if book is not None else []
        if kind == "activeAssetCtx":
            ctx = self._ctx.get(rest)
            frame = ctx.frame(rest) if ctx is not None else None
            return [frame] if frame is not None else []
        return []

    def subscription_error(self, text: str, conn: ConnState) -> str:
        return self._error(f"Cannot subscribe to more than {MAX_SUBSCRIPTIONS} channels.")

    def _subscription(self, sub: Any) -> tuple[str, str]:
        """A subscription object -> (the server's echo of it, topic); raises _BadRequest/_UnknownCoin."""
        if not isinstance(sub, dict):
            raise _BadRequest
        kind = sub.get("type")
        coin = sub.get("coin")
        if not isinstance(coin, str) or not (kind in _COIN_TYPES or kind == "candle"):
            raise _BadRequest
        if kind == "candle":
            interval = sub.get("interval")
            if interval not in _INTERVAL_MS:
                raise _BadRequest
            echo: dict[str, Any] = {"type": kind, "interval": interval, "coin": coin}
            topic = f"candle:{coin}:{interval}"
        elif kind == "l2Book":
            n_sig, mantissa, fast = sub.get("nSigFigs"), sub.get("mantissa"), sub.get("fast", False)
            if not (n_sig is None or (type(n_sig) is int and 2 <= n_sig <= 5)):
                raise _BadRequest
            if not (mantissa is None or (type(mantissa) is int and mantissa in (1, 2, 5))):
                raise _BadRequest
            if type(fast) is not bool:
                raise _BadRequest
            # Accepted and echoed; the simulated book is always served at full precision, 20 levels.
            echo = {"type": kind, "coin": coin, "nSigFigs": n_sig, "mantissa": mantissa, "fast": fast}
            topic = f"l2Book:{coin}"
        else:
            echo = {"type": kind, "coin": coin}
            topic = f"{kind}:{coin}"
        if coin not in self.instruments:
            raise _UnknownCoin
        return _enc(echo).decode(), topic

    @staticmethod
    def _ack(method: str, echo: str) -> str:
        return f'{{"channel":"subscriptionResponse","data":{{"method":"{method}","subscription":{echo}}}}}'

    @staticmethod
    def _error(detail: str) -> str:
        return _enc({"channel": "error", "data": detail}).decode()

    # ---- market -> frames ----------------------------------------------------------------------
    def encode(self, item: Any) -> list[tuple[str, str]]:
        t = type(item)
        if t is BookUpdate:
            return self._l2book(item)
        coin = self._coin.get((item.market, item.symbol))
        if coin is None:
            return []
        if t is Trade:
            return self._trade(coin, item)
        if t is BBO:
            ctx = self._ctx.get(coin)
            if ctx is None:
                ctx = self._ctx[coin] = _Ctx()
            ctx.bbo = item
            fmt = self._fmt.get(coin) or self._levels(coin, item.bid_price)
            e = item.ts // _MS
            frame = (
                f'{{"channel":"bbo","data":{{"coin":"{coin}","time":{e},"bbo":['
                f"{fmt.level(item.bid_price, item.bid_qty)},{fmt.level(item.ask_price, item.ask_qty)}]}}}}"
            )
            return [(f"bbo:{coin}", frame)]
        if t is Candle:
            return self._candle(coin, item)
        if t is MarkPrice or t is Funding or t is OpenInterest or t is Ticker24h:
            ctx = self._ctx.get(coin)
            if ctx is None:
                ctx = self._ctx[coin] = _Ctx()
            if t is MarkPrice:
                ctx.mark = item
            elif t is Funding:
                ctx.funding = item
            elif t is OpenInterest:
                ctx.oi = item
            else:
                ctx.ticker = item
            frame = ctx.frame(coin)
            if frame is None or frame == ctx.last:  # incomplete, or nothing on the wire changed
                return []
            ctx.last = frame
            return [(f"activeAssetCtx:{coin}", frame)]
        return []  # Liquidation: no public channel on Hyperliquid

    def _trade(self, coin: str, tr: Trade) -> list[tuple[str, str]]:
        tid = tr.trade_id
        k = int(tid) if tid.isdigit() else zlib.crc32(tid.encode())
        side = "B" if tr.side == "buy" else "A"
        h = f"0x{(k * _HASH_MUL) % _HASH_MOD:064x}"
        u1, u2 = _USERS[k & 15], _USERS[(k + 1 + (k >> 4 & 7)) & 15]
        self.rest_api.on_trade(coin, (tr.ts // _MS, side, tr.price, tr.qty, h, tid, u1, u2))
        frame = (
            f'{{"channel":"trades","data":[{{"coin":"{coin}","side":"{side}","px":"{_NUM[tr.price]}",'
            f'"sz":"{_NUM[tr.qty]}","time":{tr.ts // _MS},"hash":"{h}","tid":"{tid}","users":["{u1}","{u2}"]}}]}}'
        )
        return [(f"trades:{coin}", frame)]

    def _candle(self, coin: str, c: Candle) -> list[tuple[str, str]]:
        t0 = c.open_time // _MS
        t1 = t0 + _INTERVAL_MS.get(c.interval, _MIN_MS) - 1
        frame = (
            f'{{"channel":"candle","data":{{"t":{t0},"T":{t1},"s":"{coin}","i":"{c.interval}",'
            f'"o":"{_num(c.open)}","c":"{_num(c.close)}","h":"{_num(c.high)}","l":"{_num(c.low)}",'
            f'"v":"{_num(c.volume)}","n":{c.trades or 0}}}}}'
        )
        return [(f"candle:{coin}:{c.interval}", frame)]

    def _l2book(self, d: BookUpdate) -> list[tuple[str, str]]:
        coin = d.instrument if d.instrument in self.instruments else self._coin.get((d.market, d.symbol))
        if coin is None:
            return []
        book = self._books.get(coin)
        if d.snapshot:
            book = self._books[coin] = self._new_book(coin, d)
        elif book is None:
            book = self._seed(coin)
            if book is None:
                return []
            if d.seq < 0 or d.seq > book.seq:  # the market may already be past this diff
                book.apply(d)
        elif d.seq < 0 or d.seq > book.seq:
            book.apply(d)
        else:
            book.ts = max(book.ts, d.ts)
        return [(f"l2Book:{coin}", book.frame(coin))]

    def _seed(self, coin: str) -> _Book | None:
        inst = self.instruments[coin]
        try:
            snap = self.market.book_snapshot(self.venue_id, inst.market, inst.symbol, _SEED_DEPTH)
        except ConfigError:  # the market does not simulate this book
            return None
        book = self._books[coin] = self._new_book(coin, snap)
        return book

    def _new_book(self, coin: str, snap: BookUpdate) -> _Book:
        fmt = self._fmt.get(coin)
        if fmt is None:
            ref = snap.bids[0][0] if snap.bids else snap.asks[0][0] if snap.asks else 1.0
            fmt = self._levels(coin, ref)
        return _Book(snap, fmt)

    def _levels(self, coin: str, ref_price: float) -> _Levels:
        fmt = self._fmt[coin] = _Levels(ref_price)
        return fmt

    def _book(self, coin: str) -> _Book | None:
        book = self._books.get(coin)
        return book if book is not None else self._seed(coin)

    # ---- REST --------------------------------------------------------------------------------
    def rest(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> RestResponse | None:
        if path != Hyperliquid.info_path:
            return None
        if method != "POST":
            return RestResponse(405, b'"Method Not Allowed"')
        try:
            req = _request.decode(body)
        except msgspec.DecodeError:
            req = None
        if not isinstance(req, dict):
            req = {}
        kind, coin = req.get("type"), req.get("coin")
        if kind == "meta":
            return RestResponse(200, self._meta())
        if kind == "l2Book" and isinstance(coin, str):
            book = self._book(coin) if coin in self.instruments else None
            if book is None:
                return RestResponse(200, b"null")  # the real /info answers null for an unknown coin
            return RestResponse(
                200,
                f'{{"coin":"{coin}","time":{book.ts // _MS},"levels":{book.levels()}}}'.encode(),
            )
        answered = self.rest_api.handle(req)  # metaAndAssetCtxs, recentTrades, candleSnapshot, fundingHistory
        if answered is not None:
            return answered
        return RestResponse(
            422, _enc("Failed to deserialize the JSON body into the target type: unknown or malformed request")
        )

    def throttled_response(self, path: str) -> RestResponse:
        return throttled()

    def _meta(self) -> bytes:
        """The main-dex universe: known asset indices first (their real order), then the others."""
        index = {coin: i for i, coin in ASSET_IDS.items()}
        coins = sorted(self.instruments, key=lambda c: (index.get(c, len(index) + 10**6), c))
        universe = [
            {"szDecimals": _sz_decimals(self.instruments[c]), "name": c, "maxLeverage": 20, "marginTableId": 20}
            for c in coins
        ]
        return _enc({"universe": universe, "marginTables": [], "collateralToken": 0})


def _sz_decimals(inst: Instrument) -> int:
    """Size decimals from the simulated symbol's lot (BTC 0.00001 -> 5); 2 when unknown."""
    spec = DEFAULT_SYMBOL_SPECS.get(inst.symbol)
    if spec is None or not spec.lot > 0:
        return 2
    return max(0, round(-math.log10(spec.lot)))


SIM_VENUE = HyperliquidSim
