"""The leaderboard hub without a database: mailboxes of one, shared boards, subscriber limit."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from api.live import LeaderboardHub, LeaderboardKey, TooManySubscribers

KEY = LeaderboardKey("friends_new", "day", date(2026, 11, 20), None, "value", 20)


def test_a_slow_subscriber_holds_only_the_newest_ranking() -> None:
    async def scenario() -> None:
        computed: list[LeaderboardKey] = []

        async def compute(key: LeaderboardKey) -> str:
            computed.append(key)
            return "r0"

        hub = LeaderboardHub("unused", compute, max_subscribers=2)
        slow, other = hub.subscribe(KEY), hub.subscribe(KEY)
        with pytest.raises(TooManySubscribers):
            hub.subscribe(KEY)
        async with slow, other:
            # Given two subscribers of one board: one computation served both
            assert computed == [KEY]
            # When three rankings are offered before the slow one reads
            for n in (1, 2, 3):
                slow.offer((f"r{n}", None))  # type: ignore[arg-type]
            # Then it gets the newest only
            assert (await anext(slow))[0] == "r3"
            assert (await anext(other))[0] == "r0"
        assert hub.subscribers == 0

    asyncio.run(scenario())


def test_subscribers_arriving_together_share_one_first_computation() -> None:
    async def scenario() -> None:
        calls: list[LeaderboardKey] = []
        release = asyncio.Event()

        async def compute(key: LeaderboardKey) -> str:
            calls.append(key)
            await release.wait()  # as a query would: every subscriber arrives meanwhile
            return "r0"

        hub = LeaderboardHub("unused", compute)
        subscriptions = [hub.subscribe(KEY) for _ in range(50)]
        # Given 50 subscribers of one board entering together, one of whom gives up
        entering = [asyncio.ensure_future(s.__aenter__()) for s in subscriptions]
        await asyncio.sleep(0)
        entering[0].cancel()
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(*entering[1:])
        # Then the board was computed once (not once per subscriber, each on a connection),
        # and every subscriber who stayed has it
        assert calls == [KEY]
        assert [(await anext(s))[0] for s in subscriptions[1:]] == ["r0"] * 49
        assert hub.subscribers == 49

    asyncio.run(scenario())


def test_a_failed_first_computation_fails_its_subscribers_and_the_next_one_tries_again(
        ) -> None:
    async def scenario() -> None:
        outcomes = ["fail", "r1"]

        async def compute(key: LeaderboardKey) -> str:
            await asyncio.sleep(0)
            outcome = outcomes.pop(0)
            if outcome == "fail":
                raise RuntimeError("pool timeout")
            return outcome

        hub = LeaderboardHub("unused", compute)
        first, second = hub.subscribe(KEY), hub.subscribe(KEY)
        results = await asyncio.gather(first.__aenter__(), second.__aenter__(),
                                       return_exceptions=True)
        assert [type(r) for r in results] == [RuntimeError, RuntimeError]
        assert hub.subscribers == 0
        async with hub.subscribe(KEY) as later:
            assert (await anext(later))[0] == "r1"

    asyncio.run(scenario())
