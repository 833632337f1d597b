"""The memoised float text of the OKX, Gate, Kraken Futures, Deribit and Hyperliquid encoders writes
exactly what per-value formatting wrote, and a few seconds of a seeded market round-trip through
the real decoders: every price back bit for bit, sizes within one contract, 0 decode errors.

Why: those encoders look numbers up in ``FloatText`` memos and build the constant parts of their
frames once (sim throughput); a memo that returned the text of another value (``1 == 1.0``,
``-0.0 == 0.0``) or a wrong prebuilt prefix would still give valid JSON, so only values tell.
"""

from __future__ import annotations

import math
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest

from cryptoflow.events import BBO, Trade
from cryptoflow.sim.market import MarketConfig, SyntheticMarket
from cryptoflow.sim.protocol import FLOAT_TEXT, ConnState
from cryptoflow.sim.venues import deribit, hyperliquid, okx, sim_venue_class
from cryptoflow.symbols import InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import BookUpdate

VENUES = ("okx", "gateio", "kraken_futures", "deribit", "hyperliquid")
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "WIFUSDT")
SECONDS = 2.0
T0 = 1_767_225_600_000_000_000


def _okx_reference(x: float) -> str:
    """OKX number text as the encoder wrote it before the memo: repr without ``.0`` or exponent."""
    s = repr(x)
    if s.endswith(".0"):
        return s[:-2]
    if "e" in s:
        return f"{x:.12f}".rstrip("0").rstrip(".")
    return s


def _hyperliquid_reference(x: float) -> str:
    s = repr(x)
    return format(Decimal(s), "f") if "e" in s else s


@pytest.fixture(scope="module")
def run() -> dict[str, Any]:
    """A seeded market of the five venues for SECONDS: items per venue, and what each encoder sent."""
    reg = InstrumentRegistry.bundled()
    listed = {v: [i for i in reg.instruments(v) if i.symbol in SYMBOLS] for v in VENUES}
    market = SyntheticMarket(
        MarketConfig.for_instruments(
            {v: [(i.market, i.symbol) for i in insts] for v, insts in listed.items()}, seed=5, rate=20.0, start_ns=T0
        )
    )
    items: dict[str, list[Any]] = defaultdict(list)
    for it in market.advance(T0 + round(SECONDS * 1e9)):
        items[it.venue].append(it)
    frames: dict[str, list[tuple[str, str]]] = {}
    for v in VENUES:
        sim = sim_venue_class(v)(listed[v], market)
        out: list[tuple[str, str]] = []
        for it in items[v]:
            out += sim.encode(it)
        if v == "deribit":  # grouped books are built from the mirror: subscribe one, push a little more
            out += [("snapshot", f) for f in sim.on_subscribed("book.BTC-PERPETUAL.none.10.100ms", ConnState("/"))]
        frames[v] = out
    return {"items": items, "frames": frames, "listed": listed, "registry": reg}


def _decoded(run: dict[str, Any], v: str, keep=lambda topic: True) -> list[Any]:
    dec = get_venue(v, registry=run["registry"]).new_decoder()
    out: list[Any] = []
    for topic, frame in run["frames"][v]:
        if keep(topic):
            out += dec.decode(frame.encode(), 1)
    assert dec.errors.counts == {}
    assert dec.unknown_frames == 0
    return out


def _base_step(run: dict[str, Any], v: str, symbol: str, price: float) -> float:
    """The base quantity of one wire size step (one contract, or OKX's 0.01-contract lot)."""
    inst = next(i for i in run["listed"][v] if i.symbol == symbol and i.market == "perp")
    if v == "deribit" and inst.contract_type == "inverse":
        return deribit.INVERSE_CONTRACT_USD[inst.base] / price
    if v == "okx":
        return inst.contract_size * okx.LOT
    return inst.contract_size


def test_float_text_is_the_per_value_formatting_for_every_number_of_the_run(run) -> None:
    values: set[float] = {0.0, 1.0, 1e-05, 2.5e-07, 1e16, 123456789.125, 0.1 + 0.2}
    for its in run["items"].values():
        for it in its:
            if type(it) is BookUpdate:
                values.update(x for lv in (*it.bids, *it.asks) for x in lv)
            elif type(it) is Trade:
                values.update((it.price, it.qty))
            elif type(it) is BBO:
                values.update((it.bid_price, it.bid_qty, it.ask_price, it.ask_qty))
    assert len(values) > 1000
    # the memos key on value: an int would get the text of the equal float (7 -> "7.0"), so the
    # market must hand the encoders floats only
    assert {type(x) for x in values} == {float}
    for x in values:
        assert FLOAT_TEXT[x] == repr(x)
        assert okx._N[x] == _okx_reference(x)
        assert hyperliquid._NUM[x] == _hyperliquid_reference(x)
    assert okx._N[1e-05] == "0.00001" and okx._N[3.0] == "3" and hyperliquid._NUM[2.5e-07] == "0.00000025"


