"""Bybit v5 public market data: USDT linear perps ("perp") and spot ("spot").

One websocket per category: ``wss://stream.bybit.com/v5/public/linear`` and ``.../spot``.
Streams -> topics: trade ``publicTrade.S``; bbo ``orderbook.1.S``; book ``orderbook.{50|200|1000}.S``;
ticker, and on perps mark_price / funding / open_interest, ``tickers.S``; candle ``kline.{i}.S``;
liquidation (perps) ``allLiquidation.S``. Book sync: in-stream snapshot then deltas with ``u`` +1 per
message; a new snapshot resets the book (STREAM_SEQ, Link.NEXT). Heartbeat: the client sends
``{"op":"ping"}`` every 20 s. Quantities are base units on linear USDT contracts and spot.
"""

from __future__ import annotations

import re
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

from cryptoflow.errors import DecodeError
from cryptoflow.symbols import KNOWN_QUOTES, Instrument
from cryptoflow.venues.base import (
    ALL_STREAMS,
    SPOT_STREAMS,
    BookSyncSpec,
    Endpoints,
    Link,
    Subscription,
    SyncMode,
    Venue,
)
from cryptoflow.venues.bybit import schemas as w
from cryptoflow.venues.bybit.parse import BybitDecoder, book_key
from cryptoflow.venues.bybit.subscribe import PING, op_messages, topic

_WS_NAME = {"perp": "linear", "spot": "spot"}  # market -> named ws base (= Bybit category)
_LINEAR_USDT = re.compile(r"^[A-Z0-9]+USDT$")
_INSTRUMENTS_PATH = "/v5/market/instruments-info"


class Bybit(Venue):
    id = "bybit"
    exchange = "bybit"
    markets = ("perp", "spot")
    streams: ClassVar[dict[str, frozenset[str]]] = {
        "perp": ALL_STREAMS,
        "spot": SPOT_STREAMS,
    }
    default_endpoints = Endpoints(
        ws={"linear": "wss://stream.bybit.com/v5/public/linear", "spot": "wss://stream.bybit.com/v5/public/spot"},
        rest="https://api.bybit.com",
    )
    # No documented count limit on linear (21,000 characters of args per connection); kept modest.
    max_subscriptions_per_connection = 200
    max_connection_lifetime_s = None
    ping_interval_s = 20.0
    idle_timeout_s = 60.0  # pongs arrive every 20 s; Bybit itself cuts silent connections after 10 min
    book_sync = BookSyncSpec(SyncMode.STREAM_SEQ, Link.NEXT)
    book_depth = 20
    candle_intervals = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "1d")

    # ---- instruments -------------------------------------------------------------------
    def lookup(self, native: str, market: str = "perp") -> Instrument:
        """Native id + market -> instrument (perp and spot share ids such as ``BTCUSDT``)."""
        key = native.upper()
        inst = self.registry.find(self.id, key, market)  # Bybit ids are BASE+QUOTE = canonical symbol
        if inst is None or inst.native.upper() != key:
            inst = self.registry.get(self.id, native)
            if inst is None or inst.market != market:
                inst = self.infer_instrument(native, market)
                if inst is None:
                    raise DecodeError("unknown_instrument", f"{native} ({market})")
                self.registry.add((inst,))
        return inst

    def infer_instrument(self, native: str, market: str = "perp") -> Instrument | None:
        """Certain by Bybit's rules: every linear contract and spot pair trades in base units, so a
        ``<BASE>USDT`` linear id is the USDT perpetual with size 1, and a spot id ending in a known
        quote is that pair. Dated futures (``BTCUSDT-26DEC25``) and anything else are not inferred."""
        s = native.upper()
        if market == "perp":
            if _LINEAR_USDT.match(s) and len(s) > 4:
                return Instrument(self.id, s, s, "perp", s[:-4], "USDT", "linear", 1.0)
            return None
        if market == "spot" and s.isalnum():
            for quote in sorted(KNOWN_QUOTES, key=len, reverse=True):
                if s.endswith(quote) and len(s) > len(quote):
                    return Instrument(self.id, s, s, "spot", s[: -len(quote)], quote, "spot", 1.0)
        return None

    def instruments_urls(self) -> list[str]:
        # limit=1000 covers every linear contract in one page today; spot is never paginated.
        base = f"{self.endpoints.rest}{_INSTRUMENTS_PATH}"
        return [f"{base}?category=linear&limit=1000", f"{base}?category=spot"]

    def parse_instruments(self, url: str, body: bytes) -> list[Instrument]:
        """Trading USDT-settled linear perpetuals (canonical BASE+USDT) and spot pairs (BASE+QUOTE)."""
        parts = urlsplit(url)
        if not parts.path.endswith(_INSTRUMENTS_PATH):
            return []
        resp = w.INSTRUMENTS.decode(body)
        if resp.retCode != 0:
            raise DecodeError("rest_error", f"{resp.retCode} {resp.retMsg}")
        category = resp.result.category or parse_qs(parts.query).get("category", [""])[0]
        out: list[Instrument] = []
        for i in resp.result.list:
            if i.status != "Trading":
                continue
            tick = float(i.priceFilter.tickSize) if i.priceFilter is not None and i.priceFilter.tickSize else None
            if category == "linear":
                if i.contractType != "LinearPerpetual" or i.quoteCoin != "USDT" or i.settleCoin != "USDT":
                    continue
                out.append(Instrument(self.id, i.symbol, f"{i.baseCoin}USDT", "perp", i.baseCoin, "USDT",
                                      "linear", 1.0, tick))
            elif category == "spot":
                out.append(Instrument(self.id, i.symbol, f"{i.baseCoin}{i.quoteCoin}", "spot", i.baseCoin,
                                      i.quoteCoin, "spot", 1.0, tick))
        return out

    # ---- connections -------------------------------------------------------------------
    def ws_url(self, sub: Subscription) -> str:
        return self.endpoints.ws[_WS_NAME[sub.instrument.market]]

    def market_of_url(self, url: str) -> str | None:
        """The market a connection URL serves (None if it is not one of ours)."""
        for market, name in _WS_NAME.items():
            base = self.endpoints.ws.get(name)
            if base is not None and url.rstrip("/") == base.rstrip("/"):
                return market
        path = urlsplit(url).path.rstrip("/")
        if path.endswith("/linear"):
            return "perp"
        if path.endswith("/spot"):
            return "spot"
        return None

    def subscribe_messages(self, subs: list[Subscription]) -> list[str]:
        return op_messages("subscribe", subs)

    def unsubscribe_messages(self, subs: list[Subscription]) -> list[str]:
        return op_messages("unsubscribe", subs)

    def ping_message(self) -> str:
        return PING

    def decoder_for_url(self, url: str | None) -> BybitDecoder:
        return self.new_decoder(url)

    def new_decoder(self, url: str | None = None) -> BybitDecoder:
        """A decoder for one connection (``url`` fixes its market); without one, for a replay."""
        return BybitDecoder(self, self.market_of_url(url) if url else None)


VENUE = Bybit

__all__ = ["VENUE", "Bybit", "BybitDecoder", "book_key", "topic"]
