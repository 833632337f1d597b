"""The plugin contract: a ``FeatureCalculator`` declares its name, description and typed
parameters, and computes a ``CalculatorResult`` (values, signals, explained metrics) asynchronously.

Why declared parameters instead of a free ``**kwargs``: the registry turns them into an MCP
tool's input schema (``signature()`` / ``input_schema()``), validates calls before any data is
touched, and lists them for ``list_feature_calculators`` — so a plugin author writes the
parameters once and gets a properly typed tool.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

import msgspec

from cryptoflow.analytics.explain import Report, Result, Window, jsonable
from cryptoflow.errors import CryptoflowError
from cryptoflow.store.lake import Lake
from cryptoflow.store.views import VENUE_IDS

T = TypeVar("T")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,47}$")
_TYPES: dict[type, str] = {int: "integer", float: "number", str: "string", bool: "boolean"}


class CalculatorError(CryptoflowError):
    """A calculator could not be loaded, was called with bad parameters, or failed; the message
    says which and why (it reaches the model verbatim)."""


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: Marks a parameter without a default.
REQUIRED: Any = _Required()


@dataclass(frozen=True, slots=True)
class Param:
    """One typed parameter: ``kind`` is int, float, str or bool; ``choices`` restricts values;
    ``ge``/``le`` bound numbers."""

    name: str
    kind: type
    default: Any = REQUIRED
    description: str = ""
    choices: tuple[Any, ...] | None = None
    ge: float | None = None
    le: float | None = None

    def __post_init__(self) -> None:
        if not re.match(r"^[a-z][a-z0-9_]*$", self.name):
            raise CalculatorError(f"parameter name {self.name!r} must be lower_snake_case")
        if self.kind not in _TYPES:
            raise CalculatorError(f"parameter {self.name}: type must be one of int, float, str, bool")
        if self.default is not REQUIRED:
            self.check(self.default)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def check(self, value: Any) -> Any:
        """The value coerced to ``kind`` (int -> float allowed), or ``CalculatorError``."""
        v = value
        if self.kind is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, self.kind) or (self.kind is int and isinstance(v, bool)):
            raise CalculatorError(f"parameter {self.name} must be {_TYPES[self.kind]}, got {value!r}")
        if self.choices is not None and v not in self.choices:
            allowed = ", ".join(map(str, self.choices))
            raise CalculatorError(f"parameter {self.name} must be one of {allowed}; got {v!r}")
        if self.ge is not None and v < self.ge:
            raise CalculatorError(f"parameter {self.name} must be >= {self.ge:g}, got {v!r}")
        if self.le is not None and v > self.le:
            raise CalculatorError(f"parameter {self.name} must be <= {self.le:g}, got {v!r}")
        return v

    def json_schema(self) -> dict[str, Any]:
        s: dict[str, Any] = {"type": _TYPES[self.kind], "description": self.description}
        if self.choices is not None:
            s["enum"] = list(self.choices)
        if self.ge is not None:
            s["minimum"] = self.ge
        if self.le is not None:
            s["maximum"] = self.le
        if not self.required:
            s["default"] = self.default
        return s

    def annotation(self) -> Any:
        """``Annotated[type, Field(...)]`` for a function signature (what the MCP SDK reads)."""
        from typing import Annotated

        from pydantic import Field

        base: Any = Literal[self.choices] if self.choices is not None else self.kind  # type: ignore[valid-type]
        return Annotated[base, Field(description=self.description, ge=self.ge, le=self.le)]


Direction = Literal["bullish", "bearish", "neutral", "alert", "info"]


class Signal(msgspec.Struct, frozen=True, kw_only=True):
    """A discrete takeaway: direction, strength in [0, 1], and the reason in words."""

    name: str
    direction: Direction
    strength: float
    reason: str


class CalculatorResult(msgspec.Struct, kw_only=True):
    """What every calculator returns: headline ``values``, ``signals``, and the explained
    ``metrics`` they came from (formula, inputs, window per metric)."""

    calculator: str
    values: dict[str, Any]
    signals: list[Signal] = []
    metrics: dict[str, Result] = {}
    window: Window | None = None
    parameters: dict[str, Any] = {}
    notes: list[str] = []
    elapsed_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "calculator": self.calculator, "values": jsonable(self.values),
            "signals": [jsonable(s) for s in self.signals],
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "window": self.window.to_dict() if self.window else None, "parameters": jsonable(self.parameters),
            "notes": list(self.notes), "elapsed_ms": self.elapsed_ms,
        }


@dataclass(slots=True)
class CalcContext:
    """What a calculator may use: the lake (read-only), a clock, and free-form extras."""

    lake: Lake | None
    now_ns: Callable[[], int] = time.time_ns
    extras: dict[str, Any] = field(default_factory=dict)

    def require_lake(self) -> Lake:
        if self.lake is None:
            raise CalculatorError("this calculator needs stored data, but no lake is open")
        return self.lake


# ---- parameters most calculators share -----------------------------------------------------------
VENUE = Param("venue", str, "binance_usdm", "venue id", choices=VENUE_IDS)
SYMBOL = Param("symbol", str, "BTCUSDT", "canonical symbol, e.g. BTCUSDT")
MARKET = Param("market", str, "perp", "market type", choices=("perp", "spot"))


def lookback(default_s: float, max_s: float = 30 * 86_400) -> Param:
    """The window length in seconds, ending at the newest stored data."""
    return Param("lookback_s", float, float(default_s), "window length in seconds, ending at the newest stored data",
                 ge=1.0, le=float(max_s))


class FeatureCalculator(ABC):
    """Subclass, set ``name``, ``description``, ``parameters``, implement ``calculate``.

    ``calculate`` receives validated parameters as keyword arguments. Blocking work (SQL, numpy)
    belongs in ``await self.in_thread(fn, ...)`` so the server's event loop stays responsive.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    parameters: ClassVar[tuple[Param, ...]] = ()
    version: ClassVar[str] = "1"

    @classmethod
    def check_definition(cls) -> None:
        """Raise ``CalculatorError`` when the class is not a usable calculator."""
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise CalculatorError(f"{cls.__name__}: name must match {NAME_RE.pattern}, got {name!r}")
        if not isinstance(getattr(cls, "description", None), str) or not cls.description.strip():
            raise CalculatorError(f"{name}: a description is required")
        names = [p.name for p in cls.parameters]
        if len(set(names)) != len(names):
            raise CalculatorError(f"{name}: parameter names repeat: {names}")
        if not all(isinstance(p, Param) for p in cls.parameters):
            raise CalculatorError(f"{name}: parameters must be Param(...) instances")
        if inspect.isabstract(cls):
            raise CalculatorError(f"{name}: calculate() is not implemented")

    def validate(self, params: dict[str, Any] | None) -> dict[str, Any]:
        """Defaults filled in, types checked, unknown names refused."""
        params = dict(params or {})
        known = {p.name: p for p in self.parameters}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise CalculatorError(f"{self.name}: unknown parameter(s) {unknown}; parameters are: {', '.join(known)}")
        out = {}
        for p in self.parameters:
            if p.name in params and params[p.name] is not None:
                out[p.name] = p.check(params[p.name])
            elif p.required:
                raise CalculatorError(f"{self.name}: parameter {p.name} is required")
            else:
                out[p.name] = p.default
        return out

    @abstractmethod
    async def calculate(self, ctx: CalcContext, **params: Any) -> CalculatorResult:
        """Compute the feature; raise ``CalculatorError`` (or ``CryptoflowError``) with a clear message."""

    async def run(self, ctx: CalcContext, params: dict[str, Any] | None = None) -> CalculatorResult:
        """Validate, calculate, stamp elapsed time and parameters."""
        args = self.validate(params)
        t0 = time.perf_counter()
        res = await self.calculate(ctx, **args)
        res.elapsed_ms = round((time.perf_counter() - t0) * 1e3, 2)
        res.parameters = {**args, **res.parameters}
        return res

    @staticmethod
    async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    def signature(self) -> inspect.Signature:
        """Keyword-only signature with annotated parameters: an MCP tool wrapper sets it as
        ``__signature__`` and the SDK derives the input schema from it."""
        return inspect.Signature([
            inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, annotation=p.annotation(),
                              default=inspect.Parameter.empty if p.required else p.default)
            for p in self.parameters])

    def input_schema(self) -> dict[str, Any]:
        """JSON Schema of the parameters (for clients and listings)."""
        return {"type": "object", "properties": {p.name: p.json_schema() for p in self.parameters},
                "required": [p.name for p in self.parameters if p.required], "additionalProperties": False}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "tool": f"calculate_{self.name}", "description": self.description,
                "version": self.version, "parameters": [
                    {"name": p.name, "type": _TYPES[p.kind], "default": None if p.required else p.default,
                     "required": p.required, "description": p.description,
                     **({"choices": list(p.choices)} if p.choices else {})} for p in self.parameters]}


def from_report(calculator: str, report: Report, values: dict[str, Any], signals: list[Signal]) -> CalculatorResult:
    """A ``CalculatorResult`` that carries an analytics ``Report``'s metrics, window and notes."""
    return CalculatorResult(calculator=calculator, values=values, signals=signals, metrics=dict(report.metrics),
                            window=report.window, notes=list(report.notes))


def direction(value: float | None, threshold: float) -> Direction:
    """bullish / bearish / neutral by a symmetric threshold."""
    if value is None:
        return "neutral"
    return "bullish" if value >= threshold else "bearish" if value <= -threshold else "neutral"


__all__ = ["MARKET", "REQUIRED", "SYMBOL", "VENUE", "CalcContext", "CalculatorError", "CalculatorResult",
           "FeatureCalculator", "Param", "Signal", "direction", "from_report", "lookback"]
