"""Coupons and redemption codes (核销码): issued with a secret code, verified once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from application.app import Siyu
from domain.coupon import (
    CouponAlreadyRedeemed,
    CouponExpired,
    UnknownRedemptionCode,
    format_code,
    normalise_code,
)
from domain.errors import InvalidInput
from domain.ingestion import EventItem
from siyu.bootstrap import build_application
from tests.conftest import SECRET

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
STAFF = "staff:clerk-1"


@pytest.fixture
def app() -> Siyu:
    return build_application(None, SECRET)


def customer(app: Siyu) -> UUID:
    result = app.ingestion.record_batch([EventItem("reg", "REGISTERED", ("wx_unionid", "u1"), AT)], "t")
    assert result.outcomes[0].customer_id is not None
    return result.outcomes[0].customer_id


def test_a_redemption_code_is_verified_once(app: Siyu) -> None:
    # Given a coupon issued to a customer
    holder = customer(app)
    coupon_id, code, _ = app.referrals.grant_coupon(holder, 1500, 30, STAFF, AT)
    # When a store verifies its code (as printed, with separators, in lower case)
    coupon, _ = app.referrals.redeem_coupon_code(format_code(code).lower(), STAFF, AT, store_id="sh-01")
    # Then the coupon and the holder's coupon are redeemed
    assert coupon.id == coupon_id and coupon.redeemed_at == AT
    assert app.repository.get(holder).coupons == {str(coupon_id): True}
    # And a second verification is refused
    with pytest.raises(CouponAlreadyRedeemed):
        app.referrals.redeem_coupon_code(code, STAFF, AT)


def test_the_code_is_never_in_an_event_but_the_holder_can_read_it(app: Siyu
                                                                   ) -> None:
    holder = customer(app)
    coupon_id, code, _ = app.referrals.grant_coupon(holder, 1500, None, STAFF, AT)
    events = list(app.events.get(holder)) + list(app.events.get(coupon_id))
    assert code not in repr(events)
    assert app.customers.personal_data(holder)[f"coupon:{coupon_id}"] == code


def test_unknown_malformed_and_expired_codes_are_refused(app: Siyu) -> None:
    holder = customer(app)
    _, code, _ = app.referrals.grant_coupon(holder, 1500, 7, STAFF, AT)
    with pytest.raises(UnknownRedemptionCode):
        app.referrals.redeem_coupon_code("not a code", STAFF, AT)
    other = "0" * 12 if code != "0" * 12 else "1" * 12
    with pytest.raises(UnknownRedemptionCode):
        app.referrals.redeem_coupon_code(other, STAFF, AT)
    with pytest.raises(CouponExpired):
        app.referrals.redeem_coupon_code(code, STAFF, AT + timedelta(days=7))
    app.referrals.redeem_coupon_code(code, STAFF, AT + timedelta(days=6))


def test_a_coupon_redeemed_through_ingestion_cannot_be_verified_again(
        app: Siyu) -> None:
    holder = customer(app)
    coupon_id, code, _ = app.referrals.grant_coupon(holder, 1500, None, STAFF, AT)
    result = app.ingestion.record_batch([EventItem("red", "COUPON_REDEEMED", ("wx_unionid", "u1"), AT,
                                         coupon_code=str(coupon_id))], "t")
    assert result.outcomes[0].status == "accepted"
    with pytest.raises(CouponAlreadyRedeemed):
        app.referrals.redeem_coupon_code(code, STAFF, AT)


def test_coupon_terms_are_validated(app: Siyu) -> None:
    holder = customer(app)
    with pytest.raises(InvalidInput):
        app.referrals.grant_coupon(holder, 0, None, STAFF, AT)
    with pytest.raises(InvalidInput):
        app.referrals.grant_coupon(holder, 100, 0, STAFF, AT)
    assert normalise_code("abcd-efgh-jkmn") == "ABCDEFGHJKMN"
    assert normalise_code("ABCD-EFGH-JKMU") is None  # U is not in the alphabet
