"""A sequence with ``stopOnOptedOut``: an opt-out stops its marketing steps only; its service
steps (order notices, after-sales guidance) still go."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from domain.ingestion import EventItem
from tests.integration.workers.test_sop_sends_on_postgres import T0, World, generous
from tests.integration.workers.test_sop_sends_on_postgres import (  # noqa: F401 - fixture
    world as sop_world_fixture,
)
from workers.sops import parse, send_steps

pytestmark = pytest.mark.integration

MIXED = [{"offset_hours": 0, "channel": "wecom_mass",
          "variants": [{"variant_id": "hello", "text": "欢迎! 新人礼包已到账"}]},
         {"offset_hours": 24, "channel": "wecom_mass",
          "variants": [{"variant_id": "promo", "text": "本周会员日 全场八折"}]},
         {"offset_hours": 48, "channel": "wecom_mass", "message_class": "service",
          "service_reason": "after_sales",
          "variants": [{"variant_id": "care", "text": "商品使用说明: 请查收附件"}]}]


def withdraw(world: World, customer: UUID, at_hours: int) -> None:
    """The customer, who consented to marketing at T0, withdraws it ``at_hours`` later."""
    identity = world.identities[customer]
    world.app.ingestion.record_batch([
        EventItem(f"give-{customer}", "CONSENT_GIVEN", identity, T0, purpose="marketing",
                  wording_version="v1"),
        EventItem(f"withdraw-{customer}", "CONSENT_WITHDRAWN", identity,
                  T0 + timedelta(hours=at_hours), purpose="marketing")], "service:test")


def test_withdrawn_marketing_consent_cancels_the_marketing_steps_and_keeps_the_service_one(
        sop_world_fixture: World) -> None:  # noqa: F811
    world = sop_world_fixture
    # Given a sequence (stopOnOptedOut, the default) of a welcome, a promotion and an
    # after-sales service step, and a customer enrolled at T0 who got the welcome
    generous(world.app)
    world.app.sops.define("mixed", "staff:m", {"kind": "friend_added"}, MIXED, "staff:m",
                          T0 - timedelta(days=1))
    customer = world.friend(T0)
    assert world.run(T0 + timedelta(minutes=1)) == 1
    # When the customer withdraws marketing consent before the promotion is due
    withdraw(world, customer, 12)
    world.run(T0 + timedelta(hours=24, minutes=1))
    world.run(T0 + timedelta(hours=48, minutes=1))
    # Then the promotion is cancelled, the after-sales step is sent, and the enrolment
    # completes (it did not stop: a service step was left)
    assert [(n, s) for n, s, _ in world.steps(customer)] == [
        (0, "sent"), (1, "cancelled"), (2, "sent")]
    assert [t for _, t, _ in world.gateway.sent] == ["欢迎! 新人礼包已到账", "商品使用说明: 请查收附件"]
    assert world.rows("SELECT state, stop_reason FROM sop_enrolment") == [
        {"state": "completed", "stop_reason": None}]


def test_an_opt_out_the_read_model_has_not_seen_skips_marketing_but_not_service_steps(
        sop_world_fixture: World) -> None:  # noqa: F811
    world = sop_world_fixture
    # Given both later steps due, and an opt-out recorded after the dispatcher claimed them
    generous(world.app)
    world.app.sops.define("mixed", "staff:m", {"kind": "friend_added"}, MIXED, "staff:m",
                          T0 - timedelta(days=1))
    customer = world.friend(T0)
    world.run(T0 + timedelta(minutes=1))
    world.now = T0 + timedelta(hours=48, minutes=1)
    world.caught_up()
    world.messages.clear()
    world.dispatcher.run_once()
    withdraw(world, customer, 47)
    # When the steps are sent before the projection catches up
    for message in world.messages:
        send_steps(world.deps, parse(message))
    world.caught_up()
    # Then the promotion is skipped as opted out (or cancelled, had the projection been
    # first), the service step went
    steps = world.steps(customer)
    assert steps[1][1:] in (("skipped", "OPTED_OUT"), ("cancelled", None))
    assert steps[2][1] == "sent"
    assert [t for _, t, _ in world.gateway.sent][-1] == "商品使用说明: 请查收附件"


def test_with_only_marketing_steps_left_an_opt_out_stops_the_enrolment(
        sop_world_fixture: World) -> None:  # noqa: F811
    world = sop_world_fixture
    generous(world.app)
    world.app.sops.define("promos", "staff:m", {"kind": "friend_added"}, MIXED[:2], "staff:m",
                          T0 - timedelta(days=1))
    customer = world.friend(T0)
    world.run(T0 + timedelta(minutes=1))
    withdraw(world, customer, 12)
    world.caught_up()
    assert world.rows("SELECT state, stop_reason FROM sop_enrolment") == [
        {"state": "stopped", "stop_reason": "opted_out"}]
    assert world.steps(customer)[1][1] == "cancelled"
