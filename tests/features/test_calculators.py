"""Every built-in calculator (and the example plugin) on a small synthetic lake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cryptoflow.features import CalcContext, CalculatorError, CalculatorRegistry

EXAMPLE_DIR = Path(__file__).parent / "plugin_example"
S = 1_000_000_000

CALLS = {
    "order_flow_imbalance": {"lookback_s": 7200},
    "liquidation_cascade": {"lookback_s": 7200},
    "funding_arbitrage": {"lookback_s": 7200},
    "volatility_regime": {"lookback_s": 7200, "bar_s": 30.0},
    "price_forecast": {"lookback_s": 7200, "interval_s": 30.0, "horizon": 5},
    "anomaly_detection": {"lookback_s": 7200, "interval_s": 10.0},
    "change_point_detection": {"series": "open_interest", "lookback_s": 7200, "method": "all"},
    "feature_extraction": {"lookback_s": 7200, "interval_s": 10.0, "groups": "statistical,complexity"},
    "regime_detection": {"lookback_s": 7200, "bar_s": 30.0},
    "seasonality_analysis": {"series": "trade_count", "lookback_s": 7200, "interval_s": 30.0},
    "funding_forecast": {"lookback_s": 7200, "interval_s": 60.0, "horizon": 5},
    "vwap_distance": {"lookback_s": 7200},
}


@pytest.fixture(scope="module")
def registry():
    return CalculatorRegistry().discover([EXAMPLE_DIR], env=False, entry_points=False)


def test_every_calculator_is_exercised(registry):
    assert set(CALLS) == set(registry.names())


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_calculator_runs_and_explains_itself(registry, small_lake, name):
    lake, _ = small_lake
    res = await registry.calculate(name, CalcContext(lake=lake), CALLS[name])
    out = res.to_dict()
    json.dumps(out)
    assert out["calculator"] == name and out["values"]
    assert out["parameters"]["symbol"] == "BTCUSDT" and out["elapsed_ms"] >= 0
    assert out["metrics"], "every calculator carries its explained metrics"
    for m in out["metrics"].values():
        assert m["formula"] and "inputs" in m
    for s in out["signals"]:
        assert s["direction"] in ("bullish", "bearish", "neutral", "alert", "info") and 0 <= s["strength"] <= 1


async def test_known_answers_through_calculators(registry, small_lake):
    lake, facts = small_lake
    ctx = CalcContext(lake=lake)
    casc = await registry.calculate("liquidation_cascade", ctx, CALLS["liquidation_cascade"])
    assert casc.values["cascades"] == 1 and casc.values["latest"]["start_ns"] == facts["cascade_start_ns"]
    assert casc.signals[0].direction == "alert"
    arb = await registry.calculate("funding_arbitrage", ctx, CALLS["funding_arbitrage"])
    assert (arb.values["short_venue"], arb.values["long_venue"]) == ("okx", "binance_usdm")
    fc = await registry.calculate("price_forecast", ctx, CALLS["price_forecast"])
    # a random-walk price: AutoETS must not be claimed better than naive without a significant backtest
    assert fc.values["model"] in ("naive", "auto_ets") and len(fc.values["forecast"]) == 5
    if fc.values["model"] == "auto_ets":
        assert fc.values["rmae"] < 1
    assert set(fc.values["coverage"]) == {"80%", "95%"}


async def test_calculator_errors_are_clear(registry, small_lake):
    lake, _ = small_lake
    with pytest.raises(CalculatorError, match="must be one of"):
        await registry.calculate("anomaly_detection", CalcContext(lake=lake), {"series": "vibes"})
    with pytest.raises(CalculatorError, match="unknown group"):
        await registry.calculate("feature_extraction", CalcContext(lake=lake), {"groups": "astrology"})


async def test_calculators_as_mcp_tools_through_the_client(registry, small_lake):
    """What the analytics toolset will do: one ``calculate_<name>`` tool per calculator."""
    from mcp import Client
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    from cryptoflow.features import tool_function

    lake, _ = small_lake
    server = MCPServer("calculators-test")
    for name in ("vwap_distance", "liquidation_cascade"):
        server.add_tool(tool_function(registry.get(name), lambda: CalcContext(lake=lake), lambda e: ToolError(str(e))))
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == {"calculate_vwap_distance", "calculate_liquidation_cascade"}
        props = tools["calculate_vwap_distance"].input_schema["properties"]
        assert props["stretch_bps"]["default"] == 50.0 and "venue" in props
        ok = await client.call_tool("calculate_liquidation_cascade", {"lookback_s": 7200})
        assert not ok.is_error and ok.structured_content["values"]["cascades"] == 1
        bad = await client.call_tool("calculate_vwap_distance", {"symbol": "ETHUSDT"})
        assert bad.is_error and "no trades stored" in bad.content[0].text
