"""The ``Staff`` aggregate: a member of the brand's private-domain team."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, InvalidRole, StaffAlreadyLeft

_WECOM_USER = re.compile(r"^[A-Za-z0-9_\-.@]{1,64}$")

#: Roles named by the seeds (DOMAIN.md), as code.
ROLES = frozenset({
    "private_domain_manager",
    "activity_planner",
    "copywriter",
    "product_operator",
    "designer",
    "content_operator",
    "user_operator",
    "data_operator",
    "sales",
    "service",
    "chief_chat_officer",
})
MANAGER_ROLES = frozenset({"private_domain_manager"})
DEPARTMENTS = frozenset({"front_office", "middle_office", "back_office"})


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

    @classmethod
    def hire(cls, role: str, department: str, by: str, occurred_at: datetime,
             wecom_user_id: str | None = None) -> Staff:
        if role not in ROLES:
            raise InvalidRole(f"unknown role {role!r}; expected one of {sorted(ROLES)}",
                              field="role")
        if department not in DEPARTMENTS:
            raise InvalidRole(
                f"unknown department {department!r}; expected one of {sorted(DEPARTMENTS)}",
                field="department",
            )
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
