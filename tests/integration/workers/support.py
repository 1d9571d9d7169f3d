"""Helpers of the worker tests (fixtures are in ``conftest.py``)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pika  # type: ignore[import-untyped]
import pytest
import redis

from adapters.campaign_gateway import Delivery, ListedTask, TaskAction
from application.app import Siyu
from domain.customer import Customer
from domain.ingestion import EventItem
from siyu.settings import Settings
from tests.conftest import SECRET
from workers.outbox import OutboxRow, OutboxStore
from workers.welcome import RetryPolicy

REDIS_URL = os.environ.get("SIYU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("SIYU_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")

#: Small backoffs so retried messages come back within tenths of a second.
TEST_RETRY = RetryPolicy(max_retries=3, min_backoff=50, max_backoff=200, time_limit=20_000)


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unreachable(reason: str) -> None:
    """Skip, or fail under CI=true."""
    if under_ci():
        pytest.fail(f"{reason} (CI=true: broker tests must run, not skip)")
    pytest.skip(reason)


def redis_reachable(url: str) -> str | None:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        return f"Redis at {url} is unreachable: {error}"
    finally:
        client.close()
    return None


def rabbitmq_reachable(url: str) -> str | None:
    params = pika.URLParameters(url)
    params.socket_timeout = 2
    params.blocked_connection_timeout = 2
    params.connection_attempts = 1
    try:
        pika.BlockingConnection(params).close()
    except pika.exceptions.AMQPError as error:
        return f"RabbitMQ at {url} is unreachable: {error!r}"
    return None


def settings_for(database_url: str | None, tmp_path: Path, *, broker_url: str | None = None,
                 wecom_api_base: str | None = None, fake_gateway_port: int = 8001) -> Settings:
    return Settings(database_url=database_url, broker_url=broker_url, data_dir=tmp_path,
                    secret=SECRET, wecom_api_base=wecom_api_base,
                    fake_gateway_port=fake_gateway_port)


def add_friend(app: Siyu, now: datetime, *, welcome_code: str | None,
               channel: str = "qr", staff_id: str = "wecom_user:staff-li") -> UUID:
    """Record a FriendAdded (with a welcome code) for a new customer; returns its id."""
    external = f"wm{uuid.uuid4().hex[:16]}"
    result = app.ingestion.record_batch([EventItem(
        event_id=f"cb-{uuid.uuid4().hex}", type="FRIEND_ADDED",
        identity=("wecom_external:ww7788", external), occurred_at=now, channel=channel,
        staff_id=staff_id, welcome_code=welcome_code)], "service:test")
    outcome = result.outcomes[0]
    assert outcome.status == "accepted", outcome
    assert outcome.customer_id is not None
    return outcome.customer_id


def customer_events(app: Siyu, customer_id: UUID) -> list[Any]:
    """Stored events (read from the store, not from a possibly stale aggregate cache)."""
    return list(app.repository.event_store.get(customer_id))


def welcome_outcomes(app: Siyu, customer_id: UUID) -> list[Any]:
    return [e for e in customer_events(app, customer_id)
            if isinstance(e, Customer.WelcomeMessageSent | Customer.WelcomeMessageFailed)]


def friend_added_key(app: Siyu, customer_id: UUID) -> str:
    added = [e for e in customer_events(app, customer_id)
             if isinstance(e, Customer.FriendAdded)]
    return f"welcome:{customer_id}:{added[-1].originator_version}"


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0,
               message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(0.05)


class Crash(Exception):
    """Stands for the process dying at a given step."""


class CrashingStore(OutboxStore):
    """An outbox store that dies once, right before the named step."""

    def __init__(self, store: OutboxStore, step: str) -> None:
        super().__init__(store.pool)
        self.step = step

    def _maybe_crash(self, step: str) -> None:
        if self.step == step:
            self.step = ""
            raise Crash(step)

    def record_answer(self, key: str, **kwargs: Any) -> OutboxRow | None:
        self._maybe_crash("record_answer")
        return super().record_answer(key, **kwargs)

    def complete(self, key: str) -> None:
        self._maybe_crash("complete")
        super().complete(key)


class NoTaskFollowUps:
    """The mass-send follow-ups of a test gateway that creates no listable tasks: nothing
    listed, cancels and reminders accepted (and counted)."""

    cancelled: list[str]
    reminded: list[str]

    def list_mass_sends(self, sender: str, start: float, end: float,
                        chat_type: str = "single") -> list[ListedTask]:
        return []

    def list_member_mass_sends(self, start: float, end: float,
                               chat_type: str = "single") -> list[ListedTask]:
        return []

    def cancel_mass_send(self, task_id: str) -> TaskAction:
        self.__dict__.setdefault("cancelled", []).append(task_id)
        return TaskAction(Delivery.ACCEPTED, "ok")

    def remind_mass_send(self, task_id: str) -> TaskAction:
        self.__dict__.setdefault("reminded", []).append(task_id)
        return TaskAction(Delivery.ACCEPTED, "ok")
