"""The organisation: a fixed catalogue of departments and the seeds' roles (seed 000).

Departments follow the seed's front / middle / back office split; each role has
the department it usually belongs to (a staff member may still be placed
elsewhere: a data operator working in the front office is allowed). Codes are
part of the public API (events, read models, GraphQL); names are for display.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Department:
    code: str
    name: str
    name_zh: str
    functions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Role:
    code: str
    name: str
    name_zh: str
    department: str  # where the role usually sits
    manager: bool = False


DEPARTMENT_CATALOGUE: tuple[Department, ...] = (
    Department("front_office", "Front office", "前台", ("sales", "service")),
    Department("middle_office", "Middle office", "中台", ("operations",)),
    Department("back_office", "Back office", "后台", ("tech", "data")),
)

ROLE_CATALOGUE: tuple[Role, ...] = (
    Role("private_domain_manager", "Private-domain manager", "私域运营经理", "middle_office",
         manager=True),
    Role("activity_planner", "Activity planner", "活动策划", "middle_office"),
    Role("copywriter", "Copywriter", "文案策划", "middle_office"),
    Role("product_operator", "Product operator", "产品运营", "back_office"),
    Role("designer", "Designer", "平面设计", "middle_office"),
    Role("content_operator", "Content operator", "内容运营", "middle_office"),
    Role("user_operator", "User operator", "用户运营", "middle_office"),
    Role("data_operator", "Data operator", "数据运营", "back_office"),
    Role("sales", "Sales", "销售", "front_office"),
    Role("service", "Service", "客服", "front_office"),
    Role("chief_chat_officer", "Chief chat officer", "首席聊天师", "front_office"),
    # Not in seed 000: the trust issue (#16) asked for managers scoped to a department
    # and a read-only auditor (docs/access.md says what each may do).
    Role("department_manager", "Department manager", "部门经理", "front_office", manager=True),
    Role("auditor", "Auditor", "审计", "back_office"),
    # Erases and exports a customer's personal data (PIPL Art. 47, 45; docs/privacy.md).
    Role("privacy_officer", "Privacy officer", "个人信息保护负责人", "back_office"),
)

DEPARTMENTS = frozenset(d.code for d in DEPARTMENT_CATALOGUE)
ROLES = frozenset(r.code for r in ROLE_CATALOGUE)
MANAGER_ROLES = frozenset(r.code for r in ROLE_CATALOGUE if r.manager)
