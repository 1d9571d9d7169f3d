"""Plans that match sends: the dry run and the launch exclude, as NO_ADDRESS, recipients the
campaign's channel cannot address, so the plan's "included" are the ones the sender can reach."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.integration.api.conftest import STAFF_ID, Api
from tests.integration.api.test_campaigns_http import DRY_RUN, LAUNCH, draft
from tests.integration.api.test_graphql_http import event, record
from tests.integration.api.test_segments_http import define

pytestmark = pytest.mark.integration


def seed(api: Api) -> dict[str, str]:
    """Two buyers who are friends of the staff member: one known by their WeCom external id,
    one known only by a phone number (a friend add recorded from an import)."""
    now = datetime.now(UTC)
    identities = {"external": {"namespace": "wecom_external:ww-corp", "value": "wmexternal"},
                  "phone": {"namespace": "phone", "value": "13800138123"}}
    ids: dict[str, str] = {}
    for name, identity in identities.items():
        payload = record(api, [
            event(f"{name}-f", "FRIEND_ADDED", now, identity, channel="qr", staffId=STAFF_ID),
            event(f"{name}-o", "ORDER_PAID", now, identity, orderId=name, amountFen=1000)],
            waitForProjection=True)
        ids[name] = payload["results"][0]["customerId"]
    return ids


@pytest.mark.parametrize(("channel", "reachable"), [("wecom_mass", "external"),
                                                    ("sms", "phone")], ids=["wecom", "sms"])
def test_the_dry_run_and_the_launch_exclude_who_the_channel_cannot_address(
        api: Api, channel: str, reachable: str) -> None:
    # Given two friends who bought, one addressable on the channel and one not
    ids = seed(api)
    campaign_id = draft(api, define(api, "buyers", {"ordered": {"atLeast": 1}}), channel)
    # When a manager asks for a dry run
    dry = api.gql(DRY_RUN, {"id": campaign_id}, as_="manager")["data"]["campaignDryRun"]
    # Then the one the channel cannot address is excluded with its reason
    assert (dry["audience"], dry["included"]) == (2, 1)
    assert dry["excluded"] == [{"reason": "NO_ADDRESS", "count": 1}]
    assert [s["customerId"] for s in dry["sample"] if s["included"]] == [ids[reachable]]
    # And the launch records the same plan
    launched = api.gql(LAUNCH, {"id": campaign_id}, as_="manager")
    assert "errors" not in launched, launched
    plan = launched["data"]["launchCampaign"]["plan"]
    assert (plan["included"], plan["excluded"]) == (1, dry["excluded"])
