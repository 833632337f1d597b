"""Deribit frames -> events, book updates and controls. Pure: the receive time is passed in.

Routing is by channel name (cached per channel): ``trades.*``, ``book.*`` (diff or grouped),
``quote.*``, ``ticker.*``, ``chart.trades.*``. Decisions documented here once:

- Trades: ``amount`` -> base units (USD / price for inverse). A trade with a ``liquidation``
  flag is also a ``Liquidation`` whose side is the liquidated *position*: the taker's order
  direction for "T" (a taker *sell* closes a long), the maker's (opposite of ``direction``) for
  "M"; "MT" means a long and a short were both liquidated against each other, so it yields two
  Liquidation events of the full amount, one per side.
- Books: ``book.X.100ms`` (and captured ``.raw``) is a snapshot then changes; ``change_id`` is
  the update's id and ``prev_change_id`` must equal the previous one (``STREAM_SEQ`` +
  ``Link.PREV``). Grouped ``book.X.none.N.100ms`` pushes are full top-N snapshots (``FULL``).
- Ticker -> MarkPrice (mark, index), Funding, OpenInterest, Ticker24h. Funding.rate is
  ``funding_8h`` (the rate actually paid over the trailing 8 h, comparable with other venues'
  per-8h rates), ``predicted_rate`` is ``current_funding`` (the instantaneous rate on the same
  8 h basis), ``interval_hours`` 8; Deribit funds continuously, so there is no next funding time.
  Open interest: USD for inverse (base = USD / mark price), coins for linear (notional = coins x
  mark); Deribit gives no contract count. Ticker24h carries ``stats.price_change`` (percent); the
  absolute change and the open are not sent. The ticker's best bid/ask is not emitted as a BBO:
  the ``quote`` channel is the BBO stream, and emitting both would double every BBO row.
- Candles (chart.trades) carry only the candle's open time: ``ts`` is that time, and
  ``closed`` stays False (Deribit re-sends the current candle and never marks it final).
- Options and dated futures decode to book updates only (see ``instruments``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cryptoflow.errors import DecodeError
from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import FULL_SNAPSHOTS, BookUpdate, Control, FrameDecoder, Item, ms_to_ns
from cryptoflow.venues.deribit import subscribe
from cryptoflow.venues.deribit.schemas import (
    BOOK_DIFF,
    BOOK_GROUPED,
    CHART,
    ENVELOPE,
    PUSH_PREFIX,
    QUOTE,
    TICKER,
    TRADES,
    BookDiff,
    BookGrouped,
    ChannelSchema,
    ChartBar,
    DiffLevels,
    Envelope,
    Levels,
    Quote,
    Ticker,
    WsTrade,
)

if TYPE_CHECKING:
    from cryptoflow.venues.deribit import Deribit

_NS_PER_MS = 1_000_000
_PREFIX_LEN = len(PUSH_PREFIX)

# channel kinds
TRADES_KIND, BOOK_KIND, GROUPED_KIND, QUOTE_KIND, TICKER_KIND, CHART_KIND = range(6)
_HEAD_KIND = {"trades": TRADES_KIND, "quote": QUOTE_KIND, "ticker": TICKER_KIND}
_SCHEMA: dict[int, ChannelSchema] = {
    TRADES_KIND: TRADES,
    BOOK_KIND: BOOK_DIFF,
    GROUPED_KIND: BOOK_GROUPED,
    QUOTE_KIND: QUOTE,
    TICKER_KIND: TICKER,
    CHART_KIND: CHART,
}

# liquidation flag -> position sides liquidated, for a taker "buy" and a taker "sell"
_LIQUIDATED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "T": (("short",), ("long",)),  # the taker was liquidated: a buy closes a short
    "M": (("long",), ("short",)),  # the maker was: it sold into a buy, so it was long
    "MT": (("long", "short"), ("long", "short")),
}


def route(ch: str) -> tuple[int, str, str]:
    """Channel -> (kind, instrument, candle interval or "").

    ``book.BTC-PERPETUAL.none.10.100ms`` -> (GROUPED_KIND, "BTC-PERPETUAL", "");
    ``chart.trades.BTC-PERPETUAL.60`` -> (CHART_KIND, "BTC-PERPETUAL", "1h").
    """
    parts = ch.split(".")
    head = parts[0]
    if head == "book" and len(parts) in (3, 5):
        return (BOOK_KIND if len(parts) == 3 else GROUPED_KIND), parts[1], ""
    if head == "chart" and len(parts) == 4 and parts[1] == "trades":
        interval = subscribe.INTERVAL_OF_RESOLUTION.get(parts[3])
        if interval is None:
            raise DecodeError("unknown_resolution", parts[3])
        return CHART_KIND, parts[2], interval
    if head in _HEAD_KIND and len(parts) in (2, 3):
        return _HEAD_KIND[head], parts[1], ""
    raise DecodeError("unknown_channel", ch)


def _diff_levels(levels: DiffLevels, inst: Instrument) -> list[tuple[float, float]]:
    out = []
    inverse = inst.contract_type == "inverse"
    for action, price, amount in levels:
        if action == "delete":
            out.append((price, 0.0))
        elif action == "new" or action == "change":
            out.append((price, amount / price if inverse else inst.to_base(amount, price)))
        else:
            raise DecodeError("bad_book_action", action)
    return out


def _levels(levels: Levels, inst: Instrument) -> list[tuple[float, float]]:
    if inst.contract_type == "inverse":
        return [(p, a / p) for p, a in levels]
    to_base = inst.to_base
    return [(p, to_base(a, p)) for p, a in levels]


class _Route:
    """What one channel needs: its decoders, its handler, and (candles) the instrument and interval."""

    __slots__ = ("handle", "interval", "native", "schema")

    def __init__(
        self, handle: Callable[[Any, _Route, int], list[Item]], schema: ChannelSchema, native: str, interval: str
    ) -> None:
        self.handle = handle
        self.schema = schema
        self.native = native
        self.interval = interval


class DeribitDecoder(FrameDecoder):
    """Decodes one Deribit connection's frames.

    Per connection it caches routes by channel and instruments by name (one registry look-up
    per instrument, not per frame).
    """

    venue: Deribit

    def __init__(self, venue: Deribit) -> None:
        super().__init__(venue)
        self.sync = venue.book_sync
        self._routes: dict[bytes, _Route] = {}
        self._insts: dict[str, Instrument] = {}
        self._handlers: dict[int, Callable[[Any, _Route, int], list[Item]]] = {
            TRADES_KIND: self._trades,
            BOOK_KIND: self._book,
            GROUPED_KIND: self._grouped,
            QUOTE_KIND: self._quote,
            TICKER_KIND: self._ticker,
            CHART_KIND: self._chart,
        }

    def _route(self, ch: bytes) -> _Route:
        r = self._routes.get(ch)
        if r is None:
            kind, native, interval = route(ch.decode("utf-8", "replace"))
            r = self._routes[ch] = _Route(self._handlers[kind], _SCHEMA[kind], native, interval)
        return r

    def _inst(self, native: str) -> Instrument:
        inst = self._insts.get(native)
        if inst is None:
            inst = self._insts[native] = self.venue.lookup(native)
        return inst

    def _decode(self, frame: bytes | str, ts_recv: int) -> list[Item]:
        raw = frame if type(frame) is bytes else (frame.encode() if isinstance(frame, str) else bytes(frame))
        if raw.startswith(PUSH_PREFIX):  # every live push: one typed pass over the whole frame
            end = raw.find(b'"', _PREFIX_LEN)
            if end > 0:
                r = self._route(raw[_PREFIX_LEN:end])
                return r.handle(r.schema.push.decode(raw).params.data, r, ts_recv)
        env = ENVELOPE.decode(raw)
        params = env.params
        if env.method == "subscription" and params is not None and params.channel is not None:
            r = self._route(params.channel.encode())
            return r.handle(r.schema.data.decode(params.data), r, ts_recv)
        if env.method == "heartbeat" and params is not None:
            if params.type == "test_request":
                return [Control("ping", "test_request", subscribe.TEST)]
            return [Control("info", params.type or "heartbeat")]
        return self._response(env)

    # ---- responses to our requests -------------------------------------------------------------
    def _response(self, env: Envelope) -> list[Item]:
        if env.error is not None:
            e = env.error
            detail = f"{e.code} {e.message}" + (f" (request {env.id})" if env.id is not None else "")
            if e.data and bytes(e.data) != b"null":
                detail += f": {bytes(e.data).decode()}"
            return [Control("error", detail)]
        if env.id is None or not env.result:
            return self.unknown()
        first = bytes(memoryview(env.result)[:1])
        if first == b"[":  # the channels now (un)subscribed
            kind = "unsubscribed" if env.id >= subscribe.UNSUBSCRIBE_ID0 else "ack"
            return [Control(kind, str(env.id))]
        if first == b"{":  # public/test answers {"version": ...}
            return [Control("pong", str(env.id))]
        return [Control("ack", str(env.id))]  # public/set_heartbeat answers "ok"

    # ---- channels --------------------------------------------------------------------------------
    def _trades(self, trades: list[WsTrade], r: _Route, ts_recv: int) -> list[Item]:
        if not trades:
            return self.unknown()
        inst = self._inst(trades[0].instrument_name)
        if inst.market != "perp":
            return self.unknown()
        venue_id, market, symbol = self.venue_id, inst.market, inst.symbol
        inverse = inst.contract_type == "inverse"
        out: list[Item] = []
        for t in trades:
            if t.instrument_name != inst.native:
                inst = self._inst(t.instrument_name)
                symbol, inverse = inst.symbol, inst.contract_type == "inverse"
            side = t.direction
            if side != "buy" and side != "sell":
                raise DecodeError("bad_side", side)
            price = t.price
            qty = t.amount / price if inverse else inst.to_base(t.amount, price)
            ts = t.timestamp * _NS_PER_MS
            out.append(Trade(venue_id, market, symbol, ts, ts_recv, price, qty, side, str(t.trade_id)))
            if t.liquidation is not None:
                sides = _LIQUIDATED.get(t.liquidation)
                if sides is None:
                    raise DecodeError("bad_liquidation_flag", t.liquidation)
                for pos in sides[0 if side == "buy" else 1]:
                    out.append(Liquidation(venue_id, market, symbol, ts, ts_recv, pos, price, qty, price * qty))
        return out

    def _quote(self, q: Quote, r: _Route, ts_recv: int) -> list[Item]:
        inst = self._inst(q.instrument_name)
        bp, bq, ap, aq = q.best_bid_price, q.best_bid_amount, q.best_ask_price, q.best_ask_amount
        if inst.market != "perp" or bp is None or bq is None or ap is None or aq is None:
            return self.unknown()  # an empty side has no best level to report
        if inst.contract_type == "inverse":
            bq, aq = bq / bp, aq / ap
        else:
            bq, aq = inst.to_base(bq, bp), inst.to_base(aq, ap)
        return [BBO(self.venue_id, inst.market, inst.symbol, q.timestamp * _NS_PER_MS, ts_recv, bp, bq, ap, aq)]

    def _book(self, b: BookDiff, r: _Route, ts_recv: int) -> list[Item]:
        inst = self._inst(b.instrument_name)
        if b.type == "snapshot":
            snapshot, prev = True, -1
        elif b.type == "change" and b.prev_change_id is not None:
            snapshot, prev = False, b.prev_change_id
        else:
            raise DecodeError("bad_book_type", f"{b.type} prev_change_id={b.prev_change_id}")
        return [
            BookUpdate(
                self.venue_id,
                inst.market,
                inst.symbol,
                inst.native,
                ms_to_ns(b.timestamp),
                ts_recv,
                _diff_levels(b.bids, inst),
                _diff_levels(b.asks, inst),
                snapshot,
                self.sync,
                b.change_id,
                b.change_id,
                prev,
            )
        ]

    def _grouped(self, b: BookGrouped, r: _Route, ts_recv: int) -> list[Item]:
        inst = self._inst(b.instrument_name)
        return [
            BookUpdate(
                self.venue_id,
                inst.market,
                inst.symbol,
                inst.native,
                ms_to_ns(b.timestamp),
                ts_recv,
                _levels(b.bids, inst),
                _levels(b.asks, inst),
                True,
                FULL_SNAPSHOTS,
                b.change_id,
                b.change_id,
            )
        ]

    def _ticker(self, t: Ticker, r: _Route, ts_recv: int) -> list[Item]:
        inst = self._inst(t.instrument_name)
        if inst.market != "perp":
            return self.unknown()
        venue_id, market, symbol, ts, mark = (
            self.venue_id,
            inst.market,
            inst.symbol,
            ms_to_ns(t.timestamp),
            t.mark_price,
        )
        out: list[Item] = [MarkPrice(venue_id, market, symbol, ts, ts_recv, mark, t.index_price)]
        if t.funding_8h is not None:
            out.append(Funding(venue_id, market, symbol, ts, ts_recv, t.funding_8h, t.current_funding, None, 8.0))
        oi = t.open_interest
        if oi is not None:
            if inst.contract_type == "inverse":
                out.append(OpenInterest(venue_id, market, symbol, ts, ts_recv, None, oi / mark, oi))
            else:
                base = inst.to_base(oi, mark)
                out.append(OpenInterest(venue_id, market, symbol, ts, ts_recv, None, base, base * mark))
        if t.last_price is not None:
            s = t.stats
            if s is None:
                out.append(Ticker24h(venue_id, market, symbol, ts, ts_recv, t.last_price))
            else:
                quote_volume = s.volume_notional if s.volume_notional is not None else s.volume_usd
                out.append(
                    Ticker24h(
                        venue_id,
                        market,
                        symbol,
                        ts,
                        ts_recv,
                        t.last_price,
                        None,
                        s.high,
                        s.low,
                        s.volume,
                        quote_volume,
                        None,
                        s.price_change,
                    )
                )
        return out

    def _chart(self, c: ChartBar, r: _Route, ts_recv: int) -> list[Item]:
        inst = self._inst(r.native)
        if inst.market != "perp":
            return self.unknown()
        open_time = ms_to_ns(c.tick)
        return [
            Candle(
                self.venue_id,
                inst.market,
                inst.symbol,
                open_time,
                ts_recv,
                r.interval,
                open_time,
                c.open,
                c.high,
                c.low,
                c.close,
                c.volume,
                c.cost,
            )
        ]


__all__ = ["DeribitDecoder", "route"]
