"""The ``Staff`` aggregate: a member of the brand's private-domain team."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, InvalidRole, StaffAlreadyLeft
from domain.organisation import DEPARTMENTS, MANAGER_ROLES, ROLES

_WECOM_USER = re.compile(r"^[A-Za-z0-9_\-.@]{1,64}$")

__all__ = ["DEPARTMENTS", "MANAGER_ROLES", "ROLES", "Staff"]


class Staff(Aggregate):
    """A staff member. The display name lives in the personal-data vault."""

    class Hired(Aggregate.Created):
        """v2 added ``wecom_user_id`` (the member's WeCom UserID, if any)."""

        class_version = 2

        role: str
        department: str
        wecom_user_id: str | None
        by: str
        occurred_at: datetime

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["wecom_user_id"] = None

    class Left(Aggregate.Event):
        by: str
        occurred_at: datetime

    class Moved(Aggregate.Event):
        """Moved to another department (previous one kept for audits and history)."""

        department: str
        previous_department: str
        by: str
        occurred_at: datetime

    class RoleChanged(Aggregate.Event):
        """Given another role."""

        role: str
        previous_role: str
        by: str
        occurred_at: datetime

    class MomentPosted(Aggregate.Event):
        """The member posted to their moments (朋友圈) from the corp account (no content kept)."""

        moment_id: str
        by: str
        occurred_at: datetime

    @classmethod
    def hire(cls, role: str, department: str, by: str, occurred_at: datetime,
             wecom_user_id: str | None = None) -> Staff:
        _check_role(role)
        _check_department(department)
        if wecom_user_id is not None and not _WECOM_USER.match(wecom_user_id):
            raise InvalidInput("wecomUserId must be 1-64 letters, digits, '_', '-', '.' or '@'",
                               field="wecomUserId")
        return cls(role=role, department=department, wecom_user_id=wecom_user_id, by=by,
                   occurred_at=occurred_at)

    @event(Hired)
    def __init__(self, role: str, department: str, wecom_user_id: str | None, by: str,
                 occurred_at: datetime) -> None:
        self.role = role
        self.department = department
        self.wecom_user_id = wecom_user_id
        self.left_at: datetime | None = None

    def leave(self, by: str, occurred_at: datetime) -> None:
        if self.left_at is not None:
            raise StaffAlreadyLeft("this staff member has already left")
        self._leave(by=by, occurred_at=occurred_at)

    @event(Left)
    def _leave(self, by: str, occurred_at: datetime) -> None:
        self.left_at = occurred_at

    def post_moment(self, moment_id: str, by: str, occurred_at: datetime) -> None:
        """Record a moments post (a post from a member who has left is refused)."""
        if not moment_id.strip() or len(moment_id) > 128:
            raise InvalidInput("momentId must be 1-128 characters", field="momentId")
        self._refuse_if_left()
        self._post_moment(moment_id=moment_id.strip(), by=by, occurred_at=occurred_at)

    @event(MomentPosted)
    def _post_moment(self, moment_id: str, by: str, occurred_at: datetime) -> None:
        pass

    def move(self, department: str, by: str, occurred_at: datetime) -> bool:
        """Move to ``department``; False (no event) when already there."""
        _check_department(department)
        self._refuse_if_left()
        if department == self.department:
            return False
        self._move(department=department, previous_department=self.department, by=by,
                   occurred_at=occurred_at)
        return True

    @event(Moved)
    def _move(self, department: str, previous_department: str, by: str,
              occurred_at: datetime) -> None:
        self.department = department

    def change_role(self, role: str, by: str, occurred_at: datetime) -> bool:
        """Give the member ``role``; False (no event) when they hold it already."""
        _check_role(role)
        self._refuse_if_left()
        if role == self.role:
            return False
        self._change_role(role=role, previous_role=self.role, by=by, occurred_at=occurred_at)
        return True

    @event(RoleChanged)
    def _change_role(self, role: str, previous_role: str, by: str,
                     occurred_at: datetime) -> None:
        self.role = role

    def _refuse_if_left(self) -> None:
        if self.left_at is not None:
            raise StaffAlreadyLeft("this staff member has left", field="staffId")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidRole(f"unknown role {role!r}; expected one of {sorted(ROLES)}",
                          field="role")


def _check_department(department: str) -> None:
    if department not in DEPARTMENTS:
        raise InvalidRole(
            f"unknown department {department!r}; expected one of {sorted(DEPARTMENTS)}",
            field="department",
        )
