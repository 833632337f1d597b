"""The synthetic market: deterministic, internally consistent, and with the properties the
analytics are meant to find (lead-lag, planted dislocations, funding vs premium, clustering)."""

from __future__ import annotations

import logging
import math
import time
from collections import Counter, defaultdict

import msgspec
import numpy as np
import pytest

from cryptoflow.events import BBO, Candle, Funding, Liquidation, MarkPrice, OpenInterest, Ticker24h, Trade
from cryptoflow.feed.book import Applied, BookEngine
from cryptoflow.sim.market import (
    LIQUIDATION_VENUES,
    MarketConfig,
    PlannedDislocation,
    PriceParams,
    SyntheticMarket,
    venue_spec,
)
from cryptoflow.venues.base import BookUpdate

log = logging.getLogger(__name__)

S = 1_000_000_000
MS = 1_000_000
_enc = msgspec.json.Encoder()


def _run(market: SyntheticMarket, seconds: float, chunk_ms: int = 100) -> list:
    out: list = []
    end = market.now_ns + round(seconds * S)
    while market.now_ns < end:
        out.extend(market.advance(min(end, market.now_ns + chunk_ms * MS)))
    return out


def _quiet(**kw: object) -> PriceParams:
    """Price parameters without random dislocations (tests plant their own)."""
    return PriceParams(dislocations_per_hour=0.0, **kw)  # type: ignore[arg-type]


# ---- determinism --------------------------------------------------------------------------------
def test_same_seed_same_market_whatever_the_advance_steps() -> None:
    cfg = MarketConfig(
        seed=11,
        symbols=("BTCUSDT", "PNUTUSDT"),
        venues=("binance_usdm", "okx", "bybit"),
        event_rate=300,
        price=PriceParams(vol_scale=4.0, jump_rate_scale=0.0, dislocations_per_hour=200),
    )
    a, b = SyntheticMarket(cfg), SyntheticMarket(cfg)
    ev_a = _run(a, 5.0, chunk_ms=1000)
    ev_b: list = []
    t, k = b.now_ns, 0
    while t < a.now_ns:  # uneven slices, some shorter than one internal step
        t = min(a.now_ns, t + (3, 17, 250, 1)[k % 4] * MS + 123)
        ev_b.extend(b.advance(t))
        k += 1
    assert len(ev_a) > 5_000
    assert [_enc.encode(e) for e in ev_a] == [_enc.encode(e) for e in ev_b]
    assert a.planted_dislocations == b.planted_dislocations
    for key in a.book_keys():
        assert a.book_snapshot(*key) == b.book_snapshot(*key)
    other = _run(SyntheticMarket(msgspec.structs.replace(cfg, seed=12)), 5.0)
    assert [_enc.encode(e) for e in other[:200]] != [_enc.encode(e) for e in ev_a[:200]]


def test_prices_do_not_depend_on_the_event_rate() -> None:
    def fair_path(rate: float) -> list[float]:
        m = SyntheticMarket(MarketConfig(seed=5, symbols=("ETHUSDT",), venues=("binance_usdm", "okx"), event_rate=rate))
        path = []
        for _ in range(50):
            m.advance(m.now_ns + 100 * MS)
            path.append(m.fair_price("ETHUSDT"))
        return path

    assert fair_path(10) == fair_path(2_000)


def test_events_are_in_time_order_and_on_ticks_and_lots() -> None:
    m = SyntheticMarket(MarketConfig(seed=2, event_rate=200, venues=("binance_usdm", "okx", "kraken_futures")))
    ev = _run(m, 3.0)
    ts = [e.ts for e in ev]
    assert ts == sorted(ts)
    assert all(m.config.start_ns < t <= m.now_ns for t in ts)
    defs = {(d.venue, d.market, d.symbol): d for d in m._defs}
    for e in ev:
        if isinstance(e, Trade):
            d = defs[(e.venue, e.market, e.symbol)]
            assert abs(e.price / d.tick - round(e.price / d.tick)) < 1e-6
            assert abs(e.qty / d.lot - round(e.qty / d.lot)) < 1e-6 and e.qty > 0
    okx_btc = defs[("okx", "perp", "BTCUSDT")]
    assert okx_btc.instrument == "BTC-USDT-SWAP" and okx_btc.lot == pytest.approx(0.01)  # whole contracts
    assert defs[("kraken_futures", "perp", "BTCUSDT")].tick == 1.0


