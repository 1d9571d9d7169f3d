"""GraphQL for coupons with redemption codes (核销码): issue, verify once, the ledger.

``issueCoupon`` (managers, services) returns the redemption code once; only its
holder reads it again (``customerCoupons`` as the customer principal: the code
is sealed in their vault). ``redeemCouponCode`` (staff at a store, services)
verifies a code once: ``UNKNOWN_REDEMPTION_CODE``, ``COUPON_ALREADY_REDEEMED``
and ``COUPON_EXPIRED`` otherwise. Reads come from ``coupon_ledger``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from api.context import Context
from api.errors import ApiError, forbidden
from api.projection_wait import caught_up
from api.referrals import run_command
from api.types import Long, to_uuid
from domain.coupon import format_code
from projections.coupons import queries

VIEW = "coupon_ledger"

Row = dict[str, Any]


@strawberry.enum
class CouponStatus(Enum):
    ISSUED = "issued"
    REDEEMED = "redeemed"
    EXPIRED = "expired"


@strawberry.input
class IssueCouponInput:
    customer_id: strawberry.ID
    value_fen: Long
    valid_days: int | None = strawberry.field(default=None, description="Null: no expiry.")


@strawberry.type(description="A coupon just issued. `redemptionCode` is shown this once to "
                              "the issuer; the holder reads it in customerCoupons.")
class IssuedCoupon:
    coupon_id: strawberry.ID
    customer_id: strawberry.ID
    value_fen: Long
    expires_at: datetime | None
    redemption_code: str
    projected: bool


@strawberry.type(description="A coupon of the ledger (coupon_ledger).")
class LedgerCoupon:
    coupon_id: strawberry.ID
    customer_id: strawberry.ID
    value_fen: Long
    source: str = strawberry.field(description="manual or referral.")
    campaign_id: strawberry.ID | None
    status: CouponStatus
    issued_at: datetime
    expires_at: datetime | None
    redeemed_at: datetime | None
    store_id: str | None
    redemption_code: str | None = strawberry.field(
        description="Only for the holder (the customer principal); null for everyone else.")


@strawberry.type(description="Coupons issued with redemption codes, by status (expired: not "
                              "redeemed before its expiry, as of now).")
class CouponLedgerSummary:
    issued: int
    redeemed: int
    expired: int
    outstanding: int = strawberry.field(description="Neither redeemed nor expired.")
    issued_value_fen: Long
    redeemed_value_fen: Long
    expired_value_fen: Long


def status(row: Row, now: datetime) -> CouponStatus:
    if row["redeemed_at"] is not None:
        return CouponStatus.REDEEMED
    if row["expires_at"] is not None and row["expires_at"] <= now:
        return CouponStatus.EXPIRED
    return CouponStatus.ISSUED


def to_coupon(row: Row, now: datetime, code: str | None) -> LedgerCoupon:
    campaign = row["campaign_id"]
    return LedgerCoupon(
        coupon_id=strawberry.ID(str(row["coupon_id"])),
        customer_id=strawberry.ID(str(row["customer_id"])), value_fen=Long(row["value_fen"]),
        source=row["source"], campaign_id=None if campaign is None else strawberry.ID(
            str(campaign)), status=status(row, now), issued_at=row["issued_at"],
        expires_at=row["expires_at"], redeemed_at=row["redeemed_at"],
        store_id=row["store_id"], redemption_code=None if code is None else format_code(code))


@strawberry.type
class CouponQuery:
    @strawberry.field(description="The coupon ledger's totals, for one referral campaign or "
                                  "all coupons.")
    async def coupon_ledger(self, info: Info[Context, None],
                            campaign_id: strawberry.ID | None = None) -> CouponLedgerSummary:
        cid = None if campaign_id is None else to_uuid(campaign_id, "campaignId")
        row = await queries.summary(info.context.services.read_models.pool, cid)
        return CouponLedgerSummary(
            issued=row["issued"], redeemed=row["redeemed"], expired=row["expired"],
            outstanding=row["issued"] - row["redeemed"] - row["expired"],
            issued_value_fen=Long(row["issued_value"]),
            redeemed_value_fen=Long(row["redeemed_value"]),
            expired_value_fen=Long(row["expired_value"]))

    @strawberry.field(description="A customer's coupons, newest first: a customer reads their "
                                  "own (with redemption codes), staff a customer they may see.")
    async def customer_coupons(self, info: Info[Context, None],
                               customer_id: strawberry.ID | None = None) -> list[LedgerCoupon]:
        principal = info.context.principal
        if customer_id is None and principal.kind != "customer":
            raise ApiError("BAD_INPUT", "customerId is required for staff and services",
                           field="customerId")
        holder = to_uuid(customer_id or principal.subject_id, "customerId")
        own = principal.kind == "customer" and principal.subject_id == str(holder)
        if not own:
            row = await info.context.services.read_models.profile(holder)
            if row is None or not principal.may_see(holder, list(row["current_staff_ids"])):
                return []  # indistinguishable from "none": no existence oracle
        rows = await queries.coupons_of(info.context.services.read_models.pool, holder)
        codes = await info.context.personal.load(holder) if own else {}
        now = datetime.now(UTC)
        return [to_coupon(r, now, codes.get(f"coupon:{r['coupon_id']}")) for r in rows]


@strawberry.type
class CouponMutation:
    @strawberry.mutation(description="Issue a coupon with a fresh redemption code to a "
                                      "customer.")
    async def issue_coupon(self, info: Info[Context, None], input: IssueCouponInput
                           ) -> IssuedCoupon:
        app, by = info.context.services.app, info.context.principal.actor
        holder = to_uuid(input.customer_id, "customerId")
        now = datetime.now(UTC)
        coupon_id, code, position = await run_command(lambda: app.referrals.grant_coupon(
            holder, int(input.value_fen), input.valid_days, by, now))
        coupon = app.referrals.coupon(coupon_id)
        assert coupon is not None
        return IssuedCoupon(coupon_id=strawberry.ID(str(coupon_id)),
                            customer_id=strawberry.ID(coupon.customer_id),
                            value_fen=Long(coupon.value_fen), expires_at=coupon.expires_at,
                            redemption_code=format_code(code),
                            projected=await caught_up(info, VIEW, position))

    @strawberry.mutation(description="Verify a redemption code once (核销), at a store: "
                                      "separators and case are ignored.")
    async def redeem_coupon_code(self, info: Info[Context, None], code: str,
                                 store_id: str | None = None) -> LedgerCoupon:
        principal = info.context.principal
        if principal.kind == "customer":
            raise forbidden("redemption codes are verified by staff or a store's service")
        if store_id is not None and not 1 <= len(store_id.strip()) <= 128:
            raise ApiError("BAD_INPUT", "storeId must be 1-128 characters", field="storeId")
        if len(code) > 64:
            raise ApiError("UNKNOWN_REDEMPTION_CODE", "no coupon has this redemption code",
                           field="code")
        app = info.context.services.app
        now = datetime.now(UTC)
        coupon, position = await run_command(lambda: app.referrals.redeem_coupon_code(
            code, principal.actor, now, store_id and store_id.strip()))
        await caught_up(info, VIEW, position)
        row = {"coupon_id": coupon.id, "customer_id": coupon.customer_id,
               "value_fen": coupon.value_fen, "source": coupon.source.partition(":")[0],
               "campaign_id": coupon.source.partition(":")[2] or None,
               "issued_at": coupon.issued_at, "expires_at": coupon.expires_at,
               "redeemed_at": coupon.redeemed_at, "store_id": coupon.store_id}
        return to_coupon(row, now, None)

