"""Forecast toolset through the SDK's in-memory client, on a store filled by the simulator's market model.

Why not the session ``market_store``: it holds ~15 s of collected data, one 1m bar, and the store
buckets at 1m and longer. So this module writes five hours of the same ``SyntheticMarket`` (the model
behind the simulator's venues, stepped offline in seconds) for binance_usdm BTCUSDT perp: trades,
funding, open interest and book snapshots. Its price is a random walk with stochastic volatility, so
the honest answers are known: rMAE ~1 against naive and a grade that claims no skill. ETHUSDT gets
ten minutes only (the too-little-data case). The live-forecast test runs the real collector against
the simulator next to the streaming controller in the server process.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mcp import Client

from cryptoflow.collector.config import load_config
from cryptoflow.errors import ConfigError
from cryptoflow.events import BookSnapshot, Funding, OpenInterest, Trade
from cryptoflow.server import build_server
from cryptoflow.server.context import ServerContext
from cryptoflow.sim.market import MarketConfig, SyntheticMarket
from cryptoflow.sim.runner import Simulator
from cryptoflow.store import BatchWriter, Lake
from cryptoflow.streaming import StreamingConfig, load_streaming_config
from cryptoflow.venues.base import Endpoints

from ..simrun import wait_for
from .conftest import call, fails

os.environ.setdefault("OMP_NUM_THREADS", "1")
SEC = 1_000_000_000
MIN = 60 * SEC
HOURS = 5
B = dict(symbol="BTCUSDT", venue="binance_usdm")


def market_history(symbol: str, start_ns: int, end_ns: int, seed: int) -> list[Any]:
    """binance_usdm ``symbol`` perp from the simulator's market model, stepped offline (1 s grid, no
    Hawkes self-excitation so a coarse grid stays stable); a book snapshot every 30 s."""
    cfg = MarketConfig.for_instruments({"binance_usdm": [("perp", symbol)]}, seed=seed, rate=0.03, start_ns=start_ns,
                                       step_ms=1000.0, stats_interval_ms=60_000, trade_branching=0.0)
    m = SyntheticMarket(cfg)
    keep = (Trade, Funding, OpenInterest)
    out: list[Any] = []
    t = start_ns
    while t < end_ns:
        t += 30 * SEC
        out += [e for e in m.advance(t) if type(e) in keep and e.ts < end_ns]
        if t >= end_ns:
            break
        b = m.book_snapshot("binance_usdm", "perp", symbol, 5)
        out.append(BookSnapshot("binance_usdm", "perp", symbol, t, t, [p for p, _ in b.bids], [q for _, q in b.bids],
                                [p for p, _ in b.asks], [q for _, q in b.asks]))
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("forecast") / "data"
    end = time.time_ns() // (60 * MIN) * 60 * MIN - 60 * MIN  # whole hours, ending 1-2 h ago: the live test
    # appends after it
    events = market_history("BTCUSDT", end - HOURS * 3600 * SEC, end, seed=3)
    events += market_history("ETHUSDT", end - 10 * MIN, end, seed=4)
    lake = Lake.open(data)
    w = BatchWriter(lake)
    w.add_many(events)
    w.close()
    lake.close()
    return data


@pytest.fixture(scope="module")
def server(store: Path):
    srv = build_server(store, "forecast")
    ctx = srv.cryptoflow_context
    ctx.keep_open = True
    yield srv
    asyncio.run(ctx.aclose())


def bars(store: Path, interval_min: int = 1) -> int:
    lake = Lake.open(store, read_only=True)
    try:
        return lake.cursor().execute(
            "SELECT count(DISTINCT ts_ns // $s) FROM lake.trades WHERE venue='binance_usdm' AND symbol='BTCUSDT'",
            {"s": interval_min * MIN}).fetchone()[0]
    finally:
        lake.close()


# ---- forecasts with their evidence --------------------------------------------------------------
async def test_price_forecast_is_honest_about_a_random_walk(server, store):
    async with Client(server) as client:
        auto = await call(client, "forecast", **B, horizon=6)
        theta = await call(client, "forecast", **B, horizon=6, model="theta")
    s = auto["series"]
    assert s["bars"] == bars(store) == HOURS * 60 and s["unit"].startswith("quote currency")
    assert auto["model"] == "Naive" and "random walk" in auto["reason"]
    bt = auto["backtest"]
    assert bt["origins"] >= 20 and bt["rmae"] == 1.0 and bt["grade"] == "C" and "naive" in bt["verdict"]
    assert {c["level"] for c in bt["coverage"]} == {80, 95} and all(c["n"] > 0 for c in bt["coverage"])
    f = auto["forecast"]
    assert [x["step"] for x in f] == list(range(1, 7))
    assert all(x["value"] == pytest.approx(s["last_value"], rel=1e-12) for x in f)  # naive: the last close
    assert all(x["lower_95"] < x["lower_80"] < x["value"] < x["upper_80"] < x["upper_95"] for x in f)
    widths = [x["upper_80"] - x["lower_80"] for x in f]
    assert widths == sorted(widths)  # a random walk's uncertainty grows with the horizon
    step_ms = [int(x["ts"][14:16]) for x in f]
    assert step_ms == [(int(s["last_ts"][14:16]) + k) % 60 for k in range(1, 7)]
    assert "Backtest over" in auto["skill"] and "rMAE 1.000" in auto["skill"]
    # a real model on the same walk: close to naive, and no skill claimed
    tb = theta["backtest"]
    assert theta["model"] == "Theta" and theta["reason"] == "requested by the caller"
    assert 0.85 < tb["rmae"] < 1.3 and tb["grade"] in ("C", "D", "F") and tb["dm_p_better"] > 0.01
    assert theta["model_id"] is not None


async def test_other_targets_and_volatility_persistence(server):
    async with Client(server) as client:
        vol = await call(client, "forecast", **B, target="volatility", horizon=3)
        oi = await call(client, "forecast", **B, target="open_interest", interval="5m", horizon=3)
        spread = await call(client, "forecast", **B, target="spread", horizon=3, model="Naive")
        fund = await call(client, "forecast", **B, target="funding", horizon=3, priority="realtime")
    assert vol["model"] == "HAR" and "persistent" in vol["reason"] and vol["series"]["unit"].startswith("fraction")
    assert all(x["lower_80"] > 0 for x in vol["forecast"])  # modelled in logs: stays positive
    assert oi["series"]["bars"] == HOURS * 12 and oi["series"]["unit"] == "base units"
    assert spread["series"]["unit"] == "bps" and spread["forecast"][0]["value"] > 0
    assert fund["model"] in ("Naive", "SeasonalNaive") and fund["series"]["filled_fraction"] == 0.0


async def test_backtest_cross_validate_and_registry_after_reopen(server, store):
    async with Client(server) as client:
        bt = await call(client, "backtest_forecast", **B, horizon=5, model="AutoETS", strategy="walkforward",
                        n_origins=25)
        cv = await call(client, "cross_validate", **B, horizon=5, models=["Naive", "Theta", "Ridge"],
                        strategies=["expanding", "purged"])
    b = bt["backtest"]
    assert b["model"] == "AutoETS" and b["strategy"] == "walkforward" and b["origins"] == 25 and b["refits"] == 5
    assert 0.85 < b["rmae"] < 1.25 and b["grade"] != "S" and b["grade"] != "A"
    assert bt["skill"].startswith("Backtest over 25 rolling origins (walkforward, 5 refits)")
    rows = cv["results"]
    assert {(r["model"], r["strategy"]) for r in rows} == {(m, s) for m in ("Naive", "Theta", "Ridge")
                                                          for s in ("expanding", "purged")}
    naive = [r for r in rows if r["model"] == "Naive"]
    assert all(r["rmae"] == 1.0 and r["grade"] == "C" for r in naive)
    assert all(r["grade"] in ("C", "D", "F") for r in rows)  # nothing beats the last price of a random walk
    assert cv["best"]["expanding"] == min((r for r in rows if r["strategy"] == "expanding"), key=lambda r: r["rmae"])[
        "model"]

    # the registry survives a restart: a fresh server over the same data dir lists what was backtested
    fresh = build_server(store, "forecast")
    async with Client(fresh) as client:
        perf = await call(client, "model_registry", view="performance", symbol="BTCUSDT", venue="binance_usdm",
                          target="price", limit=200)
        models = await call(client, "model_registry", view="models", model="Theta", target="price")
    seen = {(p["model"], p["strategy"], p["horizon"]) for p in perf["performance"]}
    assert ("AutoETS", "walkforward", 5) in seen and ("Theta", "expanding", 6) in seen
    ets = next(p for p in perf["performance"] if p["model"] == "AutoETS")
    assert ets["rmae"] == b["rmae"] and ets["grade"] == b["grade"] and ets["origins"] == 25
    assert all(p["series_key"] == "binance_usdm:BTCUSDT:perp:price:1m" for p in perf["performance"])
    assert models["models"] and all(m["model"] == "Theta" and m["status"] in ("active", "retired")
                                    for m in models["models"])
    m = models["models"][0]
    assert m["n_train"] > 200 and m["train_end"] < m["created"] and m["params"]["season_length"] >= 1


async def test_ensemble_tuning_drift_and_explanations(server):
    async with Client(server) as client:
        ens = await call(client, "forecast_ensemble", **B, horizon=4, models=["Naive", "Theta", "AutoETS"],
                         method="inverse_error")
        tuned = await call(client, "tune_forecast_model", **B, model="WindowAverage", horizon=4, n_trials=6,
                           timeout_s=20)
        drift = await call(client, "detect_model_drift", **B, reference_points=150, recent_points=60)
        expl = await call(client, "explain_forecast", **B, model="Ridge", horizon=3)
        events = await call(client, "model_registry", view="events", symbol="BTCUSDT")
    assert ens["model"].startswith("ensemble[inverse_error](Naive, Theta, AutoETS)")
    assert sum(m["weight"] for m in ens["members"]) == pytest.approx(1.0, abs=1e-3)
    assert 0.85 < ens["backtest"]["rmae"] < 1.2 and ens["backtest"]["grade"] in ("C", "D")
    assert len(ens["forecast"]) == 4 and ens["forecast"][0]["lower_80"] < ens["forecast"][0]["upper_80"]
    assert tuned["model"] == "WindowAverage" and 1 <= tuned["trials"] <= 6 and "window_size" in tuned["best_params"]
    assert tuned["tuned"]["rmae"] > 0.9 and tuned["improved"] == (tuned["tuned"]["rmae"] < tuned["default"]["rmae"])
    assert drift["severity"] in ("LOW", "MEDIUM", "HIGH") and drift["recent_points"] == 60
    assert {d["name"] for d in drift["detectors"]} >= {"adwin", "page_hinkley", "kswin"}
    assert drift["recommendation"] and drift["error_ratio"] > 0
    assert [h["step"] for h in expl["by_horizon"]] == [1, 2, 3] and expl["model"] == "Ridge"
    assert expl["feature_importance"] and sum(f["importance"] for f in expl["feature_importance"]) <= 1.0 + 1e-4
    assert expl["findings"] and "ljung_box" in expl["residuals"]
    assert {e["kind"] for e in events["events"]} >= {"tune", "drift"}


async def test_list_forecast_models_shows_installed_flags(server):
    async with Client(server) as client:
        every = await call(client, "list_forecast_models")
        ml = await call(client, "list_forecast_models", family="ml", installed_only=True)
    by = {m["name"]: m for m in every["models"]}
    assert every["total"] == len(by) >= 30 and every["installed"] == sum(m["installed"] for m in every["models"])
    assert by["Naive"]["installed"] and by["AutoETS"]["installed"] and by["LightGBM"]["installed"]
    assert by["LightGBM"]["tunable"] and not by["Naive"]["tunable"]
    for name in ("NBEATS", "Chronos", "Prophet", "XGBoost"):
        m = by[name]
        assert m["installed"] == (m["install_hint"] is None)
        if not m["installed"]:
            assert f"cryptoflow[{ {'NBEATS': 'deep', 'Chronos': 'chronos', 'Prophet': 'prophet'}.get(name, 'ml')}]" \
                in m["install_hint"]
    assert ml["models"] and all(m["family"] == "ml" and m["installed"] for m in ml["models"])


# ---- bad arguments ------------------------------------------------------------------------------
CASES: list[tuple[str, dict, list[str]]] = [
    ("forecast", {**B, "model": "Prophett"}, ["model='Prophett' is not a forecasting model", "Installed: Naive",
                                             "AutoETS", "'auto'", "list_forecast_models"]),
    ("forecast", {**B, "model": "NBEATS"}, ["NBEATS", "not installed", "pip install 'cryptoflow[deep]'",
                                           "Installed alternatives"]),
    ("forecast", {**B, "interval": "1h"}, ["too little data", "has 5 1h bars", "needs at least 61",
                                           "shorter interval"]),
    ("forecast", {"symbol": "ETHUSDT", "venue": "binance_usdm"}, ["too little data", "has 10 1m bars",
                                                                  "needs at least 61"]),
    ("forecast", {"symbol": "NOPE", "venue": "binance_usdm"}, ["unknown symbol NOPEUSDT", "BTCUSDT", "list_markets"]),
    ("forecast", {**B, "venue": "okx"}, ["no perp trade data stored for BTCUSDT on okx", "list_markets"]),
    ("forecast", {**B, "target": "funding", "market": "spot"}, ["target=funding exists only for perpetuals",
                                                                 "market='perp'"]),
    ("forecast", {**B, "target": "iv"}, ["target", "'price'", "'open_interest'"]),
    ("forecast", {**B, "horizon": 0}, ["horizon", "greater than or equal to 1"]),
    ("forecast", {**B, "priority": "slow"}, ["priority", "'fast'", "'accurate'"]),
    ("forecast_ensemble", {**B, "models": ["Naive"]}, ["models", "at least 2"]),
    ("forecast_ensemble", {**B, "models": ["Naive", "XGBoost"]}, ["models=XGBoost", "pip install 'cryptoflow[ml]'"]),
    ("forecast_ensemble", {**B, "method": "vote"}, ["method", "'inverse_error'"]),
    ("list_forecast_models", {"family": "quantum"}, ["family", "'statistical'"]),
    ("backtest_forecast", {**B, "strategy": "kfold"}, ["strategy", "'purged'", "'walkforward'"]),
    ("backtest_forecast", {**B, "n_origins": 5}, ["n_origins", "greater than or equal to 20"]),
    ("backtest_forecast", {**B, "horizon": 200, "n_origins": 100}, ["too little data", "has 300 1m bars",
                                                                    "needs at least 329"]),
    ("backtest_forecast", {**B, "strategy": "blocked", "horizon": 100},
     ["too little data", "has 300 1m bars", "needs more (300 points are too few for 4 blocks of 5 origins"]),
    ("cross_validate", {**B, "models": ["Naive", "Foo"]}, ["models='Foo' is not a forecasting model", "Theta"]),
    ("cross_validate", {**B, "strategies": []}, ["strategies", "at least 1"]),
    ("tune_forecast_model", {**B, "model": "Naive"}, ["model=Naive has no search space", "LightGBM", "AutoETS"]),
    ("tune_forecast_model", {**B, "model": "LightGBM", "timeout_s": 1000}, ["timeout_s", "less than or equal to 300"]),
    ("detect_model_drift", {**B, "reference_points": 300}, ["too little data", "has 300 1m bars",
                                                            "needs at least 390", "300 reference + 60 recent"]),
    ("detect_model_drift", {**B, "model": "auto"}, ["model='auto' is not a forecasting model"]),
    ("model_registry", {"view": "all"}, ["view", "'models'", "'performance'"]),
    ("model_registry", {"model": "Foo"}, ["model='Foo' is not a forecasting model"]),
    ("explain_forecast", {**B, "model": "Chronos"}, ["Chronos", "pip install 'cryptoflow[chronos]'"]),
    ("explain_forecast", {"symbol": "BTC/USDT!", "venue": "binance_usdm"}, ["symbol", "list_markets"]),
    ("get_stream_forecast", {}, ["no live forecasts", "streaming controller", "forecast tool", "streaming_status"]),
    ("get_streaming_alerts", {"since": "yesterday"}, ["since='yesterday' is not a time", "4h"]),
    ("get_streaming_alerts", {"kinds": ["panic"]}, ["kinds", "'drift'", "'stale'"]),
]


def test_every_forecast_tool_has_a_bad_argument_case(server):
    names = {t.name for t in asyncio.run(server.list_tools())}
    assert names == {c[0] for c in CASES} and len(names) == 11


@pytest.mark.parametrize(("tool", "args", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
async def test_bad_argument_message(server, tool, args, expected):
    async with Client(server) as client:
        msg = await fails(client, tool, **args)
    missing = [e for e in expected if e not in msg]
    assert not missing, f"{tool}: {missing} not in: {msg}"


# ---- live forecasts: the streaming controller next to the collector ----------------------------
def volatile_bars(after_ns: int, last_price: float, n: int, sigma: float, seed: int = 1) -> list[Trade]:
    """``n`` one-minute bars of a walk ``sigma`` per bar (3 trades a bar), from ``after_ns`` on."""
    rng = np.random.default_rng(seed)
    out, p = [], last_price
    for i in range(n * 3):
        p *= float(np.exp(rng.normal(0, sigma / np.sqrt(3))))
        t = after_ns + i * 20 * SEC + SEC
        out.append(Trade("binance_usdm", "perp", "BTCUSDT", t, t, p, 0.01, "buy" if i % 2 else "sell", f"x{i}"))
    return out


async def test_live_forecasts_drift_stale_and_error_alerts(store, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(store, data)
    lake = Lake.open(data, read_only=True)
    (end_ns, last, sd), = lake.cursor().execute(
        "SELECT max(ts_ns), arg_max(price, ts_ns), (SELECT stddev(r) FROM (SELECT ln(c / lag(c) OVER (ORDER BY b)) "
        "AS r FROM (SELECT ts_ns // 60000000000 AS b, arg_max(price, ts_ns) AS c FROM lake.trades WHERE symbol = "
        "'BTCUSDT' GROUP BY b))) FROM lake.trades WHERE symbol = 'BTCUSDT'").fetchall()
    lake.close()
    sim = Simulator(venues=["okx"], symbols=["BTCUSDT"], seed=5)
    await sim.start()
    eps = {v: Endpoints(ws=e["ws"], rest=e["rest"]) for v, e in sim.endpoints().items()}
    base = load_config(None, data_dir=str(data), endpoints=eps, venues=["okx"], symbols=["BTCUSDT"],
                       markets=["perp"], flush_interval_s=0.3)
    cfg = load_streaming_config(None, forecast_interval_seconds=0.3, drift_check_interval_seconds=0.3,
                                stale_after_seconds=120, retraining_config={
                                    "min_interval_seconds": 0, "reference_points": 100, "min_recent_points": 20,
                                    "backtest_origins": 20},
                                forecasting_config={"default_horizon": 5},
                                streams=[{"id": "btc", **B, "target": "price", "interval": "1m"},
                                         {**B, "venue": "okx"}])
    # what `serve --collect` with a [streaming] section builds: collector and live forecasts start with the server
    ctx = ServerContext(data, base_config=base, collect_on_start=True, streaming_config=cfg)
    srv = build_server(data, context=ctx)
    try:
        async with Client(srv) as client:
            first = await until(client, "get_stream_forecast", lambda o: o["retrains"] == 0, stream_id="btc")
            ctl = ctx.forecasts
            assert ctl is not None and ctl.running and ctx.runtime is not None and ctx.runtime.collector.running
            with pytest.raises(ConfigError, match="already run"):
                await ctx.start_forecasts(cfg)
            assert first["source"] == "in_process" and first["refit"] and first["forecast"]["model"] == "Naive"
            assert first["n_points"] == HOURS * 60 and len(first["forecast"]["forecast"]) == 5
            assert first["forecast"]["backtest"]["origins"] >= 20 and first["forecast"]["backtest"]["grade"] == "C"
            # 40 bars ten times as volatile arrive through the collector's own writer: HIGH drift, retrain
            ctx.runtime.writer.add_many(volatile_bars(end_ns, last, 40, 10 * sd))
            out = await until(client, "get_stream_forecast", lambda o: o["retrains"] >= 1, timeout=30, stream_id="btc")
            assert out["drift_severity"] == "HIGH" and out["drift"]["error_ratio"] > 3 and out["n_points"] >= 340
            assert {s["stream_id"] for s in out["streams"]} == {"btc", "okx:BTCUSDT:perp:price:1m"}
            r0 = ctl.rounds
            await wait_for(lambda: ctl.rounds >= r0 + 2)  # more refreshes of the stale stream ...
            alerts = await call(client, "get_streaming_alerts", limit=500)
            okx = await fails(client, "get_stream_forecast", venue="okx")
            await call(client, "streaming_status")
        assert "has no forecast yet; last error: forecast failed" in okx
        kinds = {(a["kind"], a["severity"], a["stream_id"]) for a in alerts["alerts"]}
        assert {("stale", "MEDIUM", "btc"), ("drift", "HIGH", "btc"), ("retrain", "HIGH", "btc"),
                ("error", "ERROR", "okx:BTCUSDT:perp:price:1m")} <= kinds, kinds
        stale = [a for a in alerts["alerts"] if a["kind"] == "stale"]
        assert len(stale) == 1 and stale[0]["details"]["age_seconds"] > 600  # ... yet it was said once
        lines = [json.loads(x) for x in (data / "forecast" / "alerts.jsonl").read_text().splitlines()]
        assert [(a["kind"], a["stream_id"]) for a in lines] == [(a["kind"], a["stream_id"]) for a in alerts["alerts"]]
    finally:
        await ctx.aclose()
        await sim.stop()
    assert ctx.forecasts is None and not ctl.running

    # another process's view: the files the controller left in the data directory
    other = build_server(data, "forecast")
    async with Client(other) as client:
        st = await call(client, "get_stream_forecast", symbol="BTCUSDT", venue="binance_usdm")
        al = await call(client, "get_streaming_alerts", kinds=["drift", "retrain"], stream_id="btc")
        msg = await fails(client, "get_streaming_alerts", stream_id="eth")
    assert st["source"] == "state_file" and not st["controller_running"] and st["retrains"] >= 1
    assert st["forecast"]["model"] == "Naive" and st["drift_severity"] == "HIGH"
    assert al["source"] == "alert_file" and {a["kind"] for a in al["alerts"]} == {"drift", "retrain"}
    assert "stream_id='eth' is not a live stream" in msg and "btc" in msg


async def until(client: Client, tool: str, ok: Any, timeout: float = 20.0, **args: Any) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        r = await client.call_tool(tool, args)
        if not r.is_error and ok(r.structured_content):
            return r.structured_content
        if loop.time() > deadline:
            raise AssertionError(f"{tool} never satisfied the condition: {r.content[0].text[:400]}")
        await asyncio.sleep(0.2)


def test_streaming_config_is_checked():
    assert isinstance(load_streaming_config(None), StreamingConfig)
    for bad, words in [({"forecast_every": 5}, ["forecast_every", "accepted: forecast_interval_seconds"]),
                       ({"streams": [{**B, "target": "open_interest", "market": "spot"}]}, ["only for perps"]),
                       ({"streams": [{**B, "model": "XGBoost"}]}, ["cryptoflow[ml]"]),
                       ({"streams": [{**B}, {**B}]}, ["listed twice"])]:
        with pytest.raises(ConfigError) as e:
            load_streaming_config(None, **bad)
        assert all(w in str(e.value) for w in words), str(e.value)
