"""The auth gate decides on the parsed request, and GET never executes an operation.

A GET with ``Accept: text/html`` and a percent-encoded parameter name (``?quer%79=…``)
used to pass the gate as "the GraphiQL page" and run as anonymous: staff names, WeCom
UserIDs, roles and full introspection came back without a token.
"""

from __future__ import annotations

import pytest

from tests.integration.api.conftest import Api

pytestmark = pytest.mark.integration

QUERY = "{ staffMembers { id displayName } __schema { types { name } } }"
BROWSER = {"Accept": "text/html,application/xhtml+xml"}


@pytest.mark.parametrize("query_string", [
    "quer%79=" + QUERY,
    "%71%75%65%72%79=" + QUERY,
    "query=" + QUERY,
    "a=1&quer%79=" + QUERY,
    "variables=%7B%7D&query=" + QUERY,
    "operationName=x",
    "extensions=%7B%7D",
])
def test_a_get_carrying_an_operation_without_a_token_is_refused_however_it_is_spelled(
        api: Api, query_string: str) -> None:
    response = api.client.get(f"/graphql?{query_string}", headers=BROWSER)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in response.json()


def test_a_get_never_executes_an_operation_even_with_a_valid_token(api: Api) -> None:
    for accept in ("application/json", "text/html", "application/graphql-response+json"):
        response = api.client.get("/graphql", params={"query": QUERY}, headers={
            "Accept": accept, "Authorization": f"Bearer {api.tokens['manager']}"})
        assert response.status_code >= 400, response.text
        assert '"data"' not in response.text and "staffMembers" not in response.text


def test_a_mutation_by_get_is_refused_too(api: Api) -> None:
    mutation = 'mutation { hireStaff(input: {displayName: "x", role: "sales", ' \
               'department: "front_office"}) { staffId } }'
    response = api.client.get("/graphql", params={"query": mutation}, headers={
        "Authorization": f"Bearer {api.tokens['manager']}"})
    assert response.status_code >= 400
    assert "staffId" not in response.text


def test_the_graphiql_page_itself_is_served_to_a_browser_without_a_token(api: Api) -> None:
    response = api.client.get("/graphql", headers=BROWSER)
    assert response.status_code == 200
    assert "<html" in response.text.lower() and "staffMembers" not in response.text
    # It needs no query string; one that names no operation parameter is still just the page.
    assert api.client.get("/graphql?theme=dark", headers=BROWSER).status_code == 200
