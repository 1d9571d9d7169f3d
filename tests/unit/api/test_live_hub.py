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
