"""A campaign's dry run checks each customer's consent for the campaign's purpose."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.integration.api.conftest import STAFF_ID, Api
from tests.integration.api.test_campaigns_http import DRY_RUN, customer
from tests.integration.api.test_graphql_http import event, record
from tests.integration.api.test_segments_http import define

pytestmark = pytest.mark.integration

DRAFT = """mutation($segment: ID!, $purpose: String!, $optIn: Boolean!) {
  draftCampaign(input: {name: "问卷", segmentId: $segment, channel: "wecom_mass",
    purpose: $purpose, requiresConsent: $optIn,
    variants: [{variantId: "all", text: "请参与调研"}]}) { campaignId } }"""


def test_a_dry_run_excludes_by_the_consent_of_the_campaigns_purpose(api: Api) -> None:
    # Given three friends who bought: one gave research consent, one withdrew it, one neither
    now = datetime.now(UTC)
    facts = {
        "gave": [("CONSENT_GIVEN", {"purpose": "research", "wordingVersion": "r-2026"})],
        "withdrew": [("CONSENT_GIVEN", {"purpose": "research", "wordingVersion": "r-2026"}),
                     ("CONSENT_WITHDRAWN", {"purpose": "research"})],
        "silent": [],
    }
    ids = {}
    for name, extra in facts.items():
        items = [event(f"{name}-f", "FRIEND_ADDED", now, customer(name), channel="qr",
                       staffId=STAFF_ID),
                 event(f"{name}-o", "ORDER_PAID", now, customer(name), orderId=name,
                       amountFen=100)]
        items += [event(f"{name}-{i}", kind, now, customer(name), **fields)
                  for i, (kind, fields) in enumerate(extra)]
        ids[name] = record(api, items, waitForProjection=True)["results"][0]["customerId"]
    segment = define(api, "consent-buyers", {"ordered": {"atLeast": 1}})

    def dry_run(purpose: str, opt_in: bool) -> dict[str, str | None]:
        body = api.gql(DRAFT, {"segment": segment, "purpose": purpose, "optIn": opt_in},
                       as_="manager")
        campaign = body["data"]["draftCampaign"]["campaignId"]
        sample = api.gql(DRY_RUN, {"id": campaign}, as_="manager")["data"][
            "campaignDryRun"]["sample"]
        return {s["customerId"]: s["reason"] for s in sample}

    # When the campaign is for marketing, no one withdrew that: all three are included
    assert dry_run("marketing", False) == {ids["gave"]: None, ids["withdrew"]: None,
                                           ids["silent"]: None}
    # When it is for research (opt-out), the one who withdrew research consent is excluded
    assert dry_run("research", False) == {ids["gave"]: None,
                                          ids["withdrew"]: "CONSENT_WITHDRAWN",
                                          ids["silent"]: None}
    # When it is for research and needs consent (opt-in), only the one who gave it is in
    assert dry_run("research", True) == {ids["gave"]: None,
                                         ids["withdrew"]: "CONSENT_WITHDRAWN",
                                         ids["silent"]: "NO_CONSENT"}
    bad = api.gql(DRAFT, {"segment": segment, "purpose": "Bad Purpose", "optIn": False},
                  as_="manager")
    assert bad["errors"][0]["extensions"]["field"] == "purpose"