# ---- books --------------------------------------------------------------------------------------
def test_diffs_replayed_on_snapshots_rebuild_every_book_exactly() -> None:
    cfg = MarketConfig(
        seed=3,
        symbols=("BTCUSDT", "ETHUSDT", "BRETTUSDT"),
        event_rate=600,
        price=PriceParams(vol_scale=5.0, jump_rate_scale=200.0, dislocations_per_hour=300),
    )
    m = SyntheticMarket(cfg)
    _run(m, 0.5)  # start the replay mid-stream
    engine = BookEngine()
    for key in m.book_keys():
        assert engine.apply(m.book_snapshot(*key)) == Applied.APPLIED
    results: Counter[Applied] = Counter()
    last_seq: dict[tuple[str, str, str], int] = {}
    bbo_checked = 0
    for e in _run(m, 4.0):
        key = (e.venue, e.market, e.symbol)
        if isinstance(e, BookUpdate):
            assert not e.snapshot and e.prev_seq == e.seq - 1 == e.first_seq - 1
            assert e.seq > last_seq.get(key, -1)
            last_seq[key] = e.seq
            results[engine.apply(e)] += 1
            book = engine.book(e.venue, e.instrument, e.market)
            assert book.best_bid()[0] < book.best_ask()[0]  # never crossed
        elif isinstance(e, BBO):
            book = engine.book(e.venue, m.instrument_id(*key), e.market)
            assert (e.bid_price, e.bid_qty, e.ask_price, e.ask_qty) == (*book.best_bid(), *book.best_ask())
            assert e.update_id == book.seq
            bbo_checked += 1
    assert results[Applied.APPLIED] > 10_000 and set(results) == {Applied.APPLIED}
    assert engine.totals()["gaps"] == 0
    assert bbo_checked > 5_000
    for key in m.book_keys():
        snap = m.book_snapshot(*key)
        book = engine.book(key[0], snap.instrument, key[1])
        bp, bq, ap, aq = book.top(1_000)
        assert list(zip(bp, bq, strict=True)) == snap.bids and list(zip(ap, aq, strict=True)) == snap.asks
        assert book.seq == snap.seq
        assert len(snap.bids) == len(snap.asks) == cfg.book_levels
        assert m.bbo(*key).bid_price == snap.bids[0][0]


def test_book_depth_grows_away_from_the_mid() -> None:
    m = SyntheticMarket(MarketConfig(seed=4, event_rate=300, venues=("binance_usdm",)))
    _run(m, 5.0)
    ratios = []
    for key in m.book_keys():
        snap = m.book_snapshot(*key, depth=60)
        near = np.mean([q for _, q in snap.bids[:10]] + [q for _, q in snap.asks[:10]])
        far = np.mean([q for _, q in snap.bids[50:]] + [q for _, q in snap.asks[50:]])
        ratios.append(far / near)
        assert len(m.book_snapshot(*key, depth=5).bids) == 5
    assert np.median(ratios) > 2.0


# ---- cross-venue structure ------------------------------------------------------------------------
def _mid_paths(m: SyntheticMarket, keys: list[tuple[str, str, str]], seconds: float) -> dict:
    paths: dict = {k: [] for k in keys}
    paths["fair"], paths["premium"] = [], []
    for _ in range(round(seconds * S / m.step_ns)):
        m.advance(m.now_ns + m.step_ns)
        for k in keys:
            paths[k].append(m.mid(*k))
        paths["fair"].append(m.fair_price(keys[0][2]))
        paths["premium"].append(m.premium(keys[0][2]))
    return {k: np.array(v) for k, v in paths.items()}


