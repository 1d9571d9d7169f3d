"""What an operation costs, before it runs: the attack of issue 16 is over every budget, and
every query the README, the docs and GraphiQL send is under its principal's budget."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from graphql import get_introspection_query, parse

from api.cost import ASSUMED_LIST_SIZE, Cost, operation_cost
from api.cost_guard import QUERY_TOO_COMPLEX, QUERY_TOO_COSTLY, refusal
from api.limits import ApiLimits
from api.schema import schema

GRAPHQL = schema._schema
ROOT = Path(__file__).resolve().parents[3]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: The demo tokens of the examples, by the principal kind they stand for.
KINDS = {"manager": "staff", "staff": "staff", "customer": "customer", "service": "service"}

#: Thirty aliases of a 200-customer page with nested lists: 7.5 s and 1 GB RSS before.
NESTED = ("edges { node { id tags lifecycle identities { namespace value } "
          "staffRelations { staffId since until channel state } tagDetails { tag by reason } "
          "groups currentStaffIds } }")
ATTACK = "query { " + " ".join(
    f"c{i}: customers(first: 200) {{ {NESTED} }}" for i in range(30)) + " }"


def cost(query: str, variables: dict[str, object] | None = None,
         operation: str | None = None) -> Cost:
    return operation_cost(GRAPHQL, parse(query), operation, variables)


def test_each_field_counts_once_per_parent_and_a_page_multiplies_what_is_below_it() -> None:
    # Given the docstring's example: 1 + 1 + 200 * (1 + 1 + 1 + 10 * 2)
    query = "{ customers(first: 200) { edges { node { id staffRelations { staffId since } } } } }"
    # Then
    assert cost(query).values == 2 + 200 * (3 + ASSUMED_LIST_SIZE * 2)
    assert cost(query).fields == 7


def test_the_page_size_comes_from_a_variable_or_else_the_arguments_default() -> None:
    query = "query($n: Int!) { customers(first: $n) { edges { node { id } } } }"
    assert cost(query, {"n": 5}).values == 2 + 5 * 2
    assert cost(query, {"n": 5}).uses_variables
    # customers(first: Int! = 20)
    assert cost("{ customers { edges { node { id } } } }").values == 2 + 20 * 2


def test_a_page_size_out_of_the_int_range_is_left_to_input_validation() -> None:
    query = "query($n: Int!) { customers(first: $n) { edges { node { id } } } }"
    assert cost(query, {"n": 2**31}).values == 2 + ASSUMED_LIST_SIZE * 2


def test_fragments_are_expanded_and_aliases_counted() -> None:
    query = """
    query { a: customers(first: 10) { ...Page } b: customers(first: 10) { ...Page } }
    fragment Page on CustomerConnection { edges { node { id tags } } }"""
    assert cost(query) == Cost(values=2 * (2 + 10 * 3), fields=10, aliases=2)


def test_the_attack_of_the_issue_is_refused_as_too_costly() -> None:
    attack = cost(ATTACK)
    error = refusal(attack, "staff", ApiLimits())
    assert error is not None and error.code == QUERY_TOO_COSTLY
    assert error.extensions == {"code": QUERY_TOO_COSTLY, "cost": attack.values,
                                "budget": 25_000}
    # One of its thirty pages alone is allowed to a staff member
    assert refusal(cost("query { " + f"customers(first: 200) {{ {NESTED} }}" + " }"),
                   "staff", ApiLimits()) is None


def test_a_document_of_several_operations_is_weighed_by_its_dearest() -> None:
    query = f"query Cheap {{ me {{ id }} }} query Dear {{ customers(first: 200) {{ {NESTED} }} }}"
    dear = cost(query, operation="Dear")
    assert cost(query) == dear and dear.values > cost(query, operation="Cheap").values


def test_too_many_fields_or_aliases_are_refused_whatever_they_cost() -> None:
    limits = ApiLimits()
    many_fields = "{ " + " ".join(["__typename"] * 501) + " }"
    error = refusal(cost(many_fields), "service", limits)
    assert error is not None and error.code == QUERY_TOO_COMPLEX
    many_aliases = "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
    error = refusal(cost(many_aliases), "service", limits)
    assert error is not None and error.extensions == {
        "code": QUERY_TOO_COMPLEX, "aliases": 31, "maxAliases": 30}


def test_introspection_costs_a_fixed_amount_and_graphiql_s_query_passes() -> None:
    introspection = cost(get_introspection_query(descriptions=True))
    assert introspection.values == 1_000
    assert refusal(introspection, "staff", ApiLimits()) is None


def _examples() -> list[tuple[str, str, str, dict[str, object] | None]]:
    block = re.compile(r"^```graphql\n(.*?)^```\n(?:\n?```json\n(.*?)^```\n)?", re.S | re.M)
    found = []
    for page in PAGES:
        source = page.read_text()
        for match in block.finditer(source):
            text, variables = match.group(1), match.group(2)
            role = re.search(r"^# as: (\w+)\s*$", text, re.M)
            line = source.count("\n", 0, match.start()) + 1
            filled = re.sub(r"<[a-z][a-z ]*>", "00000000-0000-4000-8000-000000000000",
                            variables or "null")
            found.append((f"{page.name}:{line}", text, role.group(1) if role else "",
                          json.loads(filled)))
    return found


EXAMPLES = _examples()


@pytest.mark.parametrize(("where", "text", "role", "variables"), EXAMPLES,
                         ids=[e[0] for e in EXAMPLES])
def test_every_documented_query_is_within_its_principals_budget(
        where: str, text: str, role: str, variables: dict[str, object] | None) -> None:
    query = re.sub(r"<[a-z][a-z ]*>", "00000000-0000-4000-8000-000000000000", text)
    found = cost(query, variables)
    assert refusal(found, KINDS[role], ApiLimits()) is None, (where, found)
