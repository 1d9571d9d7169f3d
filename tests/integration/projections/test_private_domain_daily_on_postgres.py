"""The manager overview's daily series (``private_domain_users_daily`` over
``private_domain_link``), compared with an independent fold of the raw event log: each
customer's state at the end of each business day, from the events that happened before
it — with events sent out of business-time order, a merge, and departments' shares while
members move and leave (each day credited to the department held at its end)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from application.app import Siyu
from domain.customer import Customer
from domain.ingestion import EventItem
from projections.private_domain import TOUCHPOINTS, PrivateDomainView
from projections.runner import BatchRunner, Tracker
from projections.staff_performance import SHANGHAI
from siyu.processes import catch_up
from tests.support.directory import hire_as

pytestmark = pytest.mark.integration

FIRST = date(2026, 11, 1)
DAYS = 12
STAFF = {"0a6f0000-0000-4000-8000-0000000000b1": "front_office",
         "0a6f0000-0000-4000-8000-0000000000b2": "front_office",
         "0a6f0000-0000-4000-8000-0000000000b3": "middle_office"}
#: b2 moves to the middle office in the afternoon of day 6; b3 leaves on day 9.
MOVED = ("0a6f0000-0000-4000-8000-0000000000b2", FIRST + timedelta(days=6), "middle_office")
LEFT = ("0a6f0000-0000-4000-8000-0000000000b3", FIRST + timedelta(days=9))


def _department_on(staff: str, day: date) -> str | None:
    """The department held at the end of ``day`` (on the day of leaving: the one left)."""
    if staff == MOVED[0] and day >= MOVED[1]:
        return MOVED[2]
    if staff == LEFT[0] and day > LEFT[1]:
        return None
    return STAFF.get(staff)


def _items(rng: random.Random) -> list[EventItem]:
    """Forty customers, each doing a few touchpoint things on random days."""
    items: list[EventItem] = []
    for c in range(40):
        mini = c % 3 == 0
        identity = ("wx_openid:wxapp", f"o-{c}") if mini else ("wx_unionid", f"u-{c}")
        start = datetime.combine(FIRST, time(9), SHANGHAI).astimezone(UTC) + timedelta(
            hours=rng.randrange(0, 24 * DAYS))

        def add(kind: str, at: datetime, c: int = c, identity: Any = identity,
                **fields: Any) -> None:
            items.append(EventItem(f"pd-{c}-{len(items)}", kind, identity, at, **fields))

        add("REGISTERED", start, channel="mini_program" if c % 5 == 0 else "qr")
        at = start
        for _ in range(rng.randrange(1, 6)):
            at += timedelta(hours=rng.randrange(1, 60), minutes=rng.randrange(60))
            staff = rng.choice(sorted(STAFF))
            kind = rng.choice(["GROUP_JOINED", "GROUP_LEFT", "FRIEND_ADDED", "FRIEND_DELETED",
                               "PERSONAL_WECHAT_FRIEND_ADDED", "PERSONAL_WECHAT_FRIEND_DELETED",
                               "MEMBER_REGISTERED"])
            if kind.startswith("GROUP"):
                add(kind, at, group_id=f"g{rng.randrange(2)}")
            elif kind == "FRIEND_DELETED":
                add(kind, at, staff_id=staff, deleted_by=rng.choice(["CUSTOMER", "STAFF"]))
            elif "FRIEND" in kind:
                add(kind, at, staff_id=staff)
            else:
                add(kind, at)
    return items


def _day_end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(), SHANGHAI)


def _truth(app: Siyu, department: str | None) -> dict[date, dict[str, int]]:
    """Fold the raw log, customer by customer, up to the end of each day."""
    events: list[tuple[int, Any]] = []
    survivor: dict[str, str] = {}
    start = 1
    while page := app.recorder.select_notifications(start, 1000):
        for stored in page:
            e: Any = app.mapper.to_domain_event(stored)
            if isinstance(e, Customer.MergedInto):
                survivor[str(e.originator_id)] = e.survivor_id
            elif isinstance(e, (Customer.Registered, Customer.Event)):
                events.append((stored.id, e))
        start = page[-1].id + 1
    by_customer: dict[str, list[tuple[int, Any]]] = defaultdict(list)
    for position, e in events:
        by_customer[survivor.get(str(e.originator_id), str(e.originator_id))].append((position, e))
    series: dict[date, dict[str, int]] = {}
    for offset in range(DAYS + 3):
        day = FIRST + timedelta(days=offset)
        counts = dict.fromkeys((*TOUCHPOINTS, "total"), 0)
        for history in by_customer.values():
            state: dict[str, set[str]] = defaultdict(set)
            for _, e in sorted(history, key=lambda pe: (pe[1].occurred_at, pe[0])):
                if e.occurred_at >= _day_end(day):
                    continue
                _fold(state, e)
            if department is not None:
                state = {t: {s for s in keys if _department_on(s, day) == department}
                         for t, keys in state.items() if t in ("wecom_friends", "personal_wechat")}
            present = [t for t, keys in state.items() if keys]
            for t in present:
                counts[t] += 1
            counts["total"] += bool(present)
        series[day] = counts
    return series


def _fold(state: dict[str, set[str]], e: Any) -> None:
    if (isinstance(e, Customer.Registered) and e.first_channel == "mini_program") or (
            isinstance(e, Customer.IdentityLinked) and e.namespace.startswith("wx_openid")):
        state["mini_program"].add("")
    elif isinstance(e, Customer.MemberRegistered):
        state["members"].add("")
    elif isinstance(e, Customer.GroupJoined):
        state["groups"].add(e.group_id)
    elif isinstance(e, Customer.GroupLeft):
        state["groups"].discard(e.group_id)
    elif isinstance(e, Customer.FriendAdded):
        state["wecom_friends"].add(e.staff_id)
    elif isinstance(e, Customer.FriendDeleted):
        state["wecom_friends"].discard(e.staff_id)
    elif isinstance(e, Customer.PersonalWeChatFriendAdded):
        state["personal_wechat"].add(e.staff_id)
    elif isinstance(e, Customer.PersonalWeChatFriendDeleted):
        state["personal_wechat"].discard(e.staff_id)


def _series(url: str, department: str | None) -> dict[date, dict[str, int]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute("SELECT * FROM private_domain_users_daily(%s, %s, %s)",
                            (FIRST, FIRST + timedelta(days=DAYS + 2), department)).fetchall()
    return {r.pop("day"): {k: v for k, v in r.items() if v is not None} for r in rows}


def _merge_two(app: Siyu, url: str) -> None:
    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute(
            "SELECT customer_id FROM customer_profile WHERE cardinality(groups) > 0 "
            "OR cardinality(current_staff_ids) > 0 ORDER BY customer_id LIMIT 2").fetchall()]
    app.identity.merge(UUID(str(ids[0])), UUID(str(ids[1])), "service:test",
                       datetime.combine(FIRST + timedelta(days=DAYS), time(12), SHANGHAI))


def test_the_daily_series_equals_a_fold_of_the_raw_events(pg_app: Siyu, pg_url: str) -> None:
    # Given staff in two departments, and customers' touchpoint events sent in shuffled order
    for staff_id, department in STAFF.items():
        hire_as(pg_app, staff_id, "sales", department, wait=False)
    # And one member moving to another department, another leaving, within the range
    pg_app.staff.move(UUID(MOVED[0]), MOVED[2], "service:test",
                      datetime.combine(MOVED[1], time(15), SHANGHAI))
    pg_app.staff.leave(UUID(LEFT[0]), "service:test", datetime.combine(LEFT[1], time(15), SHANGHAI))
    items = _items(random.Random(18))
    random.Random(5).shuffle(items)
    for chunk in range(0, len(items), 25):
        result = pg_app.ingestion.record_batch(items[chunk:chunk + 25], "service:test")
        assert result.count("accepted") == len(items[chunk:chunk + 25]), result.outcomes
    catch_up(pg_app)
    # And two customers merged afterwards
    _merge_two(pg_app, pg_url)
    catch_up(pg_app)
    # Then every day's count per touchpoint equals the fold, for the company and a department
    assert _series(pg_url, None) == _truth(pg_app, None)
    front = _series(pg_url, "front_office")
    assert front == {d: {k: v for k, v in c.items() if k in ("wecom_friends", "personal_wechat",
                                                             "total")}
                     for d, c in _truth(pg_app, "front_office").items()}
    assert any(c["total"] for c in front.values())
    middle = _series(pg_url, "middle_office")
    assert middle == {d: {k: v for k, v in c.items() if k in ("wecom_friends", "personal_wechat",
                                                              "total")}
                      for d, c in _truth(pg_app, "middle_office").items()}
    # (the move and the departure change what the departments are credited)
    assert middle[MOVED[1]] != middle[MOVED[1] - timedelta(days=1)] or \
        front[MOVED[1]] != front[MOVED[1] - timedelta(days=1)]
    # And a rebuild from the log gives the same links
    with psycopg.connect(pg_url) as conn:
        before = conn.execute("SELECT * FROM private_domain_link ORDER BY 1, 2, 3, 4").fetchall()
        deltas = conn.execute("SELECT * FROM siyu_private_domain_delta WHERE delta <> 0 "
                              "ORDER BY 1, 2").fetchall()
    view = PrivateDomainView()
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    BatchRunner(pg_app, view, tracker).rebuild()
    with psycopg.connect(pg_url) as conn:
        after = conn.execute("SELECT * FROM private_domain_link ORDER BY 1, 2, 3, 4").fetchall()
        rebuilt = conn.execute("SELECT * FROM siyu_private_domain_delta WHERE delta <> 0 "
                               "ORDER BY 1, 2").fetchall()
    assert after == before and before
    assert rebuilt == deltas and deltas
