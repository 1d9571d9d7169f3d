"""The broker is chosen by URL; dramatiq-postgres' schema is created idempotently."""

from __future__ import annotations

import psycopg
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq_postgres import PostgresBroker

from workers.broker import ensure_postgres_schema, make_broker


def test_no_broker_url_means_dramatiq_postgres_on_the_same_database(pg_url: str) -> None:
    # Given no BROKER_URL
    # When the broker is made
    broker = make_broker(None, pg_url)
    try:
        # Then it is dramatiq-postgres, and its queue table exists in schema "dramatiq"
        assert isinstance(broker, PostgresBroker)
        with psycopg.connect(pg_url) as conn:
            found = conn.execute("SELECT to_regclass('dramatiq.queue')").fetchone()
        assert found is not None and found[0] is not None
    finally:
        broker.close()


@pytest.mark.fresh_database
def test_creating_the_postgres_schema_twice_is_harmless(pg_url: str) -> None:
    # Given a database / When the schema is ensured twice / Then only the first creates it
    assert ensure_postgres_schema(pg_url) is True
    assert ensure_postgres_schema(pg_url) is False


def test_amqp_urls_give_rabbitmq_and_redis_urls_give_redis() -> None:
    # Given / When URLs of each scheme (neither connects before use)
    rabbit = make_broker("amqp://guest:guest@127.0.0.1:5672/%2F", "postgresql://unused")
    red = make_broker("redis://127.0.0.1:6379/0", "postgresql://unused")
    try:
        # Then the matching broker
        assert isinstance(rabbit, RabbitmqBroker)
        assert isinstance(red, RedisBroker)
    finally:
        rabbit.close()
        red.close()


def test_an_unknown_scheme_is_refused_with_the_choices() -> None:
    # Given / When / Then
    with pytest.raises(ValueError, match="amqp://, redis://"):
        make_broker("kafka://127.0.0.1:9092", "postgresql://unused")
