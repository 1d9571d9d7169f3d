"""Staff in the organisation: departments, roles, moves and role changes (memory app)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from application.app import Siyu
from domain.errors import InvalidRole, StaffAlreadyLeft, UnknownStaff
from domain.organisation import DEPARTMENT_CATALOGUE, DEPARTMENTS, ROLE_CATALOGUE, ROLES
from domain.staff import Staff

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 9, 9, 0, tzinfo=UTC)
BY = "staff:manager"


def test_the_catalogue_names_the_seeds_roles_the_trust_roles_and_the_privacy_officer() -> None:
    assert [d.code for d in DEPARTMENT_CATALOGUE] == ["front_office", "middle_office",
                                                      "back_office"]
    assert {"private_domain_manager", "activity_planner", "copywriter", "product_operator",
            "designer", "content_operator", "user_operator", "data_operator", "sales",
            "service", "chief_chat_officer", "department_manager", "auditor",
            "privacy_officer"} == ROLES
    assert all(r.department in DEPARTMENTS for r in ROLE_CATALOGUE)


def test_moving_a_staff_member_records_who_when_and_the_previous_department(
        memory_app: Siyu) -> None:
    # Given a salesperson in the front office
    staff_id = memory_app.staff.hire("sales", "front_office", "王芳", BY, AT)
    # When a manager moves them to the middle office
    position = memory_app.staff.move(staff_id, "middle_office", BY, LATER)
    # Then a Moved event says from where, by whom and when
    staff: Staff = memory_app.repository.get(staff_id)
    moved = memory_app.repository.event_store.get(staff_id)
    last = list(moved)[-1]
    assert position is not None and staff.department == "middle_office"
    assert isinstance(last, Staff.Moved)
    assert (last.previous_department, last.by, last.occurred_at) == ("front_office", BY, LATER)


def test_moving_to_the_same_department_records_nothing(memory_app: Siyu) -> None:
    staff_id = memory_app.staff.hire("sales", "front_office", "王芳", BY, AT)
    assert memory_app.staff.move(staff_id, "front_office", BY, LATER) is None


def test_changing_a_role_records_the_previous_role(memory_app: Siyu) -> None:
    # Given a service agent
    staff_id = memory_app.staff.hire("service", "front_office", "李雷", BY, AT)
    # When they become the chief chat officer
    memory_app.staff.change_role(staff_id, "chief_chat_officer", BY, LATER)
    # Then the role changed and the event names the old one
    staff: Staff = memory_app.repository.get(staff_id)
    last = list(memory_app.repository.event_store.get(staff_id))[-1]
    assert staff.role == "chief_chat_officer"
    assert isinstance(last, Staff.RoleChanged) and last.previous_role == "service"


def test_unknown_departments_and_roles_are_refused(memory_app: Siyu) -> None:
    staff_id = memory_app.staff.hire("sales", "front_office", "王芳", BY, AT)
    with pytest.raises(InvalidRole) as department:
        memory_app.staff.move(staff_id, "marketing", BY, LATER)
    with pytest.raises(InvalidRole) as role:
        memory_app.staff.change_role(staff_id, "ceo", BY, LATER)
    assert (department.value.field, role.value.field) == ("department", "role")


def test_a_staff_member_who_left_can_be_neither_moved_nor_given_a_role(
        memory_app: Siyu) -> None:
    # Given a staff member who left
    staff_id = memory_app.staff.hire("sales", "front_office", "王芳", BY, AT)
    memory_app.staff.leave(staff_id, BY, LATER)
    # When a manager moves them or changes their role, Then both are refused
    with pytest.raises(StaffAlreadyLeft):
        memory_app.staff.move(staff_id, "middle_office", BY, LATER)
    with pytest.raises(StaffAlreadyLeft):
        memory_app.staff.change_role(staff_id, "service", BY, LATER)


def test_moving_an_unknown_staff_member_is_refused(memory_app: Siyu) -> None:
    customer = memory_app.staff.hire("sales", "front_office", "x", BY, AT)
    with pytest.raises(UnknownStaff):
        memory_app.staff.move(customer.__class__(int=customer.int ^ 1), "back_office", BY, AT)
