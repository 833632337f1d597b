"""Compare the JSON shape (keys and value types, recursively) of simulated and real frames."""

from __future__ import annotations

from typing import Any


def shape(v: Any) -> Any:
    """A frame's structure: dicts keep keys, lists the shape of their first element, scalars their type."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if v is None:
        return "null"
    return type(v).__name__


def same_shape(sim: Any, real: Any, path: str = "$") -> list[str]:
    """Differences between a simulated and a real frame's shape (empty list: same shape)."""
    a, b = shape(sim), shape(real)
    return _diff(a, b, path)


def _diff(a: Any, b: Any, path: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}: missing key {k!r}" for k in b.keys() - a.keys()]
        out += [f"{path}: extra key {k!r}" for k in a.keys() - b.keys()]
        for k in a.keys() & b.keys():
            out += _diff(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if a and b:
            return _diff(a[0], b[0], f"{path}[0]")
        return []
    if a != b and "null" not in (a, b):
        return [f"{path}: {a} vs {b}"]
    return []
