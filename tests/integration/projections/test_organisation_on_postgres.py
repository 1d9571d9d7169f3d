"""staff_assignment and customer_ownership on real PostgreSQL: live, late events, merges,
a handover of 1,000 customers, and rebuild equality."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from application.app import Siyu
from domain.ingestion import EventItem
from projections.organisation import CustomerOwnershipView, StaffAssignmentView
from projections.postgres_views import StaffDirectoryView
from projections.runner import BatchRunner, Tracker

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
BY = "staff:manager"


def runners(app: Siyu, page_size: int = 2000) -> list[BatchRunner]:
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    return [BatchRunner(app, view, tracker, page_size=page_size)
            for view in (StaffDirectoryView(), StaffAssignmentView(), CustomerOwnershipView())]


def catch_up(items: list[BatchRunner]) -> None:
    for runner in items:
        runner.catch_up()


def rows(url: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def friends(app: Siyu, staff_id: UUID, count: int, at: datetime = AT,
            prefix: str = "o") -> list[UUID]:
    items = [EventItem(f"fa-{prefix}{n}-{staff_id}", "FRIEND_ADDED", ("wx_unionid", f"{prefix}{n}"),
                       at, staff_id=str(staff_id), channel="qr:store-1") for n in range(count)]
    ids = [o.customer_id for o in app.ingestion.record_batch(items, "service:wecom").outcomes]
    assert all(ids)
    return [i for i in ids if i is not None]


def test_a_staff_members_history_and_directory_follow_moves_and_role_changes(
        pg_app: Siyu, pg_url: str) -> None:
    # Given a salesperson moved to the middle office, then made a user operator
    live = runners(pg_app)
    staff_id = pg_app.staff.hire("sales", "front_office", "王芳", BY, AT)
    pg_app.staff.move(staff_id, "middle_office", BY, AT + DAY)
    pg_app.staff.change_role(staff_id, "user_operator", BY, AT + 2 * DAY)
    # When the projections catch up
    catch_up(live)
    # Then the directory shows the current assignment and the history every period
    directory = rows(pg_url, "SELECT role, department FROM staff_directory")
    history = rows(pg_url, "SELECT department, role, since, until FROM staff_assignment "
                           "ORDER BY period")
    assert directory == [{"role": "user_operator", "department": "middle_office"}]
    assert [(h["department"], h["role"]) for h in history] == [
        ("front_office", "sales"), ("middle_office", "sales"), ("middle_office", "user_operator")]
    assert history[-1]["until"] is None
    at = rows(pg_url, "SELECT staff_department_at(%s, %s) AS d", staff_id, AT + DAY / 2)
    assert at == [{"d": "front_office"}]


def test_a_handover_of_a_thousand_customers_moves_every_ownership_period(
        pg_app: Siyu, pg_url: str) -> None:
    # Given A owns 1,000 customers and B owns 3
    live = runners(pg_app)
    a = pg_app.staff.hire("sales", "front_office", "A", BY, AT)
    b = pg_app.staff.hire("sales", "front_office", "B", BY, AT)
    mine = friends(pg_app, a, 1000)
    friends(pg_app, b, 3, prefix="b")
    catch_up(live)
    # When A leaves and all their customers (read from the read model) go to B
    pg_app.staff.leave(a, BY, AT + DAY)
    owned = [r["customer_id"] for r in rows(
        pg_url, "SELECT customer_id FROM customer_current_owner WHERE staff_id = %s", str(a))]
    result = pg_app.staff.hand_over(a, b, owned, "resignation", BY, AT + DAY,
                                        handover_id="leave-a")
    catch_up(live)
    # Then every one of them is B's from the handover on, and A's before
    assert sorted(owned) == sorted(mine)
    assert (result.transferred, result.refused) == (1000, [])
    current = rows(pg_url, "SELECT staff_id, count(*) AS n FROM customer_current_owner "
                           "GROUP BY staff_id")
    assert current == [{"staff_id": str(b), "n": 1003}]
    before = rows(pg_url, "SELECT count(*) AS n FROM customer_current_owner "
                          "WHERE customer_owner_at(customer_id, %s) = %s", AT + DAY / 2, str(a))
    assert before == [{"n": 1000}]
    # and a retry of the same handover records nothing
    again = pg_app.staff.hand_over(a, b, owned, "resignation", BY, AT + DAY,
                                       handover_id="leave-a")
    assert (again.transferred, again.already) == (0, 1000)


def test_a_late_friend_add_after_a_handover_keeps_the_periods(
        pg_app: Siyu, pg_url: str) -> None:
    # Given A's customer handed to B on day 2
    live = runners(pg_app)
    a, b, d = (pg_app.staff.hire("sales", "front_office", n, BY, AT) for n in "ABD")
    [customer] = friends(pg_app, a, 1, AT + DAY)
    pg_app.staff.hand_over(a, b, [customer], "reassignment", BY, AT + 2 * DAY)
    catch_up(live)
    # When a friend add with D, dated day 0, arrives afterwards
    friends(pg_app, d, 1, AT)
    catch_up(live)
    # Then the periods are still A from day 1, B from day 2; nobody owned it on day 0
    periods = rows(pg_url, "SELECT staff_id, since, until FROM customer_ownership "
                           "WHERE customer_id = %s ORDER BY period", customer)
    assert periods == [{"staff_id": str(a), "since": AT + DAY, "until": AT + 2 * DAY},
                       {"staff_id": str(b), "since": AT + 2 * DAY, "until": None}]
    owner = rows(pg_url, "SELECT customer_owner_at(%s, %s) AS s", customer, AT)
    assert owner == [{"s": None}]


def test_a_merge_and_unmerge_keep_each_streams_owner(
        pg_app: Siyu, pg_url: str) -> None:
    # Given A owns the mini-program customer; the mall customer has no owner
    live = runners(pg_app)
    a = pg_app.staff.hire("sales", "front_office", "A", BY, AT)
    [absorbed] = friends(pg_app, a, 1)
    survivor = pg_app.ingestion.record_batch(
        [EventItem("m", "TAGGED", ("phone", "13800138000"), AT, tag="mall")],
        "s:t").outcomes[0].customer_id
    # When the mall customer absorbs the other, Then the survivor is A's, the absorbed nobody's
    pg_app.identity.merge(survivor, absorbed, BY, AT + DAY)  # type: ignore[arg-type]
    catch_up(live)
    current = {r["customer_id"]: r["staff_id"] for r in rows(
        pg_url, "SELECT * FROM customer_current_owner")}
    assert current == {survivor: str(a)}
    # When the merge is undone, Then both are A's again, the absorbed from the unmerge on
    pg_app.identity.unmerge(absorbed, BY, AT + 2 * DAY)
    catch_up(live)
    periods = rows(pg_url, "SELECT reason, ended_reason, since FROM customer_ownership "
                           "WHERE customer_id = %s ORDER BY period", absorbed)
    assert periods == [{"reason": "first_friend", "ended_reason": "merged", "since": AT},
                       {"reason": "unmerged", "ended_reason": None, "since": AT + 2 * DAY}]


def test_a_rebuild_equals_the_live_projection(pg_app: Siyu, pg_url: str) -> None:
    # Given live projections in pages of 7 events over moves, handovers, merges, late adds
    live = runners(pg_app, page_size=7)
    a, b, c = (pg_app.staff.hire("sales", "front_office", n, BY, AT) for n in "ABC")
    pg_app.staff.move(c, "middle_office", BY, AT + DAY)
    customers = friends(pg_app, a, 30)
    pg_app.staff.hand_over(a, b, customers[:20], "reassignment", BY, AT + DAY, chunk=6)
    pg_app.identity.merge(customers[0], customers[25], BY, AT + 2 * DAY)
    friends(pg_app, c, 5, AT - DAY, prefix="c")
    pg_app.staff.leave(b, BY, AT + 3 * DAY)
    pg_app.staff.hand_over(b, c, customers[:20], "resignation", BY, AT + 3 * DAY)
    catch_up(live)
    tables = {"customer_ownership": "customer_id, period", "staff_assignment": "staff_id, period",
              "staff_directory": "staff_id"}
    before = {t: rows(pg_url, f"SELECT * FROM {t} ORDER BY {k}") for t, k in tables.items()}
    # When every view is rebuilt from the log
    for runner in runners(pg_app):
        runner.rebuild()
    # Then the rows are the same
    assert {t: rows(pg_url, f"SELECT * FROM {t} ORDER BY {k}") for t, k in tables.items()} == before
    assert len(before["customer_ownership"]) == 30 + 5 + 20 + 20
