"""The shared limiter's leases: few database round trips, one budget across processes.

The buckets here are an in-memory stand-in with the same contract as
:class:`adapters.rate_buckets.RateBuckets` (the SQL itself is exercised by
``tests/integration/api/test_hardening_http.py``).
"""

from __future__ import annotations

import asyncio

import pytest

from api.limits import ApiLimits
from api.rate_limit import LEASE_SECONDS, SharedRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Buckets:
    """One bucket per key, refilled on the shared clock; counts the round trips."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.rows: dict[str, tuple[float, float]] = {}
        self.trips = 0

    async def take(self, key: str, want: int, rate: float, capacity: float
                   ) -> tuple[int, float]:
        self.trips += 1
        tokens, at = self.rows.get(key, (capacity, self.clock.now))
        tokens = min(capacity, tokens + (self.clock.now - at) * rate)
        granted = min(want, int(tokens))
        self.rows[key] = (tokens - granted, self.clock.now)
        return granted, tokens - granted


def limiter(buckets: Buckets, clock: Clock) -> SharedRateLimiter:
    return SharedRateLimiter(ApiLimits(), lambda: buckets, clock)  # type: ignore[arg-type,return-value]


def passed(process: SharedRateLimiter, n: int, per_minute: int) -> int:
    async def run() -> int:
        waits = [await process.acquire("staff:s-1", per_minute) for _ in range(n)]
        return sum(1 for w in waits if w == 0)
    return asyncio.run(run())


def test_two_processes_spend_one_bucket() -> None:
    # Given 60 a minute (a bucket of 10, leases of one token: exact)
    clock = Clock()
    buckets = Buckets(clock)
    one, two = limiter(buckets, clock), limiter(buckets, clock)
    # Then two processes together pass ten, not twenty
    assert passed(one, 6, 60) + passed(two, 6, 60) == 10


def test_a_large_budget_costs_one_round_trip_per_lease() -> None:
    # Given 6,000 a minute: a bucket of 600, leases of 10 tokens
    clock = Clock()
    buckets = Buckets(clock)
    process = limiter(buckets, clock)
    assert passed(process, 100, 6_000) == 100
    assert buckets.trips == 10
    # And an unspent lease expires (it is never spent after LEASE_SECONDS)
    assert passed(process, 5, 6_000) == 5
    clock.now += LEASE_SECONDS + 0.01
    trips = buckets.trips
    assert passed(process, 1, 6_000) == 1 and buckets.trips == trips + 1


def test_a_flood_over_its_budget_asks_the_database_once_per_refill() -> None:
    clock = Clock()
    buckets = Buckets(clock)
    process = limiter(buckets, clock)
    # 60 a minute: ten pass, then a thousand more within the same second are refused
    assert passed(process, 1010, 60) == 10
    assert buckets.trips == 11  # ten single-token leases, one refusal remembered
    # when the refusal's wait is over, the next request asks again (and passes)
    clock.now += 1.0
    assert passed(process, 1, 60) == 1 and buckets.trips == 12


def test_a_refusal_says_how_long_to_wait() -> None:
    clock = Clock()
    buckets = Buckets(clock)
    process = limiter(buckets, clock)
    assert passed(process, 10, 60) == 10

    async def wait() -> float:
        return await process.acquire("staff:s-1", 60)
    assert asyncio.run(wait()) == pytest.approx(1.0)


def test_without_shared_buckets_the_process_limits_alone() -> None:
    clock = Clock()
    process = SharedRateLimiter(ApiLimits(), lambda: None, clock)
    assert passed(process, 11, 60) == 10
