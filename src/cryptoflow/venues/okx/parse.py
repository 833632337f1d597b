"""OKX frame decoding: envelope once, route by channel, typed ``data`` -> normalized items.

Units: OKX sizes are contracts on SWAP/FUTURES (``Instrument.to_base``: linear ``sz * ctVal``,
inverse ``sz * ctVal / px``) and base units on SPOT; times are ms. Book continuity: ``books``
frames link by ``prevSeqId == previous seqId`` (``Link.PREV``); the snapshot states
``prevSeqId = -1``. OKX's two documented exceptions both keep that link: a keep-alive update
with empty sides has ``seqId == prevSeqId`` (== last seqId), and after a maintenance reset an
update has ``seqId < prevSeqId`` (its ``prevSeqId`` still names the last seqId) — both apply.
Frames without ``seqId`` (pre-2023) are chained by checksum (``checksum.py``).

Per-connection state: the last index price per index id (``index-tickers``), attached to
``mark-price`` events, and the legacy checksum books.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from cryptoflow.errors import DecodeError
from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import FULL_SNAPSHOTS, BookUpdate, Control, FrameDecoder, Item, ms_to_ns
from cryptoflow.venues.okx import schemas as s
from cryptoflow.venues.okx.checksum import LegacyChecksumChain
from cryptoflow.venues.okx.subscribe import CANDLE_INTERVALS, index_id

if TYPE_CHECKING:
    from cryptoflow.venues.okx.venue import OkxVenue

# Dated futures (BTC-USD-220527) and options (BTC-USD-241227-60000-P): neither perp nor spot.
_DATED = re.compile(r"^[A-Z0-9]+-[A-Z0-9]+-\d{6}(-|$)")
_LIQUIDATED_POSITION = {"long": "long", "short": "short"}
_BY_ORDER_SIDE = {"sell": "long", "buy": "short"}  # net mode: a sell order closes a long
_PONG = Control("pong")

Levels = list[tuple[float, float]]


def _opt(text: str) -> float | None:
    """An OKX number that may be sent as "" -> float or None (never 0)."""
    return float(text) if text else None


def to_base_levels(inst: Instrument, levels: list[s.Level]) -> Levels:
    """Book levels in base units (0 stays 0: remove the level)."""
    cs = inst.contract_size
    if inst.contract_type == "inverse":
        return [(lv.px, lv.sz * cs / lv.px) for lv in levels]
    if cs == 1.0:
        return [(lv.px, lv.sz) for lv in levels]
    return [(lv.px, lv.sz * cs) for lv in levels]


def _ack_detail(arg: s.Arg | None) -> str:
    if arg is None:
        return ""
    return f"{arg.channel}:{arg.instId or arg.instType or arg.instFamily or ''}"


class OkxDecoder(FrameDecoder):
    """Decodes one OKX connection's frames (public or business endpoint)."""

    venue: OkxVenue

    def __init__(self, venue: OkxVenue) -> None:
        super().__init__(venue)
        self.sync = venue.book_sync
        self.index_prices: dict[str, float] = {}  # index id -> last idxPx
        self.legacy = LegacyChecksumChain()
        handlers: dict[str, Callable[[s.Envelope, int], list[Item]]] = {
            "trades": self._trades,
            "books": self._books,
            "books5": self._books5,
            "bbo-tbt": self._bbo,
            "tickers": self._tickers,
            "funding-rate": self._funding,
            "mark-price": self._mark_price,
            "index-tickers": self._index_tickers,
            "open-interest": self._open_interest,
            "liquidation-orders": self._liquidations,
        }
        for channel in CANDLE_INTERVALS:
            handlers[channel] = self._candles
        self._handlers = handlers

    # ---- routing ---------------------------------------------------------------------------
    def _decode(self, frame: bytes | str, ts_recv: int) -> list[Item]:
        if frame == b"pong" or frame == "pong":  # the heartbeat answer is plain text, not JSON
            return [_PONG]
        env = s.ENVELOPE.decode(frame)
        if env.event is not None:
            return self._event(env)
        if env.arg is None or not env.data:
            raise DecodeError("no_channel", "push without arg/data")
        handler = self._handlers.get(env.arg.channel)
        if handler is None:
            return self.unknown()
        return handler(env, ts_recv)

    def _event(self, env: s.Envelope) -> list[Item]:
        match env.event:
            case "subscribe":
                return [Control("ack", _ack_detail(env.arg))]
            case "unsubscribe":
                return [Control("unsubscribed", _ack_detail(env.arg))]
            case "error" | "channel-conn-count-error":
                return [Control("error", f"{env.code}: {env.msg}")]
            case "notice":  # e.g. 64008: connection will close for a service upgrade
                return [Control("info", f"{env.code}: {env.msg}")]
            case "channel-conn-count":
                return [Control("info", f"{env.channel} connections: {env.connCount}")]
        return self.unknown()

    def _instrument(self, native: str | None) -> Instrument | None:
        """Registry (or inferred) instrument; None for dated futures/options, which we skip."""
        if native is None:
            raise DecodeError("no_instrument", "arg without instId")
        inst = self.venue.registry.get(self.venue_id, native)
        if inst is not None:
            return inst
        if _DATED.match(native):
            return None
        return self.venue.lookup(native)  # infers or raises unknown_instrument

    # ---- channels ----------------------------------------------------------------------------
    def _trades(self, env: s.Envelope, ts_recv: int) -> list[Item]:
        out: list[Item] = []
        venue_id = self.venue_id
        for t in s.TRADES.decode(env.data):
            inst = self._instrument(t.instId)
            if inst is None:
                return self.unknown()
            if t.side != "buy" and t.side != "sell":
                raise DecodeError("bad_side", t.side)
            out.append(
                Trade(
                    venue_id,
                    inst.market,
                    inst.symbol,
                    ms_to_ns(t.ts),
                    ts_recv,
                    t.px,
                    inst.to_base(t.sz, t.px),
                    t.side,
                    t.tradeId,
                )
            )
        return out

    def _books(self, env: s.Envelope, ts_recv: int) -> list[Item]:
        assert env.arg is not None
        inst = self._instrument(env.arg.instId)
        if inst is None:
            return self.unknown()
        if env.action == "snapshot":
            snapshot = True
        elif env.action == "update":
            snapshot = False
        else:
            raise DecodeError("bad_action", str(env.action))
        rows = s.BOOKS.decode(env.data)
        legacy = None
        out: list[Item] = []
        for i, d in enumerate(rows):
            if d.seqId is not None:
                seq = d.seqId
                prev = -1 if snapshot else d.prevSeqId
                if prev is None:
                    raise DecodeError("no_prev_seq", inst.native)
            else:  # pre-2023 frame: continuity from the CRC32 checksum
                if d.checksum is None:
                    raise DecodeError("no_continuity", f"{inst.native}: neither seqId nor checksum")
                if legacy is None:
                    legacy = s.BOOKS_TEXT.decode(env.data)
                text = legacy[i]
                seq, prev = self.legacy.link(inst.native, snapshot, text.bids, text.asks, d.checksum)
            out.append(
                BookUpdate(
                    self.venue_id,
                    inst.market,
                    inst.symbol,
                    inst.native,
                    ms_to_ns(d.ts),
                    ts_recv,
                    to_base_levels(inst, d.bids),
                    to_base_levels(inst, d.asks),
                    snapshot,
                    self.sync,
                    seq,
                    seq,
                    prev,
                )
            )
        return out

    def _books5(self, env: s.Envelope, ts_recv: int) -> list[Item]:
        assert env.arg is not None
        inst = self._instrument(env.arg.instId)
        if inst is None:
            return self.unknown()
        out: list[Item] = []
        for d in s.BOOKS.decode(env.data):
            seq = d.seqId if d.seqId is not None else -1
            out.append(
                BookUpdate(
                    self.venue_id,
                    inst.market,
                    inst.symbol,
                    inst.native,
                    ms_to_ns(d.ts),
                    ts_recv,
                    to_base_levels(inst, d.bids),
                    to_base_levels(inst, d.asks),
                    True,
                    FULL_SNAPSHOTS,
                    seq,
                    seq,
                )
            )
        return out

    def _bbo(self, env: s.Envelope, ts_recv: int) -> list[Item]:
        assert env.arg is not None
        inst = self._instrument(env.arg.instId)
        if inst is None:
            return self.unknown()
        out: list[Item] = []
        for d in s.BOOKS.decode(env.data):
            if not d.bids or not d.asks:
                raise DecodeError("empty_side", inst.native)
            b, a = d.bids[0], d.asks[0]
            out.append(
                BBO(
                    self.venue_id,
                    inst.market,
                    inst.symbol,
                    ms_to_ns(d.ts),
                    ts_recv,
                    b.px,
                    inst.to_base(b.sz, b.px),
                    a.px,
                    inst.to_base(a.sz, a.px),
                    d.seqId,
                )
            )
        return out

    def _tickers(self, env: s.Envelope, ts_recv: int) -> list[Item]:
        out: list[Item] = []
        for t in s.TICKERS.decode(env.data):
            inst = self._instrument(t.instId)
            if inst is None:
                return self.unknown()
            open_ = _opt(t.open24h)
            if inst.contract_type == "spot":  # vol24h base, volCcy24h quote
                volume, quote_volume = _opt(t.vol24h), _opt(t.volCcy24h)
            else:  # vol24h contracts, volCcy24h base; an inverse contract is worth ctVal USD
                volume = _opt(t.volCcy24h)
                contracts = _opt(t.vol24h)
                quote_volume = (
                    contracts * inst.contract_size
                    if inst.contract_type == "inverse" and contracts is not None
                    else None
                )
            change = t.last - open_ if open_ is not None else None
            pct = change / open_ * 100.0 if change is not None and open_ else None
            out.append(
                Ticker24h(
                    self.venue_id,
                    inst.market,
                    inst.symbol,
                    ms_to_ns(t.ts),
                    ts_recv,
                    t.last,
                    open_,
                    _opt(t.high24h),
                    _opt(t.low24h),
                    volume,
                    quote_volume,
                    change,
                    pct,
                )
            )
        return out

    def _candles(self, env: s.Envelope, ts_recv: int) -> list[Item]:
        assert env.arg is not None
        inst = self._instrument(env.arg.instId)
        if inst is None:
            return self.unknown()
        interval = CANDLE_INTERVALS[env.arg.channel]
        spot = inst.contract_type == "spot"
        out: list[Item] = []
        for c in s.CANDLES.decode(env.data):
            if spot:
                volume = c.vol
                quote = c.volCcyQuote if c.volCcyQuote is not None else c.volCcy
            else:
                volume = c.volCcy
                quote = c.volCcyQuote
            if c.confirm is not None and c.confirm not in ("0", "1"):
                raise DecodeError("bad_confirm", c.confirm)
            open_time = ms_to_ns(c.ts)
            # a candle push carries no event time: its open time is the exchange time we have
            out.append(
                Candle(
                    self.venue_id,
                    inst.market,
                    inst.symbol,
                    open_time,
                    ts_recv,
                    interval,
                    open_time,
                    c.o,
                    c.h,
                    c.l,
                    c.c,
                    volume,
                    quote,
                    None,
                    c.confirm == "1",
                )
            )
        return out

    def _funding(self, env: s.Envelope, ts_recv: int) -> list[Item]:
        out: list[Item] = []
        for f in s.FUNDING.decode(env.data):
            inst = self._instrument(f.instId)
            if inst is None:
                return self.unknown()
            after = int(f.nextFundingTime) if f.nextFundingTime else None
            interval_h = (after - f.fundingTime) / 3_600_000 if after and after > f.fundingTime else None
            ts = ms_to_ns(f.ts) if f.ts is not None else ts_recv
            out.append(
                Funding(
                    self.venue_id,
                    inst.market,
                    inst.symbol,
                    ts,
                    ts_recv,
                    f.fundingRate,
                    _opt(f.nextFundingRate),
                    ms_to_ns(f.fundingTime),
                    interval_h,
                )
            )
        return out

    def _mark_price(self, env: s.Envelope, ts_recv: int) -> list[Item]:
        out: list[Item] = []
        for m in s.MARK_PRICES.decode(env.data):
            inst = self._instrument(m.instId)
            if inst is None:
                return self.unknown()
            out.append(
                MarkPrice(
                    self.venue_id,
                    inst.market,
                    inst.symbol,
                    ms_to_ns(m.ts),
                    ts_recv,
                    m.markPx,
                    self.index_prices.get(index_id(inst)),
                )
            )
        return out

    def _index_tickers(self, env: s.Envelope, ts_recv: int) -> list[Item]:
        for row in s.INDEX_TICKERS.decode(env.data):
            self.index_prices[row.instId] = row.idxPx
        return []  # consumed: the next mark-price event carries it

    def _open_interest(self, env: s.Envelope, ts_recv: int) -> list[Item]:
        out: list[Item] = []
        for o in s.OPEN_INTEREST.decode(env.data):
            inst = self._instrument(o.instId)
            if inst is None:
                return self.unknown()
            out.append(
                OpenInterest(
                    self.venue_id, inst.market, inst.symbol, ms_to_ns(o.ts), ts_recv, o.oi, o.oiCcy, _opt(o.oiUsd)
                )
            )
        return out

    def _liquidations(self, env: s.Envelope, ts_recv: int) -> list[Item]:
        """The SWAP-wide feed, kept to the watched instruments (see ``OkxVenue.liquidation_watch``)."""
        watch = self.venue.liquidation_watch
        registry = self.venue.registry
        out: list[Item] = []
        for row in s.LIQUIDATIONS.decode(env.data):
            if watch:
                if row.instId not in watch:
                    continue
                inst = self._instrument(row.instId)
            else:  # nothing subscribed through this venue object (replay): keep known instruments
                inst = registry.get(self.venue_id, row.instId)
            if inst is None or inst.market != "perp":
                continue
            for d in row.details:
                side = _LIQUIDATED_POSITION.get(d.posSide) or _BY_ORDER_SIDE.get(d.side)
                if side is None:
                    raise DecodeError("bad_side", f"{d.side}/{d.posSide}")
                qty = inst.to_base(d.sz, d.bkPx)
                out.append(
                    Liquidation(
                        self.venue_id,
                        inst.market,
                        inst.symbol,
                        ms_to_ns(d.ts),
                        ts_recv,
                        side,
                        d.bkPx,
                        qty,
                        qty * d.bkPx,
                    )
                )
        return out if out else self.unknown()