def test_venues_follow_the_fair_price_with_their_lag_and_basis() -> None:
    venues = (
        venue_spec("binance_usdm"),
        venue_spec("okx", lag_ms=200.0, basis_bps=3.0),
        venue_spec("bybit", markets=("perp",), lag_ms=80.0, basis_bps=-2.0),
    )
    m = SyntheticMarket(
        MarketConfig(
            seed=8,
            symbols=("BTCUSDT",),
            venues=venues,
            event_rate=1_000,
            price=_quiet(vol_scale=3.0, jump_rate_scale=0.0),
        )
    )
    keys = [("binance_usdm", "perp", "BTCUSDT"), ("okx", "perp", "BTCUSDT"), ("bybit", "perp", "BTCUSDT")]
    p = _mid_paths(m, keys, 40.0)
    ret = {k: np.diff(np.log(p[k])) for k in keys}
    lead = ret[keys[0]]
    for key, lag_steps in ((keys[1], 20), (keys[2], 8)):
        follow = ret[key]
        xcorr = [np.corrcoef(lead[: len(lead) - j], follow[j:])[0, 1] for j in range(60)]
        assert int(np.argmax(xcorr)) == lag_steps, (key, np.round(xcorr, 2))
        assert xcorr[lag_steps] > 0.5
    for key, basis_bps, lag_steps in ((keys[0], 0.0, 0), (keys[1], 3.0, 20), (keys[2], -2.0, 8)):
        n = len(p["fair"])
        fair_then = p["fair"][: n - lag_steps] * np.exp(p["premium"][: n - lag_steps])
        offset_bps = np.mean(np.log(p[key][lag_steps:] / fair_then)) * 1e4
        assert offset_bps == pytest.approx(basis_bps, abs=0.4), key


def test_planted_dislocation_shows_in_the_mids_with_its_size() -> None:
    plan = PlannedDislocation(at_s=5.0, symbol="ETHUSDT", venue="okx", size_bps=-35.0, duration_s=8.0)
    m = SyntheticMarket(
        MarketConfig(
            seed=9,
            symbols=("ETHUSDT",),
            event_rate=500,
            price=_quiet(),
            venues=("binance_usdm", "okx", "bybit", "gateio", "binance_spot"),
            dislocations=(plan,),
        )
    )
    keys = [k for k in m.book_keys() if k[1] == "perp"]
    p = _mid_paths(m, keys, 20.0)
    (rec,) = m.planted_dislocations
    assert (rec.symbol, rec.venue, rec.market, rec.size_bps) == ("ETHUSDT", "okx", "perp", -35.0)
    assert rec.start_ns == m.config.start_ns + 5 * S and rec.end_ns == rec.start_ns + 8 * S
    assert set(rec.reference_venues) == {"binance_usdm", "bybit", "gateio"}
    times = m.config.start_ns + m.step_ns * np.arange(1, len(p[keys[0]]) + 1)
    others = np.median([p[k] for k in keys if k[0] != "okx"], axis=0)
    gap_bps = (p[("okx", "perp", "ETHUSDT")] / others - 1.0) * 1e4
    inside = (times > rec.start_ns + 300 * MS) & (times < rec.end_ns)  # the references lag up to 200 ms
    outside = (times < rec.start_ns) | (times > rec.end_ns + 300 * MS)
    assert np.median(gap_bps[inside]) == pytest.approx(rec.size_bps, abs=2.0)
    assert np.abs(gap_bps[inside] - rec.size_bps).max() < 5.0
    assert abs(np.median(gap_bps[outside])) < 2.0
    assert np.abs(gap_bps[outside]).max() < 8.0


def test_random_dislocations_are_recorded_and_large_enough_to_trade() -> None:
    m = SyntheticMarket(MarketConfig(seed=1, event_rate=1, price=PriceParams(dislocations_per_hour=3_000)))
    _run(m, 30.0, chunk_ms=1_000)
    recs = m.planted_dislocations
    assert len(recs) >= 5
    for r in recs:
        assert 15.0 <= abs(r.size_bps) <= 50.0 and r.end_ns > r.start_ns and r.reference_venues
        assert r.venue not in r.reference_venues


