"""Structured outputs of the analytics toolset, and how analytics results become them.

Every analytics answer is an explained report (``analytics.explain``): metrics, each with its value,
one-line formula, inputs and window. These models carry that envelope unchanged in meaning, with
two adjustments made here so every tool behaves the same:

- times: ``*_ns`` epoch integers inside ``details`` become ISO 8601 strings (key without ``_ns``),
  as the server instructions promise;
- size: in the ``concise`` format long lists in ``details`` keep their most recent ``CONCISE_ITEMS``
  entries and large tables (e.g. a cross-correlation per lag) are left out; ``trimmed`` names what
  was shortened, and ``response_format="detailed"`` returns everything (already bounded by the
  analytics layer to ``MAX_SERIES_POINTS`` per series).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from cryptoflow.server.models import Out, Scalar

#: A metric's headline value: a number or label, or a small table of them (JSON Schema says which).
Value = Scalar | list[Scalar | dict[str, Any]] | dict[str, Any]

#: In the concise format: entries kept of a long list (the most recent), keys allowed in one table.
CONCISE_ITEMS = 10
CONCISE_KEYS = 24
_NS_MIN, _NS_MAX = 10**18, 10**19  # epoch ns of 2001 .. 2286: what counts as a timestamp


class WindowOut(Out):
    start: str | None = None
    end: str | None = None
    seconds: float | None = None
    observations: int = 0
    resolution: str | None = Field(None, description="trades, snapshots, 60s bars, 50 ms grid ...")


class MetricOut(Out):
    name: str
    value: Value = Field(description="headline value: a number, a label, or a small dict/list of them (null: "
                                   "not computable, see reading)")
    unit: str | None = None
    formula: str = Field(description="how the value is computed, in one line a person can check")
    reading: str | None = Field(None, description="plain-language interpretation")
    window: WindowOut | None = Field(None, description="omitted in concise format when equal to the report's")
    inputs: dict[str, Any] = {}
    details: dict[str, Any] = {}


class AnalyticsResult(Out):
    analysis: str
    symbol: str
    venues: list[str]
    market: str | None = None
    window: WindowOut | None
    inputs: dict[str, Any]
    metrics: dict[str, MetricOut]
    notes: list[str] = Field([], description="data gaps and caveats to pass on")
    trimmed: list[str] = Field([], description="details shortened by the concise format (detailed returns them)")

    def summary(self) -> str:
        w = self.window
        span = f" over {w.seconds:g}s ({w.observations} obs)" if w and w.seconds is not None else ""
        readings = [f"{k}: {m.reading}" if m.reading else f"{k} = {m.value}" for k, m in self.metrics.items()
                    if m.reading or isinstance(m.value, int | float | str)][:4]
        return f"{self.analysis} {self.symbol} [{', '.join(self.venues)}]{span}: " + "; ".join(readings)


class SignalOut(Out):
    name: str
    direction: str = Field(description="bullish, bearish, neutral, alert or info")
    strength: float = Field(description="0..1")
    reason: str


class CalculatorOut(Out):
    calculator: str
    values: dict[str, Any]
    signals: list[SignalOut]
    metrics: dict[str, MetricOut]
    window: WindowOut | None
    parameters: dict[str, Any] = Field(description="the parameters used, defaults filled in")
    notes: list[str] = []
    elapsed_ms: float | None = None
    trimmed: list[str] = []

    def summary(self) -> str:
        sig = "; ".join(f"{s.name} {s.direction} ({s.strength:.2f}): {s.reason}" for s in self.signals[:3])
        return f"{self.calculator}: " + (sig or "no signal")


class CalcParamOut(Out):
    name: str
    type: str
    default: Scalar = None
    required: bool
    description: str
    choices: list[Scalar] | None = None


class CalculatorInfo(Out):
    name: str
    tool: str | None = Field(description="its calculate_<name> tool when the calculators toolset is on; every "
                                         "calculator also runs through run_feature_calculator")
    description: str
    version: str
    source: str = Field(description="builtin, directory (plugin dir) or entry_point")
    origin: str
    parameters: list[CalcParamOut]


class PluginErrorOut(Out):
    source: str
    origin: str = Field(description="module, file or entry point that failed")
    error: str


class CalculatorsResult(Out):
    calculators: list[CalculatorInfo]
    errors: list[PluginErrorOut] = Field(description="plugins that failed to load (they are skipped)")
    plugin_dirs: list[str] = Field(description="directories scanned ($CRYPTOFLOW_PLUGIN_DIR)")
    entry_point_group: str
    how_to_add: str

    def summary(self) -> str:
        bad = f"; {len(self.errors)} plugin(s) failed to load" if self.errors else ""
        return f"{len(self.calculators)} calculators: {', '.join(c.name for c in self.calculators)}{bad}"


# ---- shaping ------------------------------------------------------------------------------------
def _is_ns(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and _NS_MIN <= v < _NS_MAX


def iso_times(x: Any) -> Any:
    """``{"ts_ns": 1.7e18}`` -> ``{"ts": "2026-...Z"}`` at any depth (lists of ns too)."""
    from cryptoflow.analytics.explain import iso

    if isinstance(x, dict):
        out: dict[str, Any] = {}
        for k, v in x.items():
            base = k[:-3] if k.endswith("_ns") and len(k) > 3 else None
            if base and base not in x and (_is_ns(v) or (isinstance(v, list) and v and all(map(_is_ns, v)))):
                out[base] = iso(v) if _is_ns(v) else [iso(i) for i in v]
            else:
                out[k] = iso_times(v)
        return out
    if isinstance(x, list):
        return [iso_times(i) for i in x]
    return x


def _trim(x: Any, path: str, trimmed: list[str]) -> Any:
    if isinstance(x, list):
        if len(x) > CONCISE_ITEMS:
            trimmed.append(f"{path}: most recent {CONCISE_ITEMS} of {len(x)}")
            x = x[-CONCISE_ITEMS:]
        return [_trim(i, f"{path}[]", trimmed) for i in x]
    if isinstance(x, dict):
        out = {}
        for k, v in x.items():
            if isinstance(v, dict) and len(v) > CONCISE_KEYS:
                trimmed.append(f"{path}.{k}: left out ({len(v)} entries)")
                continue
            out[k] = _trim(v, f"{path}.{k}", trimmed)
        return out
    return x


def window_out(w: dict[str, Any] | None) -> WindowOut | None:
    if not w:
        return None
    return WindowOut(start=w.get("start"), end=w.get("end"), seconds=w.get("seconds"),
                     observations=w.get("observations", 0), resolution=w.get("resolution"))


def metrics_out(metrics: dict[str, dict[str, Any]], detailed: bool, parent: WindowOut | None,
                trimmed: list[str]) -> dict[str, MetricOut]:
    """``Result.to_dict()`` per metric -> ``MetricOut`` (times as ISO; trimmed when concise)."""
    out = {}
    for key, m in metrics.items():
        details = iso_times(m.get("details") or {})
        if not detailed:
            details = _trim(details, f"{key}.details", trimmed)
        w = window_out(m.get("window"))
        out[key] = MetricOut(name=m["name"], value=iso_times(m.get("value")), unit=m.get("unit"),
                             formula=m["formula"], reading=m.get("reading"),
                             window=w if detailed or w != parent else None, inputs=iso_times(m.get("inputs") or {}),
                             details=details)
    return out


def analytics_result(report: dict[str, Any], *, symbol: str, venues: list[str], market: str | None,
                     detailed: bool) -> AnalyticsResult:
    """An analytics ``Report.to_dict()`` as the tool's output."""
    trimmed: list[str] = []
    w = window_out(report.get("window"))
    return AnalyticsResult(analysis=report["name"], symbol=symbol, venues=venues, market=market, window=w,
                           inputs=iso_times(report.get("inputs") or {}),
                           metrics=metrics_out(report["metrics"], detailed, w, trimmed),
                           notes=list(report.get("notes") or []), trimmed=trimmed)


