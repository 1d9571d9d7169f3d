"""A SOP's WeCom step goes from the member WeCom delivers through — the friend who last
chatted with the customer — not the customer's owner, and the record says so."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.customer import Customer
from domain.ingestion import EventItem
from tests.integration.workers.test_sop_sends_on_postgres import STEPS, T0, World, generous
from tests.integration.workers.test_sop_sends_on_postgres import (  # noqa: F401 - fixture
    world as sop_world_fixture,
)

pytestmark = pytest.mark.integration


def test_a_wecom_step_goes_from_the_friend_who_last_chatted_not_the_owner(
        sop_world_fixture: World) -> None:  # noqa: F811
    world = sop_world_fixture
    # Given a one-step welcome sequence and a customer who added staff-li (the owner),
    # then staff-wang, and chatted with staff-wang last
    generous(world.app)
    world.app.sops.define("welcome", "staff:m", {"kind": "friend_added"}, STEPS[:1],
                          "staff:m", T0 - timedelta(days=1))
    customer = world.friend(T0)
    identity = world.identities[customer]
    world.app.ingestion.record_batch([
        EventItem("wang-f", "FRIEND_ADDED", identity, T0, channel="qr",
                  staff_id="wecom_user:staff-wang"),
        EventItem("li-m", "MESSAGE_SENT", identity, T0, staff_id="wecom_user:staff-li",
                  message_kind="text"),
        EventItem("wang-m", "MESSAGE_RECEIVED", identity, T0 + timedelta(minutes=1),
                  staff_id="wecom_user:staff-wang", message_kind="text")], "service:test")
    # When the step is due
    assert world.run(T0 + timedelta(minutes=5)) == 1
    # Then it went as staff-wang's task, and the record says who and why
    assert world.rows("SELECT status, sender, sender_basis FROM sop_send "
                      "WHERE customer_id = %s", customer) == [
        {"status": "sent", "sender": "wecom_user:staff-wang", "sender_basis": "LAST_CHATTED"}]
    [sent] = [e for e in world.app.repository.event_store.get(customer)
              if isinstance(e, Customer.SopStepSent)]
    assert (sent.sender, sent.sender_basis) == ("wecom_user:staff-wang", "LAST_CHATTED")


def test_with_no_chat_known_a_wecom_step_goes_from_the_owner(
        sop_world_fixture: World) -> None:  # noqa: F811
    world = sop_world_fixture
    generous(world.app)
    world.app.sops.define("welcome", "staff:m", {"kind": "friend_added"}, STEPS[:1],
                          "staff:m", T0 - timedelta(days=1))
    customer = world.friend(T0)
    assert world.run(T0 + timedelta(minutes=5)) == 1
    assert world.rows("SELECT sender, sender_basis FROM sop_send WHERE customer_id = %s",
                      customer) == [{"sender": "wecom_user:staff-li", "sender_basis": "OWNER"}]
