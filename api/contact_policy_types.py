"""GraphQL types and inputs of the contact policy: the caps per channel, WeCom's quota rule
and quiet hours every campaign is planned under (:mod:`api.campaigns` reads and changes it)."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.type
class ContactPolicyCaps:
    channel: str
    day: int | None
    week: int | None
    month: int | None


@strawberry.enum(description="The corp's WeCom mass-send rule (its mass-send settings): how "
                            "many mass messages each customer may receive.")
class WecomQuotaRule(Enum):
    MONTH = "month"  # as many per natural month as the month has days
    WEEK = "week"  # 7 per natural week
    DAY = "day"  # 1 per day


@strawberry.type(description="The rules of restraint every campaign is planned under.")
class ContactPolicyType:
    caps: list[ContactPolicyCaps]
    wecom_quota_rule: WecomQuotaRule = strawberry.field(description=(
        "MONTH (as many per natural month as the month has days), WEEK (7) or DAY (1), "
        "Beijing time: WECOM_QUOTA."))
    quiet_start: str
    quiet_end: str


@strawberry.input
class ChannelCapsInput:
    channel: str
    day: int | None = None
    week: int | None = None
    month: int | None = None


@strawberry.input
class ContactPolicyInput:
    caps: list[ChannelCapsInput]
    wecom_quota_rule: WecomQuotaRule = strawberry.field(
        default=WecomQuotaRule.MONTH, description="As set in WeCom's mass-send settings.")
    quiet_start: str = "21:00"
    quiet_end: str = "09:00"
