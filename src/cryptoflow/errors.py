"""One exception tree for the whole project.

Callers catch at the level they care about: ``CryptoflowError`` for anything of ours,
``VenueError`` for protocol trouble, ``StoreError`` for storage, ``QueryError`` for bad
query input. Messages name what was wrong and what is accepted, because they reach
users (CLI) and language models (MCP tools) verbatim.
"""

from __future__ import annotations


class CryptoflowError(Exception):
    """Base of every error cryptoflow raises on purpose."""


class ConfigError(CryptoflowError):
    """A setting, argument or file the user gave is not acceptable."""


class VenueError(CryptoflowError):
    """Something about a venue's protocol or instruments."""


class UnknownVenueError(VenueError):
    """A venue id that is not one of ours."""


class UnknownSymbolError(VenueError):
    """A symbol that a venue does not list (the message names the closest listed ones)."""


class DecodeError(VenueError):
    """A frame that could not be turned into events.

    ``reason`` is a short stable label (``schema``, ``unknown_instrument``, ``bad_number`` ...)
    used as the key in decode-error counters, so it must not contain per-frame detail.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class BookError(CryptoflowError):
    """Order-book state problems (used for programming errors, not for gaps: gaps are results)."""


class StoreError(CryptoflowError):
    """Storage could not be opened, written or read."""


class QueryError(StoreError):
    """A query's input was not acceptable (unknown stream, bad range, refused SQL)."""
