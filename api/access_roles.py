"""The access roles a principal may have, and which directory role gives which
(:mod:`api.policy` enforces them; docs/access.md explains them)."""

from __future__ import annotations

from enum import StrEnum


class Access(StrEnum):
    COMPANY_MANAGER = "company_manager"
    DEPARTMENT_MANAGER = "department_manager"
    OPERATOR = "operator"
    FRONTLINE = "frontline"
    AUDITOR = "auditor"
    CUSTOMER = "customer"
    SERVICE = "service"


#: The grant that lets an auditor read personal data unmasked.
AUDIT_PII = "audit:pii"
GRANTS = frozenset({AUDIT_PII})

CM, DM, OP, FL, AU, CU, SV = (Access.COMPANY_MANAGER, Access.DEPARTMENT_MANAGER,
                              Access.OPERATOR, Access.FRONTLINE, Access.AUDITOR,
                              Access.CUSTOMER, Access.SERVICE)

#: Directory role → access role. A role missing here (none today) is treated as front line.
STAFF_ROLE_ACCESS: dict[str, Access] = {
    "private_domain_manager": CM,
    "department_manager": DM,
    "auditor": AU,
    "sales": FL,
    "service": FL,
    "chief_chat_officer": FL,
    "activity_planner": OP,
    "copywriter": OP,
    "product_operator": OP,
    "designer": OP,
    "content_operator": OP,
    "user_operator": OP,
    "data_operator": OP,
    # erases and exports personal data (docs/privacy.md): front line elsewhere; the privacy
    # fields admit front line and narrow to this role in their resolvers
    "privacy_officer": FL,
}

STAFF = frozenset({CM, DM, OP, FL, AU})
MIDDLE = frozenset({CM, OP, AU})


def q(*roles: Access) -> frozenset[Access]:
    """A query: the auditor reads everything."""
    return frozenset(roles) | {AU}


def m(*roles: Access) -> frozenset[Access]:
    """A mutation: the auditor changes nothing."""
    return frozenset(roles) - {AU}
