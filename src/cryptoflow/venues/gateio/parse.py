"""Gate.io futures frames and REST bodies -> normalized items (pure: receive time passed in).

Sizes are contracts everywhere and are multiplied by the instrument's ``contract_size``
(``quanto_multiplier``) here, once. Signs carry meaning: a trade's ``size`` > 0 means the
taker bought; a public liquidation's ``size`` < 0 is a sell order closing a long.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import msgspec

from cryptoflow.errors import DecodeError
from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.symbols import Instrument
from cryptoflow.venues.base import BookUpdate, Control, FrameDecoder, Item, ms_to_ns
from cryptoflow.venues.gateio import schemas as w

if TYPE_CHECKING:
    from collections.abc import Callable

    from cryptoflow.venues.gateio import GateioFutures

MARKET = "perp"
SETTLE = "usdt"
BOOK_PATH = f"/futures/{SETTLE}/order_book"
CONTRACTS_PATH = f"/futures/{SETTLE}/contracts"

_S_TO_NS = 1_000_000_000


def ms_float_to_ns(ms: float) -> int:
    whole = int(ms)
    return whole * 1_000_000 + round((ms - whole) * 1_000_000)


def s_float_to_ns(s: float) -> int:
    """Float seconds (REST ``current``/``update``, ms precision) -> ns, exact to the microsecond
    (``s * 1e9`` in float64 would be off by ~100 ns at today's epoch)."""
    whole = int(s)
    return whole * _S_TO_NS + round((s - whole) * 1_000_000) * 1_000


def liquidation_time_ns(row: w.PublicLiquidation) -> int | None:
    """``time_ms`` (older docs), else ``time``: milliseconds since the 2026-08 docs, seconds
    before; a Unix time in ms is > 1e11 for any date after 1973, one in seconds is not."""
    if row.time_ms:
        return ms_to_ns(row.time_ms)
    if row.time:
        return ms_float_to_ns(row.time) if row.time > 1e11 else s_float_to_ns(row.time)
    return None


class GateioDecoder(FrameDecoder):
    """Decodes one futures connection's frames; routes ``update`` frames by channel."""

    venue: GateioFutures

    def __init__(self, venue: GateioFutures) -> None:
        super().__init__(venue)
        self.sync = venue.book_sync
        self.internal_trades = 0  # insurance-fund / ADL takeovers skipped (not market matches)
        self.one_sided_bbo = 0  # book_ticker frames with an empty side (no BBO to report)
        self._routes: dict[str, Callable[[w.Envelope, int], list[Item]]] = {
            "futures.order_book_update": self._book_update,
            "futures.book_ticker": self._book_ticker,
            "futures.trades": self._trades,
            "futures.tickers": self._tickers,
            "futures.candlesticks": self._candles,
            "futures.public_liquidates": self._liquidations,
            "futures.system": self._system,
        }

    def _decode(self, frame: bytes | str, ts_recv: int) -> list[Item]:
        env = w.ENVELOPE.decode(frame)
        if env.error is not None:
            err = env.error
            return [Control("error", f"{env.channel} {env.event}: {err.message} (code {err.code})")]
        if env.event == "update" or env.event == "all":
            handler = self._routes.get(env.channel)
            return self.unknown() if handler is None else handler(env, ts_recv)
        if env.channel == "futures.pong":
            return [Control("pong")]
        if env.event == "subscribe" or env.event == "unsubscribe":
            ack = w.ACK.decode(env.result) if env.result else None
            if ack is not None and ack.status != "success":
                return [Control("error", f"{env.channel} {env.event}: status {ack.status}")]
            return [Control("ack" if env.event == "subscribe" else "unsubscribed", env.channel)]
        return self.unknown()

    # ---- handlers (one per channel) ----------------------------------------------------------
    def _book_update(self, env: w.Envelope, ts_recv: int) -> list[Item]:
        d = w.BOOK_UPDATE.decode(env.result)
        inst = self.venue.lookup(d.s)
        cs = inst.contract_size
        return [
            BookUpdate(
                self.venue_id,
                MARKET,
                inst.symbol,
                inst.native,
                ms_to_ns(d.t),
                ts_recv,
                [(x.p, x.s * cs) for x in d.b],
                [(x.p, x.s * cs) for x in d.a],
                d.full is True,
                self.sync,
                d.u,
                d.U,
            )
        ]

    def _book_ticker(self, env: w.Envelope, ts_recv: int) -> list[Item]:
        try:
            b = w.BOOK_TICKER.decode(env.result)
        except msgspec.ValidationError:
            loose = w.BOOK_TICKER_LOOSE.decode(env.result)
            if loose.b == "" or loose.a == "":
                self.venue.lookup(loose.s)
                self.one_sided_bbo += 1
                return []
            raise
        inst = self.venue.lookup(b.s)
        cs = inst.contract_size
        return [BBO(self.venue_id, MARKET, inst.symbol, ms_to_ns(b.t), ts_recv, b.b, b.B * cs, b.a, b.A * cs, b.u)]

    def _trades(self, env: w.Envelope, ts_recv: int) -> list[Item]:
        out: list[Item] = []
        for t in w.TRADES.decode(env.result):
            if t.is_internal:
                self.internal_trades += 1
                continue
            inst = self.venue.lookup(t.contract)
            if t.size > 0:
                side = "buy"
            elif t.size < 0:
                side = "sell"
            else:
                raise DecodeError("bad_side", f"trade {t.id} has size 0")
            if t.create_time_ms is not None:
                ts = ms_float_to_ns(t.create_time_ms)
            elif t.create_time is not None:
                ts = t.create_time * _S_TO_NS
            else:
                raise DecodeError("no_time", f"trade {t.id}")
            out.append(
                Trade(
                    self.venue_id,
                    MARKET,
                    inst.symbol,
                    ts,
                    ts_recv,
                    t.price,
                    abs(t.size) * inst.contract_size,
                    side,
                    str(t.id),
                )
            )
        return out

    def _tickers(self, env: w.Envelope, ts_recv: int) -> list[Item]:
        rows = w.TICKERS.decode(env.result)
        frame_ts = _env_ts(env, ts_recv)
        out: list[Item] = []
        for t in rows if isinstance(rows, list) else (rows,):
            out.extend(ticker_events(self.venue_id, self.venue.lookup(t.contract), t, frame_ts, ts_recv))
        return out

    def _candles(self, env: w.Envelope, ts_recv: int) -> list[Item]:
        rows = w.CANDLES.decode(env.result)
        ts = _env_ts(env, ts_recv)
        out: list[Item] = []
        for c in rows if isinstance(rows, list) else (rows,):
            interval, _, native = c.n.partition("_")
            if native.startswith(("mark_", "index_")):  # mark/index price candles: not subscribed
                self.unknown_frames += 1
                continue
            inst = self.venue.lookup(native)
            out.append(
                Candle(
                    self.venue_id,
                    MARKET,
                    inst.symbol,
                    ts,
                    ts_recv,
                    interval,
                    c.t * _S_TO_NS,
                    c.o,
                    c.h,
                    c.l,
                    c.c,
                    c.v * inst.contract_size,
                    None,
                    None,
                    c.w is True,
                )
            )
        return out

    def _liquidations(self, env: w.Envelope, ts_recv: int) -> list[Item]:
        rows = w.LIQUIDATIONS.decode(env.result)
        out: list[Item] = []
        for r in rows if isinstance(rows, list) else (rows,):
            inst = self.venue.lookup(r.contract)
            if r.size < 0:
                side = "long"  # a sell order closed a long position
            elif r.size > 0:
                side = "short"
            else:
                raise DecodeError("bad_side", f"liquidation of {r.contract} has size 0")
            qty = abs(r.size) * inst.contract_size
            ts = liquidation_time_ns(r)
            out.append(
                Liquidation(
                    self.venue_id,
                    MARKET,
                    inst.symbol,
                    ts if ts is not None else _env_ts(env, ts_recv),
                    ts_recv,
                    side,
                    r.price,
                    qty,
                    r.price * qty,
                )
            )
        return out

    def _system(self, env: w.Envelope, ts_recv: int) -> list[Item]:
        notice = w.SYSTEM.decode(env.result)
        return [Control("info", f"{notice.type}: {notice.msg}" if notice.msg else notice.type)]


def _env_ts(env: w.Envelope, ts_recv: int) -> int:
    """The frame's own time when a row carries none (candles, old tickers)."""
    if env.time_ms:
        return ms_to_ns(env.time_ms)
    if env.time:
        return env.time * _S_TO_NS
    return ts_recv


# ---- ticker -> mark price, funding, open interest, 24h ticker ----------------------------------
def ticker_events(venue_id: str, inst: Instrument, t: w.Ticker, frame_ts: int, ts_recv: int) -> list[Item]:
    ts = ms_to_ns(t.t) if t.t else frame_ts
    sym, cs = inst.symbol, inst.contract_size
    out: list[Item] = []
    if t.mark_price is not None:
        out.append(MarkPrice(venue_id, MARKET, sym, ts, ts_recv, t.mark_price, t.index_price))
    if t.funding_rate is not None:
        nxt = t.funding_next_apply * _S_TO_NS if t.funding_next_apply else None
        hours = t.funding_interval / 3600 if t.funding_interval else None
        out.append(Funding(venue_id, MARKET, sym, ts, ts_recv, t.funding_rate, t.funding_rate_indicative, nxt, hours))
    if t.total_size is not None:
        oi_base = t.total_size * cs
        notional = oi_base * t.mark_price if t.mark_price is not None else None
        out.append(OpenInterest(venue_id, MARKET, sym, ts, ts_recv, t.total_size, oi_base, notional))
    volume = t.volume_24h_base
    if volume is None and t.volume_24h is not None:
        volume = t.volume_24h * cs
    opened = t.last - t.change_price if t.change_price is not None else None
    out.append(
        Ticker24h(
            venue_id,
            MARKET,
            sym,
            ts,
            ts_recv,
            t.last,
            opened,
            t.high_24h,
            t.low_24h,
            volume,
            t.volume_24h_quote,
            t.change_price,
            t.change_percentage,
        )
    )
    return out


# ---- REST --------------------------------------------------------------------------------------
def is_book_url(url: str) -> bool:
    return urlsplit(url).path.endswith(BOOK_PATH)


def is_contracts_url(url: str) -> bool:
    return urlsplit(url).path.endswith(CONTRACTS_PATH)


def rest_book(venue: GateioFutures, url: str, body: bytes, ts_recv: int) -> list[Item]:
    """A REST depth snapshot (``with_id=true``) as a REST_DIFF book snapshot in base units."""
    contract = parse_qs(urlsplit(url).query).get("contract", [""])[0]
    inst = venue.lookup(contract)
    snap = w.REST_BOOK.decode(body)
    if snap.id is None:
        raise DecodeError("no_book_id", f"{url}: order_book without id (request with_id=true)")
    when = snap.update if snap.update else snap.current
    ts = s_float_to_ns(when) if when else ts_recv
    cs = inst.contract_size
    return [
        BookUpdate(
            venue.id,
            MARKET,
            inst.symbol,
            inst.native,
            ts,
            ts_recv,
            [(x.p, x.s * cs) for x in snap.bids],
            [(x.p, x.s * cs) for x in snap.asks],
            True,
            venue.book_sync,
            snap.id,
            snap.id,
        )
    ]


def contracts(venue_id: str, body: bytes) -> list[Instrument]:
    """USDT-settled linear perpetuals from /futures/usdt/contracts (delisted ones left out)."""
    out: list[Instrument] = []
    for c in w.CONTRACTS.decode(body):
        base, _, quote = c.name.partition("_")
        if c.type != "direct" or c.quanto_multiplier <= 0 or not base or quote != "USDT" or c.status == "delisted":
            continue
        out.append(
            Instrument(
                venue_id, c.name, base + quote, MARKET, base, quote, "linear", c.quanto_multiplier, c.order_price_round
            )
        )
    return out
