"""Every route of the API, with no token, a bad token and each role (issue 16, item 2).

The inventory below names each route's guard; a route added without one fails the first
test. Bearer routes refuse no token and a bad one (401 ``UNAUTHENTICATED``) and answer
each role as docs/access.md says; the rest say why they need no token.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Route, WebSocketRoute

from tests.integration.api.conftest import Api
from tests.integration.api.test_access_http import roles  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

BEARER = "a bearer token (docs/access.md)"
#: path → its guard.
ROUTES = {
    "/graphql": BEARER + "; loginWithWeChat alone without one (api/login_gate.py)",
    "/exports/segments/{segment_id}/members.csv": BEARER,
    "/callbacks/wecom": "WeCom's signature (403 without it), refusals limited per address",
    "/healthz": "public: liveness, answers {status: ok} only",
    "/readyz": "public: readiness, read-model names and lags only",
    "/metrics": "public on its network: counts and timings, no personal data (docs/operations.md)",
    "/graphiql/{name}": "public: GraphiQL's scripts and styles (off in production)",
    "/console": "public: the staff console's page (no data: it reads /graphql with the "
                "token its user types, docs/console.md)",
    "/console/{name}": "public: the console's scripts and styles",
}
CSV = "/exports/segments/0a6f0000-0000-4000-8000-00000000ffff/members.csv"
#: What each role gets from each bearer route (the CSV: 404 for an unknown segment when
#: allowed, 403 when not).
BY_ROLE = {
    "/graphql": {role: 200 for role in ("manager", "department_manager", "operator",
                                        "staff", "auditor", "auditor_pii", "service")},
    CSV: {"manager": 404, "operator": 404, "auditor": 404, "auditor_pii": 404,
          "department_manager": 403, "staff": 403, "service": 403},
}


def test_every_route_is_in_the_inventory(api: Api) -> None:
    paths = {r.path for r in api.client.app.routes  # type: ignore[attr-defined]
             if isinstance(r, (Route, WebSocketRoute))}
    assert paths == set(ROUTES)
    assert {p for p, guard in ROUTES.items() if guard.startswith(BEARER)} == {
        "/graphql", "/exports/segments/{segment_id}/members.csv"}


def ask(api: Api, path: str, token: str | None) -> Any:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    if path == "/graphql":
        return api.client.post(path, json={"query": "{ me { id } }"}, headers=headers)
    return api.client.get(path, headers=headers)


@pytest.mark.parametrize("path", ["/graphql", CSV])
def test_bearer_routes_refuse_no_token_and_a_bad_one_and_answer_each_role(
        api: Api, roles: dict[str, str], path: str) -> None:  # noqa: F811
    for token in (None, "not-a-token", roles["staff"] + "x"):
        response = ask(api, path, token)
        assert response.status_code == 401, (path, token, response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    answers = {role: ask(api, path, roles[role]).status_code for role in BY_ROLE[path]}
    assert answers == BY_ROLE[path]


def test_the_other_routes_answer_without_a_token_as_their_guard_says(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").status_code in (200, 503)
    assert api.client.get("/metrics").status_code == 200
    assert api.client.get("/graphiql/graphiql.min.js").status_code == 200
    # no WeCom configured here: not found (signature refusals: test_anonymous_limits_http.py)
    assert api.client.post("/callbacks/wecom", content=b"<xml/>").status_code == 404
