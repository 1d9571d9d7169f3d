"""The event catalogue, generated from the code: ``python -m domain.catalogue > docs/events.md``.

:data:`TYPES` says, per ingestion type, what it records and which fields it
requires or allows; a test checks that against :func:`domain.ingestion.parse_item`
and that ``docs/events.md`` is what this module prints.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from eventsourcing.domain import Aggregate

from domain.activity import Activity
from domain.chat_script import ChatScript
from domain.content import Content, ContentCadence
from domain.coupon import Coupon
from domain.customer import Customer
from domain.daily_report import DailyReport
from domain.ingestion import EVENT_TYPES
from domain.item_fields import camel
from domain.lexicon import Lexicon
from domain.marketing_task import MarketingTask
from domain.product import Product, ProductCategory
from domain.referral import InviteCode, ReferralCampaign
from domain.staff import Staff
from domain.staff_alert import StaffAlert
from domain.tag_group import TagGroup
from domain.wecom_directory import CorpTagLibrary, CustomerGroup
from domain.working_hours import WorkingHours

ENVELOPE = {"originator_id", "originator_version", "originator_topic", "timestamp", "by",
            "occurred_at"}


@dataclass(frozen=True)
class TypeDoc:
    records: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    refused: str = ""


S = "staff_id"
TYPES: dict[str, TypeDoc] = {
    # growth
    "REGISTERED": TypeDoc("`Customer.Registered` + `IdentityLinked` on first sight, else "
                          "nothing; a referral invite code as `state` attributes a new customer "
                          "to its inviter (`Customer.Referred` / `ReferralBrought`) and pays the "
                          "campaign's rewards once", (), ("state",)),
    "CHANNEL_CODE_SCANNED": TypeDoc("`Customer.ChannelCodeScanned`", ("state",)),
    "REFERRED": TypeDoc("`Customer.Referred` on the invitee and `Customer.ReferralBrought` on the "
                        "inviter (first referral wins)", ("inviter", "campaign_id"),
                        refused="`UNKNOWN_INVITER`, `SELF_REFERRAL`"),
    "OFFICIAL_ACCOUNT_FOLLOWED": TypeDoc("`Customer.OfficialAccountFollowed` (no-op if following)",
                                         ("account_id",)),
    "OFFICIAL_ACCOUNT_UNFOLLOWED": TypeDoc("`Customer.OfficialAccountUnfollowed` (no-op if not)",
                                           ("account_id",)),
    "MEMBER_REGISTERED": TypeDoc("`Customer.MemberRegistered`", (), ("member_level",)),
    "IDENTITY_LINKED": TypeDoc("`Customer.IdentityLinked`", ("link",),
                               refused="`IDENTITY_TAKEN` if it belongs to another customer"),
    "PROFILE_UPDATED": TypeDoc("`Customer.PersonalDataRecorded` (value in the vault)",
                               ("nickname",)),
    # relationship
    "FRIEND_ADDED": TypeDoc("`Customer.FriendAdded`, and `Customer.OwnerChanged` (reason "
                            "`first_friend`) if the customer had no owner; a referral invite "
                            "code as `state` attributes a new customer to its inviter and pays "
                            "the campaign's rewards once", (S,),
                            ("state", "welcome_code")),
    "HALF_FRIEND_ADDED": TypeDoc("`Customer.HalfFriendAdded`", (S,), ("state", "welcome_code")),
    "FRIEND_EDITED": TypeDoc("`Customer.FriendEdited`", (S,)),
    "FRIEND_DELETED": TypeDoc("`Customer.FriendDeleted`", (S, "deleted_by")),
    "TRANSFER_FAILED": TypeDoc("`Customer.TransferFailed`", (S, "reason")),
    "STAFF_MUTED": TypeDoc("`Customer.StaffMuted`", (S,)),
    "PERSONAL_WECHAT_FRIEND_ADDED": TypeDoc(
        "`Customer.PersonalWeChatFriendAdded` (a friend of the staff member's personal WeChat, "
        "个微: counted in `private_domain_users.personal_wechat`)", (S,)),
    "PERSONAL_WECHAT_FRIEND_DELETED": TypeDoc("`Customer.PersonalWeChatFriendDeleted`", (S,)),
    "DND_SET": TypeDoc("`Customer.DoNotDisturbSet` (no-op if set)"),
    "DND_CLEARED": TypeDoc("`Customer.DoNotDisturbCleared` (no-op if clear)"),
    "CONSENT_GIVEN": TypeDoc("`Customer.ConsentGiven` (no-op if the same wording)",
                             ("purpose", "wording_version")),
    "CONSENT_WITHDRAWN": TypeDoc("`Customer.ConsentWithdrawn` (no-op if none)", ("purpose",)),
    # operation
    "TAGGED": TypeDoc("`Customer.Tagged` (no-op if tagged; `reason` says why, default `manual`)",
                      ("tag",), ("reason",)),
    "UNTAGGED": TypeDoc("`Customer.Untagged` (no-op if not tagged)", ("tag",), ("reason",)),
    "GROUP_JOINED": TypeDoc("`Customer.GroupJoined` (no-op if in)", ("group_id",)),
    "GROUP_LEFT": TypeDoc("`Customer.GroupLeft` (no-op if not in)", ("group_id",)),
    "MESSAGE_RECEIVED": TypeDoc("`Customer.MessageReceived` (kind and length, never text); "
                                "with `text` (up to 4,096 characters) the text is sealed in the "
                                "vault and scanned against the sensitive-word lexicon: on a hit "
                                "also `Customer.SensitiveWordsFound` (side `customer`)",
                                (S, "message_kind"), ("text_length", "text")),
    "MESSAGE_SENT": TypeDoc("`Customer.MessageSent` (kind and length, never text); with "
                            "`text` (up to 4,096 characters) scanned against the sensitive-word "
                            "lexicon: on a hit also `Customer.SensitiveWordsFound` (term ids) "
                            "and the text sealed in the vault, else the text is dropped",
                            (S, "message_kind"), ("text_length", "text")),
    "HOLIDAY_GREETING_SENT": TypeDoc("`Customer.HolidayGreetingSent` (节日问候; no text kept)",
                                     (S, "occasion")),
    "FOLLOW_UP_RECORDED": TypeDoc("`Customer.FollowUpRecorded` (跟进记录; no text kept)",
                                  (S, "follow_up_kind")),
    "CONTENT_VIEWED": TypeDoc("`Customer.ContentViewed`", ("content_id",), ("seconds", "topic")),
    "CONTENT_FORWARDED": TypeDoc("`Customer.ContentForwarded`", ("content_id",)),
    "CONTENT_COMMENTED": TypeDoc("`Customer.ContentCommented` (length only)", ("content_id",),
                                 ("text_length",)),
    "ACTIVITY_JOINED": TypeDoc("`Customer.ActivityJoined`", ("activity_id", "activity_kind")),
    "LIVE_STREAM_WATCHED": TypeDoc("`Customer.LiveStreamWatched`",
                                   ("stream_id", "watch_seconds")),
    "STORE_VISITED": TypeDoc("`Customer.StoreVisited`", ("store_id",)),
    "SURVEY_ANSWERED": TypeDoc("`Customer.SurveyAnswered` (CSAT 1-5 or NPS 0-10; no text kept)",
                               ("survey_kind", "score"), (S,)),
    "CAMPAIGN_MESSAGE_READ": TypeDoc("`Customer.CampaignMessageRead` (campaign reports)",
                                     ("campaign_id",)),
    "CAMPAIGN_LINK_CLICKED": TypeDoc("`Customer.CampaignLinkClicked` (campaign reports)",
                                     ("campaign_id",)),
    "SCRIPT_USED": TypeDoc("`Customer.ScriptUsed` (a chat script used with the customer; "
                           "counted per staff member in `chat_script_usage`)",
                           (S, "script_id"), ("script_version",)),
    # conversion
    "PRODUCT_VIEWED": TypeDoc("`Customer.ProductViewed`", ("sku",)),
    "ADDED_TO_CART": TypeDoc("`Customer.AddedToCart`", ("sku", "quantity")),
    "COUPON_ISSUED": TypeDoc("`Customer.CouponIssued`", ("coupon_code", "amount_fen"),
                             refused="`COUPON_ALREADY_ISSUED`"),
    "COUPON_REDEEMED": TypeDoc("`Customer.CouponRedeemed`", ("coupon_code",),
                               refused="`COUPON_NOT_REDEEMABLE` (not issued, or redeemed)"),
    "ORDER_PLACED": TypeDoc("`Customer.OrderPlaced`", ("order_id", "amount_fen"), ("items",),
                            refused="`ORDER_ALREADY_PLACED`"),
    "ORDER_PAID": TypeDoc("`Customer.OrderPaid` (placed first or not)", ("order_id", "amount_fen"),
                          ("items",), refused="`ORDER_ALREADY_PAID`"),
    "ORDER_CANCELLED": TypeDoc("`Customer.OrderCancelled`", ("order_id",),
                               refused="`ORDER_NOT_CANCELLABLE` (not placed, or paid)"),
    "ORDER_REFUNDED": TypeDoc("`Customer.OrderRefunded`", ("order_id", "amount_fen"),
                              refused="`UNKNOWN_ORDER`, `REFUND_EXCEEDS_PAYMENT`"),
    "POINTS_EARNED": TypeDoc("`Customer.PointsEarned`", ("points",), ("reason",)),
    "POINTS_SPENT": TypeDoc("`Customer.PointsSpent`", ("points",), ("reason",),
                            refused="`INSUFFICIENT_POINTS`"),
}

SAMPLES: dict[str, Any] = {
    "staff_id": "5f904020-9939-4c13-bb15-b374ca2d40c1", "state": "store-shanghai-01",
    "welcome_code": "wc-3f9a", "deleted_by": "CUSTOMER", "tag": "VIP", "group_id": "wrOgQhDgAA",
    "content_id": "article-17", "order_id": "5521", "amount_fen": 12900,
    "items": [{"sku": "milk-900g", "quantity": 1, "priceFen": 12900, "category": "奶粉"}],
    "link": {"namespace": "phone", "value": "+8613800138000"}, "nickname": "小王",
    "inviter": {"namespace": "wx_unionid", "value": "oInviter"},
    "campaign_id": "7d4c3a52-1f0e-4b7a-9a44-3c2d1e0f9b11",
    "account_id": "gh_brand", "member_level": "gold", "message_kind": "text",
    "text_length": 42, "activity_id": "quiz-7", "activity_kind": "quiz", "stream_id": "live-1111",
    "watch_seconds": 600, "seconds": 35, "topic": "育儿", "store_id": "store-sh-01",
    "sku": "serum-30ml", "quantity": 2, "coupon_code": "CPN-88A1", "points": 100, "reason": "check-in",
    "purpose": "marketing", "wording_version": "2026-10", "occasion": "spring_festival",
    "follow_up_kind": "call", "text": "您好, 订单已发货",
    "script_id": "0d9a3f1e-5b7c-4e8a-9f10-2b3c4d5e6f70", "script_version": 2,
    "survey_kind": "NPS", "score": 9,
}


def example(kind: str) -> dict[str, Any]:
    doc = TYPES[kind]
    item: dict[str, Any] = {"eventId": f"src-{kind.lower()}-1", "type": kind,
                            "customer": {"namespace": "wecom_external:ww7788",
                                         "value": "wmQ8xAAA"},
                            "occurredAt": "2026-11-20T10:00:00+08:00", "channel": "mini_program"}
    for name in (*doc.required, *doc.optional):
        item[camel(name)] = SAMPLES[name]
    return item


def event_classes() -> list[type[Any]]:
    """Every concrete event class nested on an aggregate, in declaration order."""
    return [value for owner in (Customer, Staff, CustomerGroup, CorpTagLibrary, TagGroup,
                                  Lexicon, StaffAlert, ChatScript,
                                  DailyReport, WorkingHours, ReferralCampaign, InviteCode,
                                  Coupon, MarketingTask, Activity, Product, ProductCategory,
                                  Content, ContentCadence)
            for name, value in vars(owner).items()
            if isinstance(value, type) and issubclass(value, Aggregate.Event)
            and name not in ("Event", "Fact")  # (the aggregates' own base classes)
            and not (name == "Created" and _created_as_other(owner))]


def _created_as_other(owner: type[Any]) -> bool:
    """The aggregate is created by an event of its own name (``Created`` is the library's)."""
    return any(isinstance(v, type) and issubclass(v, Aggregate.Created) and n != "Created"
               for n, v in vars(owner).items())


def event_fields(cls: type[Any]) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.name not in ENVELOPE]