# ---- funding, liquidations, volatility, clustering -------------------------------------------------
def test_funding_follows_the_premium() -> None:
    cfg = MarketConfig(
        seed=6,
        symbols=("BTCUSDT", "ETHUSDT"),
        event_rate=50,
        funding_avg_s=3.0,
        step_ms=50.0,
        venues=("binance_usdm", "okx", "kraken_futures", "hyperliquid"),
        price=_quiet(premium_bps=0.0, premium_sd_bps=6.0, premium_reversion_s=30.0),
    )
    ev = _run(SyntheticMarket(cfg), 180.0, chunk_ms=1_000)
    marks = {(e.venue, e.symbol, e.ts): e.mark_price / e.index_price - 1.0 for e in ev if isinstance(e, MarkPrice)}
    fund = [e for e in ev if isinstance(e, Funding)]
    assert len(fund) == len(marks) > 1_000
    premium = np.array([marks[(f.venue, f.symbol, f.ts)] for f in fund])
    rate_8h = np.array([f.rate * 8.0 / f.interval_hours for f in fund])
    assert {f.interval_hours for f in fund if f.venue in ("kraken_futures", "hyperliquid")} == {1.0}
    assert all(f.next_funding_time > f.ts for f in fund)
    assert np.corrcoef(premium, rate_8h)[0, 1] > 0.8
    clear = np.abs(premium) > 2e-4
    assert clear.sum() > 100
    assert np.mean(np.sign(premium[clear]) == np.sign(rate_8h[clear])) > 0.9


