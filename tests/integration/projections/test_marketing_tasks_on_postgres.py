"""The marketing_task read model on PostgreSQL: every state, overdue derived, rebuild == live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from application.app import Siyu
from projections.marketing_tasks import MarketingTaskView
from projections.runner import BatchRunner, Tracker

pytestmark = pytest.mark.integration

AT = datetime.now(UTC).replace(microsecond=0)  # overdue is relative to now()


def snapshot(app: Siyu) -> list[dict[str, Any]]:
    with app.factory.datastore.transaction() as curs:  # type: ignore[attr-defined]
        curs.execute("SELECT * FROM marketing_task_view ORDER BY assignment_key")
        return [dict(r) for r in curs.fetchall()]


def test_rebuilding_gives_the_rows_of_the_live_projection(pg_app: Siyu) -> None:
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    runner = BatchRunner(pg_app, MarketingTaskView(), tracker, page_size=2)
    # Given tasks open (one past due), reassigned, completed late, and cancelled
    a, b = (pg_app.staff.hire("sales", "front_office", f"s{n}", "staff:m", AT) for n in (0, 1))
    ids = [pg_app.marketing_tasks.assign(f"k{n}", f"Task {n}", "follow_up", a,
                                        AT + timedelta(days=n - 1), "staff:m", AT,
                                        target_count=10)[0] for n in range(4)]
    pg_app.marketing_tasks.reassign(ids[1], b, "staff:m", AT + timedelta(hours=1))
    pg_app.marketing_tasks.complete(ids[1], b, 7, ["group:g1"], f"staff:{b}",
                                   AT + timedelta(days=1))
    pg_app.marketing_tasks.cancel(ids[2], "no stock", "staff:m", AT + timedelta(hours=2))
    # When the view follows the log page by page, then is rebuilt
    runner.catch_up()
    live = snapshot(pg_app)
    runner.rebuild()
    # Then the rows are the same, with who and when of each change
    assert snapshot(pg_app) == live
    overdue, done, cancelled, open_ = live
    assert (overdue["status"], overdue["overdue"]) == ("open", True)
    assert (done["staff_id"], done["previous_staff"], done["completed_count"],
            done["evidence"], done["completed_by"], done["completed_late"]) == (
        str(b), [str(a)], 7, ["group:g1"], f"staff:{b}", True)
    assert (cancelled["status"], cancelled["cancel_reason"], cancelled["cancelled_by"]) == (
        "cancelled", "no stock", "staff:m")
    assert (open_["status"], open_["overdue"], open_["target_count"]) == ("open", False, 10)