_TRADE_QUOTE_TOPICS = {
    "okx": ("trades:", "bbo-tbt:"),
    "gateio": ("futures.trades.", "futures.book_ticker."),
    "kraken_futures": ("trade:",),
    "deribit": ("trades.", "quote."),
    "hyperliquid": ("trades:", "bbo:"),
}


@pytest.mark.parametrize("v", VENUES)
def test_trades_and_quotes_come_back_with_the_same_prices(run, v: str) -> None:
    decoded = _decoded(run, v, lambda t: t.startswith(_TRADE_QUOTE_TOPICS[v]))
    trades = [(t.symbol, t.side, t.price) for t in decoded if type(t) is Trade]
    sent = [(t.symbol, t.side, t.price) for t in run["items"][v] if type(t) is Trade]
    assert len(sent) > 50 and trades == sent
    by_item = [t for t in run["items"][v] if type(t) is Trade]
    for got, want in zip([t for t in decoded if type(t) is Trade], by_item, strict=True):
        step = _base_step(run, v, want.symbol, want.price) if want.market == "perp" else 0.0
        assert abs(got.qty - want.qty) <= step * (1 + 1e-9) + 1e-12 * want.qty, (got, want)
    if v == "kraken_futures":
        return  # Kraken Futures has no BBO channel: its ticker carries bid/ask
    quotes = [(b.symbol, b.bid_price, b.ask_price) for b in decoded if type(b) is BBO]
    sent_q = [(b.symbol, b.bid_price, b.ask_price) for b in run["items"][v] if type(b) is BBO]
    assert len(sent_q) > 50
    if v == "hyperliquid":
        assert set(quotes) <= set(sent_q) and len(quotes) >= len(sent_q) // 2
    else:
        assert quotes == sent_q


_DIFF_TOPIC = {
    "okx": lambda t: t.startswith("books:"),
    "gateio": lambda t: t.startswith("futures.order_book_update."),
    "kraken_futures": lambda t: t.startswith("book:"),
    "deribit": lambda t: t.startswith("book.") and t.count(".") == 2,
}


@pytest.mark.parametrize("v", sorted(_DIFF_TOPIC))
def test_book_diffs_come_back_level_for_level(run, v: str) -> None:
    decoded = [d for d in _decoded(run, v, _DIFF_TOPIC[v]) if type(d) is BookUpdate]
    sent = [d for d in run["items"][v] if type(d) is BookUpdate and not d.snapshot]
    assert len(sent) > 200

    def levels(diffs: list[BookUpdate]) -> dict[tuple[str, str, float], float]:
        last: dict[tuple[str, str, float], float] = {}
        for d in diffs:
            for side, lv in (("bid", d.bids), ("ask", d.asks)):
                for p, q in lv:
                    last[(d.symbol, side, p)] = q
        return last

    got, want = levels(decoded), levels(sent)
    assert got.keys() == want.keys()  # every price, bit for bit, on its side
    for key, q in want.items():
        if q == 0.0:
            assert got[key] == 0.0
        else:
            step = _base_step(run, v, key[0], key[2])
            assert got[key] > 0.0 and math.isclose(got[key], q, rel_tol=1e-9, abs_tol=step), (key, got[key], q)


def test_deribit_grouped_book_and_hyperliquid_l2book_decode(run) -> None:
    grouped = [u for u in _decoded(run, "deribit", lambda t: t == "snapshot") if type(u) is BookUpdate]
    assert len(grouped) == 1 and len(grouped[0].bids) == 10 and len(grouped[0].asks) == 10
    assert grouped[0].bids[0][0] < grouped[0].asks[0][0]
    books = [u for u in _decoded(run, "hyperliquid", lambda t: t.startswith("l2Book:")) if type(u) is BookUpdate]
    assert len(books) > 200
    sent = {p for d in run["items"]["hyperliquid"] if type(d) is BookUpdate for p, _ in (*d.bids, *d.asks)}
    top = {u.bids[0][0] for u in books if u.bids} | {u.asks[0][0] for u in books if u.asks}
    assert len(top & sent) > 0.5 * len(top)
