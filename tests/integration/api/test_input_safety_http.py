"""Text no store can hold (NUL, lone surrogates) is refused at the edge, for every operation.

Before this guard, one ``createChatScript`` (or draftCampaign, assignMarketingTask, …) with a
NUL in its text was stored, and every projection copying that text then failed on it, on each
restart and rebuild: one request stopped the read models for good.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.api.conftest import Api

pytestmark = pytest.mark.integration

CREATE = """mutation($s: String!, $t: String!, $b: String!) {
  createChatScript(input: {scenario: $s, title: $t, body: $b, keywords: ["付款"]}) {
    script { id title } projected } }"""
COUNT = "query { chatScripts { edges { node { title } } } }"

#: The free-text mutations found to store NUL, with the variable that carried it.
FREE_TEXT: list[tuple[str, dict[str, Any], str]] = [
    ("mutation($input: DraftCampaignInput!) { draftCampaign(input: $input) { campaignId } }",
     {"input": {"name": "双十二\u0000", "segmentId": "0a6f0000-0000-4000-8000-000000000009",
                "channel": "sms", "variants": []}}, "input.name"),
    ("mutation($input: CreateChatScriptInput!) { createChatScript(input: $input) { projected } }",
     {"input": {"scenario": "催付", "title": "t", "body": "亲\u0000", "keywords": []}},
     "input.body"),
    ("mutation($input: ReviseChatScriptInput!) { reviseChatScript(input: $input) { projected } }",
     {"input": {"scriptId": "0a6f0000-0000-4000-8000-000000000009", "scenario": "催付",
                "title": "t", "body": "b", "keywords": ["x", "\u0000"]}}, "input.keywords[1]"),
    ("mutation($input: AssignMarketingTaskInput!) { assignMarketingTask(input: $input) "
     "{ recorded } }", {"input": {"title": "发朋友圈\u0000"}}, "input.title"),
    ("mutation($input: DraftReferralCampaignInput!) { draftReferralCampaign(input: $input) "
     "{ projected } }", {"input": {"name": "\u0000"}}, "input.name"),
    ("mutation($input: SopInput!) { defineSop(input: $input) { sopId } }",
     {"input": {"name": "新客", "steps": [{"text": "欢迎\u0000"}]}}, "input.steps[0].text"),
]


def refusal(body: dict[str, object]) -> dict[str, object]:
    errors = body["errors"]
    assert isinstance(errors, list) and body.get("data") is None
    extensions: dict[str, object] = errors[0]["extensions"]
    return extensions


@pytest.mark.parametrize(("query", "variables", "field"), FREE_TEXT,
                         ids=[q.split("{")[1].split("(")[0].strip() for q, _, _ in FREE_TEXT])
def test_a_nul_in_any_free_text_variable_is_refused_naming_the_field(
        api: Api, query: str, variables: dict[str, object], field: str) -> None:
    assert refusal(api.gql(query, variables, as_="manager")) == {
        "code": "INVALID_INPUT", "field": field}


def test_a_nul_in_a_string_literal_is_refused_naming_the_argument(api: Api) -> None:
    query = ('mutation { createChatScript(input: {scenario: "催付", title: "t", '
             'body: "亲\\u0000", keywords: []}) { projected } }')
    assert refusal(api.gql(query, as_="manager")) == {
        "code": "INVALID_INPUT", "field": "createChatScript.input.body"}


def post_raw(api: Api, body: bytes) -> dict[str, object]:
    response = api.client.post("/graphql", content=body, headers={
        "Authorization": f"Bearer {api.tokens['manager']}", "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    decoded: dict[str, object] = response.json()
    return decoded


def test_lone_surrogates_get_a_typed_json_error_never_a_plain_text_500(api: Api) -> None:
    # JSON carries an unpaired surrogate only as an escape: these are the bytes a client sends.
    # In a variable value or an object key: refused by name.
    for body, field in (
        (b'{"query": "query($s: String) { chatScripts(scenario: $s) { edges { cursor } } }",'
         b' "variables": {"s": "\\ud800"}}', "s"),
        (b'{"query": "mutation($i: CreateChatScriptInput!) { createChatScript(input: $i) '
         b'{ projected } }", "variables": {"i": {"scenario": "a", "title": "\\udfff", '
         b'"body": "b"}}}', "i.title"),
        (b'{"query": "query($x: Int) { staffMembers { id } }", "variables": {"\\udfff": 1}}',
         "variables"),
    ):
        assert refusal(post_raw(api, body)) == {"code": "INVALID_INPUT", "field": field}
    # In the query text itself: the parser refuses it, with a code and without echoing it.
    for body in (
        b'{"query": "{ chatScripts(scenario: \\"\\\\ud800\\") { edges { cursor } } }"}',
        b'{"query": "{ customer(id: \\"\\ud800\\") { id } }"}',
        b'{"query": "{ staffMembers { id } } # \\ud800"}',
    ):
        assert refusal(post_raw(api, body))["code"] in {"INVALID_INPUT", "GRAPHQL_PARSE_FAILED"}


def test_syntax_errors_and_an_empty_query_carry_a_code(api: Api) -> None:
    assert refusal(post_raw(api, b'{"query": "{ staffMembers { id "}'))["code"] == (
        "GRAPHQL_PARSE_FAILED")


def test_after_refusals_the_projections_still_catch_up(api: Api) -> None:
    # Given every free-text mutation tried with a NUL
    for query, variables, _ in FREE_TEXT:
        api.gql(query, variables, as_="manager")
    # When a clean script is created
    created = api.gql(CREATE, {"s": "催付", "t": "温和提醒", "b": "亲, 订单还未付款哦"},
                      as_="manager")
    # Then it is projected, and it is the only script stored
    assert created["data"]["createChatScript"]["projected"] is True
    titles = [e["node"]["title"] for e in api.gql(COUNT, as_="manager")["data"][
        "chatScripts"]["edges"]]
    assert titles == ["温和提醒"]


def test_text_with_ordinary_escapes_and_emoji_is_accepted(api: Api) -> None:
    # A literal backslash before "u0000", tabs, newlines and surrogate pairs are fine text.
    body = "line 1\n\tline 2 \\u0000 😀"
    created = api.gql(CREATE, {"s": "催付", "t": "转义", "b": body}, as_="manager")
    assert created["data"]["createChatScript"]["projected"] is True
    raw = json.dumps({"query": COUNT})
    listed = api.client.post("/graphql", content=raw, headers={
        "Authorization": f"Bearer {api.tokens['manager']}", "Content-Type": "application/json"})
    assert "转义" in listed.text
