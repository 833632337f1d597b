"""Order-flow features from a simulator-filled lake: aligned values against the raw tables, no look-ahead,
and a LightGBM forecast with them through the MCP forecast tools.

The store holds three hours of binance_usdm BTCUSDT perp from the simulator's market model (the one
behind its venues), stepped offline: trades, funding and open interest once a minute except every third
minute (so those 1m bars carry the previous value forward), and a five-level book snapshot every 40 s.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mcp import Client

from cryptoflow.events import BookSnapshot, Funding, OpenInterest, Trade
from cryptoflow.forecast.exog import FEATURES, attach_exog, known_before, load_exog
from cryptoflow.forecast.targets import load_target
from cryptoflow.forecast.zoo import ForecastError
from cryptoflow.server import build_server
from cryptoflow.sim.market import MarketConfig, SyntheticMarket
from cryptoflow.store import BatchWriter, Lake

os.environ.setdefault("OMP_NUM_THREADS", "1")
SEC = 1_000_000_000
MIN = 60 * SEC
START = 1_704_067_200 * SEC  # 2024-01-01 00:00 UTC
HOURS = 3
VEN = ("binance_usdm", "BTCUSDT", "perp")
TABLES = ("trades", "funding_rates", "open_interest", "book_snapshots")


def market_history(start_ns: int, end_ns: int, seed: int = 7) -> list[Any]:
    cfg = MarketConfig.for_instruments({"binance_usdm": [("perp", "BTCUSDT")]}, seed=seed, rate=0.1,
                                       start_ns=start_ns, step_ms=1000.0, stats_interval_ms=60_000,
                                       trade_branching=0.0)
    m = SyntheticMarket(cfg)
    keep = (Trade, Funding, OpenInterest)
    out: list[Any] = []
    t = start_ns
    while t < end_ns:
        t += 40 * SEC
        out += [e for e in m.advance(t) if type(e) in keep and e.ts < end_ns
                and (type(e) is Trade or (e.ts - start_ns) // MIN % 3 != 1)]
        if t >= end_ns:
            break
        b = m.book_snapshot("binance_usdm", "perp", "BTCUSDT", 5)
        out.append(BookSnapshot("binance_usdm", "perp", "BTCUSDT", t, t, [p for p, _ in b.bids],
                                [q for _, q in b.bids], [p for p, _ in b.asks], [q for _, q in b.asks]))
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("exog") / "data"
    lake = Lake.open(data)
    w = BatchWriter(lake)
    w.add_many(market_history(START, START + HOURS * 3600 * SEC))
    w.close()
    lake.close()
    return data


def raw(data: Path) -> dict[str, list[tuple]]:
    lake = Lake.open(data, read_only=True)
    try:
        cur = lake.cursor()
        q = "WHERE venue = $v AND symbol = $s ORDER BY ts_ns"
        p = {"v": VEN[0], "s": VEN[1]}
        return {"funding": cur.execute(f"SELECT ts_ns, rate FROM lake.funding_rates {q}", p).fetchall(),
                "oi": cur.execute(f"SELECT ts_ns, oi_base FROM lake.open_interest {q}", p).fetchall(),
                "trades": cur.execute(f"SELECT ts_ns, qty, side FROM lake.trades {q}", p).fetchall(),
                "book": cur.execute(f"SELECT ts_ns, bid_qtys, ask_qtys FROM lake.book_snapshots {q}", p).fetchall()}
    finally:
        lake.close()


def features(data: Path, ts_ns: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    lake = Lake.open(data, read_only=True)
    try:
        if ts_ns is None:
            ts_ns = load_target(lake, "price", VEN[0], VEN[1], VEN[2], "1m").ts_ns
        frame = load_exog(lake, VEN[0], VEN[1], VEN[2], "1m", ts_ns, True)
    finally:
        lake.close()
    assert not frame.missing
    return ts_ns, frame.columns


def latest_before(rows: list[tuple], t: int) -> Any:
    before = [r for r in rows if r[0] < t]
    return before[-1] if before else None


def test_known_before_is_an_as_of_join_on_bucket_ends() -> None:
    obs_ts = np.array([0, 60, 180]) * SEC  # per-bucket values of 1m buckets 0, 1 and 3
    v = np.array([1.0, np.nan, 3.0])  # bucket 1 had no value: bucket 0's carries on
    out = known_before(obs_ts, v, np.array([30, 60, 120, 239, 240, 999]) * SEC, MIN)
    assert np.isnan(out[0]) and list(out[1:]) == [1.0, 1.0, 1.0, 3.0, 3.0]


def test_features_match_the_raw_tables(store: Path) -> None:
    ts, cols = features(store)
    assert len(ts) == HOURS * 60 and set(cols) == set(FEATURES)
    r = raw(store)
    assert len(r["funding"]) >= 100 and len(r["book"]) >= 200 and len(r["trades"]) >= 500
    first_trade = r["trades"][0][0]
    checked = 0
    for i in (2, 17, 61, 118, len(ts) - 1):
        start, end = int(ts[i]), int(ts[i]) + MIN
        fr = latest_before(r["funding"], end)
        assert cols["funding"][i] == pytest.approx(fr[1], rel=1e-12)
        oi_end, oi_start = latest_before(r["oi"], end), latest_before(r["oi"], start)
        if oi_start is None:
            assert np.isnan(cols["oi_change"][i])
        else:
            assert cols["oi_change"][i] == pytest.approx(oi_end[1] / oi_start[1] - 1, abs=1e-12)
        signed = [(q if side == "buy" else -q) for t, q, side in r["trades"] if start <= t < end]
        assert cols["cvd_delta"][i] == pytest.approx(sum(signed), abs=1e-9)
        window = [(q if side == "buy" else -q) for t, q, side in r["trades"] if ts[0] <= t < end]
        assert ts[0] // MIN == first_trade // MIN and cols["cvd"][i] == pytest.approx(sum(window), abs=1e-6)
        _, bq, aq = latest_before(r["book"], end)
        b, a = sum(bq[:5]), sum(aq[:5])
        assert cols["book_imbalance"][i] == pytest.approx((b - a) / (b + a), abs=1e-12)
        checked += 1
    assert checked == 5
    # every third minute has no funding row of its own: it carries the previous rate
    own = {int(t) // MIN for t, _ in r["funding"]}
    carried = [i for i in range(2, len(ts)) if int(ts[i]) // MIN not in own]  # the first rate comes in bar 2
    assert len(carried) >= 50 and all(cols["funding"][i] == cols["funding"][i - 1] for i in carried)
    assert np.isnan(cols["funding"][0]) and np.isfinite(cols["funding"][2])  # before it: unknown, not 0
    assert np.all(np.abs(cols["book_imbalance"][np.isfinite(cols["book_imbalance"])]) <= 1)


def test_no_look_ahead_when_later_data_is_deleted(store: Path, tmp_path: Path) -> None:
    ts, before = features(store)
    i = 100
    cut = int(ts[i]) + MIN  # end of bucket i: everything from here on is deleted
    copy = tmp_path / "data"
    shutil.copytree(store, copy)
    lake = Lake.open(copy)
    try:
        cur = lake.cursor()
        for t in TABLES:
            cur.execute(f"DELETE FROM lake.{t} WHERE ts_ns >= $cut", {"cut": cut})
        left = cur.execute("SELECT max(ts_ns) FROM lake.trades").fetchone()[0]
    finally:
        lake.close()
    assert left < cut
    _, after = features(copy, ts)
    for k in FEATURES:
        np.testing.assert_array_equal(after[k][: i + 1], before[k][: i + 1], err_msg=k)
    # and the deletion did bite after bucket i: no flow there any more, only carried-forward values
    assert np.all(after["cvd_delta"][i + 1:] == 0) and np.any(before["cvd_delta"][i + 1:] != 0)
    assert np.all(after["funding"][i + 1:] == after["funding"][i])


def test_attach_drops_unknown_leading_bars_and_refuses_missing_streams(store: Path) -> None:
    lake = Lake.open(store, read_only=True)
    try:
        series = load_target(lake, "price", *VEN, "1m")
        out, notes = attach_exog(lake, series, *VEN, ["oi_change", "cvd"])
        assert sorted(out.exog) == ["cvd", "oi_change"] and len(out) < len(series)
        assert all(np.all(np.isfinite(v)) for v in out.exog.values())  # nothing unknown reaches a model
        assert out.ts_ns is not None and out.ts_ns[-1] == series.ts_ns[-1]
        assert any("dropped" in n for n in notes)
        with pytest.raises(ForecastError, match="exists only for perpetuals"):
            attach_exog(lake, series, VEN[0], VEN[1], "spot", ["funding"])
        with pytest.raises(ForecastError, match="unknown exogenous feature"):
            attach_exog(lake, series, *VEN, ["vpin"])
    finally:
        lake.close()


def test_lightgbm_with_exog_through_the_mcp_tools(store: Path) -> None:
    async def go() -> tuple[dict, dict, dict, Any]:
        srv = build_server(store, "forecast")
        try:
            async with Client(srv) as client:
                args = {"symbol": "BTCUSDT", "venue": "binance_usdm", "horizon": 3, "history": 180}
                fc = await client.call_tool("forecast", {**args, "model": "LightGBM", "exog": ["all"]})
                bt = await client.call_tool("backtest_forecast", {**args, "model": "LightGBM",
                                                                  "exog": ["funding", "book_imbalance"]})
                naive = await client.call_tool("forecast", {**args, "model": "Naive", "exog": ["cvd"]})
                bad = await client.call_tool("forecast", {**args, "exog": ["vpin"]})
            return fc.structured_content, bt.structured_content, naive.structured_content, bad
        finally:
            await srv.cryptoflow_context.aclose()

    fc, bt, naive, bad = asyncio.run(go())
    assert fc["model"] == "LightGBM" and fc["exog"] == list(FEATURES)
    assert fc["backtest"]["origins"] >= 20 and np.isfinite(fc["backtest"]["rmae"])
    assert len(fc["forecast"]) == 3 and all(x["lower_80"] < x["upper_80"] for x in fc["forecast"])
    assert fc["series"]["bars"] < HOURS * 60 and any("dropped" in w for w in fc["warnings"])  # oi_change's first
    assert bt["exog"] == ["funding", "book_imbalance"] and bt["backtest"]["model"] == "LightGBM"
    assert naive["exog"] == [] and any("Naive takes no exogenous inputs" in w for w in naive["warnings"])
    assert bad.is_error and "vpin" in bad.content[0].text
