"""Requests per principal, limited by a token bucket per principal.

Each principal (a token's kind and subject) may send its kind's number of requests per minute
(``SIYU_RATE_LIMITS``); its bucket holds a tenth of that (at least 10), so short bursts pass
and a sustained flood is answered HTTP 429 with ``Retry-After`` (seconds until a request would
pass) and ``extensions.code = "RATE_LIMITED"``.

The buckets live in the API process: with several API processes behind a balancer, a principal
may send up to that many times its rate. (Sharing them in PostgreSQL would cost a write per
request; a proxy in front of the processes can limit globally where that matters.)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import Principal
from api.http import error_payload, respond
from api.limits import ApiLimits

RATE_LIMITED = "RATE_LIMITED"
#: Buckets kept before idle (full) ones are dropped.
MAX_BUCKETS = 100_000


class RateLimiter:
    """Token buckets by principal; ``clock`` is monotonic seconds."""

    def __init__(self, limits: ApiLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, at)

    def capacity(self, kind: str) -> float:
        return max(10.0, self.limits.rate(kind) / 10)

    def take(self, principal: Principal) -> float:
        """0 if ``principal`` may send a request now (and counts it), else the seconds to
        wait before one would pass."""
        per_minute = self.limits.rate(principal.kind)
        if per_minute <= 0:
            return 0.0  # no limit for this kind
        rate = per_minute / 60
        capacity = self.capacity(principal.kind)
        key = f"{principal.kind}:{principal.subject_id}"
        now = self.clock()
        tokens, at = self._buckets.get(key, (capacity, now))
        tokens = min(capacity, tokens + (now - at) * rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / rate
        if len(self._buckets) >= MAX_BUCKETS and key not in self._buckets:
            self._prune(now)
        self._buckets[key] = (tokens - 1, now)
        return 0.0

    def _prune(self, now: float) -> None:
        """Drop the buckets that have refilled (forgetting them changes nothing)."""
        for key, (tokens, at) in list(self._buckets.items()):
            kind = key.partition(":")[0]
            if tokens + (now - at) * self.limits.rate(kind) / 60 >= self.capacity(kind):
                del self._buckets[key]


class RateLimited:
    """In front of an authenticated app (after :class:`api.app.RequirePrincipal`)."""

    def __init__(self, app: ASGIApp, limiter: Callable[[], RateLimiter]) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope.get("state", {}).get("principal")
        if scope["type"] == "http" and isinstance(principal, Principal):
            wait = self.limiter().take(principal)
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                await respond(send, 429, error_payload(
                    f"too many requests for this principal; retry in {seconds} s", RATE_LIMITED,
                    retryAfter=seconds), headers=[(b"retry-after", str(seconds).encode())])
                return
        await self.app(scope, receive, send)
