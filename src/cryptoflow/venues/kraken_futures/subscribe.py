"""Kraken Futures subscribe / unsubscribe messages.

``{"event": "subscribe", "feed": <feed>, "product_ids": [...]}`` with one message per feed. Several
stream kinds share a feed: ``trade`` carries liquidations (trade ``type`` = liquidation) and the
``ticker`` feed carries mark price, funding, open interest, the 24h ticker and the top of book.
Product ids go out lower case, as in the captured session (payloads answer in upper case).
"""

from __future__ import annotations

import msgspec

from cryptoflow.errors import DecodeError
from cryptoflow.venues.base import Subscription

# stream kind -> Kraken feed
FEEDS: dict[str, str] = {
    "trade": "trade",
    "liquidation": "trade",
    "book": "book",
    "bbo": "ticker",
    "mark_price": "ticker",
    "funding": "ticker",
    "open_interest": "ticker",
    "ticker": "ticker",
}
PRODUCTS_PER_MESSAGE = 100  # no documented cap; keeps each request small
HEARTBEAT_SUBSCRIBE = '{"event":"subscribe","feed":"heartbeat"}'


def feed_of(stream: str) -> str:
    feed = FEEDS.get(stream)
    if feed is None:
        raise DecodeError("unsupported_stream", f"kraken_futures has no websocket feed for {stream}")
    return feed


def messages(event: str, subs: list[Subscription]) -> list[str]:
    """One message per feed (and per chunk of products), feeds in first-seen order."""
    by_feed: dict[str, dict[str, None]] = {}
    for s in subs:
        by_feed.setdefault(feed_of(s.stream), {})[s.instrument.native.lower()] = None
    out: list[str] = []
    for feed, products in by_feed.items():
        ids = list(products)
        for i in range(0, len(ids), PRODUCTS_PER_MESSAGE):
            body = {"event": event, "feed": feed, "product_ids": ids[i : i + PRODUCTS_PER_MESSAGE]}
            out.append(msgspec.json.encode(body).decode())
    return out
