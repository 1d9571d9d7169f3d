"""GraphQL for customers as first-class clients (mini-program / H5).

* ``loginWithWeChat(code)`` — the one operation that runs without a token
  (:mod:`api.login_gate`): the ``wx.login`` code is exchanged through WeChat's
  ``code2session`` for the openid, which resolves to the customer (an unknown openid
  registers one), and a short-lived customer token is returned.
* ``recordMyEvents`` — a customer records their own views, cart, shares, consent,
  do-not-disturb and opt-out (:data:`domain.self_service.SELF_SERVICE_TYPES`).
* ``invitableReferralCampaigns`` — the referral campaigns a customer may invite into now.

Neither the code nor the openid is logged.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from uuid import UUID

import strawberry
from anyio import to_thread
from strawberry.types import Info

from adapters.wechat_login import LoginRateLimited, LoginRefused, LoginUnavailable
from api.context import Context
from api.errors import BAD_INPUT, BATCH_TOO_LARGE, ApiError, forbidden
from api.ingest import ItemError, ItemResult
from api.inputs import ItemStatus
from api.projection_wait import caught_up
from api.referrals import ReferralReward, ReferralSuccess, _reward
from api.unavailable import UNAVAILABLE
from domain.errors import DomainError
from domain.ingestion import EventItem
from projections.referrals import queries as referral_queries

log = logging.getLogger(__name__)

LOGIN_FAILED = "LOGIN_FAILED"
RATE_LIMITED = "RATE_LIMITED"
MAX_OWN_EVENTS = 100
_CODE = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")


@strawberry.type(description="A customer token from a WeChat login.")
class LoginPayload:
    token: str = strawberry.field(description="Bearer token of the customer; shown once.")
    customer_id: strawberry.ID
    expires_at: datetime
    registered: bool = strawberry.field(
        description="True when this login registered a new customer.")


@strawberry.input(description="One of your own actions. `type`: CONTENT_VIEWED, "
                              "PRODUCT_VIEWED, LIVE_STREAM_WATCHED, ADDED_TO_CART, "
                              "CONTENT_FORWARDED, CONSENT_GIVEN, CONSENT_WITHDRAWN, DND_SET, "
                              "DND_CLEARED; fields as in docs/events.md.")
class MyEventInput:
    event_id: str
    type: str
    occurred_at: datetime
    channel: str | None = None
    content_id: str | None = None
    seconds: int | None = None
    topic: str | None = None
    stream_id: str | None = None
    watch_seconds: int | None = None
    sku: str | None = None
    quantity: int | None = None
    purpose: str | None = None
    wording_version: str | None = None

    def to_item(self) -> EventItem:
        return EventItem(event_id=self.event_id, type=self.type, identity=("self", "self"),
                         occurred_at=self.occurred_at, channel=self.channel,
                         content_id=self.content_id, seconds=self.seconds, topic=self.topic,
                         stream_id=self.stream_id, watch_seconds=self.watch_seconds,
                         sku=self.sku, quantity=self.quantity, purpose=self.purpose,
                         wording_version=self.wording_version)


@strawberry.type
class RecordMyEventsPayload:
    accepted: int
    duplicates: int
    rejected: int
    results: list[ItemResult]


@strawberry.type(description="A referral campaign you may invite friends into now.")
class InvitableReferralCampaign:
    id: strawberry.ID
    name: str
    ends_at: datetime | None
    success: ReferralSuccess
    inviter_reward: ReferralReward
    invitee_reward: ReferralReward | None
    rewards_left: int | None = strawberry.field(
        description="Inviter rewards you can still earn here (null: no cap).")
    invitees: int = strawberry.field(description="Friends you brought in this campaign.")


def _customer(info: Info[Context, None], what: str) -> UUID:
    principal = info.context.principal
    if principal.kind != "customer":
        raise forbidden(f"{what} is for customer tokens")
    return UUID(principal.subject_id)


@strawberry.type
class CustomerClientMutation:
    @strawberry.mutation(name="loginWithWeChat", description=(
        "Exchange a wx.login code (valid five minutes, usable once) for a short-lived "
        "customer token; needs no token. An unknown WeChat user is registered."))
    async def login_with_wechat(self, info: Info[Context, None], code: str) -> LoginPayload:
        if not _CODE.match(code):
            raise ApiError("INVALID_INPUT", "code must be 1-128 letters, digits, - or _",
                           field="code")
        services = info.context.services
        client, sessions = services.wechat_login, services.customer_sessions
        if client is None or sessions is None:
            raise ApiError(UNAVAILABLE, "WeChat login is not configured")
        try:
            session = await to_thread.run_sync(lambda: client.code2session(code))
        except LoginRefused:
            raise ApiError(LOGIN_FAILED, "the login code is invalid, expired or already "
                                         "used: call wx.login again", field="code") from None
        except LoginRateLimited:
            raise ApiError(RATE_LIMITED, "too many logins this minute; retry next minute"
                           ) from None
        except LoginUnavailable as error:
            log.warning("WeChat login unavailable: %s", error)
            raise ApiError(UNAVAILABLE, "WeChat did not answer; retry shortly") from None
        app = services.app
        try:
            customer_id, registered, position = await to_thread.run_sync(lambda: app.login.login(
                client.app_id, session.openid, session.unionid, datetime.now(UTC)))
        except DomainError as error:
            raise ApiError(error.code, error.message, field=error.field) from None
        token, expires_at = await to_thread.run_sync(lambda: sessions(str(customer_id)))
        # The client's next call is `me`: the new customer's profile is there first.
        await caught_up(info, "customer_profile", position)
        log.info("customer %s logged in with WeChat (registered: %s)", customer_id, registered)
        return LoginPayload(token=token, customer_id=strawberry.ID(str(customer_id)),
                            expires_at=expires_at, registered=registered)

    @strawberry.mutation(description="Record your own actions (customer tokens): views, cart, "
                                     "shares, consent, do-not-disturb, opt-out.")
    async def record_my_events(self, info: Info[Context, None], events: list[MyEventInput]
                               ) -> RecordMyEventsPayload:
        customer_id = _customer(info, "recordMyEvents")
        if not 1 <= len(events) <= MAX_OWN_EVENTS:
            code = BATCH_TOO_LARGE if events else BAD_INPUT
            raise ApiError(code, f"1-{MAX_OWN_EVENTS} events per call", field="events")
        items = [e.to_item() for e in events]
        app = info.context.services.app
        try:
            result = await to_thread.run_sync(
                lambda: app.self_service.record_own(customer_id, items))
        except DomainError as error:
            raise ApiError(error.code, error.message, field=error.field) from None
        return RecordMyEventsPayload(
            accepted=result.count("accepted"), duplicates=result.count("duplicate"),
            rejected=result.count("rejected"),
            results=[ItemResult(
                index=o.index, event_id=o.event_id, status=ItemStatus(o.status),
                customer_id=strawberry.ID(str(o.customer_id)) if o.customer_id else None,
                error=ItemError(code=o.error.code, field=o.error.field,
                                message=o.error.message) if o.error else None)
                for o in result.outcomes])


@strawberry.type
class CustomerClientQuery:
    @strawberry.field(description="Referral campaigns you may invite friends into now "
                                  "(customer tokens; staff read referralCampaigns).")
    async def invitable_referral_campaigns(self, info: Info[Context, None]
                                           ) -> list[InvitableReferralCampaign]:
        customer_id = _customer(info, "invitableReferralCampaigns")
        rows = await referral_queries.invitable(info.context.services.read_models.pool,
                                                customer_id, datetime.now(UTC))
        out = []
        for r in rows:
            inviter = _reward(r["inviter_reward_kind"], r["inviter_reward_value"])
            assert inviter is not None
            cap = r["cap_per_inviter"]
            out.append(InvitableReferralCampaign(
                id=strawberry.ID(str(r["campaign_id"])), name=r["name"], ends_at=r["ends_at"],
                success=ReferralSuccess(r["success"]), inviter_reward=inviter,
                invitee_reward=_reward(r["invitee_reward_kind"], r["invitee_reward_value"]),
                rewards_left=None if cap is None else max(0, cap - r["my_rewards"]),
                invitees=r["my_invitees"]))
        return out
