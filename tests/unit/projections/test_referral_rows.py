"""Row logic of referral_campaign, referral_inviter and coupon_ledger, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from domain.coupon import Coupon
from domain.customer import Customer
from domain.referral import InviteCode, ReferralCampaign
from projections import coupons
from projections.referrals import campaign_of, fold_campaign, fold_inviter, inviter_of

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
REFERRED: Any = Customer.Referred


def events_of(aggregate: Any) -> list[Any]:
    return list(aggregate.collect_events())


def test_a_campaigns_row_counts_codes_invitees_and_rewards() -> None:
    campaign = ReferralCampaign.draft("老带新", AT, None, {"kind": "points", "value": 10}, "m",
                                      AT, invitee_reward={"kind": "coupon", "value": 300})
    campaign.activate("m", AT)
    inviter, invitee = uuid4(), uuid4()
    campaign.record_reward(inviter, invitee, "inviter", None, "system", AT)
    campaign.record_reward(inviter, invitee, "invitee", uuid4(), "system", AT)
    code = events_of(InviteCode.issue(campaign.id, inviter, "m", AT))
    referred = REFERRED(originator_id=invitee, originator_version=2, timestamp=AT,
                                 inviter_id=str(inviter), campaign_id=str(campaign.id), by="s",
                                 occurred_at=AT)
    stream = events_of(campaign)
    row = None
    for event in [*stream, *code, referred]:
        assert campaign_of(event) == campaign.id
        row = fold_campaign(row, event)
    assert row is not None
    assert (row["state"], row["invite_codes"], row["invitees"], row["inviter_rewards"],
            row["invitee_rewards"], row["reward_points"], row["reward_coupon_fen"]) == (
        "active", 1, 1, 1, 1, 10, 300)
    # A campaign event folded twice changes nothing
    assert fold_campaign(row, stream[2]) == row
    # The inviter's row counts the invitee and the inviter's reward only
    mine = None
    for event in [*code, referred, *stream]:
        if inviter_of(event) is not None:
            mine = fold_inviter(mine, event, campaign.id, inviter)
    assert mine is not None
    assert (mine["invitees"], mine["rewards"], mine["reward_points"]) == (1, 1, 10)
    assert mine["code_issued_at"] == AT


def test_a_referral_for_another_kind_of_campaign_is_not_ours() -> None:
    event = REFERRED(originator_id=uuid4(), originator_version=2, timestamp=AT,
                              inviter_id=str(uuid4()), campaign_id="spring-2026", by="s",
                              occurred_at=AT)
    assert campaign_of(event) is None


def test_a_coupons_row_follows_its_redemption() -> None:
    coupon = Coupon.issue(uuid4(), uuid4(), 1500, 7, f"referral:{uuid4()}", "system", AT)
    coupon.redeem("sh-01", "staff:c", AT + timedelta(days=1))
    issued, redeemed = events_of(coupon)
    row = coupons.fold(None, issued, 1)
    assert row is not None and row["source"] == "referral" and row["campaign_id"] is not None
    assert row["expires_at"] == AT + timedelta(days=7) and row["redeemed_at"] is None
    row = coupons.fold(row, redeemed, 2)
    assert row is not None and row["store_id"] == "sh-01" and row["redeemed_by"] == "staff:c"
    assert coupons.fold(row, redeemed, 2) == row
