"""The common result envelope of every analytics function: value(s), inputs, formula, window.

Why: a trader asking an assistant "why is the order-flow signal bearish?" needs more than a
number. Every metric therefore travels with the one-line formula that produced it, the inputs
(parameters and what data went in) and the window it covers, so the assistant can explain it
without guessing. ``Report`` groups the metrics one question (one MCP tool) returns.

Values may be numbers, strings, or small dicts/lists of them; long series are cut to
``MAX_SERIES_POINTS`` (the most recent) by ``tail`` before they go in ``details``.
``to_dict()`` gives plain JSON-able Python (numpy scalars unwrapped, NaN/inf -> None).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import msgspec
import numpy as np

#: Longest series any result carries in ``details`` (most recent points kept).
MAX_SERIES_POINTS = 500


class Window(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The data a metric looked at: time range (int ns UTC, half-open), observations, resolution."""

    start_ns: int | None = None
    end_ns: int | None = None
    observations: int = 0
    resolution: str | None = None  # "trades", "1m bars", "50 ms grid", "snapshots" ...

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"observations": self.observations}
        if self.start_ns is not None:
            out["start"] = iso(self.start_ns)
            out["start_ns"] = self.start_ns
        if self.end_ns is not None:
            out["end"] = iso(self.end_ns)
            out["end_ns"] = self.end_ns
        if self.end_ns is not None and self.start_ns is not None:
            out["seconds"] = (self.end_ns - self.start_ns) / 1e9
        if self.resolution:
            out["resolution"] = self.resolution
        return out


class Result(msgspec.Struct, kw_only=True):
    """One explained metric.

    ``value``: the headline number (or a small dict of numbers, e.g. one per window).
    ``formula``: one line a person can check by hand. ``inputs``: the parameters and data
    description. ``reading``: a short plain-language interpretation (optional).
    ``details``: supporting numbers and bounded series.
    """

    name: str
    value: Any
    formula: str
    window: Window | None = None
    inputs: dict[str, Any] = {}
    unit: str | None = None
    reading: str | None = None
    details: dict[str, Any] = {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "value": jsonable(self.value), "formula": self.formula}
        if self.unit:
            out["unit"] = self.unit
        if self.reading:
            out["reading"] = self.reading
        if self.window is not None:
            out["window"] = self.window.to_dict()
        out["inputs"] = jsonable(self.inputs)
        if self.details:
            out["details"] = jsonable(self.details)
        return out


class Report(msgspec.Struct, kw_only=True):
    """What one analytics question returns: named metrics over one window, plus notes
    (data gaps, truncation, caveats) that the assistant should pass on."""

    name: str
    metrics: dict[str, Result]
    window: Window | None = None
    inputs: dict[str, Any] = {}
    notes: list[str] = []

    def __getitem__(self, key: str) -> Result:
        return self.metrics[key]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "window": self.window.to_dict() if self.window else None,
            "inputs": jsonable(self.inputs),
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "notes": list(self.notes),
        }


def iso(ts_ns: int) -> str:
    """int ns UTC -> ISO-8601 with milliseconds and a Z."""
    dt = datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC).replace(microsecond=(ts_ns // 1000) % 1_000_000)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def window_of(ts_ns: np.ndarray, resolution: str | None = None, start_ns: int | None = None,
              end_ns: int | None = None) -> Window:
    """A ``Window`` spanning ``ts_ns`` (or the explicit bounds, when given)."""
    n = len(ts_ns)
    s = start_ns if start_ns is not None else (int(ts_ns[0]) if n else None)
    e = end_ns if end_ns is not None else (int(ts_ns[-1]) + 1 if n else None)
    return Window(start_ns=s, end_ns=e, observations=n, resolution=resolution)


def tail(values: Any, n: int = MAX_SERIES_POINTS) -> list[Any]:
    """The most recent ``n`` items of a sequence or array, as a plain list."""
    arr = values[-n:] if len(values) > n else values
    return jsonable(arr.tolist() if isinstance(arr, np.ndarray) else list(arr))


def num(x: Any, digits: int | None = None) -> float | None:
    """A finite float (optionally rounded) or None: how every number leaves analytics."""
    if x is None:
        return None
    f = float(x)
    if not math.isfinite(f):
        return None
    return round(f, digits) if digits is not None else f


def jsonable(x: Any) -> Any:
    """Plain JSON-able Python: numpy scalars/arrays unwrapped, NaN/inf -> None, Structs -> dicts."""
    if isinstance(x, bool | str) or x is None:
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, int):
        return x
    if isinstance(x, np.generic):
        return jsonable(x.item())
    if isinstance(x, np.ndarray):
        return [jsonable(v) for v in x.tolist()]
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, Result | Report | Window):
        return x.to_dict()
    if isinstance(x, msgspec.Struct):
        return jsonable(msgspec.structs.asdict(x))
    return str(x)


__all__ = ["MAX_SERIES_POINTS", "Report", "Result", "Window", "iso", "jsonable", "num", "tail", "window_of"]
