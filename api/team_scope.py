"""Department-wide reads: whose staff entries, rankings and department figures a principal sees.

:func:`api.policy.staff_scope` answers "whose work" (tasks, reports, targets, alerts);
this module answers the questions a department raises:

* :func:`team_scope` — the staff whose directory entries (names, roles, WeCom UserIDs)
  and leaderboard lines a principal reads: everyone for company managers, operators and
  auditors; their own department's current members (and themself) for a department
  manager or a front-line member;
* :func:`department_for` — the department a department-wide read covers: whatever was
  asked for those who see everyone; a department manager or a front-line member is held
  to their own (nothing asked → their own; another → ``FORBIDDEN``);
* :func:`require_department_figures` — who may read a department's KPIs and targets: those who
  see everyone, and a department manager for their own department.

docs/access.md ("Scopes, field by field") gives the rule of each field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from api.errors import FORBIDDEN, ApiError
from api.policy import AU, CM, DM, EVERYONE, FL, NOTHING, OP, Principal, Scope


def team_scope(principal: Principal) -> Scope:
    access = principal.access
    if access in (CM, OP, AU):
        return EVERYONE
    if access in (DM, FL):
        return Scope(staff_ids=principal.department_staff | {principal.subject_id})
    return NOTHING


def sees_member(principal: Principal, row: Mapping[str, Any]) -> bool:
    """A staff directory row (current or left) within ``principal``'s team: a current
    member of their department, themself, or someone who left from their department."""
    scope = team_scope(principal)
    if scope.covers_staff(str(row["staff_id"])):
        return True
    return (row.get("left_at") is not None and principal.department is not None
            and principal.access in (DM, FL) and row.get("department") == principal.department)


def members(principal: Principal, rows: Iterable[Mapping[str, Any] | None]) -> list[Any]:
    """The directory rows (None: none) within ``principal``'s team."""
    return [r for r in rows if r is not None and sees_member(principal, r)]


def department_for(principal: Principal, department: str | None, what: str) -> str | None:
    if team_scope(principal).everyone:
        return department
    own = principal.department
    if own is None:
        raise ApiError(FORBIDDEN, f"{what}: no department to read")
    if department is not None and department != own:
        raise ApiError(FORBIDDEN, f"{what}: that department is outside your scope",
                       field="department")
    return own


def require_department_figures(principal: Principal, department: str, what: str) -> None:
    """A department's KPIs and targets: company managers, operators, auditors, and the
    department's own manager."""
    if team_scope(principal).everyone:
        return
    if principal.access is DM and department == principal.department:
        return
    raise ApiError(FORBIDDEN, f"{what}: that department is outside your scope",
                   field="department")
