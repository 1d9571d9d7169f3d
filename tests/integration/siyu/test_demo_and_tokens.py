"""Demo data and API tokens on real PostgreSQL."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime

import psycopg
import pytest

from adapters.tokens import (
    TokenHolder,
    ensure_token_table,
    issue_token,
    resolve_token,
    revoke_token,
)
from application.app import Siyu
from siyu import demo

pytestmark = pytest.mark.integration


def test_the_demo_loads_a_plausible_month_once(pg_app: Siyu, pg_url: str,
                                               now: datetime) -> None:
    first = demo.load(pg_app, customers=150, now=now)
    assert first.rejected == 0 and first.duplicates == 0
    assert first.accepted == first.events > 150 * 5
    assert len(first.staff) == 20
    with psycopg.connect(pg_url) as conn:
        stored = conn.execute("SELECT count(*) FROM siyu_events").fetchone()
    again = demo.load(pg_app, customers=150, now=now)
    assert again.accepted == 0 and again.duplicates == first.events
    with psycopg.connect(pg_url) as conn:  # staff facts, tasks, targets, lexicon: once too
        assert conn.execute("SELECT count(*) FROM siyu_events").fetchone() == stored
    assert [s for s, _ in again.staff] == [s for s, _ in first.staff]
    with psycopg.connect(pg_url) as conn:
        topics = Counter(t.rsplit(".", 1)[-1] for (t,) in conn.execute(
            "SELECT topic FROM siyu_events"))
    assert topics["Registered"] == 150
    assert topics["Hired"] == 20
    for kind in ("FriendAdded", "Tagged", "ContentViewed", "OrderPaid", "GroupJoined",
                 "MessageReceived", "MessageSent", "HolidayGreetingSent", "FollowUpRecorded",
                 "MomentPosted", "Assigned", "Completed", "TermAdded"):
        assert topics[kind] > 0, kind
    front = [s for s, role in first.staff if role in ("sales", "service", "chief_chat_officer")]
    assert topics["Set"] == 2 * len(front) + 1  # two per front-line member, one department
    # the seeds' layers are defined once, two of them as auto-tag rules
    # and a welcome SOP (Sop.Defined), once
    assert topics["Defined"] == len(demo.SEGMENTS) + 1
    assert pg_app.sops.get(demo.WELCOME_SOP).revision == 1
    assert topics["AutoTagChanged"] == sum(1 for *_, tag in demo.SEGMENTS if tag)
    events = demo._customer_events(7, random.Random(1), now, [s for s, _ in first.staff])
    assert all(e.occurred_at <= now for e in events)


def test_tokens_resolve_until_revoked_and_are_stored_hashed(pg_url: str) -> None:
    ensure_token_table(pg_url)
    token = issue_token(pg_url, "staff", "s-1", "sales", "test")
    assert resolve_token(pg_url, token) == TokenHolder("staff", "s-1", frozenset())
    assert resolve_token(pg_url, token + "x") is None
    with psycopg.connect(pg_url) as conn:
        stored = conn.execute("SELECT token_hash FROM api_token").fetchall()
    assert stored and token not in str(stored)
    assert revoke_token(pg_url, token)
    assert resolve_token(pg_url, token) is None
    with pytest.raises(ValueError, match="kind"):
        issue_token(pg_url, "robot", "s-2", None)
