"""Fixtures of the worker tests: reachable brokers, test options (the fake WeCom is shared).

A test that needs Redis or RabbitMQ skips when the server is unreachable, except under
``CI=true``, where it fails: CI must never pass by skipping its broker tests.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.integration.workers.support import (
    AMQP_URL,
    REDIS_URL,
    TEST_RETRY,
    rabbitmq_reachable,
    redis_reachable,
    unreachable,
)
from workers.options import WorkerOptions


@pytest.fixture
def redis_url() -> str:
    problem = redis_reachable(REDIS_URL)
    if problem:
        unreachable(problem)
    return REDIS_URL


@pytest.fixture
def amqp_url() -> str:
    problem = rabbitmq_reachable(AMQP_URL)
    if problem:
        unreachable(problem)
    return AMQP_URL


@pytest.fixture
def queue_name() -> str:
    """A queue of its own per test: nothing left over by another run is consumed."""
    return f"welcome_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def test_options(queue_name: str) -> WorkerOptions:
    return WorkerOptions(
        threads=2, queue_name=queue_name, retry=TEST_RETRY,
        stale_after=timedelta(minutes=5), dispatch_interval=0.05,
        projection_poll_interval=0.1, worker_timeout=100, postgres_poll_interval=0.1,
        max_age=None)
