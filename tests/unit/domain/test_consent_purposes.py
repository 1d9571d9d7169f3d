"""Sends check consent for their purpose: withdrawn → excluded; opt-in campaigns need it
given. Campaigns stored before purposes existed are read as ``marketing``, opt-out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from application.app import Siyu
from domain.campaign import Campaign
from domain.errors import InvalidInput
from domain.restraint import Plan, Policy, Recipient, Variant, decide

AT = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
SEGMENT = UUID("0a6f0000-0000-4000-8000-00000000000f")
CUSTOMER = UUID("0a6f0000-0000-4000-8000-0000000000c1")


def _plan(purpose: str, requires_consent: bool) -> Plan:
    return Plan(UUID(int=1), "sms", (Variant("all"),), purpose=purpose,
                requires_consent=requires_consent)


@pytest.mark.parametrize(("requires", "withdrawn", "consented", "reason"), [
    (False, False, False, None),
    (False, True, False, "CONSENT_WITHDRAWN"),
    (True, False, False, "NO_CONSENT"),
    (True, False, True, None),
    (True, True, False, "CONSENT_WITHDRAWN"),
], ids=["opt-out-silent", "opt-out-withdrawn", "opt-in-never-given", "opt-in-given",
        "opt-in-withdrawn"])
def test_a_send_checks_the_consent_of_its_purpose(
    requires: bool, withdrawn: bool, consented: bool, reason: str | None
) -> None:
    who = Recipient(CUSTOMER, "ACTIVE", consent_withdrawn=withdrawn, consented=consented)
    decision = decide(_plan("research", requires), Policy(), who, AT)
    assert (decision.included, decision.reason) == (reason is None, reason)


def test_a_campaign_records_its_purpose_and_refuses_a_malformed_one() -> None:
    campaign = Campaign.draft("问卷", "staff:m", "sms", SEGMENT, [
        {"variant_id": "all", "text": "t", "template_id": "tpl-1"}], "staff:m", AT,
        purpose="research", requires_consent=True)
    assert (campaign.plan().purpose, campaign.plan().requires_consent) == ("research", True)
    with pytest.raises(InvalidInput) as refused:
        Campaign.draft("x", "staff:m", "sms", SEGMENT, [
            {"variant_id": "all", "text": "t", "template_id": "tpl-1"}], "staff:m", AT,
            purpose="Marketing!")
    assert refused.value.field == "purpose"


def test_a_campaign_drafted_before_purposes_is_read_as_marketing_opt_out(
    memory_app: Siyu
) -> None:
    # Given a Drafted event as stored at v1, without purpose
    campaign = Campaign.draft("老活动", "staff:m", "sms", SEGMENT, [
        {"variant_id": "all", "text": "t", "template_id": "tpl-1"}], "staff:m", AT)
    stored = memory_app.mapper.to_stored_event(campaign.collect_events()[0])
    state = json.loads(stored.state)
    assert state.pop("class_version") == 2
    del state["purpose"], state["requires_consent"]
    v1 = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                     json.dumps(state).encode())
    # When it is read
    read = memory_app.mapper.to_domain_event(v1)
    # Then its messages are for marketing, and need no consent given (opt-out)
    assert isinstance(read, Campaign.Drafted)
    assert (read.purpose, read.requires_consent) == ("marketing", False)
