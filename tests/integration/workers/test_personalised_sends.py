"""Personalised campaign texts against the faithful fake: each customer gets the text filled
with their own values (or the variant's fallback), on every channel; a WeCom task carries one
text, so recipients are grouped by their filled text; the sender is the friend who last
chatted with the customer; nobody gets a blank placeholder. Read from what the fake's
customers received."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg
import pytest

from adapters.campaign_client import WeComCampaignGateway
from adapters.sms_client import TencentSms
from application.app import Siyu
from application.campaign_launch import launch
from domain.ingestion import EventItem
from fakes.sms import FAKE_SMS_APP_ID, FAKE_SMS_SECRET_ID, FAKE_SMS_SECRET_KEY
from fakes.wecom import FAKE_APP_ID, FAKE_APP_SECRET, FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom
from projections.runner import Tracker
from tests.integration.workers.test_campaign_sends_on_postgres import running  # noqa: F401
from workers.campaign_sending import CampaignDeps, send_chunk
from workers.campaign_store import CampaignStore
from workers.campaigns import CampaignDispatcher

pytestmark = pytest.mark.integration

TEXT = "{member_level} 会员专享: 您有 {points_balance} 积分 ({lifecycle})"
FALLBACK = {"member_level": "尊敬的"}


def _noon() -> datetime:
    return datetime.now(UTC).replace(hour=4, minute=0) - timedelta(days=1)


def _send_all(deps: CampaignDeps, store: CampaignStore) -> None:
    messages: list[tuple[str, int, list[str]]] = []
    CampaignDispatcher(store, lambda c, s, i: messages.append((c, s, i))).run_once()
    for c, s, i in messages:
        send_chunk(deps, UUID(c), s, [UUID(x) for x in i])


def _facts(key: str, identity: tuple[str, str], now: datetime, level: str | None,
           points: int) -> list[EventItem]:
    items = []
    if level is not None:
        items.append(EventItem(f"{key}-m", "MEMBER_REGISTERED", identity, now,
                               member_level=level))
    if points:
        items.append(EventItem(f"{key}-p", "POINTS_EARNED", identity, now, points=points))
    return items


def _statuses(url: str, campaign_id: UUID) -> dict[str, tuple[str, str | None]]:
    with psycopg.connect(url) as conn:
        return {str(c): (s, d) for c, s, d in conn.execute(
            "SELECT customer_id, status, detail FROM campaign_send WHERE campaign_id = %s",
            (campaign_id,))}


@pytest.fixture
def gateway(fake_wecom: RunningFakeWeCom) -> Iterator[WeComCampaignGateway]:
    sms = TencentSms(f"{fake_wecom.url}/sms", FAKE_SMS_SECRET_ID, FAKE_SMS_SECRET_KEY,
                     FAKE_SMS_APP_ID, "思域")
    client = WeComCampaignGateway(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET,
                                  app_id=FAKE_APP_ID, app_secret=FAKE_APP_SECRET,
                                  direct_base_url=fake_wecom.url, sms=sms)
    yield client
    client.close()


def test_a_wecom_mass_send_gives_each_customer_their_own_text_through_the_last_chatter(
        pg_app: Siyu, pg_url: str, running: Tracker,  # noqa: F811
        fake_wecom: RunningFakeWeCom, gateway: WeComCampaignGateway) -> None:
    # Given two members, A (UserID m-a) and B (m-b), and six friends of A's with their
    # own member levels and points; the sixth also befriended B and chatted with B last
    now = datetime.now(UTC) - timedelta(minutes=5)
    a = pg_app.staff.hire("sales", "front_office", "王芳", "staff:m", now, wecom_user_id="m-a")
    b = pg_app.staff.hire("sales", "front_office", "李雷", "staff:m", now, wecom_user_id="m-b")
    people = {"c0": ("金卡", 120), "c1": ("金卡", 120), "c2": ("银卡", 0), "c3": (None, 0),
              "c4": (None, 35), "c5": ("钻石", 8)}
    items: list[EventItem] = []
    for key, (level, points) in people.items():
        identity = ("wecom_external:ww1", f"wm{key}")
        items.append(EventItem(f"{key}-f", "FRIEND_ADDED", identity, now, channel="qr",
                               staff_id=str(a)))
        items += _facts(key, identity, now, level, points)
    c5 = ("wecom_external:ww1", "wmc5")
    items += [EventItem("c5-fb", "FRIEND_ADDED", c5, now + timedelta(minutes=1),
                        channel="qr", staff_id=str(b)),
              EventItem("c5-ma", "MESSAGE_SENT", c5, now + timedelta(minutes=1),
                        staff_id=str(a), message_kind="text"),
              EventItem("c5-mb", "MESSAGE_RECEIVED", c5, now + timedelta(minutes=2),
                        staff_id=str(b), message_kind="text")]
    pg_app.ingestion.record_batch(items, "service:test")
    # (and WeCom knows those chats: it delivers c5's mass messages through B only)
    fake_wecom.state.campaigns.last_chatted.update({"wmc5": "m-b", "wmc0": "m-a"})
    segment_id, _ = pg_app.segments.define("friends", "", {"isFriend": True}, "staff:m", now)
    campaign_id, _ = pg_app.campaigns.draft(
        "vip", "staff:m", "wecom_mass", segment_id,
        [{"variant_id": "vip", "text": TEXT, "fallbacks": FALLBACK}], "staff:m", now)
    assert running.wait("staff_daily_performance", pg_app.recorder.max_notification_id() or 0, 20)
    assert running.wait("customer_profile", pg_app.recorder.max_notification_id() or 0, 10)
    # When it is launched and sent
    _, plan = launch(pg_app, running, campaign_id, "staff:m", _noon())
    assert len(plan.included) == 6
    bases = {d.sender_basis for d in plan.included if d.sender == str(b)}
    assert bases == {"LAST_CHATTED"}
    assert {d.sender_basis for d in plan.included if d.sender == str(a)} == {"OWNER"}
    store = CampaignStore.connect(pg_url)
    try:
        _send_all(CampaignDeps(app=pg_app, store=store, gateway=gateway), store)
    finally:
        store.close()
    # Then WeCom got one task per (member, text): A's five customers make four texts
    fake = fake_wecom.state.campaigns
    tasks = sorted((t["sender"], t["text"], t["recipients"]) for t in fake.tasks())
    assert tasks == [
        ("m-a", "尊敬的 会员专享: 您有 0 积分 (NEW)", 1),
        ("m-a", "尊敬的 会员专享: 您有 35 积分 (NEW)", 1),
        ("m-a", "金卡 会员专享: 您有 120 积分 (NEW)", 2),
        ("m-a", "银卡 会员专享: 您有 0 积分 (NEW)", 1),
        ("m-b", "钻石 会员专享: 您有 8 积分 (NEW)", 1)]
    # When the members confirm their tasks
    for task in fake.tasks():
        fake.confirm(str(task["msgid"]))
    # Then each customer received exactly their own text, once, from the right member
    got = {(r.recipient, r.sender, r.text) for r in fake.receipts()}
    assert got == {
        ("wmc0", "m-a", "金卡 会员专享: 您有 120 积分 (NEW)"),
        ("wmc1", "m-a", "金卡 会员专享: 您有 120 积分 (NEW)"),
        ("wmc2", "m-a", "银卡 会员专享: 您有 0 积分 (NEW)"),
        ("wmc3", "m-a", "尊敬的 会员专享: 您有 0 积分 (NEW)"),
        ("wmc4", "m-a", "尊敬的 会员专享: 您有 35 积分 (NEW)"),
        ("wmc5", "m-b", "钻石 会员专享: 您有 8 积分 (NEW)")}
    assert len(fake.receipts()) == 6


def test_subscribe_messages_and_sms_are_filled_and_a_missing_value_is_never_sent_blank(
        pg_app: Siyu, pg_url: str, running: Tracker,  # noqa: F811
        fake_wecom: RunningFakeWeCom, gateway: WeComCampaignGateway) -> None:
    # Given buyers with an openid and a phone, levels and points; one without a level
    now = datetime.now(UTC) - timedelta(minutes=5)
    people = {"d0": ("金卡", 120), "d1": ("银卡", 7), "d2": (None, 50)}
    items: list[EventItem] = []
    for n, (key, (level, points)) in enumerate(people.items()):
        openid = ("wx_openid:" + FAKE_APP_ID, f"o{key}")
        items += [EventItem(f"{key}-o", "ORDER_PAID", openid, now, order_id=key,
                            amount_fen=100),
                  EventItem(f"{key}-ph", "IDENTITY_LINKED", openid, now,
                            link=("phone", f"+8613900000{n:03d}"))]
        items += _facts(key, openid, now, level, points)
        fake_wecom.state.campaigns.grant_subscription(f"o{key}", "tpl-1")
    results = pg_app.ingestion.record_batch(items, "service:test")
    assert results.count("rejected") == 0, results
    segment_id, _ = pg_app.segments.define("buyers", "", {"ordered": {"atLeast": 1}},
                                           "staff:m", now)
    # ... and, on each channel, a variant whose {member_level} has no fallback
    campaigns = {channel: pg_app.campaigns.draft(
        channel, "staff:m", channel, segment_id,
        [{"variant_id": "a", "text": "{member_level} 专享 {points_balance} 积分",
          "template_id": "tpl-1" if channel == "mini_program" else "1234567"}], "staff:m",
        now)[0] for channel in ("mini_program", "sms")}
    assert running.wait("customer_profile", pg_app.recorder.max_notification_id() or 0, 10)
    # When both are launched
    plans = {ch: launch(pg_app, running, cid, "staff:m", _noon())[1]
             for ch, cid in campaigns.items()}
    # Then the customer without a level is excluded with the reason, in both plans
    for plan in plans.values():
        assert plan.excluded_by_reason() == {"MISSING_VALUE": 1}
        assert len(plan.included) == 2
    store = CampaignStore.connect(pg_url)
    try:
        _send_all(CampaignDeps(app=pg_app, store=store, gateway=gateway), store)
    finally:
        store.close()
    # Then each subscribe message carries that customer's own text
    direct = {r.recipient: r.data for r in fake_wecom.state.campaigns.receipts(kind="direct")}
    assert direct == {"od0": {"text": "金卡 专享 120 积分"}, "od1": {"text": "银卡 专享 7 积分"}}
    # ... and each SMS its own parameter
    sms = {r.number[-3:]: r.params for r in fake_wecom.state.sms.received()}
    assert sms == {"000": ("金卡 专享 120 积分",), "001": ("银卡 专享 7 积分",)}
    assert running.wait("campaign", pg_app.recorder.max_notification_id() or 0, 10)
    for campaign_id in campaigns.values():
        assert sorted(s for s, _ in _statuses(pg_url, campaign_id).values()) == ["sent"] * 2
