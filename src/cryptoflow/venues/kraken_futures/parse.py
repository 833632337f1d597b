"""Kraken Futures frames -> events, book updates and control items (pure: receive time given).

Units: Kraken quantities are contracts. PF_/FF_ contracts are 1 base unit; PI_/FI_ contracts are
1 USD, turned into base units at the price of the level / trade (``Instrument.to_base``).

Liquidations: a trade of ``type`` ``liquidation`` is also a ``Liquidation``. The trade's ``side`` is
the taker's side and the liquidation order is taken to be the taker (it closes the position at
market), so a ``sell`` liquidates a long and a ``buy`` liquidates a short.

Funding: ``Funding.rate`` is ``relative_funding_rate`` (fraction of spot per one-hour period, Kraken
perps fund hourly); ``funding_rate`` is an amount per contract and is only used when the relative
field is missing but the amount is not (rate = amount / index on linear, amount * index on inverse).
The docs say a funding field that is zero is left out, so a perpetual's ticker with neither field
means a rate of 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from cryptoflow.errors import DecodeError
from cryptoflow.events import BBO, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import BookUpdate, Control, FrameDecoder, Item, ms_to_ns
from cryptoflow.venues.kraken_futures.schemas import (
    DATA,
    EVENT,
    FEED_ONLY,
    BookDeltaFrame,
    BookSnapshotFrame,
    EventFrame,
    HeartbeatFrame,
    Level,
    TickerFrame,
    TickerLiteFrame,
    TradeFrame,
    TradeItem,
    TradeSnapshotFrame,
)

if TYPE_CHECKING:
    from cryptoflow.venues.kraken_futures import KrakenFutures

MARKET = "perp"
FUNDING_INTERVAL_HOURS = 1.0
TRADE_TYPES = frozenset(("fill", "liquidation", "termination", "block", "assignment"))
_DATA_FEEDS = frozenset(("book", "book_snapshot", "trade", "trade_snapshot", "ticker", "ticker_lite", "heartbeat"))
_LIQUIDATED = {"sell": "long", "buy": "short"}  # taker side of a liquidation trade -> liquidated position
_EPOCH_MS_MIN = 1e12  # next_funding_rate_time: an epoch in ms (every example), else a duration


def _levels(levels: list[Level], inst: Instrument) -> list[tuple[float, float]]:
    if inst.contract_type == "linear" and inst.contract_size == 1.0:
        return [(lv.price, lv.qty) for lv in levels]
    to_base = inst.to_base
    return [(lv.price, to_base(lv.qty, lv.price)) for lv in levels]


def _relative(relative: float | None, amount: float | None, inverse: bool, ref: float | None) -> float | None:
    if relative is not None:
        return relative
    if amount is None:
        return 0.0  # both left out: the docs leave out a funding field that is zero
    if not ref:
        return None
    return amount * ref if inverse else amount / ref


class KrakenFuturesDecoder(FrameDecoder):
    """Decodes one Kraken Futures ws v1 connection. Stateless apart from counters."""

    venue: KrakenFutures

    def __init__(self, venue: KrakenFutures) -> None:
        super().__init__(venue)
        self.sync = venue.book_sync
        self._handlers: dict[type, Callable[[Any, int], list[Item]]] = {
            BookDeltaFrame: self._book_delta,
            BookSnapshotFrame: self._book_snapshot,
            TradeFrame: self._trade,
            TradeSnapshotFrame: self._trade_snapshot,
            TickerFrame: self._ticker,
            TickerLiteFrame: self._ignore,
            HeartbeatFrame: self._heartbeat,
        }

    def _decode(self, frame: bytes | str, ts_recv: int) -> list[Item]:
        try:
            msg = DATA.decode(frame)
        except msgspec.ValidationError as err:
            return self._not_data(frame, err)
        return self._handlers[type(msg)](msg, ts_recv)

    def _not_data(self, frame: bytes | str, err: msgspec.ValidationError) -> list[Item]:
        """A frame that is not one of our data frames: control event, unused feed, or broken."""
        probe = FEED_ONLY.decode(frame)
        if probe.event is not None:
            return self._event(EVENT.decode(frame))
        if probe.feed is not None and probe.feed not in _DATA_FEEDS:
            return self.unknown()  # private or new feeds we never subscribe to
        raise err  # a data frame that does not fit its schema

    def _event(self, ev: EventFrame) -> list[Item]:
        e = ev.event
        ids = ",".join(ev.product_ids or ())
        if e == "subscribed":
            return [Control("ack", f"{ev.feed} {ids}".strip())]
        if e == "unsubscribed":
            return [Control("unsubscribed", f"{ev.feed} {ids}".strip())]
        if e == "info":
            return [Control("info", f"version {ev.version}")]
        if e == "pong":
            return [Control("pong")]
        if e in ("error", "alert"):
            return [Control("error", ev.message or e)]
        if e in ("subscribed_failed", "unsubscribed_failed"):
            return [Control("error", f"{e} {ev.feed} {ids} {ev.message or ''}".strip())]
        if e == "challenge":
            return self.unknown()  # private-feed authentication: not ours
        raise DecodeError("unknown_event", e)

    # ---- books -----------------------------------------------------------------------------
    def _book_delta(self, m: BookDeltaFrame, ts_recv: int) -> list[Item]:
        inst = self.venue.lookup(m.product_id)
        level = [(m.price, inst.to_base(m.qty, m.price))]
        if m.side == "buy":
            bids, asks = level, []
        elif m.side == "sell":
            bids, asks = [], level
        else:
            raise DecodeError("bad_side", m.side)
        ts = ms_to_ns(m.timestamp)
        return [
            BookUpdate(
                self.venue_id, MARKET, inst.symbol, inst.native, ts, ts_recv, bids, asks, False, self.sync, m.seq, m.seq
            )
        ]

    def _book_snapshot(self, m: BookSnapshotFrame, ts_recv: int) -> list[Item]:
        inst = self.venue.lookup(m.product_id)
        bids, asks = _levels(m.bids, inst), _levels(m.asks, inst)
        ts = ms_to_ns(m.timestamp)
        return [
            BookUpdate(
                self.venue_id, MARKET, inst.symbol, inst.native, ts, ts_recv, bids, asks, True, self.sync, m.seq, m.seq
            )
        ]

    # ---- trades ----------------------------------------------------------------------------
    def _trade(self, m: TradeFrame, ts_recv: int) -> list[Item]:
        out: list[Item] = []
        self._trade_events(m, self.venue.lookup(m.product_id), ts_recv, out)  # type: ignore[arg-type]
        return out

    def _trade_snapshot(self, m: TradeSnapshotFrame, ts_recv: int) -> list[Item]:
        """Recent trades sent on subscribe (newest first): emitted oldest first. After a reconnect
        they repeat trades already seen; ``trade_id`` (Kraken's uid) tells them apart."""
        inst = self.venue.lookup(m.product_id)
        out: list[Item] = []
        for t in reversed(m.trades):
            self._trade_events(t, inst, ts_recv, out)
        return out

    def _trade_events(self, t: TradeItem, inst: Instrument, ts_recv: int, out: list[Item]) -> None:
        if t.side != "buy" and t.side != "sell":
            raise DecodeError("bad_side", t.side)
        if t.type not in TRADE_TYPES:
            raise DecodeError("bad_trade_type", t.type)
        qty = inst.to_base(t.qty, t.price)
        ts = ms_to_ns(t.time)
        out.append(Trade(self.venue_id, MARKET, inst.symbol, ts, ts_recv, t.price, qty, t.side, t.uid))
        if t.type == "liquidation":
            side = _LIQUIDATED[t.side]
            out.append(Liquidation(self.venue_id, MARKET, inst.symbol, ts, ts_recv, side, t.price, qty, t.price * qty))

    # ---- ticker ----------------------------------------------------------------------------
    def _ticker(self, m: TickerFrame, ts_recv: int) -> list[Item]:
        inst = self.venue.lookup(m.product_id)
        ts = ms_to_ns(m.time) if m.time is not None else ts_recv
        out: list[Item] = []
        if m.markPrice is not None:
            out.append(MarkPrice(self.venue_id, MARKET, inst.symbol, ts, ts_recv, m.markPrice, m.index))
        if m.tag == "perpetual":
            self._funding(m, inst, ts, ts_recv, out)
        if m.openInterest is not None:
            out.append(self._open_interest(m, m.openInterest, inst, ts, ts_recv))
        if m.bid is not None and m.ask is not None and m.bid_size is not None and m.ask_size is not None:
            bid_qty, ask_qty = inst.to_base(m.bid_size, m.bid), inst.to_base(m.ask_size, m.ask)
            out.append(BBO(self.venue_id, MARKET, inst.symbol, ts, ts_recv, m.bid, bid_qty, m.ask, ask_qty))
        if m.last is not None:
            out.append(self._ticker24h(m, m.last, inst, ts, ts_recv))
        return out

    def _funding(self, m: TickerFrame, inst: Instrument, ts: int, ts_recv: int, out: list[Item]) -> None:
        inverse = inst.contract_type == "inverse"
        ref = m.index if m.index is not None else m.markPrice
        rate = _relative(m.relative_funding_rate, m.funding_rate, inverse, ref)
        if rate is None:
            return  # an amount with no price to relate it to
        predicted = _relative(m.relative_funding_rate_prediction, m.funding_rate_prediction, inverse, ref)
        next_time = self._next_funding(m, ts)
        out.append(
            Funding(self.venue_id, MARKET, inst.symbol, ts, ts_recv, rate, predicted, next_time, FUNDING_INTERVAL_HOURS)
        )

    def _open_interest(self, m: TickerFrame, oi: float, inst: Instrument, ts: int, ts_recv: int) -> OpenInterest:
        price = m.markPrice if m.markPrice is not None else m.last
        cs = inst.contract_size
        if inst.contract_type == "inverse":
            base = oi * cs / price if price else None
            notional: float | None = oi * cs
        else:
            base = oi * cs
            notional = base * price if price else None
        return OpenInterest(self.venue_id, MARKET, inst.symbol, ts, ts_recv, oi, base, notional)

    def _ticker24h(self, m: TickerFrame, last: float, inst: Instrument, ts: int, ts_recv: int) -> Ticker24h:
        cs = inst.contract_size
        contracts = m.volume * cs if m.volume is not None else None
        if inst.contract_type == "inverse":  # volume is in USD contracts: its base amount is unknown
            volume, quote_volume = None, m.volumeQuote if m.volumeQuote is not None else contracts
        else:
            volume, quote_volume = contracts, m.volumeQuote
        change = last - m.open if m.open is not None else None
        return Ticker24h(
            self.venue_id,
            MARKET,
            inst.symbol,
            ts,
            ts_recv,
            last,
            m.open,
            m.high,
            m.low,
            volume,
            quote_volume,
            change,
            m.change,
        )

    @staticmethod
    def _next_funding(m: TickerFrame, ts: int) -> int | None:
        t = m.next_funding_rate_time
        if t is None:
            return None
        return ms_to_ns(t) if t >= _EPOCH_MS_MIN else ts + ms_to_ns(t)

    # ---- other -------------------------------------------------------------------------------
    def _heartbeat(self, m: HeartbeatFrame, ts_recv: int) -> list[Item]:
        return [Control("info", "heartbeat")]

    def _ignore(self, m: Any, ts_recv: int) -> list[Item]:
        return self.unknown()  # ticker_lite: we subscribe to the full ticker instead
