"""The API can be exposed: operations are weighed before they run, every content type has the
same limits, principals are rate-limited, GET runs persisted queries only, production turns
introspection, suggestions and GraphiQL off, and every refusal is JSON with a code."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.persisted import FORMAT, sha256_hex
from siyu.api_process import create_app
from siyu.settings import Settings
from tests.conftest import SECRET
from tests.integration.api.conftest import Api
from tests.unit.api.test_cost import ATTACK

pytestmark = pytest.mark.integration

STAFF_MEMBERS = "query Staff { staffMembers { id } }"
SEGMENT = "0a6f0000-0000-4000-8000-000000000009"


def bearer(api: Api, as_: str = "staff") -> dict[str, str]:
    return {"Authorization": f"Bearer {api.tokens[as_]}"}


def codes(response: Any) -> list[str]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    return [e["extensions"]["code"] for e in response.json()["errors"]]


@contextmanager
def server(pg_url: str, tmp_path: Path, **overrides: Any) -> Iterator[TestClient]:
    settings = replace(Settings(database_url=pg_url, broker_url=None, data_dir=tmp_path,
                                secret=SECRET), **overrides)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


# -- cost ---------------------------------------------------------------------------------

def test_the_thirty_alias_attack_is_refused_before_it_runs(api: Api) -> None:
    # When a staff member sends 30 aliases of customers(first: 200) with nested lists
    response = api.client.post("/graphql", json={"query": ATTACK}, headers=bearer(api))
    # Then it is refused with its cost and the budget, and nothing was resolved
    body = response.json()
    assert response.status_code == 200 and body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["budget"] == 25_000
    assert error["extensions"]["cost"] > 600_000


def test_budgets_are_per_principal_kind(pg_url: str, tmp_path: Path, api: Api) -> None:
    query = "{ customers(first: 100) { edges { node { id tags } } } }"  # costs 302
    with server(pg_url, tmp_path, query_cost_budgets={"staff": 300}) as client:
        refused = client.post("/graphql", json={"query": query}, headers=bearer(api, "staff"))
        other = client.post("/graphql", json={"query": query}, headers=bearer(api, "service"))
    assert codes(refused) == ["QUERY_TOO_COSTLY"]
    assert refused.json()["errors"][0]["extensions"] == {
        "code": "QUERY_TOO_COSTLY", "cost": 302, "budget": 300}
    # A service's budget is its own: weighed and let through, it is then refused by the
    # access policy (services only ingest), not by the staff budget
    assert codes(other) == ["FORBIDDEN"]


def test_the_same_text_is_weighed_again_for_another_page_size(
        pg_url: str, tmp_path: Path, api: Api) -> None:
    query = "query($n: Int!) { customers(first: $n) { edges { node { id tags } } } }"
    with server(pg_url, tmp_path, query_cost_budgets={"staff": 300}) as client:
        small, large, small_again = (client.post("/graphql", headers=bearer(api), json={
            "query": query, "variables": {"n": n}}) for n in (10, 150, 10))
        assert "errors" not in small.json() and "errors" not in small_again.json()
        assert codes(large) == ["QUERY_TOO_COSTLY"]


# -- sizes on every content type ------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["application/json", "application/json-patch+json",
                                          "application/graphql-response+json"])
def test_a_huge_query_is_refused_whatever_the_json_content_type(
        api: Api, content_type: str) -> None:
    body = json.dumps({"query": "{ me { id } }" + " " * 1_000_000})
    response = api.client.post("/graphql", content=body, headers={
        **bearer(api), "Content-Type": content_type})
    assert response.status_code == 400 and codes(response) == ["QUERY_TOO_LARGE"]


def stream_post(api: Api, content_type: str, chunks: int, size: int = 65_536
                ) -> tuple[int, dict[str, Any], int]:
    """POST a body of ``chunks`` chunks to the running app at the ASGI level, without a
    Content-Length (as a chunked upload arrives): the answer, and how many chunks it read."""
    read = 0
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b" " * size, "more_body": read < chunks}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        else:
            answer["body"] += message.get("body", b"")

    scope = {"type": "http", "method": "POST", "path": "/graphql", "raw_path": b"/graphql",
             "root_path": "", "scheme": "http", "query_string": b"", "http_version": "1.1",
             "server": ("testserver", 80), "client": ("127.0.0.1", 1), "headers": [
                 (b"authorization", f"Bearer {api.tokens['staff']}".encode()),
                 (b"content-type", content_type.encode())]}
    portal = api.client.portal
    assert portal is not None
    app: Any = api.client.app
    portal.call(app, scope, receive, send)
    return answer["status"], json.loads(answer["body"]), read


@pytest.mark.parametrize("content_type", ["application/json", "application/json-patch+json"])
def test_a_streamed_body_over_the_limit_is_refused_with_413_without_being_read(
        api: Api, content_type: str) -> None:
    # Given the token is known (its principal cached)
    assert api.client.post("/graphql", json={"query": "{ me { id } }"},
                           headers=bearer(api)).status_code == 200
    # When a 50 MB body streams in, in 64 KB chunks
    status, body, read = stream_post(api, content_type, chunks=800)
    # Then it is refused after the limit (8 MB = 128 chunks), never read whole
    assert status == 413 and body["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
    assert read == 129


@pytest.mark.parametrize("content_type", ["multipart/form-data; boundary=x", "text/plain"])
def test_other_content_types_are_refused_without_reading_the_body(
        api: Api, content_type: str) -> None:
    assert api.client.post("/graphql", json={"query": "{ me { id } }"},
                           headers=bearer(api)).status_code == 200
    status, body, read = stream_post(api, content_type, chunks=800)
    assert status == 415 and body["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert read == 0


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data; boundary=x",
                                          "application/x-www-form-urlencoded"])
def test_a_declared_length_over_the_limit_is_refused_before_reading(
        api: Api, content_type: str) -> None:
    response = api.client.post("/graphql", content=b"x" * (8 * 1024 * 1024 + 1), headers={
        **bearer(api), "Content-Type": content_type})
    assert response.status_code == 413 and codes(response) == ["REQUEST_TOO_LARGE"]


# -- every error is typed JSON --------------------------------------------------------------

@pytest.mark.parametrize(("body", "code"), [
    (b'{"query": ""}', "BAD_REQUEST"),
    (b'{"query": "   "}', "BAD_REQUEST"),
    (b'{}', "BAD_REQUEST"),
    (b'[{"query": "{ me { id } }"}]', "BAD_REQUEST"),
    (b'{"query": 1}', "BAD_REQUEST"),
    (b'not json', "BAD_REQUEST"),
    (b'{"query": "{ me { id } }", "operationName": "Nope"}', "BAD_REQUEST"),
], ids=["empty", "blank", "no-query", "batch", "not-a-string", "not-json", "unknown-operation"])
def test_malformed_requests_get_a_typed_json_error_never_a_500(
        api: Api, body: bytes, code: str) -> None:
    response = api.client.post("/graphql", content=body, headers={
        **bearer(api), "Content-Type": "application/json"})
    assert response.status_code == 400 and codes(response) == [code]


def test_a_dear_operation_cannot_hide_behind_a_cheap_one(api: Api) -> None:
    # Given a document of two operations, the second the attack
    dear = ATTACK.replace("query {", "query B {", 1)
    # When it is sent without an operationName, the first runs: the one that was weighed
    first = api.client.post("/graphql", headers=bearer(api), json={
        "query": "query A { me { id } } " + dear})
    assert "errors" not in first.json() and list(first.json()["data"]) == ["me"]
    # When the first is anonymous, the dearest is weighed
    anonymous = api.client.post("/graphql", headers=bearer(api), json={
        "query": "{ me { id } } " + dear})
    assert codes(anonymous)[0] in ("QUERY_TOO_COSTLY", "GRAPHQL_VALIDATION_FAILED")
    # When the attack is named, it is refused
    named = api.client.post("/graphql", headers=bearer(api), json={
        "query": "query A { me { id } } " + dear, "operationName": "B"})
    assert codes(named) == ["QUERY_TOO_COSTLY"]


def test_numbers_out_of_range_are_invalid_input_naming_the_field(api: Api) -> None:
    by_variable = api.client.post("/graphql", headers=bearer(api), json={
        "query": "query($n: Int!) { customers(first: $n) { edges { cursor } } }",
        "variables": {"n": 2**31}})
    by_literal = api.client.post("/graphql", headers=bearer(api), json={
        "query": "{ customers(first: 2147483648) { edges { cursor } } }"})
    amount = api.client.post("/graphql", headers=bearer(api, "manager"), json={
        "query": "mutation($i: DraftCampaignInput!) { draftCampaign(input: $i) { campaignId } }",
        "variables": {"i": {"name": "n", "segmentId": SEGMENT, "channel": "wecom_mass",
                            "costFen": 2**60, "variants": [{"variantId": "a", "text": "t"}]}}})
    assert [e["extensions"] for e in by_variable.json()["errors"]] == [
        {"code": "INVALID_INPUT", "field": "n"}]
    assert [e["extensions"] for e in by_literal.json()["errors"]] == [
        {"code": "INVALID_INPUT", "field": "customers.first"}]
    assert [e["extensions"] for e in amount.json()["errors"]] == [
        {"code": "INVALID_INPUT", "field": "i.costFen"}]


def test_a_friend_added_by_no_staff_id_is_refused(api: Api) -> None:
    result = api.gql("""mutation($e: [CustomerEventInput!]!) { recordCustomerEvents(
        input: {events: $e}) { rejected results { status error { code field } } } }""", {"e": [{
        "eventId": "f1", "type": "FRIEND_ADDED", "occurredAt": "2026-11-01T10:00:00+08:00",
        "customer": {"namespace": "phone", "value": "13800138000"}, "channel": "qr",
        "staffId": "not a staff id"}]})
    payload = result["data"]["recordCustomerEvents"]
    assert payload["rejected"] == 1
    assert payload["results"][0]["error"] == {"code": "INVALID_INPUT", "field": "staffId"}


def test_an_sms_variant_without_a_template_is_refused_at_draft_time(api: Api) -> None:
    segment = api.gql("""mutation { defineSegment(input: {name: "买家",
        rule: {ordered: {atLeast: 1}}}) { segmentId } }""", as_="manager")
    segment_id = segment["data"]["defineSegment"]["segmentId"]
    result = api.gql("""mutation($i: DraftCampaignInput!) { draftCampaign(input: $i) {
        campaignId } }""", {"i": {"name": "双十二", "segmentId": segment_id, "channel": "sms",
                                  "variants": [{"variantId": "a", "text": "亲"}]}}, as_="manager")
    assert result["errors"][0]["extensions"] == {
        "code": "INVALID_INPUT", "field": "variants[0].templateId"}


# -- rate limits ----------------------------------------------------------------------------

def test_a_principal_over_its_rate_gets_429_with_retry_after(
        pg_url: str, tmp_path: Path, api: Api) -> None:
    # Given 60 requests a minute for staff: a bucket of 10
    with server(pg_url, tmp_path, rate_limits={"staff": 60}) as client:
        answers = [client.post("/graphql", json={"query": "{ me { id } }"},
                               headers=bearer(api)) for _ in range(11)]
        other = client.post("/graphql", json={"query": "{ me { id } }"},
                            headers=bearer(api, "manager"))
    # Then the eleventh is refused, and another principal is not
    assert [a.status_code for a in answers] == [200] * 10 + [429]
    assert codes(answers[-1]) == ["RATE_LIMITED"]
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert other.status_code == 200


def test_two_api_processes_share_one_budget(pg_url: str, tmp_path: Path, api: Api) -> None:
    # Given two API instances over one database (as `siyu serve --workers 2` runs them)
    with server(pg_url, tmp_path, rate_limits={"staff": 60}) as one, \
            server(pg_url, tmp_path, rate_limits={"staff": 60}) as two:
        # When one principal alternates between them, 20 requests
        started = time.monotonic()
        answers = [(one if n % 2 else two).post("/graphql", json={"query": "{ me { id } }"},
                                                headers=bearer(api)) for n in range(20)]
        took = time.monotonic() - started
    # Then together they pass one bucket of 10 (and the one token a second it refills),
    # not two buckets (20)
    statuses = [a.status_code for a in answers]
    assert statuses[:10] == [200] * 10, statuses
    assert statuses.count(200) <= 10 + math.ceil(took), (statuses, took)
    assert 429 in statuses


def test_each_process_keeps_its_own_buckets_when_sharing_is_off(
        pg_url: str, tmp_path: Path, api: Api) -> None:
    with server(pg_url, tmp_path, rate_limits={"staff": 60}, rate_limit_shared=False) as one, \
            server(pg_url, tmp_path, rate_limits={"staff": 60},
                   rate_limit_shared=False) as two:
        answers = [(one if n % 2 else two).post("/graphql", json={"query": "{ me { id } }"},
                                                headers=bearer(api)) for n in range(20)]
    assert [a.status_code for a in answers] == [200] * 20


# -- persisted queries ----------------------------------------------------------------------

def manifest(tmp_path: Path, *bodies: str) -> Path:
    path = tmp_path / "persisted.json"
    path.write_text(json.dumps({"format": FORMAT, "version": 1, "operations": [
        {"id": sha256_hex(b), "name": "", "type": "query", "body": b} for b in bodies]}))
    return path


def persisted_get(client: TestClient, api: Api, body: str, **params: str) -> Any:
    extensions = json.dumps({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(body)}})
    return client.get("/graphql", params={"extensions": extensions, **params},
                      headers=bearer(api, "manager"))


def test_a_get_runs_a_persisted_query_and_nothing_else(
        pg_url: str, tmp_path: Path, api: Api) -> None:
    mutation = 'mutation { assignMarketingTask(input: {title: "t"}) { recorded } }'
    path = manifest(tmp_path, STAFF_MEMBERS, mutation)
    with server(pg_url, tmp_path, persisted_queries=path) as client:
        ran = persisted_get(client, api, STAFF_MEMBERS)
        unknown = persisted_get(client, api, "{ me { id } }")
        plain = client.get("/graphql", params={"query": STAFF_MEMBERS},
                           headers=bearer(api, "manager"))
        write = persisted_get(client, api, mutation)
        post = client.post("/graphql", headers=bearer(api, "manager"), json={
            "extensions": {"persistedQuery": {"version": 1,
                                              "sha256Hash": sha256_hex(STAFF_MEMBERS)}}})
    assert ran.status_code == 200 and "staffMembers" in ran.json()["data"]
    assert codes(unknown) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert plain.status_code == 405 and codes(plain) == ["PERSISTED_QUERY_REQUIRED"]
    assert write.status_code == 405 and codes(write) == ["BAD_REQUEST"]
    assert post.status_code == 200 and "staffMembers" in post.json()["data"]


def test_production_can_require_persisted_operations(
        pg_url: str, tmp_path: Path, api: Api) -> None:
    path = manifest(tmp_path, STAFF_MEMBERS)
    with server(pg_url, tmp_path, persisted_queries=path, require_persisted_queries=True,
                production=True) as client:
        other = client.post("/graphql", json={"query": "{ me { id } }"},
                            headers=bearer(api, "manager"))
        listed = client.post("/graphql", json={"query": STAFF_MEMBERS},
                             headers=bearer(api, "manager"))
    assert codes(other) == ["PERSISTED_QUERY_REQUIRED"]
    assert "errors" not in listed.json()


# -- production mode and GraphiQL -----------------------------------------------------------

def test_production_has_no_introspection_no_suggestions_and_no_graphiql(
        pg_url: str, tmp_path: Path, api: Api) -> None:
    with server(pg_url, tmp_path, production=True) as client:
        introspection = client.post("/graphql", json={"query": "{ __schema { types { name } } }"},
                                    headers=bearer(api))
        typo = client.post("/graphql", json={"query": "{ customerz { id } }"},
                           headers=bearer(api))
        page = client.get("/graphql", headers={"Accept": "text/html"})
        asset = client.get("/graphiql/graphiql.min.js")
    assert set(codes(introspection)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "introspection" in introspection.json()["errors"][0]["message"]
    assert codes(typo) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "Did you mean" not in typo.text and "customers" not in typo.text
    assert page.status_code == 404 and codes(page) == ["NOT_FOUND"]
    assert asset.status_code == 404


def test_development_still_suggests(api: Api) -> None:
    typo = api.client.post("/graphql", json={"query": "{ customerz { id } }"},
                           headers=bearer(api))
    assert "Did you mean" in typo.text


def test_graphiql_loads_every_asset_from_this_server(api: Api) -> None:
    page = api.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.text
    # No address outside this server: no scheme, no protocol-relative URL
    assert "http://" not in html and "https://" not in html and '="//' not in html
    sources = [part.split('"')[1] for part in html.split("src=")[1:]] + [
        part.split('"')[1] for part in html.split("href=")[1:]]
    assert len(sources) == 4
    for source in sources:
        # resolved against /graphql, as a browser does
        asset = api.client.get("/" + source)
        assert asset.status_code == 200, source
        assert asset.headers["content-type"].startswith(("text/javascript", "text/css"))
        assert len(asset.content) > 5_000
    assert api.client.get("/graphiql/../../etc/passwd").status_code == 404
    assert api.client.get("/graphiql/index.html").status_code == 404
