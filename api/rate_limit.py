"""Requests per principal, limited by a token bucket per principal, shared by every process.

Each principal (a token's kind and subject) may send its kind's number of requests per minute
(``SIYU_RATE_LIMITS``); its bucket holds a tenth of that (at least 10), so short bursts pass
and a sustained flood is answered HTTP 429 with ``Retry-After`` (seconds until a request would
pass) and ``extensions.code = "RATE_LIMITED"``.

The buckets live in PostgreSQL (:mod:`adapters.rate_buckets`), so all the API processes
(``siyu serve --workers N``, several servers behind a balancer) share one budget per
principal. A process does not ask the database for every request: it takes a **lease** of
up to :data:`MAX_LEASE` tokens (a twentieth of the bucket, at least one) and spends it
locally for at most :data:`LEASE_SECONDS`; a lease left unspent is lost, never added back.
So N processes may pass at most N times a lease beyond the bucket at one instant, and
a principal well under its rate costs one short statement per lease. With the database
away the limiter falls back to the process's own buckets (the API answers from the read
pool anyway, or UNAVAILABLE).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import psycopg
from psycopg_pool import PoolTimeout
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.rate_buckets import RateBuckets
from api.auth import Principal
from api.http import error_payload, respond
from api.limits import ApiLimits

RATE_LIMITED = "RATE_LIMITED"
#: Buckets kept before idle (full) ones are dropped.
MAX_BUCKETS = 100_000
#: The most tokens a process takes from a shared bucket at once, and how long it may
#: spend them.
MAX_LEASE = 10
LEASE_SECONDS = 1.0

log = logging.getLogger(__name__)


class RateLimiter:
    """Token buckets by principal; ``clock`` is monotonic seconds."""

    def __init__(self, limits: ApiLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._buckets: dict[str, tuple[float, float, int]] = {}  # key → (tokens, at, rate)

    def capacity(self, kind: str) -> float:
        return self.capacity_of(self.limits.rate(kind))

    @staticmethod
    def capacity_of(per_minute: int) -> float:
        return max(10.0, per_minute / 10)

    def take(self, principal: Principal) -> float:
        """0 if ``principal`` may send a request now (and counts it), else the seconds to
        wait before one would pass."""
        return self.take_key(f"{principal.kind}:{principal.subject_id}",
                             self.limits.rate(principal.kind))

    def take_key(self, key: str, per_minute: int, capacity: float | None = None) -> float:
        """As :meth:`take`, for the bucket ``key`` allowed ``per_minute`` (0: no limit),
        holding ``capacity`` (default: a tenth of a minute's, at least 10)."""
        if per_minute <= 0:
            return 0.0
        rate = per_minute / 60
        capacity = capacity or self.capacity_of(per_minute)
        now = self.clock()
        tokens, at, _ = self._buckets.get(key, (capacity, now, per_minute))
        tokens = min(capacity, tokens + (now - at) * rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now, per_minute)
            return (1 - tokens) / rate
        if len(self._buckets) >= MAX_BUCKETS and key not in self._buckets:
            self._prune(now)
        self._buckets[key] = (tokens - 1, now, per_minute)
        return 0.0

    async def acquire(self, key: str, per_minute: int, capacity: float | None = None
                      ) -> float:
        """:meth:`take_key`, awaited (the shared limiter asks the database)."""
        return self.take_key(key, per_minute, capacity)

    async def blocked(self, key: str, per_minute: int) -> float:
        """Seconds until the bucket ``key`` holds a token again (0: it holds one); takes
        nothing."""
        if per_minute <= 0:
            return 0.0
        capacity = self.capacity_of(per_minute)
        now = self.clock()
        tokens, at, _ = self._buckets.get(key, (capacity, now, per_minute))
        tokens = min(capacity, tokens + (now - at) * per_minute / 60)
        return 0.0 if tokens >= 1 else (1 - tokens) * 60 / per_minute

    def _prune(self, now: float) -> None:
        """Drop the buckets that have refilled (forgetting them changes nothing)."""
        for key, (tokens, at, per_minute) in list(self._buckets.items()):
            if tokens + (now - at) * per_minute / 60 >= self.capacity_of(per_minute):
                del self._buckets[key]


class SharedRateLimiter(RateLimiter):
    """:class:`RateLimiter`'s budget kept in shared buckets (``buckets()``: None until the
    process has opened them — or never, in a test app without a database)."""

    def __init__(self, limits: ApiLimits, buckets: Callable[[], RateBuckets | None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(limits, clock)
        self.buckets = buckets
        self._leases: dict[str, tuple[int, float]] = {}  # key → (tokens left, until)
        #: Keys whose lease is a refusal: until it ends, refused without a round trip
        #: (a flood over its budget costs one statement per token the bucket refills).
        self._refused: set[str] = set()

    def lease_size(self, capacity: float) -> int:
        return max(1, min(MAX_LEASE, int(capacity // 20)))

    async def acquire(self, key: str, per_minute: int, capacity: float | None = None
                      ) -> float:
        if per_minute <= 0:
            return 0.0
        buckets = self.buckets()
        if buckets is None:
            return self.take_key(key, per_minute, capacity)
        now = self.clock()
        left, until = self._leases.get(key, (0, 0.0))
        if now < until:
            if left > 0:
                self._leases[key] = (left - 1, until)
                return 0.0
            if key in self._refused:  # refused a moment ago: no need to ask again yet
                return until - now
        rate, capacity = per_minute / 60, capacity or self.capacity_of(per_minute)
        try:
            granted, tokens = await buckets.take(key, self.lease_size(capacity), rate, capacity)
        except (psycopg.Error, PoolTimeout):
            log.warning("shared rate buckets unavailable: limiting in this process")
            return self.take_key(key, per_minute, capacity)
        if granted == 0:
            wait = (1 - tokens) / rate
            self._leases[key] = (0, now + wait)
            self._refused.add(key)
            return wait
        self._refused.discard(key)
        if len(self._leases) >= MAX_BUCKETS:
            self._leases = {k: v for k, v in self._leases.items() if v[1] > now}
            self._refused &= set(self._leases)
        self._leases[key] = (granted - 1, now + LEASE_SECONDS)
        return 0.0

    async def blocked(self, key: str, per_minute: int) -> float:
        buckets = self.buckets()
        if per_minute <= 0 or buckets is None:
            return await super().blocked(key, per_minute)
        rate = per_minute / 60
        try:
            _, tokens = await buckets.take(key, 0, rate, self.capacity_of(per_minute))
        except (psycopg.Error, PoolTimeout):
            return await super().blocked(key, per_minute)
        return 0.0 if tokens >= 1 else (1 - tokens) / rate


class RateLimited:
    """In front of an authenticated app (after :class:`api.app.RequirePrincipal`)."""

    def __init__(self, app: ASGIApp, limiter: Callable[[], RateLimiter]) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope.get("state", {}).get("principal")
        if scope["type"] == "http" and isinstance(principal, Principal):
            limiter = self.limiter()
            wait = await limiter.acquire(f"{principal.kind}:{principal.subject_id}",
                                         limiter.limits.rate(principal.kind))
            if wait > 0:
                await refuse(send, wait, "too many requests for this principal")
                return
        await self.app(scope, receive, send)


async def refuse(send: Send, wait: float, why: str) -> None:
    """HTTP 429 with ``Retry-After`` and ``RATE_LIMITED``."""
    seconds = max(1, math.ceil(wait))
    await respond(send, 429, error_payload(f"{why}; retry in {seconds} s", RATE_LIMITED,
                                           retryAfter=seconds),
                  headers=[(b"retry-after", str(seconds).encode())])
