"""``transact``: one transaction per command, decided again on a storage conflict."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import IntegrityError

import application.unit_of_work as unit_of_work
from adapters.memory_recorder import SiyuMemoryRecorder
from adapters.vault import AesGcmVault
from application.app import Siyu
from application.unit_of_work import UnitOfWork
from domain.staff import Staff
from siyu.bootstrap import build_application

AT = datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    taken: list[float] = []
    monkeypatch.setattr(unit_of_work, "sleep", taken.append)
    return taken


def test_a_conflict_is_decided_again_on_a_new_unit_and_then_saved(pauses: list[float]) -> None:
    # Given a command whose first two attempts meet a storage conflict
    app = build_application(None, b"s" * 32)
    units: list[UnitOfWork[Staff]] = []

    def decide(unit: UnitOfWork[Staff]) -> str:
        units.append(unit)
        staff = unit.add(Staff.hire("sales", "front_office", "manager", AT))
        if len(units) < 3:
            raise IntegrityError("stale")
        return str(staff.id)

    # When it is transacted
    staff_id, position = app.transact(Staff, decide)

    # Then the third attempt, on a fresh unit, is saved, after two short pauses
    assert len(units) == 3 and len({id(u) for u in units}) == 3
    assert position is not None
    assert str(app.repository.get(units[2].aggregates.popitem()[0]).id) == staff_id
    assert len(pauses) == 2 and all(0 <= p <= unit_of_work.BACKOFF_MAX for p in pauses)


def test_it_gives_up_after_the_last_attempt_and_raises_the_conflict(pauses: list[float]) -> None:
    # Given a command that always meets a conflict
    app = build_application(None, b"s" * 32)
    calls: list[int] = []

    def decide(unit: UnitOfWork[Staff]) -> None:
        calls.append(1)
        raise IntegrityError("stale")

    # When it is transacted with three attempts, Then the conflict reaches the caller
    with pytest.raises(IntegrityError):
        app.transact(Staff, decide, attempts=3)
    assert len(calls) == 3
    assert len(pauses) == 2  # between attempts, not after the last


def test_the_backoff_is_jittered_and_grows_but_stays_short() -> None:
    for attempt in range(1, 10):
        bound = min(unit_of_work.BACKOFF_MAX, unit_of_work.BACKOFF * 2 ** (attempt - 1))
        assert all(0 <= unit_of_work.backoff(attempt) <= bound for _ in range(50))
    assert len({unit_of_work.backoff(5) for _ in range(20)}) > 1


def test_other_errors_are_not_retried_and_evict_what_the_unit_changed(
        pauses: list[float]) -> None:
    # Given a stored staff member, cached
    app = build_application(None, b"s" * 32)
    staff_id = app.transact(Staff, lambda u: u.add(Staff.hire("sales", "front_office", "m", AT)).id)[0]
    cached = app.find(staff_id, Staff)

    # When a command changes it in place and then fails
    def decide(unit: UnitOfWork[Staff]) -> None:
        staff = app.find(staff_id, Staff)
        assert staff is not None
        unit.add(staff).move("back_office", "m", AT)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        app.transact(Staff, decide)

    # Then it was tried once, and the half-changed copy is not served again
    assert pauses == []
    stored = app.find(staff_id, Staff)
    assert stored is not None and stored is not cached and stored.department == "front_office"


def test_nothing_decided_records_nothing() -> None:
    app = build_application(None, b"s" * 32)
    assert app.transact(Staff, lambda unit: 42) == (42, None)


def test_a_stale_cache_is_evicted_on_conflict_and_the_command_decided_on_the_stored_state(
        pauses: list[float]) -> None:
    # Given two processes on one event log, the first with a cached staff member
    shared = SiyuMemoryRecorder()
    first = Siyu(vault=AesGcmVault(b"s" * 32), blind_key=b"k" * 32, recorder=shared)
    second = Siyu(vault=AesGcmVault(b"s" * 32), blind_key=b"k" * 32, recorder=shared)
    staff_id = first.staff.hire("sales", "front_office", "Wang", "m", AT)
    assert first.find(staff_id, Staff) is not None  # cached by the first process
    # ... whom the second process moves
    second.staff.move(staff_id, "back_office", "m", AT)

    # When the first decides on its cached copy (no fresh read)
    seen: list[str] = []

    def decide(unit: UnitOfWork[Staff]) -> None:
        staff = first.find(staff_id, Staff)
        assert staff is not None
        seen.append(staff.department)
        staff.change_role("service", "m", AT)
        unit.add(staff)

    _, position = first.transact(Staff, decide)

    # Then the commit conflicts once, and the retry decides on the stored state
    assert seen == ["front_office", "back_office"] and len(pauses) == 1
    assert position is not None
    stored = second.find(staff_id, Staff, fresh=True)
    assert stored is not None and (stored.department, stored.role) == ("back_office", "service")
