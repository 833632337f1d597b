"""Plugin feature calculators: a ``FeatureCalculator`` in a file becomes an MCP tool ``calculate_<name>``.

Where calculators come from (see ``registry``): the built-ins in ``features/calculators/``, a
user plugin directory (``$CRYPTOFLOW_PLUGIN_DIR``), and installed packages' entry points in the
group ``cryptoflow.features``. A plugin that fails to load is listed with its error and skipped.

    registry = default_registry()                 # discover everything
    registry.listing()                            # for list_feature_calculators
    calc = registry.get("order_flow_imbalance")
    calc.signature(), calc.input_schema()         # for the MCP tool's input schema
    result = await registry.calculate("order_flow_imbalance", CalcContext(lake), {"symbol": "BTCUSDT"})
    result.to_dict()
    server.add_tool(tool_function(calc, lambda: CalcContext(lake), lambda e: ToolError(str(e))))
"""

from __future__ import annotations

from cryptoflow.features.base import (
    MARKET,
    REQUIRED,
    SYMBOL,
    VENUE,
    CalcContext,
    CalculatorError,
    CalculatorResult,
    FeatureCalculator,
    Param,
    Signal,
    lookback,
)
from cryptoflow.features.registry import (
    ENTRY_POINT_GROUP,
    PLUGIN_DIR_ENV,
    CalculatorRegistry,
    PluginError,
    default_registry,
    tool_function,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "MARKET",
    "PLUGIN_DIR_ENV",
    "REQUIRED",
    "SYMBOL",
    "VENUE",
    "CalcContext",
    "CalculatorError",
    "CalculatorRegistry",
    "CalculatorResult",
    "FeatureCalculator",
    "Param",
    "PluginError",
    "Signal",
    "default_registry",
    "lookback",
    "tool_function",
]
