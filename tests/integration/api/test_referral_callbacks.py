"""A WeCom friend-add callback whose contact-me State is an invite code: attributed, rewarded
once however often WeCom delivers it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from domain.ingestion import EventItem
from siyu.bootstrap import build_application
from tests.conftest import SECRET
from tests.integration.api.test_wecom_callbacks import client, contact_xml, signed  # noqa: F401

pytestmark = pytest.mark.integration


def test_a_wecom_callback_with_an_invite_code_rewards_the_inviter_once(
        client: TestClient, pg_url: str) -> None:  # noqa: F811
    # Given an active referral campaign and an inviter's code (set up by another process)
    now = datetime.now(UTC)
    setup = build_application(pg_url, SECRET)
    try:
        campaign_id, _ = setup.referrals.draft_campaign(
            "老带新", now - timedelta(days=1), None, {"kind": "points", "value": 66},
            "staff:m", now)
        setup.referrals.activate_campaign(campaign_id, "staff:m", now)
        result = setup.ingestion.record_batch([EventItem("reg", "REGISTERED", ("wx_unionid", "inviter"),
                                               now)], "service:test")
        inviter = result.outcomes[0].customer_id
        assert inviter is not None
        code = setup.referrals.invite_code(campaign_id, inviter, "customer:x", now)
    finally:
        setup.close()
    # When WeCom delivers the friend add with that State twice, then once more later
    created = int(time.time())
    path, body = signed(contact_xml("add_external_contact", external="wmNEW01", State=code,
                                    created=created))
    assert client.post(path, content=body).status_code == 200
    assert client.post(path, content=body).status_code == 200
    path, body = signed(contact_xml("add_external_contact", external="wmNEW01", State=code,
                                    created=created + 5))
    assert client.post(path, content=body).status_code == 200
    # Then the new customer is referred by the inviter, who earned the points once
    check = build_application(pg_url, SECRET)
    try:
        holder: Any = check.repository.get(inviter)
        assert holder.points == 66
        campaign = check.referrals.campaign(campaign_id)
        assert campaign.rewarded == {str(inviter): 1}
    finally:
        check.close()
