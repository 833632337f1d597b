"""Canonical symbols and venue instruments.

A *canonical symbol* is ``BASE + QUOTE`` in upper case (``BTCUSDT``). For perps the canonical
symbol of a base is ``BASE + "USDT"`` on every venue, whatever the venue settles in (Kraken's
``PF_XBTUSD``, Deribit's ``BTC-PERPETUAL``, Hyperliquid's ``BTC``): they are the instruments a
trader compares across venues. The venue's real quote currency is kept on the ``Instrument``.

Instrument metadata (contract sizes above all) comes from each venue's REST instruments
endpoint at run time; a bundled table (``data/instruments/<venue>.json``) covers the default
symbols so nothing needs the network in tests.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Literal

import msgspec

from cryptoflow.errors import ConfigError, UnknownSymbolError

ContractType = Literal["linear", "inverse", "spot"]

DEFAULT_BASES: tuple[str, ...] = ("BTC", "ETH", "SOL", "XRP", "AR", "BRETT", "POPCAT", "WIF", "PNUT")
DEFAULT_SYMBOLS: tuple[str, ...] = tuple(f"{b}USDT" for b in DEFAULT_BASES)
KNOWN_QUOTES: tuple[str, ...] = ("USDT", "USDC", "USD", "BTC", "ETH", "EUR", "BUSD", "FDUSD")


class Instrument(msgspec.Struct, frozen=True):
    """One tradable instrument of one venue.

    ``contract_size`` is in base units per contract for linear contracts and in quote units
    per contract for inverse ones (an OKX BTC-USD-SWAP contract is 100 USD); spot is 1.
    """

    venue: str
    native: str  # the venue's own id, as it appears on the wire (BTC-USDT-SWAP, PF_XBTUSD, ...)
    symbol: str  # canonical
    market: str  # "perp" | "spot"
    base: str
    quote: str
    contract_type: ContractType = "linear"
    contract_size: float = 1.0
    tick_size: float | None = None

    def to_base(self, qty: float, price: float) -> float:
        """Venue quantity (contracts, or base units when contract_size is 1) -> base units."""
        if self.contract_type == "inverse":
            return qty * self.contract_size / price if price else 0.0
        return qty * self.contract_size


def canonical_symbol(text: str) -> str:
    """Normalise user input (``btc``, ``BTC-USDT``, ``btc/usdt``, ``BTC_USDT``) to ``BTCUSDT``.

    A bare base (``btc``) gets ``USDT`` appended, since that is the default quote.
    """
    s = text.strip().upper().replace("-", "").replace("/", "").replace("_", "").replace(":", "")
    if not s or not s.isalnum():
        raise UnknownSymbolError(f"symbol {text!r} is not a symbol: use e.g. BTCUSDT, btc or BTC-USDT")
    if not any(s.endswith(q) and len(s) > len(q) for q in KNOWN_QUOTES):
        s += "USDT"
    return s


def split_symbol(symbol: str) -> tuple[str, str]:
    """``BTCUSDT`` -> (``BTC``, ``USDT``) using the known quote currencies, longest first."""
    for quote in sorted(KNOWN_QUOTES, key=len, reverse=True):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    raise UnknownSymbolError(f"cannot split {symbol!r} into base and quote (known quotes: {', '.join(KNOWN_QUOTES)})")


_instrument_list = msgspec.json.Decoder(list[Instrument])


class InstrumentRegistry:
    """Instruments by venue, looked up by native id (wire) or canonical symbol (user).

    Native ids are matched case-insensitively because venues are not consistent about case
    (Binance stream names are lower case, payloads upper case; Kraken likewise).
    """

    def __init__(self, instruments: Iterable[Instrument] = ()) -> None:
        # (venue, market, NATIVE) -> instrument; and (venue, NATIVE) -> instrument, perp preferred,
        # for frames that do not say their market (Bybit perp and spot share ids like BTCUSDT)
        self._by_native: dict[tuple[str, str, str], Instrument] = {}
        self._by_native_any: dict[tuple[str, str], Instrument] = {}
        self._by_symbol: dict[tuple[str, str, str], Instrument] = {}
        self.add(instruments)

    def add(self, instruments: Iterable[Instrument]) -> None:
        for inst in instruments:
            key = inst.native.upper()
            self._by_native[(inst.venue, inst.market, key)] = inst
            prev = self._by_native_any.get((inst.venue, key))
            if prev is None or prev.market != "perp" or inst.market == "perp":
                self._by_native_any[(inst.venue, key)] = inst
            self._by_symbol[(inst.venue, inst.market, inst.symbol)] = inst

    def get(self, venue: str, native: str, market: str | None = None) -> Instrument | None:
        if market is None:
            return self._by_native_any.get((venue, native.upper()))
        return self._by_native.get((venue, market, native.upper()))

    def find(self, venue: str, symbol: str, market: str = "perp") -> Instrument | None:
        return self._by_symbol.get((venue, market, symbol))

    def resolve(self, venue: str, symbol: str, market: str = "perp") -> Instrument:
        """The venue's instrument for a canonical symbol, or an error naming the closest ones."""
        sym = canonical_symbol(symbol)
        inst = self._by_symbol.get((venue, market, sym))
        if inst is not None:
            return inst
        listed = self.symbols(venue, market)
        close = difflib.get_close_matches(sym, listed, n=5, cutoff=0.5)
        hint = f"closest listed: {', '.join(close)}" if close else f"{len(listed)} {market} symbols listed"
        raise UnknownSymbolError(f"{venue} does not list {sym} ({market}); {hint}")

    def symbols(self, venue: str, market: str = "perp") -> list[str]:
        return sorted(s for (v, m, s) in self._by_symbol if v == venue and m == market)

    def instruments(self, venue: str | None = None) -> list[Instrument]:
        return [i for i in self._by_symbol.values() if venue is None or i.venue == venue]

    def copy(self) -> InstrumentRegistry:
        return InstrumentRegistry(self._by_symbol.values())

    @classmethod
    def bundled(cls) -> InstrumentRegistry:
        """A fresh registry holding the bundled table (callers may add to their copy)."""
        return _bundled().copy()


@functools.cache
def _bundled() -> InstrumentRegistry:
    reg = InstrumentRegistry()
    folder = resources.files("cryptoflow") / "data" / "instruments"
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".json"):
            reg.add(_instrument_list.decode(entry.read_bytes()))
    return reg


def load_instruments(path: str | Path) -> list[Instrument]:
    """Instruments from a JSON file shaped like the bundled tables (a list of objects)."""
    p = Path(path)
    try:
        return _instrument_list.decode(p.read_bytes())
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as e:
        raise ConfigError(
            f"{p}: not an instruments list ({e}); expected [{{venue, native, symbol, market, base, quote, "
            "contract_type, contract_size}}, ...]"
        ) from e


def dump_instruments(instruments: Iterable[Instrument]) -> str:
    """Serialise instruments as the bundled-table JSON (one object per line, stable order)."""
    rows = [msgspec.to_builtins(i) for i in sorted(instruments, key=lambda i: (i.market, i.symbol))]
    return "[\n" + ",\n".join(json.dumps(r, sort_keys=False) for r in rows) + "\n]\n"
