"""Channel codes end to end: GraphQL → the sync worker → the fake's 「联系我」 API; a customer
scans, WeCom calls back with the State, and the add is the code's (profile, counts, joinedVia,
tags); an unanswered add is reconciled, never repeated; typed errors for bad input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.contact_ways import WeComContactWays
from api.wecom_callbacks import callback_items
from application.app import Siyu
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom
from projections.runner import Tracker
from tests.integration.api.conftest import Api
from tests.integration.api.test_segments_http import define
from workers.channel_codes import ChannelCodeSync
from workers.lent import opener

pytestmark = pytest.mark.integration

CREATE = """
mutation($input: CreateChannelCodeInput!) { createChannelCode(input: $input) {
  projected code { id state channel userIds staffIds wecomStatus qrCode tags friendsAdded } } }"""
CODE = """query($id: ID!) { channelCode(id: $id) { id state channel userIds wecomStatus inSync
  qrCode configId friendsAdded deletedAt welcomeText } }"""
CUSTOMER = """query($id: ID!) { customer(id: $id) { firstChannel tags
  staffRelations { channel state channelCodeId } } }"""


@pytest.fixture
def sync(pg_app: Siyu, pg_url: str, fake_wecom: RunningFakeWeCom) -> Iterator[ChannelCodeSync]:
    client = WeComContactWays(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET)
    yield ChannelCodeSync(pg_app, opener(pg_url), client)
    client.close()


def hire(api: Api, app: Siyu, user_id: str) -> str:
    return str(app.staff.hire("sales", "front_office", "张三", "system", datetime.now(UTC),
                              wecom_user_id=user_id))


def settle(api: Api, app: Siyu) -> None:
    """Until the read models used here include the whole log."""
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    latest = app.recorder.max_notification_id() or 0
    for view in ("channel_code", "customer_profile", "staff_directory"):
        assert tracker.wait(view, latest, 20), view


def create(api: Api, **fields: Any) -> dict[str, Any]:
    body = api.gql(CREATE, {"input": {"name": "上海一店", "channel": "qr:store-shanghai-01",
                                      "userIds": ["zhangsan"], **fields}}, as_="manager")
    assert "errors" not in body, body
    code: dict[str, Any] = body["data"]["createChannelCode"]["code"]
    return code


def code(api: Api, code_id: str) -> dict[str, Any]:
    found: dict[str, Any] = api.gql(CODE, {"id": code_id}, as_="manager")["data"]["channelCode"]
    return found


def test_a_code_is_registered_at_wecom_and_an_add_through_it_is_attributed_to_it(
        api: Api, pg_app: Siyu, fake_wecom: RunningFakeWeCom, sync: ChannelCodeSync) -> None:
    # Given a member zhangsan and a code for the Shanghai store that gives a tag
    hire(api, pg_app, "zhangsan")
    settle(api, pg_app)
    created = create(api, tags=["门店客"], welcomeText="欢迎光临上海一店")
    assert (created["wecomStatus"], created["qrCode"], len(created["state"])) == (
        "PENDING", None, 26)
    # When the worker tells WeCom
    sync.run_once()
    settle(api, pg_app)
    # Then WeCom has the contact way with the code's state, and the code its QR code
    [way] = fake_wecom.state.contact_ways.ways.values()
    assert (way.state, way.users, way.type, way.scene) == (created["state"], ["zhangsan"], 2, 2)
    seen = code(api, created["id"])
    assert (seen["wecomStatus"], seen["configId"], seen["inSync"]) == (
        "REGISTERED", way.config_id, True)
    assert seen["qrCode"] == way.qr_code
    # When a customer scans it and WeCom calls back (channel "wecom" and the State)
    fields = fake_wecom.state.contact_ways.scan(way.config_id, "wmscanned0001")
    staff_id = created["staffIds"][0]
    result = pg_app.ingestion.record_batch(callback_items(FAKE_CORP_ID, fields, staff_id),
                                           "service:wecom")
    customer_id = str(result.outcomes[0].customer_id)
    settle(api, pg_app)
    # Then the add is the code's: the profile's channel, the relation's code, the count
    customer = api.gql(CUSTOMER, {"id": customer_id}, as_="manager")["data"]["customer"]
    assert customer["firstChannel"] == "qr:store-shanghai-01"
    assert customer["staffRelations"] == [{"channel": "qr:store-shanghai-01",
                                           "state": created["state"],
                                           "channelCodeId": created["id"]}]
    assert code(api, created["id"])["friendsAdded"] == 1
    # And a segment joinedVia "qr" (the parent channel) has the customer
    segment_id = define(api, "扫码客", {"joinedVia": "qr"})
    seen_segment = api.gql("query($id: ID!) { segment(id: $id) { memberCount } }",
                           {"id": segment_id}, as_="manager")["data"]["segment"]
    assert seen_segment == {"memberCount": 1}
    # And the worker gives the code's tag to the customer, once
    sync.run_once()
    sync.run_once()
    settle(api, pg_app)
    customer = api.gql(CUSTOMER, {"id": customer_id}, as_="manager")["data"]["customer"]
    assert customer["tags"] == ["门店客"]


def test_an_add_whose_answer_was_lost_is_reconciled_not_repeated(
        api: Api, pg_app: Siyu, fake_wecom: RunningFakeWeCom, sync: ChannelCodeSync) -> None:
    hire(api, pg_app, "zhangsan")
    settle(api, pg_app)
    created = create(api)
    # Given WeCom creates the contact way but its answer is lost
    fake_wecom.state.contact_ways.inject("lost_reply")
    sync.run_once()
    settle(api, pg_app)
    assert len(fake_wecom.state.contact_ways.ways) == 1
    assert code(api, created["id"])["wecomStatus"] == "PENDING"
    # When the worker comes back to the code
    sync.run_once()
    settle(api, pg_app)
    # Then it found the contact way by its state: registered, and still one at WeCom
    [way] = fake_wecom.state.contact_ways.ways.values()
    assert code(api, created["id"])["configId"] == way.config_id
    # And a change and a delete reach WeCom too
    hire(api, pg_app, "lisi")
    settle(api, pg_app)
    body = api.gql("""mutation($id: ID!) { updateChannelCode(input: {codeId: $id,
        userIds: ["zhangsan", "lisi"], welcomeText: "你好"}) { code { inSync welcomeText } } }""",
                   {"id": created["id"]}, as_="manager")
    assert body["data"]["updateChannelCode"]["code"] == {"inSync": False, "welcomeText": "你好"}
    sync.run_once()
    assert way.users == ["lisi", "zhangsan"]
    body = api.gql("""mutation($id: ID!) { deleteChannelCode(codeId: $id) { code { id } } }""",
                   {"id": created["id"]}, as_="manager")
    assert "errors" not in body, body
    settle(api, pg_app)
    sync.run_once()
    settle(api, pg_app)
    assert fake_wecom.state.contact_ways.ways == {}
    assert code(api, created["id"])["wecomStatus"] == "REMOVED"


@pytest.mark.parametrize(("query", "variables", "as_", "code"), [
    (CREATE, {"input": {"name": "x", "channel": "qr", "userIds": ["nobody"]}}, "manager",
     "NOT_A_MEMBER"),
    (CREATE, {"input": {"name": "x", "channel": "QR Code", "userIds": ["zhangsan"]}},
     "manager", "BAD_INPUT"),
    (CREATE, {"input": {"name": "x", "channel": "qr", "userIds": ["zhangsan"]}}, "staff",
     "FORBIDDEN"),
    ("""mutation { deleteChannelCode(codeId: "6d0c0de0-0000-4000-8000-000000000000")
       { projected } }""", None, "manager", "UNKNOWN_CHANNEL_CODE"),
    ("""mutation { updateChannelCode(input: {codeId: "6d0c0de0-0000-4000-8000-000000000000",
       name: "y"}) { projected } }""", None, "manager", "UNKNOWN_CHANNEL_CODE"),
], ids=["not-a-member", "bad-channel", "front-line-staff", "unknown-delete", "unknown-update"])
def test_bad_input_gets_a_typed_error_and_records_nothing(
        api: Api, pg_app: Siyu, query: str, variables: dict[str, Any] | None, as_: str,
        code: str) -> None:
    hire(api, pg_app, "zhangsan")
    settle(api, pg_app)
    before = pg_app.recorder.max_notification_id()
    body = api.gql(query, variables, as_=as_)
    assert body["errors"][0]["extensions"]["code"] == code, body
    assert pg_app.recorder.max_notification_id() == before
