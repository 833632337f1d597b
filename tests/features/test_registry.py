"""Discovery of calculators: built-ins, a plugin directory (with broken plugins), entry points."""

from __future__ import annotations

import importlib.metadata
import json
import textwrap
from pathlib import Path

import pytest

from cryptoflow.features import (
    PLUGIN_DIR_ENV,
    CalcContext,
    CalculatorError,
    CalculatorRegistry,
    FeatureCalculator,
    Param,
    default_registry,
)

EXAMPLE_DIR = Path(__file__).parent / "plugin_example"
BUILTINS = {"order_flow_imbalance", "liquidation_cascade", "funding_arbitrage", "volatility_regime", "price_forecast",
            "anomaly_detection", "change_point_detection", "feature_extraction", "regime_detection",
            "seasonality_analysis", "funding_forecast"}

BROKEN = {
    "syntax_error.py": "class Oops(:\n",
    "import_error.py": "import cryptoflow_module_that_does_not_exist\n",
    "bad_name.py": """
        from cryptoflow.features import CalcContext, CalculatorResult, FeatureCalculator
        class BadName(FeatureCalculator):
            name = "Bad Name!"
            description = "invalid name"
            async def calculate(self, ctx: CalcContext, **p) -> CalculatorResult: ...
    """,
    "bad_default.py": """
        from cryptoflow.features import CalcContext, CalculatorResult, FeatureCalculator, Param
        class BadDefault(FeatureCalculator):
            name = "bad_default"
            description = "a default outside its own bounds"
            parameters = (Param("n", int, 500, "n", le=10),)
            async def calculate(self, ctx: CalcContext, **p) -> CalculatorResult: ...
    """,
    "nothing_here.py": "X = 1\n",
    "_private_helper.py": "raise RuntimeError('helpers starting with _ are not loaded')\n",
}


def write_broken(d: Path) -> None:
    for name, body in BROKEN.items():
        (d / name).write_text(textwrap.dedent(body))


def test_builtins_are_the_original_eleven():
    reg = CalculatorRegistry().discover(env=False, entry_points=False)
    assert set(reg.names()) == BUILTINS
    assert reg.errors == []
    for name in BUILTINS:
        calc = reg.get(name)
        schema = calc.input_schema()
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert all(p.name in schema["properties"] for p in calc.parameters)


def test_example_plugin_loads_from_a_directory_and_broken_ones_are_reported(tmp_path):
    write_broken(tmp_path)
    reg = CalculatorRegistry().discover([EXAMPLE_DIR, tmp_path], env=False, entry_points=False)
    assert "vwap_distance" in reg and set(reg.names()) == BUILTINS | {"vwap_distance"}
    listing = reg.listing()
    entry = next(c for c in listing["calculators"] if c["name"] == "vwap_distance")
    assert entry["tool"] == "calculate_vwap_distance" and entry["source"] == "directory"
    assert [p["name"] for p in entry["parameters"]] == ["venue", "symbol", "market", "lookback_s", "stretch_bps"]
    errors = {Path(e["origin"]).name: e["error"] for e in listing["errors"]}
    assert set(errors) == {"syntax_error.py", "import_error.py", "bad_name.py", "bad_default.py", "nothing_here.py"}
    assert errors["syntax_error.py"].startswith("SyntaxError") and "syntax_error.py:1" in errors["syntax_error.py"]
    assert errors["import_error.py"].startswith("ModuleNotFoundError")
    assert "name must match" in errors["bad_name.py"]
    assert "must be <= 10" in errors["bad_default.py"]
    assert "no FeatureCalculator subclass" in errors["nothing_here.py"]
    json.dumps(listing)


def test_plugin_dir_from_environment_and_missing_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(PLUGIN_DIR_ENV, f"{EXAMPLE_DIR}:{tmp_path / 'missing'}")
    reg = default_registry()
    assert "vwap_distance" in reg
    assert any("does not exist" in e.error for e in reg.errors)


