"""/callbacks/wecom over HTTP: verification, signed encrypted callbacks, duplicates, refusals."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from api.wecom_callbacks import callback_items, parse_xml
from api.wecom_crypto import WeComCrypto, signature
from siyu.api_process import create_app
from siyu.settings import Settings
from tests.conftest import SECRET
from tests.unit.api.test_wecom_crypto import AES_KEY

pytestmark = pytest.mark.integration

CORP = "ww-test"
CRYPTO = WeComCrypto("tok", AES_KEY, CORP)


def contact_xml(change: str, external: str = "wmAAA001", user: str = "zhangsan",
                created: int | None = None, **extra: str) -> str:
    fields = {"ToUserName": CORP, "FromUserName": "sys", "CreateTime": str(created or int(time.time())),
              "MsgType": "event", "Event": "change_external_contact", "ChangeType": change,
              "UserID": user, "ExternalUserID": external, **extra}
    return "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) + "</xml>"


def signed(xml: str, *, ts: int | None = None, tamper: bool = False) -> tuple[str, bytes]:
    encrypted = CRYPTO.encrypt(xml)
    timestamp = str(ts or int(time.time()))
    sig = signature("tok", timestamp, "nonce1", encrypted)
    if tamper:
        sig = "0" * 40
    query = urlencode({"msg_signature": sig, "timestamp": timestamp, "nonce": "nonce1"})
    body = f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]>" \
           "</Encrypt><AgentID><![CDATA[1]]></AgentID></xml>"
    return f"/callbacks/wecom?{query}", body.encode()


@pytest.fixture
def client(pg_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings_ = Settings(database_url=pg_url, broker_url=None, data_dir=tmp_path, secret=SECRET,
                         wecom_corp_id=CORP, wecom_token="tok", wecom_encoding_aes_key=AES_KEY,
                         # many refused callbacks from one address here: no per-address limit
                         # (test_anonymous_limits_http.py tests it)
                         rate_limits={"anonymous": 0})
    with TestClient(create_app(settings_)) as test_client:
        yield test_client


def events(url: str) -> list[tuple[str, ...]]:
    with psycopg.connect(url) as conn:
        return [tuple(r) for r in conn.execute(
            "SELECT originator_id::text, topic FROM siyu_events ORDER BY notification_id")]


def test_url_verification_answers_the_decrypted_echostr(client: TestClient) -> None:
    echo = CRYPTO.encrypt("1234567890")
    ts = str(int(time.time()))
    query = urlencode({"msg_signature": signature("tok", ts, "n", echo), "timestamp": ts,
                       "nonce": "n", "echostr": echo})
    response = client.get(f"/callbacks/wecom?{query}")
    assert response.status_code == 200 and response.text == "1234567890"


def test_a_friend_added_callback_records_the_customer_once(client: TestClient,
                                                           pg_url: str) -> None:
    # Given a signed, encrypted add_external_contact callback
    path, body = signed(contact_xml("add_external_contact", State="store-01",
                                    WelcomeCode="wc-123"))
    # When WeCom delivers it twice
    first = client.post(path, content=body)
    second = client.post(path, content=body)
    # Then both are acknowledged and the customer is recorded once, with the staff relation
    assert first.text == second.text == "success"
    stored = events(pg_url)
    assert [t.rsplit(".", 1)[-1] for _, t in stored] == ["Registered", "IdentityLinked",
                                                         "FriendAdded", "OwnerChanged"]


def test_bad_signatures_stale_timestamps_and_tampering_are_refused_and_store_nothing(
    client: TestClient, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    xml = contact_xml("add_external_contact", external="wmSECRET42")
    for path, body in (signed(xml, tamper=True), signed(xml, ts=int(time.time()) - 3600)):
        assert client.post(path, content=body).status_code == 403
    path, body = signed(xml)
    broken = body.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[AAAA")
    assert client.post(path, content=broken).status_code == 403
    assert client.post(path, content=b"<xml><!DOCTYPE x []></xml>").status_code == 403
    assert events(pg_url) == []
    assert "wmSECRET42" not in caplog.text


def test_unconfigured_callbacks_answer_404(pg_url: str, tmp_path: Path) -> None:
    settings_ = Settings(database_url=pg_url, broker_url=None, data_dir=tmp_path, secret=SECRET)
    with TestClient(create_app(settings_)) as test_client:
        path, body = signed(contact_xml("del_follow_user"))
        assert test_client.post(path, content=body).status_code == 404


def test_deletions_and_group_changes_map_to_customer_events() -> None:
    deleted = callback_items(CORP, parse_xml(contact_xml("del_follow_user")))
    assert [(i.type, i.deleted_by, i.staff_id) for i in deleted] == [
        ("FRIEND_DELETED", "customer", "wecom_user:zhangsan")]
    by_staff = callback_items(CORP, parse_xml(contact_xml("del_external_contact")))
    assert by_staff[0].deleted_by == "staff"
    group = ("<xml><ToUserName>ww-test</ToUserName><CreateTime>1700000000</CreateTime>"
             "<Event>change_external_chat</Event><ChangeType>update</ChangeType>"
             "<ChatId>wrGROUP</ChatId><UpdateDetail>add_member</UpdateDetail>"
             "<MemChangeList><Item>wmA</Item><Item>zhangsan</Item><Item>woB</Item>"
             "</MemChangeList></xml>")
    items = callback_items(CORP, parse_xml(group))
    assert [(i.type, i.identity, i.group_id) for i in items] == [
        ("GROUP_JOINED", (f"wecom_external:{CORP}", "wmA"), "wrGROUP"),
        ("GROUP_JOINED", (f"wecom_external:{CORP}", "woB"), "wrGROUP")]
    assert len({i.event_id for i in items}) == 2
    assert callback_items(CORP, parse_xml(
        "<xml><Event>change_external_tag</Event><ChangeType>create</ChangeType></xml>")) == []


def chat_xml(change: str, **extra: str) -> str:
    fields = {"ToUserName": CORP, "CreateTime": str(int(time.time())), "MsgType": "event",
              "Event": "change_external_chat", "ChangeType": change, "ChatId": "wrGROUP1",
              **extra}
    return "<xml>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()) + "</xml>"


def test_groups_created_and_dismissed_and_tag_library_changes_are_recorded_once(
    client: TestClient, pg_url: str
) -> None:
    tag_xml = (f"<xml><ToUserName>{CORP}</ToUserName><CreateTime>{int(time.time())}"
               "</CreateTime><Event>change_external_tag</Event><Id>etTAG1</Id>"
               "<TagType>tag</TagType><ChangeType>create</ChangeType></xml>")
    for xml in (chat_xml("create", Owner="zhangsan"), chat_xml("dismiss"), tag_xml):
        path, body = signed(xml)
        assert client.post(path, content=body).text == "success"
        assert client.post(path, content=body).text == "success"  # WeCom's retry
    topics = [t.rsplit(":", 1)[-1] for _, t in events(pg_url)]
    assert topics == ["CustomerGroup.Created", "CustomerGroup.Dismissed",
                      "CorpTagLibrary.Opened", "CorpTagLibrary.TagChanged"]


_names = st.sampled_from(["add_external_contact", "del_follow_user", "transfer_fail",
                          "edit_external_contact", "add_half_external_contact", "bogus"])
_text = st.text(max_size=30)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(change=_names, external=_text, user=_text, created=st.one_of(
    st.integers(0, 2**40), st.just(int(time.time()))), raw=st.binary(max_size=200),
       signed_ok=st.booleans())
def test_random_callbacks_never_break_the_endpoint(
    client: TestClient, change: str, external: str, user: str, created: int, raw: bytes,
    signed_ok: bool
) -> None:
    if signed_ok:
        xml = contact_xml(change, external=external.replace("]]>", ""),
                          user=user.replace("]]>", ""), created=created)
        path, body = signed(xml)
    else:
        path, body = "/callbacks/wecom?msg_signature=x&timestamp=1&nonce=2", raw
    response = client.post(path, content=body)
    assert response.status_code in (200, 403)
    if not signed_ok:
        assert response.status_code == 403  # unsigned: refused, nothing recorded


def test_mapping_keeps_callbacks_with_the_same_content_as_the_same_event() -> None:
    fields: dict[str, Any] = parse_xml(contact_xml("add_external_contact", created=1700000000))
    assert callback_items(CORP, fields)[0].event_id == callback_items(CORP, dict(fields))[0].event_id


def test_a_friend_added_by_a_known_wecom_member_is_credited_to_that_staff_member(
    client: TestClient, pg_url: str
) -> None:
    from datetime import UTC, datetime

    from domain.customer import Customer
    from projections.postgres_views import StaffDirectoryView
    from projections.runner import BatchRunner, Tracker
    from siyu.bootstrap import build_application

    # Given a sales member hired with WeCom UserID "lisi"
    app = build_application(pg_url, SECRET)
    try:
        staff_id = app.staff.hire("sales", "front_office", "李四", "staff:m", datetime.now(UTC),
                                  wecom_user_id="lisi")
        BatchRunner(app, StaffDirectoryView(), Tracker(app.factory.datastore)).catch_up()  # type: ignore[attr-defined]
        # When WeCom reports that lisi added a customer
        path, body = signed(contact_xml("add_external_contact", external="wmLISI01", user="lisi"))
        assert client.post(path, content=body).text == "success"
        # Then the friendship is lisi's staff id, which lisi's token will see
        added = [app.mapper.to_domain_event(n)
                 for n in app.recorder.select_notifications(start=1, limit=100)]
        friend = [e for e in added if isinstance(e, Customer.FriendAdded)]
        assert [e.staff_id for e in friend] == [str(staff_id)]
    finally:
        app.close()
