"""The access policy: every root field has an entry, the table keeps its promises, and
the schema refuses whoever the table does not list, before the resolver runs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from graphql import GraphQLObjectType

from api.auth import Principal
from api.context import Context
from api.policy import (
    AU,
    CM,
    CU,
    DM,
    FL,
    OP,
    POLICY,
    PUBLIC,
    STAFF_ROLE_ACCESS,
    SV,
    Access,
    customer_scope,
    sees_personal_data,
    staff_scope,
)
from api.schema import build_schema
from domain.organisation import ROLES
from tests.unit.api.operations import operation_for

SCHEMA = build_schema()


def root_fields() -> list[str]:
    out = []
    raw = SCHEMA._schema
    for root in (raw.query_type, raw.mutation_type, raw.subscription_type):
        assert isinstance(root, GraphQLObjectType)
        out += [f"{root.name}.{name}" for name in root.fields]
    return out


def test_every_root_field_has_a_policy_entry_and_every_entry_a_field() -> None:
    # A new query or mutation without an entry fails here (and refuses everyone at run time).
    fields = set(root_fields())
    assert fields - set(POLICY) == set(), "fields without a policy entry"
    assert set(POLICY) - fields == set(), "policy entries for fields that do not exist"


def test_every_directory_role_has_an_access_role() -> None:
    assert set(STAFF_ROLE_ACCESS) == ROLES


def test_the_auditor_reads_every_query_and_changes_nothing() -> None:
    for field, roles in POLICY.items():
        if field.startswith("Mutation."):
            assert AU not in roles, field
        else:
            assert AU in roles, field


def test_a_service_only_ingests() -> None:
    allowed = {f for f, roles in POLICY.items() if SV in roles}
    assert allowed == {"Query.me", "Mutation.recordCustomerEvents", "Mutation.mergeCustomers",
                       "Mutation.unmergeCustomer", "Mutation.redeemCouponCode",
                       "Mutation.recordMomentsPosted"}  # members' own posts: ingestion too


def test_only_managers_administer_staff_and_only_company_managers_tokens() -> None:
    for field in ("hireStaff", "leaveStaff", "moveStaff", "changeStaffRole",
                  "handOverCustomers"):
        assert POLICY[f"Mutation.{field}"] == {CM, DM}, field
    assert POLICY["Mutation.revokeApiToken"] == {CM}
    assert POLICY["Query.apiTokens"] == {CM, AU}


def principal(access: Access, *, grants: frozenset[str] = frozenset()) -> Principal:
    role = {CM: "private_domain_manager", DM: "department_manager", OP: "copywriter",
            FL: "sales", AU: "auditor"}.get(access)
    kind = {CU: "customer", SV: "service"}.get(access, "staff")
    return Principal(kind=kind, subject_id="s-1" if kind == "staff" else "c-1", role=role,
                     department="front_office", department_staff=frozenset({"s-1", "s-2"}),
                     grants=grants)


def test_scopes_follow_the_roles() -> None:
    assert customer_scope(principal(CM)).everyone and customer_scope(principal(OP)).everyone
    assert customer_scope(principal(AU)).everyone
    assert customer_scope(principal(DM)).covers_customer("x", ["s-2"])
    assert not customer_scope(principal(DM)).covers_customer("x", ["s-9"])
    assert customer_scope(principal(FL)).covers_customer("x", ["s-1"])
    assert not customer_scope(principal(FL)).covers_customer("x", ["s-2"])
    assert customer_scope(principal(CU)).covers_customer("c-1", [])
    assert not customer_scope(principal(CU)).covers_customer("c-2", [])
    assert not customer_scope(principal(SV)).covers_customer("c-1", ["s-1"])
    assert staff_scope(principal(DM)).covers_staff("s-2")
    assert not staff_scope(principal(FL)).covers_staff("s-2")


def test_personal_data_is_masked_for_operators_front_line_and_auditors_without_the_grant(
        ) -> None:
    assert sees_personal_data(principal(CM), "c-9") and sees_personal_data(principal(DM), "c-9")
    assert sees_personal_data(principal(CU), "c-1") and not sees_personal_data(principal(CU),
                                                                               "c-2")
    assert not sees_personal_data(principal(OP), "c-9")
    assert not sees_personal_data(principal(FL), "c-9")
    assert not sees_personal_data(principal(AU), "c-9")
    assert sees_personal_data(principal(AU, grants=frozenset({"audit:pii"})), "c-9")


class _NoServices:
    """A resolver that gets past the gate touches services: this one says so."""

    def __getattr__(self, name: str) -> Any:
        raise LookupError(f"resolver ran ({name})")


ACCESSES = list(Access)


@pytest.mark.parametrize("field", sorted(f for f in POLICY if not f.startswith("Subscription")))
def test_the_schema_refuses_exactly_the_roles_the_table_does_not_list(field: str) -> None:
    # Given an operation selecting only this field, with placeholder arguments
    document, variables = operation_for(SCHEMA, field)

    async def run_as_every_role() -> list[Any]:
        return [await SCHEMA.execute(document, variable_values=variables, context_value=Context(
            principal=principal(access), services=_NoServices()))  # type: ignore[arg-type]
            for access in ACCESSES]

    # When it runs as each role
    for access, result in zip(ACCESSES, asyncio.run(run_as_every_role()), strict=True):
        codes = {(e.extensions or {}).get("code") for e in result.errors or ()}
        # Then it is refused before the resolver if and only if the table leaves the role out
        if access in POLICY[field] or field in PUBLIC:
            assert "FORBIDDEN" not in codes or _scoped_refusal(result), (field, access, codes)
        else:
            assert codes == {"FORBIDDEN"}, (field, access, result.errors)
            assert "(see docs/access.md)" in result.errors[0].message  # the gate, not a resolver


def _scoped_refusal(result: Any) -> bool:
    """A resolver's own scope refusal (a placeholder id outside the principal's scope)."""
    return all("(see docs/access.md)" not in e.message for e in result.errors)
