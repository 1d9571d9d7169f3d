"""The pure row logic of the funnel read models: acquisition moves with late facts,
memberships end and resume, checkpoints fall where docs/funnels.md says."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

from domain.customer import Customer
from projections.funnels import rows

ID = uuid4()
T0 = datetime(2026, 3, 31, 17, 0, tzinfo=UTC)  # 2026-04-01 01:00 in Shanghai


def event(kind: type[Any], at: datetime, **fields: Any) -> Any:
    return kind(originator_id=ID, originator_version=1, timestamp=at, by="service:t",
                occurred_at=at, **fields)


def folded(*events: Any) -> rows.Row:
    row = rows.empty(ID)
    for position, e in enumerate(events, start=1):
        row = rows.fold(row, position, e)
    return row


def friend(at: datetime, channel: str = "qr:store-01", staff: str = "s1") -> Any:
    return event(Customer.FriendAdded, at, staff_id=staff, channel=channel, state=None,
                 welcome_code=None)


def test_checkpoints_add_calendar_months_clamped_to_the_months_end() -> None:
    assert rows.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert rows.add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert rows.add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert rows.checkpoint(date(2026, 4, 1), 30, 0) == date(2026, 5, 1)


def test_an_older_fact_imported_later_moves_acquisition_day_and_channel() -> None:
    # Given a friend added through a store code, and later an import of an older order
    row = folded(friend(T0), event(Customer.OrderPaid, T0 - timedelta(days=40),
                                   order_id="o1", amount_fen=900, items=[], channel="store"))
    # Then the customer was acquired by the order, through its channel, and has paid
    [(table, key)] = [k for k in rows.contributions(row) if k[0] == "funnel_daily"]
    assert key == ("2026-02-20", "store")
    counts = dict(zip(rows.FUNNEL_COUNTS, rows.contributions(row)[(table, key)], strict=True))
    assert counts["acquired"] == counts["paying"] == counts["activated"] == 1
    assert counts["net_fen"] == 900


def test_a_member_who_left_and_came_back_counts_as_retained_and_a_replay_changes_nothing(
) -> None:
    gone = event(Customer.FriendDeleted, T0 + timedelta(days=3), staff_id="s1",
                 deleted_by="customer")
    left = folded(friend(T0), gone)
    back = rows.fold(left, 3, friend(T0 + timedelta(days=50)))
    assert rows.fold(back, 3, friend(T0 + timedelta(days=60))) is back
    key = ("cohort_daily", ("wecom_friend", "2026-04-01", "qr:store-01"))
    assert rows.contributions(left)[key] == (1, 1, 0, 0, 0, 0, 0, 0, 0, 0)
    assert rows.contributions(back)[key] == (1,) * 10


def test_the_last_join_day_due_by_a_day_splits_join_days_at_their_checkpoint() -> None:
    from projections.funnels.queries import last_join_day

    for offset in range(0, 800, 3):
        as_of = date(2024, 1, 1) + timedelta(days=offset)
        for _, days, months in rows.CHECKPOINTS:
            last = last_join_day(as_of, days, months)
            assert rows.checkpoint(last, days, months) <= as_of
            assert rows.checkpoint(last + timedelta(days=1), days, months) > as_of


def test_folding_a_pages_events_into_one_copy_gives_the_rows_fold_gives_and_leaves_the_loaded_row(
) -> None:
    # Given a loaded row with a membership, and a page of events for it
    loaded = folded(friend(T0))
    snapshot = {**loaded, "touchpoints": {k: dict(v) for k, v in loaded["touchpoints"].items()}}
    page = [friend(T0 + timedelta(days=1), staff="s2"),
            event(Customer.FriendDeleted, T0 + timedelta(days=2), staff_id="s1",
                  deleted_by="customer"),
            event(Customer.OrderPaid, T0 + timedelta(days=3), order_id="o1", amount_fen=500,
                  items=[], channel="store"),
            event(Customer.OwnerChanged, T0 + timedelta(days=4), staff_id="s2",
                  previous_staff_id=None, reason="first_friend", handover_id=None)]
    # When they are folded into one copy, in place
    copy = rows.own_copy(loaded)
    for position, e in enumerate(page, start=2):
        rows.fold_into(copy, position, e)
    # Then the copy is what folding one event at a time gives, and the loaded row is intact
    expected = loaded
    for position, e in enumerate(page, start=2):
        expected = rows.fold(expected, position, e)
    assert copy == expected
    assert loaded == snapshot


def test_the_customer_upsert_sends_every_column_of_a_row_in_its_order() -> None:
    # Given the columns the upsert sends, each with its type (projections.funnels.view)
    from projections.funnels.view import _COLUMNS
    # Then they are a row's fields, all of them in order: a field added to the rows and not
    # to the upsert would be dropped by every write without an error
    assert [name for name, _, _ in _COLUMNS] == list(rows.empty(uuid4()))
