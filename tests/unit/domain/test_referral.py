"""Referral campaigns (裂变): invite codes, attribution of new friends, rewards paid once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from application.app import Siyu
from domain.coupon import Coupon
from domain.customer import Customer
from domain.errors import InvalidInput, UnknownCustomer
from domain.ingestion import EventItem
from domain.referral import (
    ReferralCampaign,
    ReferralCampaignClosed,
    ReferralStateError,
    UnknownReferralCampaign,
    invite_key,
    is_invite_code,
    reward_key,
)
from siyu.bootstrap import build_application
from tests.conftest import SECRET

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
BY = "staff:manager-1"
POINTS = {"kind": "points", "value": 100}


@pytest.fixture
def app() -> Siyu:
    return build_application(None, SECRET)


def customer(app: Siyu, name: str) -> UUID:
    result = app.ingestion.record_batch([EventItem(f"reg-{name}", "REGISTERED", ("wx_unionid", name), AT)],
                              "service:test")
    customer_id = result.outcomes[0].customer_id
    assert customer_id is not None
    return customer_id


def campaign(app: Siyu, **options: Any) -> UUID:
    reward = options.pop("inviter_reward", POINTS)
    campaign_id, _ = app.referrals.draft_campaign("老带新", AT - timedelta(days=1), None, reward,
                                                 BY, AT, **options)
    app.referrals.activate_campaign(campaign_id, BY, AT)
    return campaign_id


def friend_added(app: Siyu, name: str, code: str, event_id: str | None = None
                 ) -> UUID:
    result = app.ingestion.record_batch([EventItem(event_id or f"fa-{name}", "FRIEND_ADDED",
                                         ("wecom_external:ww1", name), AT + timedelta(hours=1),
                                         staff_id="wecom_user:s1", state=code)], "service:wecom")
    outcome = result.outcomes[0]
    assert outcome.status in ("accepted", "duplicate"), outcome.error
    assert outcome.customer_id is not None
    return outcome.customer_id


def stream(app: Siyu, aggregate_id: UUID) -> list[Any]:
    return list(app.events.get(aggregate_id))


def test_an_invite_code_is_random_and_the_same_when_asked_again(app: Siyu) -> None:
    # Given an active referral campaign and a customer
    campaign_id, inviter = campaign(app), customer(app, "inviter")
    # When the customer asks for their code twice
    first = app.referrals.invite_code(campaign_id, inviter, "customer:x", AT)
    second = app.referrals.invite_code(campaign_id, inviter, "customer:x", AT)
    # Then it is the same code, shaped for WeCom's state, and another inviter gets another
    assert first == second and is_invite_code(first) and len(first) <= 30
    assert app.referrals.invite_code(campaign_id, customer(app, "other"), BY, AT) != first


def test_invite_codes_need_an_open_campaign_and_a_known_customer(app: Siyu
                                                                 ) -> None:
    draft, _ = app.referrals.draft_campaign("草稿", AT, None, POINTS, BY, AT)
    inviter = customer(app, "inviter")
    with pytest.raises(ReferralCampaignClosed):
        app.referrals.invite_code(draft, inviter, BY, AT)
    with pytest.raises(UnknownReferralCampaign):
        app.referrals.invite_code(uuid4(), inviter, BY, AT)
    with pytest.raises(UnknownCustomer):
        app.referrals.invite_code(campaign(app), uuid4(), BY, AT)


def test_a_new_friend_with_a_code_is_attributed_and_the_inviter_rewarded_once(
        app: Siyu) -> None:
    # Given an inviter's code
    campaign_id, inviter = campaign(app), customer(app, "inviter")
    code = app.referrals.invite_code(campaign_id, inviter, "customer:x", AT)
    # When a new customer adds a staff member with it, and the callback is delivered again
    invitee = friend_added(app, "friend", code)
    assert friend_added(app, "friend", code) == invitee  # same event id: a duplicate
    friend_added(app, "friend", code, event_id="fa-friend-again")  # a new id: not new any more
    # Then the invitee is referred by the inviter, who earned the points once
    assert app.repository.get(invitee).referred_by == str(inviter)
    assert app.repository.get(inviter).points == 100
    brought = [e for e in stream(app, inviter) if isinstance(e, Customer.ReferralBrought)]
    assert [e.invitee_id for e in brought] == [str(invitee)]
    rewards = [e for e in stream(app, campaign_id)
               if isinstance(e, ReferralCampaign.InviteeRewarded)]
    assert [(e.rule, e.inviter_id, e.invitee_id) for e in rewards] == [
        ("inviter", str(inviter), str(invitee))]
    assert reward_key(campaign_id, invitee, "inviter") in app.index.known_event_keys(
        [reward_key(campaign_id, invitee, "inviter")])


def test_the_reward_per_inviter_is_capped(app: Siyu) -> None:
    campaign_id, inviter = campaign(app, cap_per_inviter=2), customer(app, "inviter")
    code = app.referrals.invite_code(campaign_id, inviter, BY, AT)
    friends = [friend_added(app, f"f{n}", code) for n in range(3)]
    # All three are attributed, two are rewarded
    assert all(app.repository.get(f).referred_by == str(inviter) for f in friends)
    assert app.repository.get(inviter).points == 200
    assert app.referrals.campaign(campaign_id).rewarded == {str(inviter): 2}


def test_coupon_rewards_for_inviter_and_invitee_have_sealed_redemption_codes(
        app: Siyu) -> None:
    campaign_id = campaign(app, inviter_reward={"kind": "coupon", "value": 2000,
                                                "valid_days": 30},
                           invitee_reward={"kind": "coupon", "value": 500})
    inviter = customer(app, "inviter")
    invitee = friend_added(app, "friend", app.referrals.invite_code(campaign_id, inviter, BY, AT))
    for holder in (inviter, invitee):
        coupons: dict[str, bool] = app.repository.get(holder).coupons
        assert len(coupons) == 1 and not any(coupons.values())
        coupon_id = next(iter(coupons))
        coupon = app.referrals.coupon(UUID(coupon_id))
        assert isinstance(coupon, Coupon) and coupon.customer_id == str(holder)
        code = app.customers.personal_data(holder)[f"coupon:{coupon_id}"]
        assert code not in repr(stream(app, holder)) + repr(stream(app, coupon.id))
    reward = app.referrals.coupon(UUID(next(iter(app.repository.get(inviter).coupons))))
    assert reward is not None and reward.value_fen == 2000


def test_existing_customers_self_referrals_and_closed_campaigns_are_not_referrals(
        app: Siyu) -> None:
    campaign_id, inviter = campaign(app), customer(app, "inviter")
    code = app.referrals.invite_code(campaign_id, inviter, BY, AT)
    # An existing friend of another staff member is not new
    old = friend_added(app, "old", "store-01")
    friend_added(app, "old", code, event_id="fa-old-2")
    assert app.repository.get(old).referred_by is None
    # The inviter with their own code: the friend add is recorded, not a referral
    app.ingestion.record_batch([EventItem("self", "IDENTITY_LINKED", ("wx_unionid", "inviter"), AT,
                                link=("wecom_external:ww1", "inviter-wecom"))], "service:test")
    friend_added(app, "inviter-wecom", code)
    assert app.repository.get(inviter).referred_by is None
    assert app.repository.get(inviter).friends
    # After the campaign ends, codes attribute nobody
    app.referrals.end_campaign(campaign_id, BY, AT)
    late = friend_added(app, "late", code)
    assert app.repository.get(late).referred_by is None
    assert app.repository.get(inviter).points == 0


def test_a_registration_with_a_code_is_a_referral(app: Siyu) -> None:
    campaign_id, inviter = campaign(app), customer(app, "inviter")
    code = app.referrals.invite_code(campaign_id, inviter, BY, AT)
    result = app.ingestion.record_batch([EventItem("r1", "REGISTERED", ("wx_openid:wxapp", "o1"), AT,
                                         state=code)], "service:mini")
    invitee = result.outcomes[0].customer_id
    assert invitee is not None
    assert app.repository.get(invitee).referred_by == str(inviter)


def test_campaign_rules_are_validated_and_states_move_forward(app: Siyu) -> None:
    with pytest.raises(InvalidInput):
        ReferralCampaign.draft("x", AT, None, {"kind": "cash", "value": 1}, BY, AT)
    with pytest.raises(InvalidInput):
        ReferralCampaign.draft("x", AT, AT, POINTS, BY, AT)
    with pytest.raises(InvalidInput):
        ReferralCampaign.draft("x", AT, None, {"kind": "points", "value": 0}, BY, AT)
    campaign_id = campaign(app)
    app.referrals.end_campaign(campaign_id, BY, AT)
    with pytest.raises(ReferralStateError):
        app.referrals.activate_campaign(campaign_id, BY, AT)


def paid(app: Siyu, name: str, order_id: str, at: datetime) -> None:
    result = app.ingestion.record_batch([EventItem(f"pay-{order_id}", "ORDER_PAID",
                                         ("wecom_external:ww1", name), at, order_id=order_id,
                                         amount_fen=9900)], "service:mall")
    assert result.outcomes[0].status == "accepted", result.outcomes[0].error


def test_a_first_order_campaign_rewards_the_invitees_first_paid_order_within_the_window(
        app: Siyu) -> None:
    # Given a campaign whose success is the first paid order within 7 days
    campaign_id = campaign(app, success="first_order", order_days=7)
    inviter = customer(app, "inviter")
    code = app.referrals.invite_code(campaign_id, inviter, BY, AT)
    # When one invitee pays within 7 days (twice), another after 7 days
    quick, slow = friend_added(app, "quick", code), friend_added(app, "slow", code)
    assert app.repository.get(inviter).points == 0  # the friend add alone pays nothing
    paid(app, "quick", "o1", AT + timedelta(days=2))
    paid(app, "quick", "o2", AT + timedelta(days=3))
    paid(app, "slow", "o3", AT + timedelta(days=8, hours=2))
    # Then only the first's first order is rewarded, once
    assert app.repository.get(inviter).points == 100
    rewards = [e.invitee_id for e in stream(app, campaign_id)
               if isinstance(e, ReferralCampaign.InviteeRewarded)]
    assert rewards == [str(quick)]
    assert app.repository.get(slow).referred_by == str(inviter)


def test_a_first_order_campaign_needs_its_order_window() -> None:
    with pytest.raises(InvalidInput):
        ReferralCampaign.draft("x", AT, None, POINTS, BY, AT, success="first_order")
    with pytest.raises(InvalidInput):
        ReferralCampaign.draft("x", AT, None, POINTS, BY, AT, success="paid")


def test_a_client_event_id_cannot_take_an_internal_key(app: Siyu) -> None:
    # Given a client that sends the event id an inviter's code would be stored under
    campaign_id, inviter = campaign(app), customer(app, "inviter")
    forged = invite_key(campaign_id, inviter)
    result = app.ingestion.record_batch([EventItem(forged, "REGISTERED", ("wx_unionid", "x"), AT)], "t")
    # Then ingestion refuses it, and the inviter still gets a code
    assert result.outcomes[0].status == "rejected"
    assert is_invite_code(app.referrals.invite_code(campaign_id, inviter, BY, AT))
    assert forged.removeprefix("\x1e") not in app.index.known_event_keys(
        [forged.removeprefix("\x1e")])
