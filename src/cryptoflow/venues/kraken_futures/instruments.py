"""Kraken Futures product ids -> instruments and canonical symbols.

Product families (prefix of the id; ``XBT`` is Kraken's code for BTC):

- ``PF_<BASE>USD`` multi-collateral linear perpetual, 1 contract = 1 base unit (Kraken's contract
  specifications: "all multi-collateral contracts have a lot size of 1 unit of the base currency").
  The main USD-margined perp of a base: canonical ``BASE + "USDT"`` (PF_XBTUSD -> BTCUSDT).
- ``PI_<BASE>USD`` inverse perpetual, 1 contract = 1 USD: canonical ``BASE + "USD"`` (PI_XBTUSD ->
  BTCUSD), the name inverse perps carry on other venues, so it never collides with the PF_ perp.
- ``FI_<BASE>USD_<YYMMDD>`` inverse dated future (1 USD) -> ``BTCUSD_210924``;
  ``FF_<BASE>USD_<YYMMDD>`` linear dated future (1 base unit) -> ``BTCUSDT_260227``: Binance's
  spelling of delivery contracts. They are kept under market "perp" (our markets are perp|spot)
  with the expiry in the symbol, so they never mix with the perpetual of the same base.
"""

from __future__ import annotations

import re

from cryptoflow.symbols import Instrument
from cryptoflow.venues.kraken_futures.schemas import RestInstrument

VENUE_ID = "kraken_futures"
MARKET = "perp"
_NATIVE = re.compile(r"^(PF|PI|FI|FF)_([A-Z0-9]+?)USD(?:_(\d{6}))?$")
_BASE_ALIASES = {"XBT": "BTC"}
_INVERSE_PREFIXES = frozenset(("PI", "FI"))
_PERP_PREFIXES = frozenset(("PF", "PI"))
# REST "type" -> contract type; anything else (spot index, ...) is not a tradable future.
_REST_TYPES = {"flexible_futures": "linear", "futures_vanilla": "linear", "futures_inverse": "inverse"}


def base_of(code: str) -> str:
    return _BASE_ALIASES.get(code, code)


def canonical(base: str, inverse: bool, expiry: str | None) -> str:
    symbol = base + ("USD" if inverse else "USDT")
    return f"{symbol}_{expiry}" if expiry else symbol


def infer(native: str) -> Instrument | None:
    """Instrument for a product id by the naming rules above; None for anything else."""
    s = native.upper()
    m = _NATIVE.match(s)
    if m is None:
        return None
    prefix, code, expiry = m.groups()
    if (prefix in _PERP_PREFIXES) != (expiry is None):
        return None  # a perp with an expiry or a dated future without one is not a known product
    inverse = prefix in _INVERSE_PREFIXES
    base = base_of(code)
    return Instrument(
        VENUE_ID, s, canonical(base, inverse, expiry), MARKET, base, "USD", "inverse" if inverse else "linear", 1.0
    )


def from_rest(r: RestInstrument) -> Instrument | None:
    """Instrument from a REST v3 ``/instruments`` entry; None for indices and unknown families."""
    contract_type = _REST_TYPES.get(r.type)
    if contract_type is None:
        return None
    named = infer(r.symbol)
    if named is None:
        return None
    inverse = contract_type == "inverse"
    if inverse != (named.contract_type == "inverse"):
        return None  # the id's family and the REST type disagree: trust neither
    base = base_of(r.base.upper()) if r.base else named.base
    quote = r.quote.upper() if r.quote else "USD"
    expiry = named.symbol.partition("_")[2] or None
    size = r.contractSize if r.contractSize else 1.0
    return Instrument(
        VENUE_ID,
        named.native,
        canonical(base, inverse, expiry),
        MARKET,
        base,
        quote,
        contract_type,  # type: ignore[arg-type]
        float(size),
        r.tickSize,
    )
