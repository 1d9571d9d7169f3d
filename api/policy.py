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

:data:`POLICY` names the roles allowed on every root field; :func:`install` makes the
schema refuse everyone else with ``FORBIDDEN`` before the resolver runs. Resolvers then
narrow the data with :func:`customer_scope` / :func:`staff_scope`. docs/access.md is the
same table for people; ``tests/unit/api/test_policy.py`` fails when a field has no entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from graphql import GraphQLObjectType

from api.errors import FORBIDDEN, ApiError

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


def _q(*roles: Access) -> frozenset[Access]:
    """A query: the auditor reads everything."""
    return frozenset(roles) | {AU}


def _m(*roles: Access) -> frozenset[Access]:
    """A mutation: the auditor changes nothing."""
    return frozenset(roles) - {AU}


#: ``Type.field`` → the access roles allowed to call it (everyone else: FORBIDDEN).
POLICY: dict[str, frozenset[Access]] = {
    # -- customers and their history
    "Query.customer": _q(CM, DM, OP, FL, CU),
    "Query.customerByIdentity": _q(CM, DM, OP, FL, CU),
    "Query.me": _q(CM, DM, OP, FL, CU, SV),
    "Query.customers": _q(CM, DM, OP, FL),
    "Query.customerHistory": _q(CM, DM, FL, CU),
    "Query.customerOwnership": _q(CM, DM, OP, FL),
    "Query.customerCoupons": _q(CM, DM, OP, FL, CU),
    "Query.customerSopEnrolments": _q(CM, OP),
    # -- staff and the organisation
    "Query.staffMember": STAFF,
    "Query.staffMembers": STAFF,
    "Query.departments": STAFF,
    "Query.staffRoles": STAFF,
    "Query.staffByDepartment": STAFF,
    "Query.staffAssignments": STAFF,
    "Query.staffCustomers": STAFF,
    "Query.apiTokens": _q(CM),
    # -- segments, tags, campaigns, content (the middle office)
    "Query.segments": STAFF,
    "Query.segment": STAFF,
    "Query.segmentExplanation": STAFF,
    "Query.segmentPreview": MIDDLE,
    "Query.segmentLedger": MIDDLE,
    "Query.tagGroups": STAFF,
    "Query.tagGroup": STAFF,
    "Query.campaigns": MIDDLE,
    "Query.campaign": MIDDLE,
    "Query.campaignDryRun": MIDDLE,
    "Query.campaignSends": MIDDLE,
    "Query.contactPolicy": MIDDLE,
    "Query.chatScripts": STAFF,
    "Query.chatScript": STAFF,
    "Query.scriptScenarios": STAFF,
    "Query.referralCampaigns": MIDDLE,
    "Query.referralCampaign": MIDDLE,
    "Query.referralLeaderboard": MIDDLE,
    "Query.couponLedger": MIDDLE,
    "Query.sops": MIDDLE,
    "Query.sop": MIDDLE,
    "Query.activities": STAFF,
    "Query.activity": STAFF,
    "Query.channelCodes": STAFF,
    "Query.channelCode": STAFF,
    # -- reports, KPIs, supervision
    "Query.kpiCatalogue": STAFF,
    "Query.staffKpis": STAFF,
    "Query.kpiLineage": STAFF,
    "Query.managerOverview": _q(CM, DM),
    "Query.leaderboard": STAFF,
    "Query.dailyReports": STAFF,
    "Query.targets": STAFF,
    "Query.workingHours": STAFF,
    "Query.marketingTasks": STAFF,
    "Query.marketingTask": STAFF,
    "Query.sensitiveLexicon": _q(CM, DM),
    "Query.staffAlerts": _q(CM, DM, FL),
    "Query.staffAlert": _q(CM, DM, FL),
    "Query.sensitiveMessage": _q(CM, DM),
    "Query.quarantinedEvents": _q(CM),
    "Subscription.leaderboardChanged": STAFF,
    # -- ingestion and identity
    "Mutation.recordCustomerEvents": _m(CM, SV),
    "Mutation.mergeCustomers": _m(CM, SV),
    "Mutation.unmergeCustomer": _m(CM, SV),
    # -- staff admin (a department manager: their own department only)
    "Mutation.hireStaff": _m(CM, DM),
    "Mutation.leaveStaff": _m(CM, DM),
    "Mutation.moveStaff": _m(CM, DM),
    "Mutation.changeStaffRole": _m(CM, DM),
    "Mutation.handOverCustomers": _m(CM, DM),
    "Mutation.revokeApiToken": _m(CM),
    # -- the middle office
    "Mutation.defineSegment": _m(CM, OP),
    "Mutation.reviseSegment": _m(CM, OP),
    "Mutation.setSegmentAutoTag": _m(CM, OP),
    "Mutation.archiveSegment": _m(CM, OP),
    "Mutation.createTagGroup": _m(CM, OP),
    "Mutation.renameTagGroup": _m(CM, OP),
    "Mutation.addTagsToGroup": _m(CM, OP),
    "Mutation.removeTagFromGroup": _m(CM, OP),
    "Mutation.archiveTagGroup": _m(CM, OP),
    "Mutation.draftCampaign": _m(CM, OP),
    "Mutation.launchCampaign": _m(CM, OP),
    "Mutation.scheduleCampaign": _m(CM, OP),
    "Mutation.cancelCampaign": _m(CM, OP),
    "Mutation.setContactPolicy": _m(CM, OP),
    "Mutation.setCampaignConfirmationDeadline": _m(CM, OP),
    "Mutation.planActivity": _m(CM, OP),
    # -- privacy and customers as clients (docs/privacy.md): the staff fields narrow to
    # company managers and privacy officers in their resolvers, the customer fields to self
    "Query.customerDataExport": _q(CM, FL),
    "Query.exportMyData": _q(CU),
    "Query.invitableReferralCampaigns": _q(CU),
    "Mutation.eraseCustomer": _m(CM, FL),
    "Mutation.recordMyEvents": _m(CU),
    "Mutation.loginWithWeChat": frozenset(),
    "Mutation.reviseActivity": _m(CM, OP),
    "Mutation.cancelActivity": _m(CM, OP),
    "Mutation.createChannelCode": _m(CM, OP),
    "Mutation.updateChannelCode": _m(CM, OP),
    "Mutation.deleteChannelCode": _m(CM, OP),
    "Mutation.createChatScript": _m(CM, OP, FL),
    "Mutation.reviseChatScript": _m(CM, OP, FL),
    "Mutation.archiveChatScript": _m(CM, OP, FL),
    "Mutation.draftReferralCampaign": _m(CM, OP),
    "Mutation.activateReferralCampaign": _m(CM, OP),
    "Mutation.endReferralCampaign": _m(CM, OP),
    "Mutation.issueCoupon": _m(CM, OP),
    "Mutation.defineSop": _m(CM, OP),
    "Mutation.reviseSop": _m(CM, OP),
    "Mutation.pauseSop": _m(CM, OP),
    "Mutation.resumeSop": _m(CM, OP),
    "Mutation.archiveSop": _m(CM, OP),
    # -- working with customers
    "Mutation.tagCustomer": _m(CM, DM, OP, FL),
    "Mutation.untagCustomer": _m(CM, DM, OP, FL),
    "Mutation.recordScriptUse": _m(CM, DM, FL),
    "Mutation.inviteCode": _m(CM, DM, OP, FL, CU),
    "Mutation.redeemCouponCode": _m(CM, DM, OP, FL, SV),
    # -- supervision, tasks, targets
    "Mutation.defineSensitiveCategory": _m(CM),
    "Mutation.addSensitiveTerms": _m(CM),
    "Mutation.removeSensitiveTerm": _m(CM),
    "Mutation.acknowledgeAlert": _m(CM, DM, FL),
    "Mutation.resolveAlert": _m(CM, DM, FL),
    "Mutation.assignMarketingTask": _m(CM, DM),
    "Mutation.reassignMarketingTask": _m(CM, DM),
    "Mutation.cancelMarketingTask": _m(CM, DM),
    "Mutation.completeMarketingTask": _m(CM, DM, OP, FL),
    "Mutation.setTarget": _m(CM, DM),
    "Mutation.removeTarget": _m(CM, DM),
    "Mutation.setWorkingHours": _m(CM),
}

#: Fields below the root that a resolver guards with :func:`require` (a type's other
#: fields are readable by whoever may reach the type).
NESTED: dict[str, frozenset[Access]] = {
    "Segment.entries": MIDDLE,  # the ledger, like Query.segmentLedger
}

#: Routes outside GraphQL: the segment members' CSV (no personal data in it).
EXPORTERS = frozenset({CM, OP, AU})


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


#: Fields anyone may call, without a token: the login that gives a customer one (only this
#: operation passes the gate without a token: api/login_gate.py).
PUBLIC = frozenset({"Mutation.loginWithWeChat"})


def _guarded(key: str, inner: Callable[..., Any]) -> Callable[..., Any]:
    roles = POLICY.get(key, frozenset())

    def guarded(root: Any, info: Any, **kwargs: Any) -> Any:
        if key not in PUBLIC and info.context.principal.access not in roles:
            raise ApiError(FORBIDDEN, f"{key.partition('.')[2]} is not allowed for this "
                                      f"principal (see docs/access.md)")
        return inner(root, info, **kwargs)

    return guarded
