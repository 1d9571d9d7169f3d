"""Who may call what: one table over every root GraphQL field, and the data scopes.

A principal has one **access role**: a service, a customer, or — for staff — the role
the staff directory gives them now (read on each request, see :mod:`api.auth`):

* ``company_manager`` — everything (the private-domain manager);
* ``department_manager`` — the staff and customers of their own department;
* ``operator`` — the middle office: segments, campaigns, SOPs, content, reports; no staff
  admin; customers' personal data masked;
* ``frontline`` — their own current customers (masked) and those customers' timelines;
* ``auditor`` — every query, no mutation; personal data masked unless granted ``audit:pii``;
* ``customer`` — themself;
* ``service`` — ingestion only, the dedupe scope of event ids being the service's name.

:data:`POLICY` (:mod:`api.policy_table`) names the roles allowed on every root field;
:func:`install` makes the schema refuse everyone else with ``FORBIDDEN`` before the
resolver runs. Resolvers then narrow the data with :func:`customer_scope` /
:func:`staff_scope`. docs/access.md is the same table for people;
``tests/unit/api/test_policy.py`` fails when a field has no entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from graphql import GraphQLObjectType

from api.access_roles import (
    AU,
    AUDIT_PII,
    CM,
    CU,
    DM,
    FL,
    GRANTS,
    OP,
    STAFF_ROLE_ACCESS,
    SV,
    Access,
)
from api.errors import FORBIDDEN, ApiError
from api.policy_table import EXPORTERS, NESTED, POLICY, PUBLIC

__all__ = ["AU", "AUDIT_PII", "CM", "CU", "DM", "EXPORTERS", "FL", "GRANTS", "NESTED", "OP",
           "POLICY", "PUBLIC", "STAFF_ROLE_ACCESS", "SV", "Access"]

if TYPE_CHECKING:
    import strawberry


class Principal(Protocol):
    """What the policy reads of a principal (:class:`api.auth.Principal`)."""

    @property
    def access(self) -> Access | None: ...
    @property
    def subject_id(self) -> str: ...
    @property
    def role(self) -> str | None: ...
    @property
    def department(self) -> str | None: ...
    @property
    def department_staff(self) -> frozenset[str]: ...
    @property
    def grants(self) -> frozenset[str]: ...


def access_of(kind: str, role: str | None) -> Access | None:
    """The access role of a principal; None for one that may do nothing."""
    if kind == "service":
        return SV
    if kind == "customer":
        return CU
    if kind == "staff" and role is not None:
        return STAFF_ROLE_ACCESS.get(role, FL)
    return None


def allowed(access: Access | None, field: str) -> bool:
    return access is not None and access in POLICY.get(field, frozenset())


# -- data scopes -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose data a principal reads: everyone's (``everyone``), or the staff ids listed
    (their department's, or their own), or one customer (themself), or nothing."""

    everyone: bool = False
    staff_ids: frozenset[str] = frozenset()
    customer_id: str | None = None

    def covers_staff(self, staff_id: str) -> bool:
        return self.everyone or staff_id in self.staff_ids

    def covers_customer(self, customer_id: str, current_staff_ids: Iterable[str]) -> bool:
        if self.everyone:
            return True
        if self.customer_id is not None:
            return self.customer_id == customer_id
        return any(s in self.staff_ids for s in current_staff_ids)


NOTHING = Scope()
EVERYONE = Scope(everyone=True)


def customer_scope(principal: Principal) -> Scope:
    """The customers a principal may read."""
    access = principal.access
    if access in (CM, OP, AU):
        return EVERYONE
    if access is DM:
        return Scope(staff_ids=principal.department_staff | {principal.subject_id})
    if access is FL:
        return Scope(staff_ids=frozenset({principal.subject_id}))
    if access is CU:
        return Scope(customer_id=principal.subject_id)
    return NOTHING


def staff_scope(principal: Principal) -> Scope:
    """The staff members whose work (KPIs, tasks, reports, targets, alerts) a principal reads
    or manages."""
    access = principal.access
    if access in (CM, OP, AU):
        return EVERYONE
    if access is DM:
        return Scope(staff_ids=principal.department_staff | {principal.subject_id})
    if access is FL:
        return Scope(staff_ids=frozenset({principal.subject_id}))
    return NOTHING


def sees_staff_name(principal: Principal, staff_id: str) -> bool:
    """A staff member's display name in clear: the roles that read personal data in clear
    (company and department managers, an auditor holding ``audit:pii``) and the member
    themself; the masked roles (operators, front line, auditors) see its first character."""
    access = principal.access
    if access in (CM, DM) or principal.subject_id == staff_id:
        return True
    return access is AU and AUDIT_PII in principal.grants


def sees_personal_data(principal: Principal, customer_id: str) -> bool:
    """Unmasked names and phone numbers: managers (a department manager reaches only the
    customers of their department), the customer themself, and an auditor holding
    ``audit:pii``."""
    access = principal.access
    if access in (CM, DM):
        return True
    if access is AU:
        return AUDIT_PII in principal.grants
    if access is CU:
        return principal.subject_id == customer_id
    return False


def require(principal: Principal, key: str) -> None:
    """Refuse ``principal`` a nested field (:data:`NESTED`) the table does not give them."""
    if principal.access not in NESTED.get(key, POLICY.get(key, frozenset())):
        raise ApiError(FORBIDDEN, f"{key.partition('.')[2]} is not allowed for this "
                                  f"principal (see docs/access.md)")


def require_staff_in_scope(principal: Principal, staff_id: str, what: str) -> None:
    if not staff_scope(principal).covers_staff(staff_id):
        raise ApiError(FORBIDDEN, f"{what}: that staff member is outside your scope")


def require_staff_admin(principal: Principal, staff_id: str | None,
                        department: str | None = None, role: str | None = None) -> None:
    """Staff admin by a department manager stays inside their department: the member
    (``staff_id``), the department they are moved or hired into, and no role that would
    give them more than front-line or operator access."""
    if principal.access is not DM:
        return
    if staff_id is not None:
        require_staff_in_scope(principal, staff_id, "staff admin")
    if department is not None and department != principal.department:
        raise ApiError(FORBIDDEN, "a department manager hires and moves within their own "
                                  "department", field="department")
    if role is not None and STAFF_ROLE_ACCESS.get(role, FL) in (CM, DM, AU):
        raise ApiError(FORBIDDEN, "a department manager cannot give a manager or auditor "
                                  "role", field="role")


# -- enforcement -------------------------------------------------------------------------


def install(schema: strawberry.Schema) -> None:
    """Make every root field refuse principals the table does not list (before its
    resolver runs); a root field without an entry refuses everyone."""
    graphql_schema = schema._schema
    for root in (graphql_schema.query_type, graphql_schema.mutation_type,
                 graphql_schema.subscription_type):
        if not isinstance(root, GraphQLObjectType):
            continue
        for name, field in root.fields.items():
            key = f"{root.name}.{name}"
            if field.resolve is not None:
                field.resolve = _guarded(key, field.resolve)
            if field.subscribe is not None:
                field.subscribe = _guarded(key, field.subscribe)


def _guarded(key: str, inner: Callable[..., Any]) -> Callable[..., Any]:
    roles = POLICY.get(key, frozenset())

    def guarded(root: Any, info: Any, **kwargs: Any) -> Any:
        if key not in PUBLIC and info.context.principal.access not in roles:
            raise ApiError(FORBIDDEN, f"{key.partition('.')[2]} is not allowed for this "
                                      f"principal (see docs/access.md)")
        return inner(root, info, **kwargs)

    return guarded
