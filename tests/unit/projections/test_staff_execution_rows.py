"""Marketing-task credit: assigned on the due day, moved by a reassignment, taken back by a
cancellation, completed on the completion day; replays change nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from domain.marketing_task import MarketingTask
from projections.staff_performance.execution import TaskCredit, credit_task

AT = datetime(2026, 11, 20, 2, tzinfo=UTC)
DUE = datetime(2026, 11, 30, 17, tzinfo=UTC)  # 1 December in Shanghai


def events() -> list[object]:
    task = MarketingTask.assign("k", "Post", "moments_post", "s1", DUE, "staff:m", AT)
    task.reassign("s2", "staff:m", AT + timedelta(hours=1))
    task.complete("s2", 4, [], "staff:s2", AT + timedelta(days=1))
    return list(task.collect_events())


def test_a_task_is_credited_on_its_due_day_and_moves_with_a_reassignment() -> None:
    assigned, moved, completed = events()
    state, credits = credit_task(None, assigned)
    assert credits == [("s1", date(2026, 12, 1), "marketing_tasks_assigned", 1)]
    state, credits = credit_task(state, moved)
    assert credits == [("s1", date(2026, 12, 1), "marketing_tasks_assigned", -1),
                       ("s2", date(2026, 12, 1), "marketing_tasks_assigned", 1)]
    state, credits = credit_task(state, completed)
    assert credits == [("s2", date(2026, 11, 21), "marketing_tasks_completed", 1)]
    assert state == TaskCredit("s2", date(2026, 12, 1), "completed", 3)


def test_replayed_task_events_credit_nothing_again() -> None:
    assigned, moved, _ = events()
    state, _ = credit_task(None, assigned)
    state, _ = credit_task(state, moved)
    assert credit_task(state, assigned) == (state, [])
    assert credit_task(state, moved) == (state, [])


def test_a_cancelled_task_is_no_longer_counted_as_assigned() -> None:
    task = MarketingTask.assign("k2", "Call", "follow_up", "s1", DUE, "staff:m", AT)
    task.cancel("plan changed", "staff:m", AT)
    assigned, cancelled = task.collect_events()
    state, _ = credit_task(None, assigned)
    state, credits = credit_task(state, cancelled)
    assert credits == [("s1", date(2026, 12, 1), "marketing_tasks_assigned", -1)]
    assert state is not None and state.status == "cancelled"


def test_task_events_of_an_unknown_task_credit_nothing() -> None:
    _, moved, _ = events()
    assert credit_task(None, moved) == (None, [])
