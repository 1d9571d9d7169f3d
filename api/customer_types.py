"""GraphQL output types of a customer: the profile and what hangs off it.

Built from the ``customer_profile`` row (identities, friendships with staff, tags,
RFM and positioning, consents), the customer's segments and lifecycle history, its
connection for lists, and its stored events as an audit reviewer sees them. The
shared building blocks (the ``Long`` scalar, ``Lifecycle``, ``PageInfo``) are in
:mod:`api.types`.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from uuid import UUID

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from api import policy
from api.context import Context
from api.read_models import Row
from api.types import Lifecycle, Long, PageInfo, mask
from domain.channel_code import ChannelCode, is_code_state
from projections.customer_as_of import queries as as_of_queries
from projections.segments.queries import SegmentReads
from projections.segments.store import LIFECYCLE_SEGMENTS

STAGE_OF_SEGMENT = {segment_id: stage for stage, segment_id in LIFECYCLE_SEGMENTS.items()}


@strawberry.enum
class FriendDeletedBy(Enum):
    CUSTOMER = "customer"
    STAFF = "staff"


@strawberry.type(description="An identity of the customer. `value` is masked for front-line "
                             "staff and null once the customer's personal data is erased.")
class CustomerIdentity:
    namespace: str
    value: str | None


@strawberry.type(description="A friendship between the customer and a staff member.")
class StaffRelation:
    staff_id: strawberry.ID
    since: datetime
    until: datetime | None
    deleted_by: FriendDeletedBy | None
    channel: str
    state: str | None
    channel_code_id: strawberry.ID | None = strawberry.field(
        default=None, description="The channel code (渠道活码) the friend add came through.")


@strawberry.enum(description="Positioning by purchase frequency x ticket size (docs/domain.md).")
class Positioning(Enum):
    TRANSACTION_HUB = "TRANSACTION_HUB"
    INFORMATION_HUB = "INFORMATION_HUB"
    SERVICE_HUB = "SERVICE_HUB"
    MERCHANT_ALLIANCE_HUB = "MERCHANT_ALLIANCE_HUB"


@strawberry.type(description="RFM scores, 0 (no order) to 5; bins in docs/bi.md.")
class Rfm:
    recency: int
    frequency: int
    monetary: int


@strawberry.type(description="A current tag: who applied it, when, and why.")
class TagDetail:
    tag: str
    by: str
    at: datetime
    reason: str


@strawberry.type
class SkuQuantity:
    sku: str
    quantity: int


@strawberry.type
class CategoryCount:
    category: str
    orders: int = strawberry.field(description="Paid orders with an item of the category.")


@strawberry.type
class TopicCount:
    topic: str
    views: int


@strawberry.type(description="Consent given for a purpose, under a version of its wording.")
class Consent:
    purpose: str
    wording_version: str


@strawberry.type(description="A customer's profile (read model `customer_profile`).")
class Customer:
    """Plain fields, filled from the row once: per-field resolvers cost ~40 µs each."""

    row: strawberry.Private[Row]
    id: strawberry.ID
    first_channel: str
    first_seen_at: datetime
    lifecycle: Lifecycle
    tags: list[str]
    groups: list[str]
    current_staff_ids: list[strawberry.ID] = strawberry.field(
        description="Staff members the customer is a friend of now.")
    order_count: int
    gmv_fen: Long = strawberry.field(description="Paid order amounts, in fen (1/100 yuan).")
    refund_count: int
    refunded_fen: Long = strawberry.field(description="Refunded amounts, in fen.")
    content_views: int
    last_interaction_at: datetime | None
    last_order_at: datetime | None
    event_count: int = strawberry.field(description="Events recorded for this customer.")
    muted_staff_ids: list[strawberry.ID] = strawberry.field(
        description="Staff members the customer muted.")
    official_accounts: list[str] = strawberry.field(
        description="Official accounts the customer follows.")
    member_level: str | None
    referred_by: strawberry.ID | None = strawberry.field(
        description="The customer who brought this one (referral).")
    referrals_brought: int = strawberry.field(
        description="Customers this one brought: spreading power.")
    orders_placed: int
    orders_cancelled: int
    points_balance: Long
    coupons_issued: int
    coupons_redeemed: int
    do_not_disturb: bool
    consents: list[Consent] = strawberry.field(description="Consents currently given.")
    erased_at: datetime | None = strawberry.field(
        description="When the customer's personal data was erased (PIPL); null if never. "
                    "An erased customer keeps their history, without identities.")
    content_forwards: int
    messages_received: int
    messages_sent: int
    last_message_at: datetime | None
    activities_joined: int
    last_activity_at: datetime | None
    first_order_at: datetime | None
    average_order_fen: Long | None = strawberry.field(description="GMV ÷ paid orders, fen.")
    coupons_held: int = strawberry.field(description="Coupons issued and not yet redeemed.")
    rfm: Rfm
    positioning: Positioning | None
    favourite_skus: list[SkuQuantity] = strawberry.field(
        description="Most bought SKUs (paid quantity), top 3.")
    favourite_categories: list[CategoryCount] = strawberry.field(
        description="Most bought categories (paid orders containing one), top 3.")
    topic_views: list[TopicCount] = strawberry.field(
        description="Content views per topic, most viewed first.")
    tag_details: list[TagDetail] = strawberry.field(
        description="Current tags with who applied them, when and why.")
    as_of: datetime | None = strawberry.field(
        default=None, description="The instant (business time) this state stood at, when "
        "asked with asOf (docs/audit.md); null: now.")

    @classmethod
    def from_row(cls, row: Row) -> Customer:
        return cls(
            row=row,
            id=strawberry.ID(str(row["customer_id"])),
            first_channel=row["first_channel"],
            first_seen_at=row["first_seen_at"],
            lifecycle=Lifecycle(row["lifecycle"]),
            tags=row["tags"],
            groups=row["groups"],
            current_staff_ids=row["current_staff_ids"],
            order_count=row["order_count"],
            gmv_fen=Long(row["gmv_fen"]),
            refund_count=row["refund_count"],
            refunded_fen=Long(row["refunded_fen"]),
            content_views=row["content_views"],
            last_interaction_at=row["last_interaction_at"],
            last_order_at=row["last_order_at"],
            event_count=row["event_count"],
            muted_staff_ids=row["muted_staff_ids"],
            official_accounts=row["official_accounts"],
            member_level=row["member_level"],
            referred_by=row["referred_by"],
            referrals_brought=row["referrals_brought"],
            orders_placed=row["orders_placed"],
            orders_cancelled=row["orders_cancelled"],
            points_balance=Long(row["points_balance"]),
            coupons_issued=row["coupons_issued"],
            coupons_redeemed=row["coupons_redeemed"],
            do_not_disturb=row["dnd"],
            consents=[Consent(purpose=p, wording_version=v)
                      for p, v in sorted(row["consents"].items())],
            erased_at=row.get("erased_at"),
            content_forwards=row["content_forwards"],
            messages_received=row["messages_received"],
            messages_sent=row["messages_sent"],
            last_message_at=row["last_message_at"],
            activities_joined=row["activities_joined"],
            last_activity_at=row["last_activity_at"],
            first_order_at=row["first_order_at"],
            average_order_fen=None if row["average_order_fen"] is None
            else Long(row["average_order_fen"]),
            coupons_held=row["coupons_issued"] - row["coupons_redeemed"],
            rfm=Rfm(recency=row["recency_score"], frequency=row["frequency_score"],
                    monetary=row["monetary_score"]),
            positioning=Positioning(row["positioning"]) if row["positioning"] else None,
            favourite_skus=[SkuQuantity(sku=k, quantity=v) for k, v in sorted(
                row["sku_quantities"].items(), key=lambda kv: (-kv[1], kv[0]))[:3]],
            favourite_categories=[CategoryCount(category=k, orders=v) for k, v in sorted(
                row["category_orders"].items(), key=lambda kv: (-kv[1], kv[0]))[:3]],
            topic_views=[TopicCount(topic=k, views=v) for k, v in sorted(
                row["topic_views"].items(), key=lambda kv: (-kv[1], kv[0]))],
            tag_details=[TagDetail(tag=t, by=d["by"], at=datetime.fromisoformat(d["at"]),
                                   reason=d["reason"])
                         for t, d in sorted(row["tag_details"].items())],
            as_of=row.get("as_of"),
        )

    @strawberry.field(description="Every friendship, past and present, oldest first.")
    def staff_relations(self) -> list[StaffRelation]:
        return [
            StaffRelation(
                staff_id=strawberry.ID(r["staff_id"]),
                since=datetime.fromisoformat(r["since"]),
                until=datetime.fromisoformat(r["until"]) if r["until"] else None,
                deleted_by=FriendDeletedBy(r["deleted_by"]) if r["deleted_by"] else None,
                channel=r["channel"],
                state=r["state"],
                channel_code_id=(strawberry.ID(str(ChannelCode.create_id(r["state"])))
                                 if is_code_state(r["state"]) else None),
            )
            for r in self.row["staff_relations"]
        ]

    @strawberry.field(description="The staff member in charge of the customer (at asOf).")
    async def owner(self, info: Info[Context, None]) -> strawberry.ID | None:
        if self.as_of is not None:
            staff = self.row.get("owner")
        else:
            staff = await info.context.owners.load(self.row["customer_id"])
        return None if staff is None else strawberry.ID(str(staff))

    @strawberry.field(description="Segments the customer is in now (lifecycle stages first); "
                                  "at asOf: each segment's rule then, on the state then.")
    async def segments(self, info: Info[Context, None]) -> list[CustomerSegment]:
        if self.as_of is not None:
            services = info.context.services
            found = await as_of_queries.segments_at(
                services.read_models.pool, services.app.mapper.to_domain_event, self.row,
                self.as_of)
            return [CustomerSegment(segment_id=strawberry.ID(str(s)), name=n, since=None,
                                    rule_version=v) for s, n, v in found]
        rows = await SegmentReads(info.context.services.read_models.pool).customer_segments(
            self.row["customer_id"])
        return [CustomerSegment(segment_id=strawberry.ID(str(r["segment_id"])), name=r["name"],
                                since=r["since"], rule_version=r["rule_version"]) for r in rows]

    @strawberry.field(description="Lifecycle stages entered, oldest first, each with what "
                                  "caused it (the built-in lifecycle segments' ledger).")
    async def lifecycle_history(self, info: Info[Context, None]) -> list[LifecycleChange]:
        rows = await SegmentReads(info.context.services.read_models.pool).lifecycle_history(
            self.row["customer_id"], STAGE_OF_SEGMENT)
        return [LifecycleChange(stage=Lifecycle(STAGE_OF_SEGMENT[r["segment_id"]]), at=r["at"],
                                occurred_at=r["occurred_at"], cause=r["cause"],
                                cause_event=r["cause_event"]) for r in rows]

    @strawberry.field(description="Customers merged into this one (OneID), directly or not.")
    async def merged_customer_ids(self, info: Info[Context, None]) -> list[strawberry.ID]:
        members = await info.context.services.read_models.group(self.row["customer_id"])
        return [strawberry.ID(str(m)) for m in members if m != self.row["customer_id"]]

    async def _personal(self, info: Info[Context, None]) -> dict[str, str]:
        """Vault fields of this customer and of the customers it absorbed (own first)."""
        subjects = [self.row["customer_id"], *sorted(
            {UUID(i["subject"]) for i in self.row["identities"] if "subject" in i}
            - {self.row["customer_id"]})]
        merged: dict[str, str] = {}
        for fields in reversed(await info.context.personal.load_many(subjects)):
            merged.update(fields)
        return merged

    @strawberry.field
    async def identities(self, info: Info[Context, None]) -> list[CustomerIdentity]:
        personal = await self._personal(info)
        clear = self._may_read_personal(info)
        out = []
        for identity in self.row["identities"]:
            value = personal.get(f"identity:{identity['blind_index']}")
            if value is not None and not clear:
                value = mask(value)
            out.append(CustomerIdentity(namespace=identity["namespace"], value=value))
        return out

    @strawberry.field(description="Nickname from the personal-data vault (null if unknown "
                                  "or erased; masked for front-line staff).")
    async def nickname(self, info: Info[Context, None]) -> str | None:
        personal = await self._personal(info)
        value = personal.get("nickname")
        if value is None or self._may_read_personal(info):
            return value
        return value[:1] + "*" * (len(value) - 1)

    def _may_read_personal(self, info: Info[Context, None]) -> bool:
        return policy.sees_personal_data(info.context.principal, str(self.row["customer_id"]))


@strawberry.type(description="A segment the customer is in.")
class CustomerSegment:
    segment_id: strawberry.ID
    name: str
    since: datetime | None = strawberry.field(
        description="When the customer entered (null in a state at an instant, asOf).")
    rule_version: int


@strawberry.type(description="The customer entered a lifecycle stage.")
class LifecycleChange:
    stage: Lifecycle
    at: datetime = strawberry.field(description="When the platform evaluated the change.")
    occurred_at: datetime = strawberry.field(
        description="Business time of its cause (the event's occurredAt; a tick's time).")
    cause: str = strawberry.field(description="EVENT, TICK (time passed), MERGED or UNMERGED.")
    cause_event: str


@strawberry.type
class CustomerEdge:
    cursor: str
    node: Customer


@strawberry.type
class CustomerConnection:
    edges: list[CustomerEdge]
    page_info: PageInfo


@strawberry.type(description="One stored event, as an audit reviewer sees it.")
class CustomerEvent:
    customer_id: strawberry.ID = strawberry.field(
        description="The stream it was recorded on (another id for an absorbed customer).")
    version: int
    position: Long = strawberry.field(description="Position in the event log.")
    type: str
    occurred_at: datetime | None
    recorded_at: datetime
    by: str | None
    data: JSON


@strawberry.type
class CustomerEventEdge:
    cursor: str
    node: CustomerEvent


@strawberry.type
class CustomerEventConnection:
    edges: list[CustomerEventEdge]
    page_info: PageInfo
