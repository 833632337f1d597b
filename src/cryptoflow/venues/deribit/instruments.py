"""Deribit instruments: canonical symbols, units, naming rules, the REST instruments list.

Canonical symbols. Per base currency the *main* perpetual is, in this order of preference, the
inverse ``{BASE}-PERPETUAL`` (BTC, ETH), else the USDC-margined ``{BASE}_USDC-PERPETUAL``, else
the USDT-margined ``{BASE}_USDT-PERPETUAL``; it gets ``BASE + "USDT"`` like every venue's main
perp. Other perpetuals of the same base get ``BASE + QUOTE`` (``BTC_USDC-PERPETUAL`` ->
``BTCUSDC``); a non-main USDT-margined perp (``BTC_USDT-PERPETUAL``) would collide with the main
one's ``BTCUSDT`` and is left out.

Units. Deribit's wire ``amount`` is already USD for inverse contracts and base coins for linear
ones and options, so the conversion factor we store as ``contract_size`` is 1.0 for all of them:
``Instrument.to_base`` then gives ``USD / price`` (inverse) or the amount itself (linear). The
venue's own ``contract_size`` (10 USD for BTC-PERPETUAL, 1 USD for ETH-PERPETUAL) is the
order-size step, not the unit of the wire amount, and is not used.

Non-perpetuals. Dated futures (``BTC-24SEP21``) and options (``BTC-24SEP21-8000-P``,
``XRP_USDC-27DEC24-0d625-C``) are recognised by name so captures containing them replay: they
get market ``"future"`` / ``"option"`` and their native name as symbol. Only their books are
decoded (the store keeps perp and spot); their trades and tickers count as unknown frames.
"""

from __future__ import annotations

import re

from cryptoflow.symbols import KNOWN_QUOTES, Instrument
from cryptoflow.venues.deribit.schemas import INSTRUMENTS, RestInstrument

VENUE_ID = "deribit"
INSTRUMENTS_PATH = "/public/get_instruments"

_BASE = r"(?P<base>[A-Z0-9]+)(?:_(?P<quote>[A-Z]+))?"
_EXPIRY = r"\d{1,2}[A-Z]{3}\d{2}"
_INVERSE_PERP = re.compile(r"^(?P<base>[A-Z0-9]+)-PERPETUAL$")
_FUTURE = re.compile(rf"^{_BASE}-{_EXPIRY}$")
_OPTION = re.compile(rf"^{_BASE}-{_EXPIRY}-\d+(?:[dD]\d+)?-[CP]$")  # strike 0d625 = 0.625

# preference for the main perpetual of a base: inverse USD first, then USDC, then USDT margin
_MAIN_RANK = {"USD": 0, "USDC": 1, "USDT": 2}


def infer(native: str) -> Instrument | None:
    """An instrument from its name alone, where Deribit's naming makes it certain.

    ``{BASE}-PERPETUAL`` is always the inverse USD perp (the main one of its base); dated futures
    and options are recognised for their books. Linear perps (``SOL_USDC-PERPETUAL``) are not
    inferred: which one is a base's main perp depends on what else is listed.
    """
    name = native  # kept as on the wire: option strikes carry a lower-case "d"
    if m := _INVERSE_PERP.match(name):
        base = m["base"]
        return Instrument(VENUE_ID, name, base + "USDT", "perp", base, "USD", "inverse", 1.0)
    if m := _FUTURE.match(name):
        quote = m["quote"]
        kind = "linear" if quote else "inverse"
        return Instrument(VENUE_ID, name, name, "future", m["base"], quote or "USD", kind, 1.0)
    if m := _OPTION.match(name):
        # amounts are coins of the base; inverse options are priced in the base coin itself
        return Instrument(VENUE_ID, name, name, "option", m["base"], m["quote"] or m["base"], "linear", 1.0)
    return None


def _is_inverse(r: RestInstrument) -> bool:
    kind = r.instrument_type or r.future_type
    return kind == "reversed"


def parse(body: bytes) -> list[Instrument]:
    """Perpetuals of a ``public/get_instruments`` response, with canonical symbols (see module doc)."""
    perps = [
        r
        for r in INSTRUMENTS.decode(body).result
        if r.kind == "future" and r.settlement_period == "perpetual" and r.is_active
    ]

    def rank(r: RestInstrument) -> int:
        return -1 if _is_inverse(r) else _MAIN_RANK.get(r.quote_currency, 9)

    main: dict[str, RestInstrument] = {}
    for r in sorted(perps, key=rank):
        main.setdefault(r.base_currency, r)
    out: list[Instrument] = []
    for r in perps:
        base, quote = r.base_currency, r.quote_currency
        if main[base] is r:
            symbol = base + "USDT"
        elif quote in KNOWN_QUOTES and quote != "USDT":
            symbol = base + quote
        else:
            continue  # no canonical symbol of its own (see module doc)
        kind = "inverse" if _is_inverse(r) else "linear"
        out.append(Instrument(VENUE_ID, r.instrument_name, symbol, "perp", base, quote, kind, 1.0, r.tick_size))
    return out
