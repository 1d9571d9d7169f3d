"""Plans that match sends: a recipient the channel cannot address is excluded as NO_ADDRESS."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from domain.restraint import REASONS, Plan, Policy, Recipient, Variant, addressable, decide

CAMPAIGN = UUID("00000000-0000-4000-8000-00000000add5")
NOON = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


def plan(channel: str, holdout: int = 0) -> Plan:
    return Plan(CAMPAIGN, channel, (Variant("any"),), holdout)


def who(namespaces: tuple[str, ...] | None, *, dnd: bool = False) -> Recipient:
    return Recipient(customer_id=uuid4(), lifecycle="ACTIVE", friends=("s1",), dnd=dnd,
                     namespaces=namespaces)


@pytest.mark.parametrize(("channel", "namespaces", "included"), [
    ("wecom_mass", ("wecom_external:ww1",), True),
    ("wecom_mass", ("phone", "wx_openid:wx1"), False),
    ("mini_program", ("wx_openid:wx1",), True),
    ("mini_program", ("wx_unionid", "wecom_external:ww1"), False),
    ("sms", ("phone",), True),
    ("sms", ("wecom_external:ww1",), False),
    ("sms", (), False),
], ids=["wecom-external", "wecom-none", "openid", "openid-none", "phone", "phone-none",
        "no-identity"])
def test_a_recipient_is_excluded_when_the_channel_has_no_address_for_them(
        channel: str, namespaces: tuple[str, ...], included: bool) -> None:
    # When a recipient with these identities is planned on the channel
    decision = decide(plan(channel), Policy(), who(namespaces), NOON)
    # Then they are included only when one identity is the channel's address
    assert decision.included is included
    assert decision.reason == (None if included else "NO_ADDRESS")
    assert addressable(channel, namespaces) is included


def test_unknown_identities_are_not_checked() -> None:
    assert decide(plan("sms"), Policy(), who(None), NOON).included


def test_opt_outs_come_before_the_address_and_the_address_before_the_holdout() -> None:
    # A do-not-disturb customer with no address is excluded for the opt-out
    assert decide(plan("sms"), Policy(), who((), dnd=True), NOON).reason == "DO_NOT_DISTURB"
    # and a customer with no address never enters the control group (drawn among the reachable)
    assert decide(plan("sms", holdout=100), Policy(), who(()), NOON).reason == "NO_ADDRESS"
    assert REASONS.index("NO_ADDRESS") < REASONS.index("HOLDOUT")