def render() -> str:
    lines = [
        "# Event catalogue",
        "",
        "Generated by `python -m domain.catalogue > docs/events.md`; a test fails when it is stale.",
        "",
        "Every event carries `by` (who: `service:<name>`, `staff:<id>`, `customer:<id>` or "
        "`system`) and `occurred_at` (business time, UTC), besides the library's `originator_id`, "
        "`originator_version` and `timestamp` (recording time). No event holds personal data in "
        "clear: identities are keyed blind indexes, names live in the encrypted vault, messages "
        "are described by kind and length.",
        "",
        "## Ingestion types (`recordCustomerEvents`)",
        "",
        "Every item has `eventId` (client-chosen, 1-128 characters, unique: a re-sent id is a "
        "duplicate), `type`, `customer` (`{namespace, value}`: `wecom_external:<corp>`, "
        "`wx_openid:<appid>`, `wx_unionid`, `phone` — normalised to E.164, mainland mobiles may "
        "omit +86 —, `mall_member`) and `occurredAt` (with a time zone; not more than 10 minutes "
        "in the future, not before 2000). `channel` is optional everywhere (default `unknown`); a "
        "customer seen for the first time is registered with it as first channel. Text fields "
        "take at most 128 characters; counts are integers ≥ 0.",
        "",
        "| type | required | optional | records | refused with |",
        "|---|---|---|---|---|",
    ]
    for kind in EVENT_TYPES:
        doc = TYPES[kind]
        lines.append(
            f"| `{kind}` | {', '.join(f'`{camel(n)}`' for n in doc.required) or '—'} | "
            f"{', '.join(f'`{camel(n)}`' for n in doc.optional) or '—'} | {doc.records} | "
            f"{doc.refused or '—'} |")
    lines += ["", "### Examples", ""]
    for kind in EVENT_TYPES:
        lines.append(f"- `{kind}`: `{json.dumps(example(kind), ensure_ascii=False)}`")
    lines += ["", "## Stored events", "",
              "| event | version | fields | meaning |", "|---|---|---|---|"]
    for cls in event_classes():
        summary = (cls.__doc__ or "").strip().splitlines()
        meaning = summary[0] if summary and not summary[0].startswith(cls.__name__ + "(") else ""
        fields = ", ".join(f"`{f}`" for f in event_fields(cls)) or "—"
        lines.append(f"| `{cls.__qualname__}` | {getattr(cls, 'class_version', 1)} | {fields} | "
                     f"{meaning} |")
    lines += ["", "Versions: an event stored at an older version is upcast when read "
              "(`upcast_vN_vN+1` on its class); stored events are never rewritten.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
