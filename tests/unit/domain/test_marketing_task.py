"""Marketing tasks: assigned once per key, completed by the assignee, cancelled, reassigned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from application.app import Siyu
from domain.errors import InvalidInput, StaffAlreadyLeft, UnknownStaff
from domain.marketing_task import (
    CANCELLED,
    COMPLETED,
    OPEN,
    AssignmentKeyReused,
    MarketingTask,
    MarketingTaskClosed,
    NotYourTask,
    UnknownMarketingTask,
    task_id,
)

AT = datetime(2026, 11, 20, 2, tzinfo=UTC)
DUE = AT + timedelta(days=2)


def staff(app: Siyu, n: int = 0) -> UUID:
    return app.staff.hire("sales", "front_office", f"s{n}", "staff:m", AT - timedelta(days=9))


def assign(app: Siyu, who: UUID, key: str = "form-1", **options: object
           ) -> tuple[UUID, int | None]:
    return app.marketing_tasks.assign(key, " Post the Double 11 poster ", "moments_post", who,
                                     DUE, "staff:m", AT, **options)  # type: ignore[arg-type]


def test_a_task_assigned_twice_with_one_key_is_recorded_once(
        memory_app: Siyu) -> None:
    # Given a staff member
    s = staff(memory_app)
    # When the same assignment is sent twice (a client retrying)
    first, position = assign(memory_app, s, target_count=30)
    again, position_again = assign(memory_app, s, target_count=30)
    # Then one task is recorded, with who and when
    assert first == again == task_id("form-1")
    assert position is not None and position_again is None
    task = memory_app.marketing_tasks.get(first)
    assert (task.title, task.kind, task.staff_id, task.due_at, task.status,
            task.target_count) == ("Post the Double 11 poster", "moments_post", str(s), DUE,
                                   OPEN, 30)
    created: object = memory_app.repository.get(first, version=1)
    assert isinstance(created, MarketingTask)


def test_an_assignment_key_reused_for_other_contents_is_refused(
        memory_app: Siyu) -> None:
    s = staff(memory_app)
    assign(memory_app, s)
    with pytest.raises(AssignmentKeyReused) as refused:
        assign(memory_app, s, target_count=5)
    assert refused.value.code == "ASSIGNMENT_KEY_REUSED"


def test_a_retried_assignment_after_a_reassignment_is_still_the_same_task(
        memory_app: Siyu) -> None:
    s, other = staff(memory_app), staff(memory_app, 1)
    tid, _ = assign(memory_app, s)
    memory_app.marketing_tasks.reassign(tid, other, "staff:m", AT)
    assert assign(memory_app, s) == (tid, None)
    assert memory_app.marketing_tasks.get(tid).staff_id == str(other)


def test_only_the_assignee_completes_a_task_and_completing_again_changes_nothing(
        memory_app: Siyu) -> None:
    s, other = staff(memory_app), staff(memory_app, 1)
    tid, _ = assign(memory_app, s)
    with pytest.raises(NotYourTask):
        memory_app.marketing_tasks.complete(tid, other, 1, [], f"staff:{other}", AT)
    done = memory_app.marketing_tasks.complete(tid, s, 28, ["moment:m-1", "moment:m-1"],
                                              f"staff:{s}", AT + timedelta(hours=3))
    assert done is not None
    assert memory_app.marketing_tasks.complete(tid, s, 28, [], f"staff:{s}", AT) is None
    task = memory_app.marketing_tasks.get(tid)
    assert task.status == COMPLETED
    done_event = list(memory_app.events.get(tid))[-1]
    assert isinstance(done_event, MarketingTask.Completed)
    assert (done_event.staff_id, done_event.completed_count, done_event.evidence,
            done_event.by) == (str(s), 28, ["moment:m-1"], f"staff:{s}")


def test_evidence_is_references_only_and_counts_are_bounded(
        memory_app: Siyu) -> None:
    s = staff(memory_app)
    tid, _ = assign(memory_app, s)
    with pytest.raises(InvalidInput) as bad:
        memory_app.marketing_tasks.complete(tid, s, 1, ["a free text note"], "staff:x", AT)
    assert bad.value.field == "evidence"
    with pytest.raises(InvalidInput) as negative:
        memory_app.marketing_tasks.complete(tid, s, -1, [], "staff:x", AT)
    assert negative.value.field == "completedCount"


def test_a_cancelled_task_can_be_neither_completed_nor_reassigned(
        memory_app: Siyu) -> None:
    s, other = staff(memory_app), staff(memory_app, 1)
    tid, _ = assign(memory_app, s)
    assert memory_app.marketing_tasks.cancel(tid, "campaign cancelled", "staff:m", AT) is not None
    assert memory_app.marketing_tasks.cancel(tid, "again", "staff:m", AT) is None
    assert memory_app.marketing_tasks.get(tid).status == CANCELLED
    with pytest.raises(MarketingTaskClosed) as closed:
        memory_app.marketing_tasks.complete(tid, s, 1, [], "staff:x", AT)
    assert closed.value.code == "MARKETING_TASK_CLOSED"
    with pytest.raises(MarketingTaskClosed):
        memory_app.marketing_tasks.reassign(tid, other, "staff:m", AT)


def test_a_completed_task_cannot_be_cancelled(memory_app: Siyu) -> None:
    s = staff(memory_app)
    tid, _ = assign(memory_app, s)
    memory_app.marketing_tasks.complete(tid, None, None, [], "service:bot", AT)
    with pytest.raises(MarketingTaskClosed):
        memory_app.marketing_tasks.cancel(tid, "", "staff:m", AT)


def test_reassigning_records_who_had_it_and_to_the_same_member_is_a_no_op(
        memory_app: Siyu) -> None:
    s, other = staff(memory_app), staff(memory_app, 1)
    tid, _ = assign(memory_app, s)
    assert memory_app.marketing_tasks.reassign(tid, s, "staff:m", AT) is None
    assert memory_app.marketing_tasks.reassign(tid, other, "staff:m", AT) is not None
    events = list(memory_app.events.get(tid))
    moved = events[-1]
    assert isinstance(moved, MarketingTask.Reassigned)
    assert (moved.staff_id, moved.previous_staff_id, moved.by) == (str(other), str(s), "staff:m")
    with pytest.raises(NotYourTask):
        memory_app.marketing_tasks.complete(tid, s, 1, [], f"staff:{s}", AT)


def test_tasks_go_only_to_known_staff_who_have_not_left(memory_app: Siyu) -> None:
    with pytest.raises(UnknownStaff):
        assign(memory_app, uuid4())
    gone = staff(memory_app, 2)
    memory_app.staff.leave(gone, "staff:m", AT)
    with pytest.raises(StaffAlreadyLeft):
        assign(memory_app, gone, key="form-2")


@pytest.mark.parametrize(("field", "options"), [
    ("assignmentKey", {"assignment_key": " "}), ("title", {"title": ""}),
    ("kind", {"kind": "dance"}), ("targetCount", {"target_count": 0}),
])
def test_bad_assignments_are_refused_with_the_field_at_fault(
        memory_app: Siyu, field: str, options: dict[str, object]) -> None:
    s = staff(memory_app)
    args: dict[str, object] = {"assignment_key": "k", "title": "t", "kind": "follow_up",
                               "target_count": None, **options}
    with pytest.raises(InvalidInput) as refused:
        memory_app.marketing_tasks.assign(
            str(args["assignment_key"]), str(args["title"]), str(args["kind"]), s, DUE,
            "staff:m", AT, target_count=args["target_count"])  # type: ignore[arg-type]
    assert refused.value.field == field


def test_an_unknown_task_is_a_typed_error(memory_app: Siyu) -> None:
    with pytest.raises(UnknownMarketingTask) as unknown:
        memory_app.marketing_tasks.cancel(uuid4(), "", "staff:m", AT)
    assert unknown.value.code == "UNKNOWN_MARKETING_TASK"