def test_duplicate_names_keep_the_first(tmp_path):
    (tmp_path / "dup.py").write_text((EXAMPLE_DIR / "vwap_distance.py").read_text())
    reg = CalculatorRegistry().discover([EXAMPLE_DIR, tmp_path], builtins=False, env=False, entry_points=False)
    assert reg.names() == ["vwap_distance"]
    assert "already registered" in reg.errors[0].error


class _Fake(importlib.metadata.EntryPoint):
    pass


def test_entry_points_load_and_report(tmp_path, monkeypatch):
    mod = tmp_path / "cf_ep_plugin.py"
    mod.write_text(textwrap.dedent("""
        from cryptoflow.features import CalcContext, CalculatorResult, FeatureCalculator
        class Echo(FeatureCalculator):
            name = "echo"
            description = "returns nothing, from an entry point"
            async def calculate(self, ctx: CalcContext, **p) -> CalculatorResult:
                return CalculatorResult(calculator=self.name, values={"ok": True})
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [importlib.metadata.EntryPoint("echo", "cf_ep_plugin:Echo", "cryptoflow.features"),
           importlib.metadata.EntryPoint("gone", "cf_no_such_module:X", "cryptoflow.features"),
           importlib.metadata.EntryPoint("mod", "cf_ep_plugin", "cryptoflow.features")]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: eps if group else {})
    reg = CalculatorRegistry().discover(builtins=False, env=False)
    assert reg.names() == ["echo"]
    errs = [e.to_dict() for e in reg.errors]
    assert errs[0]["source"] == "entry_point" and errs[0]["origin"] == "gone = cf_no_such_module:X"
    assert "already registered" in errs[1]["error"]  # the module entry point finds Echo again


async def test_parameters_are_validated_before_running():
    reg = CalculatorRegistry().discover([EXAMPLE_DIR], builtins=False, env=False, entry_points=False)
    ctx = CalcContext(lake=None)
    with pytest.raises(CalculatorError, match="unknown parameter"):
        await reg.calculate("vwap_distance", ctx, {"sybmol": "BTCUSDT"})
    with pytest.raises(CalculatorError, match="must be one of"):
        await reg.calculate("vwap_distance", ctx, {"venue": "nasdaq"})
    with pytest.raises(CalculatorError, match=">= 1"):
        await reg.calculate("vwap_distance", ctx, {"lookback_s": 0})
    with pytest.raises(CalculatorError, match="must be number"):
        await reg.calculate("vwap_distance", ctx, {"stretch_bps": "wide"})
    with pytest.raises(CalculatorError, match="no lake is open"):
        await reg.calculate("vwap_distance", ctx, {})
    with pytest.raises(CalculatorError, match="no calculator 'nope'"):
        await reg.calculate("nope", ctx, {})


async def test_unexpected_errors_become_calculator_errors():
    class Boom(FeatureCalculator):
        name = "boom"
        description = "always fails"
        parameters = (Param("x", int, 1, "x"),)

        async def calculate(self, ctx, **p):
            raise ZeroDivisionError("division by zero")

    reg = CalculatorRegistry()
    assert reg.register(Boom)
    with pytest.raises(CalculatorError, match="calculator boom failed: ZeroDivisionError"):
        await reg.calculate("boom", CalcContext(lake=None), {})


def test_signature_gives_the_mcp_sdk_an_input_schema():
    from mcp.server.mcpserver.utilities.func_metadata import func_metadata

    reg = CalculatorRegistry().discover([EXAMPLE_DIR], builtins=False, env=False, entry_points=False)
    calc = reg.get("vwap_distance")

    async def tool(**kwargs):
        return (await calc.run(CalcContext(lake=None), kwargs)).to_dict()

    tool.__signature__ = calc.signature()
    schema = func_metadata(tool).arg_model.model_json_schema()
    props = schema["properties"]
    assert props["venue"]["enum"][0] == "binance_usdm" and props["venue"]["default"] == "binance_usdm"
    assert props["stretch_bps"]["type"] == "number" and props["stretch_bps"]["minimum"] == 0.0
    assert props["lookback_s"]["description"].startswith("window length")
    assert schema.get("required", []) == []
