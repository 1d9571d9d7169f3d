"""The whole welcome pipeline on real PostgreSQL and each real broker, with the fake WeCom.

FriendAdded → outbox row (projection) → dispatcher → broker → actor → fake WeCom → outcome
event. Redis and RabbitMQ tests skip when the server is unreachable (fail under CI=true).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dramatiq
import pika  # type: ignore[import-untyped]
import pytest
import redis

from application.app import Siyu
from domain.customer import Customer
from fakes.wecom import RunningFakeWeCom
from siyu.worker_process import build_worker
from tests.integration.workers.support import (
    CrashingStore,
    add_friend,
    friend_added_key,
    redis_reachable,
    settings_for,
    unreachable,
    wait_until,
    welcome_outcomes,
)
from workers.options import WorkerOptions
from workers.process import WorkerProcess


class Processed(dramatiq.Middleware):
    """Counts messages handled (successfully or not) by this broker's workers."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def after_process_message(self, broker: dramatiq.Broker, message: Any, *,
                              result: Any = None, exception: Any = None) -> None:
        with self._lock:
            self.count += 1


@pytest.fixture(params=["postgres", "redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest, queue_name: str) -> Iterator[str | None]:
    if request.param == "postgres":
        yield None  # dramatiq-postgres on the test database
    elif request.param == "redis":
        url = request.getfixturevalue("redis_url")
        yield url
        client = redis.Redis.from_url(url)
        keys = client.keys(f"dramatiq:{queue_name}*")
        if keys:
            client.delete(*keys)
        client.close()
    else:
        url = request.getfixturevalue("amqp_url")
        yield url
        connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = connection.channel()
        for name in (queue_name, f"{queue_name}.DQ", f"{queue_name}.XQ"):
            channel.queue_delete(name)
        connection.close()


@pytest.fixture
def make_pipeline(pg_url: str, tmp_path: Path, broker_url: str | None,
                  fake_wecom: RunningFakeWeCom,
                  test_options: WorkerOptions) -> Iterator[Any]:
    built: list[WorkerProcess] = []

    def make(**changes: Any) -> tuple[WorkerProcess, Processed]:
        settings = settings_for(pg_url, tmp_path, broker_url=broker_url,
                                wecom_api_base=fake_wecom.url)
        pipeline = build_worker(settings, options=replace(test_options, **changes))
        built.append(pipeline)
        processed = Processed()
        pipeline.broker.add_middleware(processed)
        return pipeline, processed

    yield make
    for pipeline in built:
        pipeline.stop()


def wait_for_status(pipeline: WorkerProcess, key: str, status: str,
                    timeout: float = 15.0) -> None:
    def reached() -> bool:
        row = pipeline.welcome.store.get(key)
        return row is not None and row.status == status

    wait_until(reached, timeout, f"outbox row {key} to be {status}")


def test_a_friend_added_with_a_welcome_code_gets_exactly_one_welcome(
        make_pipeline: Any, pg_app: Siyu, fake_wecom: RunningFakeWeCom,
        now: datetime) -> None:
    # Given a running pipeline
    pipeline, _ = make_pipeline()
    pipeline.start()
    # When a friend is added with a welcome code
    customer_id = add_friend(pg_app, now, welcome_code="code-1", channel="mini_program")
    key = friend_added_key(pg_app, customer_id)
    wait_for_status(pipeline, key, "sent")
    # Then exactly one welcome reached WeCom, and the customer records it
    assert fake_wecom.state.sent_codes() == ["code-1"]
    [event] = welcome_outcomes(pg_app, customer_id)
    assert isinstance(event, Customer.WelcomeMessageSent)
    assert event.template_id == "welcome-mini-program-v1"


def test_redelivered_messages_send_no_second_welcome(
        make_pipeline: Any, pg_app: Siyu, fake_wecom: RunningFakeWeCom,
        now: datetime) -> None:
    # Given a welcome sent through the pipeline
    pipeline, processed = make_pipeline()
    pipeline.start()
    customer_id = add_friend(pg_app, now, welcome_code="code-1")
    key = friend_added_key(pg_app, customer_id)
    wait_for_status(pipeline, key, "sent")
    # When the same message is delivered twice more
    pipeline.welcome.enqueue(key)
    pipeline.welcome.enqueue(key)
    wait_until(lambda: processed.count >= 3, message="three deliveries")
    # Then WeCom was called once, and there is one outcome event
    assert fake_wecom.state.send_calls == 1
    assert fake_wecom.state.sent_codes() == ["code-1"]
    assert len(welcome_outcomes(pg_app, customer_id)) == 1


def test_a_crash_after_wecom_accepted_is_recovered_with_still_one_welcome(
        make_pipeline: Any, pg_app: Siyu, fake_wecom: RunningFakeWeCom,
        now: datetime) -> None:
    # Given a worker that dies after WeCom accepted, before the answer was stored (the
    # message fails without retry), and stale rows re-enqueued after one second
    pipeline, _ = make_pipeline(stale_after=timedelta(seconds=1))
    pipeline.welcome.deps.store = CrashingStore(pipeline.welcome.store, "record_answer")
    pipeline.start()
    # When a friend is added with a welcome code
    customer_id = add_friend(pg_app, now, welcome_code="code-1")
    key = friend_added_key(pg_app, customer_id)
    # Then the dispatcher re-enqueues the stuck row, WeCom answers "already used", and the
    # customer got one welcome with one outcome
    wait_for_status(pipeline, key, "sent")
    assert fake_wecom.state.send_calls == 2
    assert fake_wecom.state.sent_codes() == ["code-1"]
    [event] = welcome_outcomes(pg_app, customer_id)
    assert isinstance(event, Customer.WelcomeMessageSent)


def test_transient_failures_are_retried_with_backoff_and_sent_once(
        make_pipeline: Any, pg_app: Siyu, fake_wecom: RunningFakeWeCom,
        now: datetime) -> None:
    # Given WeCom fails with an HTTP 500, then is busy, then loses the reply of an accepted send
    fake_wecom.state.inject("http_500")
    fake_wecom.state.inject("busy")
    fake_wecom.state.inject("lost_reply")
    pipeline, _ = make_pipeline()
    pipeline.start()
    # When a friend is added with a welcome code
    customer_id = add_friend(pg_app, now, welcome_code="code-1")
    key = friend_added_key(pg_app, customer_id)
    wait_for_status(pipeline, key, "sent")
    # Then Dramatiq retried until WeCom said "already used": one welcome, one outcome
    assert fake_wecom.state.send_calls == 4
    assert fake_wecom.state.sent_codes() == ["code-1"]
    [event] = welcome_outcomes(pg_app, customer_id)
    assert isinstance(event, Customer.WelcomeMessageSent)
    row = pipeline.welcome.store.get(key)
    assert row is not None and row.attempts == 4


def test_an_unreachable_broker_skips_locally_but_fails_under_ci(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a broker that cannot be reached
    reason = redis_reachable("redis://127.0.0.1:1/0")
    assert reason is not None and "unreachable" in reason
    # When CI is not set / Then the test skips
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        unreachable(reason)
    # When CI=true / Then the test fails, saying why
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        unreachable(reason)
