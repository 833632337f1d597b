"""One async HTTP client for every venue's REST endpoints, with rate limits and retries.

Each venue gets a token bucket (requests or weight per second); 429 and 5xx are retried with
exponential backoff (honouring ``Retry-After``), other 4xx raise ``VenueError`` naming the URL
and the venue's message, because retrying a bad request never helps.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

import aiohttp

from cryptoflow.errors import VenueError

log = logging.getLogger(__name__)

# Conservative per-venue request budgets (requests/s, burst). Real limits are higher; we poll little.
DEFAULT_LIMITS: dict[str, tuple[float, float]] = {
    "binance_usdm": (20.0, 40.0),
    "binance_spot": (20.0, 40.0),
    "bybit": (10.0, 20.0),
    "okx": (5.0, 10.0),
    "kraken_futures": (5.0, 10.0),
    "gateio": (10.0, 20.0),
    "deribit": (10.0, 20.0),
    "hyperliquid": (5.0, 10.0),
}


# (status, headers, body) -> ("ok" | "retry" | "fail", message, retry-after seconds or None)
Classifier = Callable[[int, dict[str, str], bytes], tuple[str, str, float | None]]


def default_classify(status: int, headers: dict[str, str], body: bytes) -> tuple[str, str, float | None]:
    """2xx ok; 418/429/5xx retry (``Retry-After`` honoured); any other 4xx fails at once."""
    if status < 400:
        return ("ok", "", None)
    message = f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"
    if status in (418, 429) or status >= 500:
        ra = headers.get("Retry-After")
        try:
            retry_after = float(ra) if ra is not None else None
        except ValueError:
            retry_after = None
        return ("retry", message, retry_after)
    return ("fail", message, None)


class TokenBucket:
    """Refills ``rate`` tokens a second up to ``burst``; ``take`` waits until it can."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.t = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self, n: float = 1.0) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
                self.t = now
                if self.tokens >= n:
                    self.tokens -= n
                    return
                await asyncio.sleep((n - self.tokens) / self.rate)


class RestClient:
    """Shared aiohttp session; ``get(venue, url)`` returns the body bytes."""

    def __init__(
        self, limits: dict[str, tuple[float, float]] | None = None, retries: int = 4, timeout_s: float = 10.0
    ) -> None:
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self._explicit: set[str] = set(limits or {})
        self.retries = retries
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._buckets: dict[str, TokenBucket] = {}
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0
        self.throttled = 0  # responses that said "too many requests"
        self.retried = 0
        self.failures = 0
        self.max_retry_after_s = 30.0  # never sleep longer than this on a venue's Retry-After

    def set_limit(self, venue: str, rate: float, burst: float, *, explicit: bool = True) -> None:
        """Budget of ``venue`` in weight units per second. ``explicit=False`` (a venue module's
        documented default) does not override limits the caller passed to the constructor."""
        if not explicit and venue in self._explicit:
            return
        if self.limits.get(venue) != (rate, burst):
            self.limits[venue] = (rate, burst)
            self._buckets.pop(venue, None)
        if explicit:
            self._explicit.add(venue)

    def _bucket(self, venue: str) -> TokenBucket:
        b = self._buckets.get(venue)
        if b is None:
            rate, burst = self.limits.get(venue, (5.0, 10.0))
            b = self._buckets[venue] = TokenBucket(rate, burst)
        return b

    async def _sess(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def request(
        self,
        venue: str,
        url: str,
        *,
        method: str = "GET",
        json_body: object | None = None,
        weight: float = 1.0,
        classify: Classifier | None = None,
        endpoint_limit: tuple[str, float, float] | None = None,
    ) -> bytes:
        """The body of a successful response. ``classify(status, headers, body)`` decides
        OK / RETRY / FAIL (default: 2xx ok, 418/429/5xx retry, other 4xx fail); venues that
        report errors inside 200 bodies pass their own. ``endpoint_limit`` adds a named bucket
        (rate/s, burst) on top of the venue's, for per-endpoint limits."""
        sess = await self._sess()
        classify = classify or default_classify
        last = ""
        for attempt in range(self.retries + 1):
            await self._bucket(venue).take(weight)
            if endpoint_limit is not None:
                await self._endpoint_bucket(venue, endpoint_limit).take(1.0)
            self.requests += 1
            try:
                async with sess.request(method, url, json=json_body) as resp:
                    body = await resp.read()
                    verdict, message, retry_after = classify(resp.status, dict(resp.headers), body)
            except (aiohttp.ClientError, TimeoutError) as e:
                last = f"{type(e).__name__}: {e}"
                await asyncio.sleep(0.5 * 2**attempt + random.uniform(0, 0.2))
                continue
            if verdict == "ok":
                return body
            last = message
            if verdict == "retry":
                # 403/418/429, or a throttle reported inside a 200 body (Bybit retCode 10006)
                self.throttled += resp.status in (403, 418, 429) or resp.status < 300
                self.retried += 1
                delay = retry_after if retry_after is not None else 0.5 * 2**attempt
                delay = min(delay, self.max_retry_after_s)
                log.warning("%s: %s -> %s; retry in %.1fs", venue, url, message, delay)
                await asyncio.sleep(delay + random.uniform(0, 0.2))
                continue
            self.failures += 1
            raise VenueError(f"{venue}: {method} {url} refused ({message})")
        self.failures += 1
        raise VenueError(f"{venue}: {method} {url} failed after {self.retries + 1} tries ({last})")

    def _endpoint_bucket(self, venue: str, limit: tuple[str, float, float]) -> TokenBucket:
        key = f"{venue}:{limit[0]}"
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = TokenBucket(limit[1], limit[2])
        return b

    async def get(self, venue: str, url: str, weight: float = 1.0) -> bytes:
        return await self.request(venue, url, weight=weight)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
