"""The ``send_welcome`` actor: idempotent under redelivery and crashes, retries transient errors.

Handled here by calling the actor's function (and, once, through Dramatiq's stub broker) on
real PostgreSQL with the fake WeCom; ``test_pipeline.py`` runs the same through real brokers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import cast
from uuid import UUID

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from eventsourcing.postgres import PostgresDatastore

from adapters.wecom_client import WeComGateway
from application.app import Siyu
from domain.customer import Customer
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom
from projections.runner import BatchRunner, Tracker
from tests.integration.workers.support import (
    TEST_RETRY,
    Crash,
    CrashingStore,
    add_friend,
    friend_added_key,
    welcome_outcomes,
)
from workers.outbox import OutboxStore, WelcomeOutboxView
from workers.welcome import (
    TEMPLATES,
    TransientSendError,
    WelcomeDeps,
    declare_welcome_actor,
    send_welcome,
)


@pytest.fixture
def deps(pg_app: Siyu, pg_url: str,
         fake_wecom: RunningFakeWeCom) -> Iterator[WelcomeDeps]:
    store = OutboxStore.connect(pg_url)
    gateway = WeComGateway(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET)
    yield WelcomeDeps(app=pg_app, store=store, gateway=gateway, retry=TEST_RETRY)
    gateway.close()
    store.close()


def pending_welcome(deps: WelcomeDeps, now: datetime, code: str = "code-1",
                    channel: str = "qr") -> tuple[UUID, str]:
    """A FriendAdded with a code, projected into the outbox; returns (customer, key)."""
    customer_id = add_friend(deps.app, now, welcome_code=code, channel=channel)
    datastore = cast(PostgresDatastore, deps.app.factory.datastore)  # type: ignore[attr-defined]
    BatchRunner(deps.app, WelcomeOutboxView(), Tracker(datastore)).catch_up()
    return customer_id, friend_added_key(deps.app, customer_id)


def status(deps: WelcomeDeps, key: str) -> str:
    row = deps.store.get(key)
    assert row is not None
    return row.status


def test_a_pending_welcome_is_sent_once_and_recorded_on_the_customer(
        deps: WelcomeDeps, fake_wecom: RunningFakeWeCom, now: datetime) -> None:
    # Given a friend added through a QR code, with a welcome code
    customer_id, key = pending_welcome(deps, now, channel="qr")
    # When the actor handles the message
    send_welcome(deps, key)
    # Then the QR template reached WeCom once, the row is sent …
    assert [(s.welcome_code, s.text) for s in fake_wecom.state.sent] == [
        ("code-1", TEMPLATES["qr"].text)]
    assert status(deps, key) == "sent"
    # … and the customer has one WelcomeMessageSent saying which template and message
    [event] = welcome_outcomes(deps.app, customer_id)
    assert isinstance(event, Customer.WelcomeMessageSent)
    assert (event.staff_id, event.template_id, event.by) == (
        "wecom_user:staff-li", TEMPLATES["qr"].template_id, "system")
    assert event.gateway_message_id == fake_wecom.state.sent[0].msgid


def test_handling_the_same_message_twice_sends_nothing_more(
        deps: WelcomeDeps, fake_wecom: RunningFakeWeCom, now: datetime) -> None:
    # Given a welcome handled once
    customer_id, key = pending_welcome(deps, now)
    send_welcome(deps, key)
    # When the message is redelivered
    send_welcome(deps, key)
    # Then WeCom was not called again and there is still one outcome
    assert fake_wecom.state.send_calls == 1
    assert len(welcome_outcomes(deps.app, customer_id)) == 1


def test_a_crash_after_wecom_accepted_but_before_the_row_was_marked_sends_nothing_more(
        deps: WelcomeDeps, fake_wecom: RunningFakeWeCom, now: datetime) -> None:
    # Given the worker dies after WeCom accepted the send, before storing the answer
    customer_id, key = pending_welcome(deps, now)
    crashing = WelcomeDeps(app=deps.app, store=CrashingStore(deps.store, "record_answer"),
                           gateway=deps.gateway, retry=TEST_RETRY)
    with pytest.raises(Crash):
        send_welcome(crashing, key)
    assert status(deps, key) == "pending"
    # When the message is redelivered
    send_welcome(deps, key)
    # Then WeCom says "already used", which counts as sent: one message, one outcome
    assert fake_wecom.state.sent_codes() == ["code-1"]
    assert fake_wecom.state.send_calls == 2
    assert status(deps, key) == "sent"
    [event] = welcome_outcomes(deps.app, customer_id)
    assert isinstance(event, Customer.WelcomeMessageSent)


def test_a_crash_after_the_outcome_was_recorded_but_before_the_row_was_marked_records_it_once(
        deps: WelcomeDeps, fake_wecom: RunningFakeWeCom, now: datetime) -> None:
    # Given the worker dies after recording the outcome event, before marking the row
    customer_id, key = pending_welcome(deps, now)
    crashing = WelcomeDeps(app=deps.app, store=CrashingStore(deps.store, "complete"),
                           gateway=deps.gateway, retry=TEST_RETRY)
    with pytest.raises(Crash):
        send_welcome(crashing, key)
    # When the message is redelivered
    send_welcome(deps, key)
    # Then the stored answer is reused: no second call, still one outcome event
    assert fake_wecom.state.send_calls == 1
    assert status(deps, key) == "sent"
    assert len(welcome_outcomes(deps.app, customer_id)) == 1


def test_a_transient_failure_asks_for_a_retry_and_the_retry_sends(
        deps: WelcomeDeps, fake_wecom: RunningFakeWeCom, now: datetime) -> None:
    # Given WeCom is busy once
    customer_id, key = pending_welcome(deps, now)
    fake_wecom.state.inject("busy")
    # When the actor handles the message / Then it raises for Dramatiq to retry
    with pytest.raises(TransientSendError):
        send_welcome(deps, key)
    assert welcome_outcomes(deps.app, customer_id) == []
    # When the retry comes / Then it is sent once
    send_welcome(deps, key)
    assert fake_wecom.state.sent_codes() == ["code-1"]
    assert len(welcome_outcomes(deps.app, customer_id)) == 1


def test_a_transient_failure_on_the_last_attempt_records_a_failure(
        deps: WelcomeDeps, fake_wecom: RunningFakeWeCom, now: datetime) -> None:
    # Given WeCom stays busy for every allowed attempt
    customer_id, key = pending_welcome(deps, now)
    fake_wecom.state.inject("busy", TEST_RETRY.max_attempts)
    # When the actor is retried until the last attempt
    for _ in range(TEST_RETRY.max_attempts - 1):
        with pytest.raises(TransientSendError):
            send_welcome(deps, key)
    send_welcome(deps, key)
    # Then the last attempt records a failure instead of raising, and nothing more happens
    [event] = welcome_outcomes(deps.app, customer_id)
    assert isinstance(event, Customer.WelcomeMessageFailed)
    assert event.reason.startswith(f"gave up after {TEST_RETRY.max_attempts} attempts")
    assert status(deps, key) == "failed"
    send_welcome(deps, key)
    assert fake_wecom.state.send_calls == TEST_RETRY.max_attempts


def test_an_expired_welcome_code_records_a_welcome_failed_event(
        deps: WelcomeDeps, fake_wecom: RunningFakeWeCom, now: datetime) -> None:
    # Given a code WeCom refuses as expired
    customer_id, key = pending_welcome(deps, now, code="expired-abc")
    # When the actor handles the message
    send_welcome(deps, key)
    # Then no message went out and a WelcomeMessageFailed says why
    assert fake_wecom.state.sent == []
    [event] = welcome_outcomes(deps.app, customer_id)
    assert isinstance(event, Customer.WelcomeMessageFailed)
    assert "40058" in event.reason
    assert status(deps, key) == "failed"


def test_an_unknown_outbox_key_is_dropped(deps: WelcomeDeps,
                                          fake_wecom: RunningFakeWeCom) -> None:
    # Given / When a message for no row / Then nothing happens
    send_welcome(deps, "welcome:00000000-0000-0000-0000-000000000000:1")
    assert fake_wecom.state.send_calls == 0


def test_through_the_stub_broker_transient_failures_are_retried_and_sent_once(
        deps: WelcomeDeps, fake_wecom: RunningFakeWeCom, now: datetime) -> None:
    # Given the actor declared on a stub broker, WeCom failing twice, and a lost reply
    customer_id, key = pending_welcome(deps, now)
    fake_wecom.state.inject("http_500")
    fake_wecom.state.inject("lost_reply")
    broker = StubBroker()
    actor = declare_welcome_actor(broker, deps, queue_name="welcome")
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        # When the same message is sent twice
        actor.send(key)
        actor.send(key)
        broker.join(actor.queue_name, fail_fast=True)
        worker.join()
    finally:
        worker.stop()
        broker.close()
    # Then the customer got exactly one message, and one outcome was recorded
    assert fake_wecom.state.sent_codes() == ["code-1"]
    [event] = welcome_outcomes(deps.app, customer_id)
    assert isinstance(event, Customer.WelcomeMessageSent)
    assert status(deps, key) == "sent"
