"""What every tool shares: argument types, time parsing, the registration decorator, result shaping.

Tools are registered through ``tool(server, ...)`` so they all behave the same way:

- the docstring (cleaned) is the description; arguments are ``Annotated[..., Field(...)]`` so the
  input schema carries types, enums, bounds and descriptions;
- a ``CryptoflowError`` (bad symbol, refused SQL, no data ...) becomes a ``ToolError`` with the
  same message, which the model reads verbatim; any other exception is a crash the SDK reports
  as "Error executing tool" and logs with its traceback;
- the returned model becomes structured content plus a text block: a one-line summary and the
  same data as compact JSON (for clients that only show text).
"""

from __future__ import annotations

import base64
import decimal
import functools
import inspect
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from cryptoflow.errors import CryptoflowError
from cryptoflow.server.models import Out
from cryptoflow.symbols import canonical_symbol

VenueId = Literal[
    "binance_usdm", "binance_spot", "bybit", "okx", "kraken_futures", "gateio", "deribit", "hyperliquid"
]
Market = Literal["perp", "spot"]
ResponseFormat = Literal["concise", "detailed"]
Interval = Literal["1m", "5m", "15m", "1h", "4h", "1d"]

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=True)

SymbolArg = Annotated[str, Field(min_length=1, max_length=40,
                                 description="canonical symbol, e.g. BTCUSDT (btc, BTC-USDT also accepted)")]
SymbolsArg = Annotated[list[str], Field(min_length=1, max_length=20,
                                        description="1-20 canonical symbols, e.g. [\"BTCUSDT\", \"ETHUSDT\"]")]
VenuesArg = Annotated[list[VenueId] | None, Field(max_length=8, description="venue ids to include (default: all)")]
MarketArg = Annotated[Market, Field(description="perp (perpetual swaps) or spot")]
MaxAgeArg = Annotated[float, Field(gt=0, le=86_400, description="ignore quotes older than this many seconds")]
FormatArg = Annotated[ResponseFormat, Field(description="concise (default) or detailed (more fields and rows)")]
TimeArg = Annotated[str | None, Field(max_length=40, description=(
    "ISO 8601 UTC time (2025-01-31T12:00:00Z) or a relative age like 90s, 15m, 4h, 7d (that long ago)"))]

_REL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_F = TypeVar("_F", bound=Callable[..., Awaitable[Any]])


def utcnow() -> datetime:
    """Now as naive UTC (what the store's TIMESTAMP columns hold)."""
    return datetime.now(UTC).replace(tzinfo=None)


def duration_s(text: str, arg: str) -> float:
    """``15m`` -> 900.0; the error names the argument."""
    m = _REL.match(text)
    if not m:
        raise ToolError(f"{arg}={text!r} is not a duration: use e.g. 90s, 15m, 4h, 7d")
    return float(m.group(1)) * _UNIT_S[m.group(2).lower()]


def parse_time(text: str | None, arg: str, default: datetime | None = None) -> datetime:
    """ISO 8601 (naive = UTC) or a relative age (``4h`` = four hours ago) -> naive UTC datetime."""
    if text is None or not text.strip():
        if default is None:
            raise ToolError(f"{arg} is required: give an ISO 8601 UTC time or an age like 4h")
        return default
    if _REL.match(text):
        return utcnow() - timedelta(seconds=duration_s(text, arg))
    if text.strip().lower() == "now":
        return utcnow()
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ToolError(
            f"{arg}={text!r} is not a time: use ISO 8601 UTC (2025-01-31T12:00:00Z) or an age like 15m, 4h, 7d"
        ) from None
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


def iso(t: datetime | int | None) -> str | None:
    """Naive-UTC datetime or int ns -> ``2025-01-31T12:00:00.123Z``."""
    if t is None:
        return None
    if isinstance(t, int):
        t = from_ns(t)
    return t.isoformat(timespec="milliseconds") + "Z"


_EPOCH = datetime(1970, 1, 1)


def to_ns(t: datetime) -> int:
    """Naive-UTC datetime -> int ns since the epoch (exact, no float)."""
    d = t - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1000


def from_ns(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


def jsonable(v: Any) -> Any:
    """A query value as a JSON cell: times as ISO strings, decimals as floats, bytes as hex, lists of
    scalars as lists; anything nested deeper (structs, maps, lists of lists) as a JSON string."""
    if isinstance(v, list | tuple):
        items = [jsonable(x) for x in v]
        if all(x is None or isinstance(x, str | int | float | bool) for x in items):
            return items
        return json.dumps(items, default=str)
    if isinstance(v, dict):
        return json.dumps({str(k): jsonable(x) for k, x in v.items()}, default=str)
    return _scalar(v)


def _scalar(v: Any) -> Any:
    if isinstance(v, datetime):
        return iso(v)
    if isinstance(v, date | dt_time):
        return v.isoformat()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, timedelta):
        return v.total_seconds()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).hex()
    return v


def age_s(ts_ns: int) -> float:
    return round((time.time_ns() - ts_ns) / 1e9, 3)


def symbol_arg(text: str, arg: str = "symbol") -> str:
    try:
        return canonical_symbol(text)
    except CryptoflowError as e:
        raise ToolError(f"{arg}: {e}; call list_markets for the stored symbols") from None


def symbols_arg(texts: list[str], arg: str = "symbols") -> list[str]:
    return list(dict.fromkeys(symbol_arg(t, arg) for t in texts))


def encode_cursor(state: dict[str, Any]) -> str:
    """An opaque page cursor (URL-safe base64 of compact JSON)."""
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(text: str, arg: str = "cursor", *, query: str | None = None,
                  ints: tuple[str, ...] = ()) -> dict[str, Any]:
    """Decode a cursor this server issued; ``query`` must match the one it was issued for and the
    ``ints`` fields must be integers."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        state = json.loads(raw)
        if not isinstance(state, dict) or any(type(state.get(k)) is not int for k in ints):
            raise ValueError("not a cursor")
    except (ValueError, TypeError):
        raise ToolError(f"{arg}={text[:40]!r} is not a cursor from this tool: pass next_cursor unchanged, "
                        "or omit it for the first page") from None
    if query is not None and state.get("q") != query:
        raise ToolError(f"{arg} belongs to a different query: repeat the same arguments as the call that "
                        "returned it, or omit cursor to start over")
    return state


def respond(result: Out) -> CallToolResult:
    """Structured content plus a text block (summary line + compact JSON)."""
    data = result.model_dump(mode="json")
    body = result.model_dump_json(exclude_none=True)
    head = result.summary()
    text = f"{head}\n{body}" if head else body
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def tool(server: MCPServer, *, annotations: ToolAnnotations = READ_ONLY, title: str | None = None
         ) -> Callable[[_F], _F]:
    """Register an async tool function (see the module docstring for what this adds)."""

    def decorate(fn: _F) -> _F:
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                result = await fn(*args, **kwargs)
            except CryptoflowError as e:
                raise ToolError(str(e)) from e
            return respond(result) if isinstance(result, Out) else result

        server.add_tool(wrapper, name=fn.__name__, title=title, description=inspect.cleandoc(fn.__doc__ or ""),
                        annotations=annotations, structured_output=True)
        return fn

    return decorate
