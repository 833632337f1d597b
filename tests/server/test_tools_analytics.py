"""The analytics toolset through the MCP client, on a store the simulator filled with known answers.

The store (built once for this module): binance_usdm, okx and hyperliquid perps plus binance_spot
quote BTCUSDT at the simulator's full event rate; the simulator's venue specs make binance_usdm
lead (lag 0) with okx 120 ms and hyperliquid 500 ms behind. After ~8 s of normal trading the fair
price jumps -300 bps, which sets off a liquidation cascade (longs liquidated). Tool values are
checked against those planted facts and against the stored rows themselves (SQL).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from cryptoflow.analytics.explain import iso
from cryptoflow.server import build_server
from cryptoflow.server.tools_analytics import register_calculators
from cryptoflow.sim.model_specs import DEFAULT_VENUE_SPECS
from cryptoflow.store import Lake

from ..simrun import sim_and_collector, wait_for
from .conftest import call, fails, no_env

SYM = "BTCUSDT"
VENUES = ["binance_usdm", "okx", "hyperliquid", "binance_spot"]
JUMP_BPS = -300.0
PLUGIN_EXAMPLE = Path(__file__).parents[1] / "features" / "plugin_example"
ANALYTICS_TOOLS = {"analyze_order_flow", "analyze_leverage", "analyze_cross_exchange", "detect_market_regime",
                   "compute_alpha_signals", "detect_anomalies", "detect_change_points", "analyze_seasonality",
                   "extract_features", "liquidation_heatmap", "list_feature_calculators", "run_feature_calculator"}
BUILTINS = {"anomaly_detection", "change_point_detection", "feature_extraction", "funding_arbitrage",
            "funding_forecast", "liquidation_cascade", "order_flow_imbalance", "price_forecast", "regime_detection",
            "seasonality_analysis", "volatility_regime"}


@dataclass
class JumpStore:
    data_dir: Path
    jump_ns: int

    def sql(self, query: str, params: list[Any] | None = None) -> list[tuple]:
        with Lake.open(self.data_dir, read_only=True) as lake:
            return lake.cursor().execute(query, params or []).fetchall()


async def _fill(data_dir: Path) -> JumpStore:
    async with sim_and_collector(data_dir, venues=VENUES, symbols=[SYM], rate=8.0, oi_poll_interval_s=1.0,
                                 seed=5) as run:
        rt = run.rt
        await wait_for(lambda: all(v["books_valid"] == v["books"] > 0
                                   for v in rt.collector.health_report()["venues"].values()), timeout=30)
        await asyncio.sleep(8.0)
        run.sim.market.plant_jump(SYM, JUMP_BPS)
        await asyncio.sleep(6.0)
        jump = next(j for j in run.sim.market.price_jumps if j.size_bps == JUMP_BPS)
    return JumpStore(data_dir, jump.ts)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> JumpStore:
    return asyncio.run(_fill(tmp_path_factory.mktemp("analytics") / "data"))


def _server(data_dir: Path, calculators: bool = True) -> Any:
    srv = build_server(data_dir, "analytics")
    if calculators:  # the calculators toolset (off by default): one calculate_<name> per calculator
        register_calculators(srv, srv.cryptoflow_context)
    srv.cryptoflow_context.keep_open = True
    return srv


@pytest.fixture(scope="module")
def server(store: JumpStore) -> Iterator[Any]:
    with no_env("CRYPTOFLOW_PLUGIN_DIR"):
        srv = _server(store.data_dir, calculators=False)
    yield srv
    asyncio.run(srv.cryptoflow_context.aclose())


def _ns(text: str) -> int:
    """ISO 8601 (what the tools return) -> int ns, to the millisecond."""
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000) * 1_000_000


# ---- values -------------------------------------------------------------------------------------------
async def test_lead_lag_names_binance_leading_with_the_configured_lags(server, store):
    async with Client(server) as client:  # before the jump: lags measured on ordinary requotes
        out = await call(client, "analyze_cross_exchange", symbol=SYM, end=iso(store.jump_ns), lookback="1m",
                         step_ms=20, response_format="detailed")
    ll = out["metrics"]["lead_lag"]
    assert ll["value"] == "binance_usdm" and "binance_usdm leads" in ll["reading"]
    pairs = {(p["leader"], p["follower"]): p for p in ll["details"]["pairs"]}
    for follower in ("okx", "hyperliquid"):
        p = pairs[("binance_usdm", follower)]
        assert p["lag_ms"] == pytest.approx(DEFAULT_VENUE_SPECS[follower].lag_ms, abs=40), p
        assert p["strength"] > 0.4
    assert set(out["venues"]) == {"binance_usdm", "okx", "hyperliquid"} and out["market"] == "perp"
    basis = out["metrics"]["basis"]  # perp vs spot: binance_spot is the only spot book
    assert basis["inputs"]["spot_venue"] == "binance_spot" and basis["inputs"]["perp_venue"] == "binance_usdm"
    assert ll["formula"].startswith("rho(k) = corr") and out["window"]["end"] <= iso(store.jump_ns + 50_000_000)


async def test_order_flow_cvd_and_vwap_match_the_stored_trades(server, store):
    async with Client(server) as client:
        out = await call(client, "analyze_order_flow", symbol=SYM, venue="binance_usdm", bucket_s=1,
                         response_format="detailed")
        concise = await call(client, "analyze_order_flow", symbol=SYM, venue="binance_usdm", bucket_s=1)
    n, net, vol, notional = store.sql(
        "SELECT count(*), sum(CASE side WHEN 'buy' THEN qty ELSE -qty END), sum(qty), sum(price * qty) "
        "FROM lake.trades WHERE venue = 'binance_usdm' AND market = 'perp' AND symbol = ?", [SYM])[0]
    m = out["metrics"]
    assert out["window"]["observations"] == n
    assert m["cvd"]["value"] == pytest.approx(net, rel=1e-9) and (m["cvd"]["value"] > 0) == (net > 0)
    assert m["cvd"]["reading"] == ("net buying" if net > 0 else "net selling")
    assert m["vwap"]["value"] == pytest.approx(notional / vol, rel=1e-9)
    longest = list(m["trade_imbalance"]["value"].values())[-1]
    assert longest == pytest.approx(net / vol, abs=1e-3)
    series = m["cvd"]["details"]
    assert len(series["cvd"]) == len(series["bucket_start"]) > 10 and series["bucket_start"][0].endswith("Z")
    assert series["cvd"][-1] == pytest.approx(net, rel=1e-9)
    # concise keeps the most recent 10 points of each series and says so
    cs = concise["metrics"]["cvd"]["details"]
    assert cs["cvd"] == series["cvd"][-10:] and any(t.startswith("cvd.details.cvd: most recent 10") for t in
                                                     concise["trimmed"])


async def test_leverage_and_heatmap_find_the_planted_cascade(server, store):
    async with Client(server) as client:
        lev = await call(client, "analyze_leverage", symbol=SYM, step_s=1, response_format="detailed")
        heat = await call(client, "liquidation_heatmap", symbol=SYM)
    cascades = lev["metrics"]["liquidation_cascades"]["details"]["cascades"]
    assert lev["metrics"]["liquidation_cascades"]["value"] >= 1
    c = max(cascades, key=lambda c: c["notional"])
    assert -1e9 <= _ns(c["start"]) - store.jump_ns <= 3e9, (c, iso(store.jump_ns))  # the cascade starts with the jump
    assert c["side"] == "longs liquidated" and c["events"] >= 5
    assert lev["metrics"]["long_short_skew"]["value"] > 0  # a crash flushes longs
    assert {"funding_stress", "oi_flow"} <= lev["metrics"].keys()
    (total,) = store.sql("SELECT sum(notional) FROM lake.liquidations WHERE symbol = ?", [SYM])[0]
    buckets = heat["metrics"]["liquidation_heatmap"]["value"]
    assert sum(b["long_notional"] + b["short_notional"] for b in buckets) == pytest.approx(total, rel=1e-9)
    (pre_jump,) = store.sql("SELECT arg_max(price, ts_ns) FROM lake.trades WHERE venue = 'binance_usdm' "
                            "AND symbol = ? AND ts_ns < ?", [SYM, store.jump_ns])[0]
    heaviest = max(buckets, key=lambda b: b["long_notional"] + b["short_notional"])
    assert heaviest["price_high"] < pre_jump * (1 + JUMP_BPS / 1e4 * 0.6)  # forced selling below the old price
    assert heat["venues"] == ["all"] and "heaviest bucket" in heat["metrics"]["liquidation_heatmap"]["reading"]


async def test_change_points_and_anomalies_locate_the_jump(server, store):
    async with Client(server) as client:
        cp = await call(client, "detect_change_points", symbol=SYM, venue="binance_usdm", lookback="1m",
                        interval_s=0.2)
        an = await call(client, "detect_anomalies", symbol=SYM, venue="binance_usdm", lookback="1m", interval_s=0.5)
    big = min(cp["metrics"]["change_points"]["details"]["points"], key=lambda p: p["shift"])
    assert abs(_ns(big["ts"]) - store.jump_ns) <= 1e9 and big["shift_sigmas"] < -10
    assert big["shift"] / big["mean_before"] * 1e4 == pytest.approx(JUMP_BPS, rel=0.3)
    pts = an["metrics"]["anomalies"]["details"]["points"]
    hit = [p for p in pts if abs(_ns(p["ts"]) - store.jump_ns) <= 1e9]
    assert hit and hit[0]["value"] < -0.01 and hit[0]["votes"] >= 2  # a -3 % return
    assert an["inputs"]["on_returns"] is True


async def test_regime_alpha_seasonality_features(server, store):
    async with Client(server) as client:
        reg = await call(client, "detect_market_regime", symbol=SYM, venue="binance_usdm", lookback="1m", bar_s=0.5,
                         window=5, response_format="detailed")
        alpha = await call(client, "compute_alpha_signals", symbol=SYM, venue="binance_usdm", bucket_s=1)
        seas = await call(client, "analyze_seasonality", symbol=SYM, venue="binance_usdm", series="trade_count",
                          lookback="1m", interval_s=0.5)
        feat = await call(client, "extract_features", symbol=SYM, venue="binance_usdm", lookback="1m", interval_s=0.5,
                          groups=["statistical", "trend"])
    d = reg["metrics"]["market_regime"]["details"]
    assert reg["metrics"]["market_regime"]["value"] in d["regime_shares"]
    assert d["regime_shares"].get("BREAKDOWN", 0) > 0  # the jump bar breaks down through the recent lows
    assert all(sum(row.values()) == pytest.approx(1, abs=1e-3) for row in d["transition_matrix"].values())
    comp = alpha["metrics"]["composite"]
    assert -1 <= comp["value"] <= 1
    assert comp["value"] == pytest.approx(sum(comp["details"]["contributions"].values()), abs=2e-3)
    assert comp["value"] < 0  # after a crash with longs liquidated
    fft = seas["metrics"]["fft_periods"]
    assert fft["value"] is None or 1.0 <= fft["value"] <= 60 / 3  # >= 2 buckets, fits >= 3 times
    rows = store.sql("SELECT arg_max(price, ts_ns) FROM lake.trades WHERE venue = 'binance_usdm' AND symbol = ? "
                     "GROUP BY ts_ns // 500000000 ORDER BY ts_ns // 500000000", [SYM])
    st = feat["metrics"]["features"]["details"]
    assert st["statistical"]["count"] == len(rows) and set(st) == {"statistical", "trend"}
    assert st["statistical"]["mean"] == pytest.approx(sum(r[0] for r in rows) / len(rows), rel=1e-9)
    assert st["trend"]["net_change"] == pytest.approx(rows[-1][0] - rows[0][0], rel=1e-9)


# ---- calculators and plugins --------------------------------------------------------------------------
async def test_calculators_listed_and_run_by_name(server, store):
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        listing = await call(client, "list_feature_calculators")
        out = await call(client, "run_feature_calculator", name="liquidation_cascade",
                         params={"symbol": SYM, "lookback_s": 600})
    assert set(tools) == ANALYTICS_TOOLS  # calculate_* tools belong to the calculators toolset
    assert all(t.output_schema and t.annotations.read_only_hint for t in tools.values())
    assert set(tools["run_feature_calculator"].input_schema["properties"]["name"]["enum"]) == BUILTINS
    calcs = {c["name"]: c for c in listing["calculators"]}
    assert set(calcs) == BUILTINS and listing["errors"] == []
    assert all(c["tool"] is None and c["source"] == "builtin" for c in calcs.values())
    casc = {p["name"]: p for p in calcs["liquidation_cascade"]["parameters"]}
    assert casc["min_events"]["type"] == "integer" and casc["symbol"]["default"] == "BTCUSDT"
    assert out["values"]["cascades"] >= 1 and out["signals"][0]["direction"] == "alert"
    assert out["parameters"]["lookback_s"] == 600 and out["parameters"]["min_events"] == 5


async def test_plugin_dir_calculator_becomes_a_tool_and_broken_plugins_are_reported(store, tmp_path, monkeypatch):
    broken = tmp_path / "plugins"
    broken.mkdir()
    (broken / "syntax_error.py").write_text("def oops(:\n")
    (broken / "missing_import.py").write_text("import not_a_module_xyz  # noqa\n")
    (broken / "odd_param.py").write_text(  # loads, but its parameter cannot become a tool argument
        "from cryptoflow.features import CalculatorResult, FeatureCalculator, Param\n\n"
        "class Odd(FeatureCalculator):\n    name = 'odd_param'\n    description = 'odd'\n"
        "    parameters = (Param('model_config', int, 1, 'x'),)\n\n"
        "    async def calculate(self, ctx, **p):\n        return CalculatorResult(calculator=self.name, values=p)\n")
    monkeypatch.setenv("CRYPTOFLOW_PLUGIN_DIR", os.pathsep.join([str(PLUGIN_EXAMPLE), str(broken)]))
    srv = _server(store.data_dir)
    try:
        async with Client(srv) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            listing = await call(client, "list_feature_calculators")
            text = (await client.call_tool("list_feature_calculators", {})).content[0].text
            out = await call(client, "calculate_vwap_distance", symbol=SYM, venue="binance_usdm", stretch_bps=10)
            same = await call(client, "run_feature_calculator", name="vwap_distance",
                              params={"symbol": SYM, "venue": "binance_usdm", "stretch_bps": 10})
    finally:
        await srv.cryptoflow_context.aclose()
    assert {f"calculate_{n}" for n in BUILTINS | {"vwap_distance"}} <= set(tools)
    assert "calculate_odd_param" not in tools and len(tools) == len(ANALYTICS_TOOLS) + len(BUILTINS) + 1
    schema = tools["calculate_vwap_distance"].input_schema["properties"]
    assert schema["stretch_bps"]["minimum"] == 0 and "binance_usdm" in schema["venue"]["enum"]
    calcs = {c["name"]: c for c in listing["calculators"]}
    assert calcs["vwap_distance"]["source"] == "directory"
    assert calcs["vwap_distance"]["tool"] == "calculate_vwap_distance"
    assert calcs["odd_param"]["tool"] is None
    errors = {Path(e["origin"]).name: e["error"] for e in listing["errors"]}
    assert errors["syntax_error.py"].startswith("SyntaxError") and "syntax_error.py:1" in errors["syntax_error.py"]
    assert errors["missing_import.py"].startswith("ModuleNotFoundError") and "not_a_module_xyz" in errors[
        "missing_import.py"]
    assert "calculate_odd_param" in errors and "TypeError" in errors["calculate_odd_param"]
    assert text.startswith(f"{len(BUILTINS) + 2} calculators: ") and "3 plugin(s) failed to load" in text
    (vol, notional) = store.sql("SELECT sum(qty), sum(price * qty) FROM lake.trades WHERE venue = 'binance_usdm' "
                                "AND market = 'perp' AND symbol = ?", [SYM])[0]
    assert out["values"]["vwap"] == pytest.approx(notional / vol, rel=1e-9)
    assert out["values"]["stretched"] == (abs(out["values"]["deviation_bps"]) >= 10)
    assert same["values"] == out["values"] and out["signals"][0]["name"] == "vwap_stretch"


# ---- bad arguments ------------------------------------------------------------------------------------
OF = {"symbol": SYM, "venue": "binance_usdm"}
CASES: list[tuple[str, dict, list[str]]] = [
    ("analyze_order_flow", {"symbol": "NOPE", "venue": "okx"}, ["unknown symbol NOPEUSDT", "BTCUSDT", "list_markets"]),
    ("analyze_order_flow", {**OF, "venue": "binance_spot"}, ["venue", "no perp trade", "venues with perp trade"]),
    ("analyze_order_flow", {**OF, "lookback": "forever"}, ["lookback='forever' is not a duration", "15m"]),
    ("analyze_order_flow", {**OF, "lookback": "60d"}, ["lookback", "at most 30d", "start/end"]),
    ("analyze_order_flow", {**OF, "start": "1h", "end": "2h"}, ["start", "must be before end"]),
    ("analyze_order_flow", {**OF, "whale_percentile": 100}, ["whale_percentile", "less than or equal to 99.99"]),
    ("analyze_order_flow", {**OF, "start": "2001-01-01T00:00:00Z", "end": "2001-01-02T00:00:00Z"},
     ["no trades for binance_usdm perp BTCUSDT in the window", "Stored trade data for BTCUSDT spans"]),
    ("analyze_leverage", {"symbol": SYM, "venues": ["binance_spot"]}, ["venues", "no perp funding", "okx"]),
    ("analyze_leverage", {"symbol": SYM, "step_s": 1, "lookback": "30d"}, ["step_s=1", "at most 200,000",
                                                                          "raise step_s"]),
    ("analyze_leverage", {"symbol": SYM, "cascade_min_events": 1}, ["cascade_min_events",
                                                                    "greater than or equal to 2"]),
    ("analyze_cross_exchange", {"symbol": SYM, "venues": ["okx"]}, ["venues", "at least 2"]),
    ("analyze_cross_exchange", {"symbol": SYM, "step_ms": 100, "max_lag_ms": 50}, ["max_lag_ms=50",
                                                                                   "at least step_ms=100"]),
    ("analyze_cross_exchange", {"symbol": SYM, "venues": ["okx", "bybit"]},
     ["venues", "needs stored perp quotes of BTCUSDT from 2 venues", "of okx, bybit only okx", "list_markets"]),
    ("detect_market_regime", {**OF, "window": 2}, ["window", "greater than or equal to 5"]),
    ("detect_market_regime", {**OF, "lookback": "3s", "bar_s": 1}, ["bars of 1s in the window", "widen the lookback",
                                                                    "Stored trade data"]),
    ("compute_alpha_signals", {**OF, "venue": "hyperliquid", "market": "spot"}, ["venue", "no spot trade"]),
    ("compute_alpha_signals", {**OF, "bucket_s": 0}, ["bucket_s", "greater than or equal to 1"]),
    ("liquidation_heatmap", {"symbol": SYM, "venues": ["hyperliquid"]}, ["hyperliquid offer no perp liquidation",
                                                                         "venues with perp liquidation"]),
    ("liquidation_heatmap", {"symbol": SYM, "buckets": 1}, ["buckets", "greater than or equal to 2"]),
    ("detect_anomalies", {**OF, "methods": ["zscore"]}, ["min_votes=2 exceeds the 1 method(s)", "lower min_votes"]),
    ("detect_anomalies", {**OF, "methods": ["lof"]}, ["methods", "'isolation_forest'"]),
    ("detect_change_points", {**OF, "method": "magic"}, ["method", "'pelt'", "'binseg'"]),
    ("detect_change_points", {**OF, "series": "funding", "market": "spot", "venue": "binance_spot"},
     ["series='funding' exists for perps only", "market='perp'"]),
    ("detect_change_points", {**OF, "interval_s": 0.1}, ["interval_s=0.1 over 86400s", "raise interval_s to >= 0.432"]),
    ("analyze_seasonality", {**OF, "interval_s": 1, "period_s": 1.5}, ["period_s=1.5", "at least 2 x interval_s"]),
    ("analyze_seasonality", {**OF, "series": "tides"}, ["series", "'spread_bps'"]),
    ("extract_features", {**OF, "groups": ["fancy"]}, ["groups", "'statistical'"]),
    ("extract_features", {**OF, "series": "spread_bps", "venue": "hyperliquid", "lookback": "1m", "interval_s": 5},
     ["only", "5s points of spread_bps", "need 10", "Stored bbo data for BTCUSDT spans"]),
    ("run_feature_calculator", {"name": "nope"}, ["name", "'liquidation_cascade'"]),
    ("run_feature_calculator", {"name": "liquidation_cascade", "params": {"foo": 1}},
     ["params: liquidation_cascade: unknown parameter(s) ['foo']", "min_events", "list_feature_calculators"]),
    ("run_feature_calculator", {"name": "liquidation_cascade", "params": {"lookback_s": "1h"}},
     ["parameter lookback_s must be number"]),
    ("calculate_liquidation_cascade", {"min_events": 1}, ["min_events", "greater than or equal to 2"]),
    ("calculate_liquidation_cascade", {"venues": "ftx"}, ["unknown venue(s) ['ftx']", "binance_usdm"]),
    ("calculate_order_flow_imbalance", {"symbol": "NOPE"}, ["no trades stored for binance_usdm perp NOPEUSDT"]),
    ("calculate_order_flow_imbalance", {"symbol": "BTC/USDT!"}, ["symbol", "BTCUSDT", "list_markets"]),
]
NO_ARGUMENTS = {"list_feature_calculators"}  # nothing to get wrong (unknown arguments are ignored)


@pytest.fixture(scope="module")
def calc_server(store: JumpStore) -> Iterator[Any]:
    with no_env("CRYPTOFLOW_PLUGIN_DIR"):
        srv = _server(store.data_dir)
    yield srv
    asyncio.run(srv.cryptoflow_context.aclose())


def test_every_analytics_tool_has_a_bad_argument_case():
    assert {c[0] for c in CASES} | NO_ARGUMENTS >= ANALYTICS_TOOLS


@pytest.mark.parametrize(("tool", "args", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
async def test_bad_argument_message(calc_server, tool, args, expected):
    async with Client(calc_server) as client:
        msg = await fails(client, tool, **args)
    missing = [e for e in expected if e not in msg]
    assert not missing, f"{tool}: {missing} not in: {msg}"