HOW_TO_ADD = ("Write a FeatureCalculator subclass (name, description, parameters, async calculate) in a .py file, put "
              "it in a directory named by $CRYPTOFLOW_PLUGIN_DIR (or publish it under the entry-point group "
              "cryptoflow.features) and restart the server; README 'Writing a feature calculator' has an example.")


def calculators_result(listing: dict[str, Any], tools: set[str]) -> CalculatorsResult:
    """``CalculatorRegistry.listing()`` as the tool's output; ``tool`` only when this server has it."""
    from cryptoflow.features.registry import ENTRY_POINT_GROUP, plugin_dirs_from_env

    calcs = [CalculatorInfo(**{**c, "tool": c["tool"] if c["tool"] in tools else None,
                               "parameters": [CalcParamOut(**p) for p in c["parameters"]]})
             for c in listing["calculators"]]
    return CalculatorsResult(calculators=calcs, errors=[PluginErrorOut(**e) for e in listing["errors"]],
                             plugin_dirs=[str(p) for p in plugin_dirs_from_env()],
                             entry_point_group=ENTRY_POINT_GROUP, how_to_add=HOW_TO_ADD)


def calculator_result(res: dict[str, Any], detailed: bool) -> CalculatorOut:
    """A ``CalculatorResult.to_dict()`` as the tool's output."""
    trimmed: list[str] = []
    w = window_out(res.get("window"))
    values = iso_times(res.get("values") or {})
    return CalculatorOut(calculator=res["calculator"],
                         values=values if detailed else _trim(values, "values", trimmed),
                         signals=[SignalOut(**s) for s in res.get("signals") or []],
                         metrics=metrics_out(res.get("metrics") or {}, detailed, w, trimmed), window=w,
                         parameters=res.get("parameters") or {}, notes=list(res.get("notes") or []),
                         elapsed_ms=res.get("elapsed_ms"), trimmed=trimmed)


__all__ = ["AnalyticsResult", "CalcParamOut", "CalculatorInfo", "CalculatorOut", "CalculatorsResult", "MetricOut",
           "PluginErrorOut", "SignalOut", "WindowOut", "analytics_result", "calculator_result", "calculators_result",
           "iso_times",
           "metrics_out", "window_out"]