def test_liquidations_only_on_publishing_perp_venues_and_cascade_after_jumps() -> None:
    cfg = MarketConfig(
        seed=21, symbols=("BTCUSDT", "WIFUSDT"), event_rate=20, step_ms=20.0, price=_quiet(jump_rate_scale=0.0)
    )
    m = SyntheticMarket(cfg)
    t0 = cfg.start_ns
    shocks = (("BTCUSDT", -60.0, 20), ("WIFUSDT", 250.0, 50), ("BTCUSDT", 40.0, 80))
    for sym, size, at_s in shocks:
        m.plant_jump(sym, size, at_ns=t0 + at_s * S)
    ev = _run(m, 110.0, chunk_ms=1_000)
    assert [(j.symbol, j.size_bps, (j.ts - t0) // S) for j in m.price_jumps] == [
        (sym, pytest.approx(size), at_s) for sym, size, at_s in shocks
    ]
    liqs = [e for e in ev if isinstance(e, Liquidation)]
    assert {e.venue for e in liqs} == LIQUIDATION_VENUES  # every publishing venue, and only those
    assert {e.market for e in liqs} == {"perp"}
    assert "hyperliquid" not in LIQUIDATION_VENUES and "binance_spot" not in LIQUIDATION_VENUES
    for e in liqs:
        assert e.side in ("long", "short") and e.qty > 0 and e.notional == pytest.approx(e.qty * e.price, rel=0.01)
    # After each jump the side that lost is liquidated in a burst, far above the steady rate.
    in_burst = 0
    for j in m.price_jumps:
        burst = [e for e in liqs if e.symbol == j.symbol and 0 <= e.ts - j.ts < 3 * S]
        in_burst += len(burst)
        sides = Counter(e.side for e in burst)
        assert len(burst) >= 20 and sides.most_common(1)[0][0] == ("long" if j.size_bps < 0 else "short")
    quiet_rate = (len(liqs) - in_burst) / (110.0 - 9.0)
    assert in_burst / 9.0 > 10 * quiet_rate


def test_memes_are_more_volatile_than_btc() -> None:
    m = SyntheticMarket(
        MarketConfig(
            seed=13,
            symbols=("BTCUSDT", "ETHUSDT", "BRETTUSDT", "PNUTUSDT"),
            venues=("binance_usdm",),
            event_rate=0,
            step_ms=100.0,
            price=_quiet(),
        )
    )
    path = defaultdict(list)
    for _ in range(600):
        m.advance(m.now_ns + S)
        for s in m.symbols:
            path[s.symbol].append(math.log(m.fair_price(s.symbol)))
    vol = {s: float(np.std(np.diff(p))) for s, p in path.items()}
    assert min(vol["BRETTUSDT"], vol["PNUTUSDT"]) > 1.8 * vol["BTCUSDT"]


def test_trades_cluster() -> None:
    m = SyntheticMarket(
        MarketConfig(seed=14, symbols=("SOLUSDT",), venues=("okx",), event_rate=200, step_ms=25.0, price=_quiet())
    )
    ev = _run(m, 150.0, chunk_ms=1_000)
    trades = [e for e in ev if isinstance(e, Trade)]
    counts = np.bincount([(e.ts - m.config.start_ns - 1) // S for e in trades], minlength=150)
    assert counts.mean() > 5
    assert counts.var() / counts.mean() > 1.5  # a Poisson stream would give 1


# ---- slow streams ------------------------------------------------------------------------------------
def test_candles_tickers_and_open_interest_agree_with_trades() -> None:
    m = SyntheticMarket(
        MarketConfig(
            seed=15,
            symbols=("XRPUSDT",),
            venues=("binance_usdm", "binance_spot"),
            event_rate=100,
            step_ms=50.0,
            price=_quiet(),
        )
    )
    ev = _run(m, 125.0, chunk_ms=5_000)
    key = ("binance_usdm", "perp")
    trades = [e for e in ev if isinstance(e, Trade) and (e.venue, e.market) == key]
    closed = [e for e in ev if isinstance(e, Candle) and e.closed and (e.venue, e.market) == key]
    assert [c.open_time for c in closed] == [m.config.start_ns + i * 60 * S for i in range(2)]
    for c in closed:
        inside = [t for t in trades if c.open_time <= t.ts < c.open_time + 60 * S]
        assert c.trades == len(inside) and c.volume == pytest.approx(sum(t.qty for t in inside))
        assert c.high == max(t.price for t in inside) and c.low == min(t.price for t in inside)
        assert c.open == inside[0].price and c.close == inside[-1].price
    tickers = [e for e in ev if isinstance(e, Ticker24h) and (e.venue, e.market) == key]
    assert len(tickers) == 125
    last = tickers[-1]
    assert last.last == trades[-1].price and last.low <= last.last <= last.high
    assert last.volume > 0 and last.price_change == pytest.approx(last.last - last.open)
    spot_kinds = {type(e).__name__ for e in ev if e.market == "spot"}
    assert {"Ticker24h", "Candle", "Trade"} <= spot_kinds and not spot_kinds & {"Funding", "OpenInterest", "MarkPrice"}
    oi = [e.oi_base for e in ev if isinstance(e, OpenInterest)]
    assert len(set(oi)) > 10 and all(x > 0 for x in oi)


# ---- throughput ------------------------------------------------------------------------------------
def test_throughput(capsys: pytest.CaptureFixture[str]) -> None:
    m = SyntheticMarket(MarketConfig(seed=16, event_rate=3_000))  # 8 venues, 9 symbols, 81 books
    n = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(10):
        n += len(m.advance(m.now_ns + 100 * MS))
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    rate, cpu_rate = n / dt, n / cpu
    with capsys.disabled():
        print(
            f"\nsynthetic market: {n} events in {dt:.2f} s wall / {cpu:.2f} s cpu = {rate:,.0f} events/s "
            f"({cpu_rate:,.0f} per cpu-second), {len(m.book_keys())} books"
        )
    log.info("synthetic market throughput: %.0f events/s (%.0f per cpu-second)", rate, cpu_rate)
    assert n > 200_000
    assert cpu_rate > 200_000  # ~450k per cpu-second measured here (2 cores)
