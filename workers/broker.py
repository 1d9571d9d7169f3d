"""The Dramatiq broker, chosen by URL, built at the wiring point (never at import time).

* no ``BROKER_URL`` → ``dramatiq-postgres`` on the application's own PostgreSQL
  (schema ``dramatiq``, created idempotently);
* ``amqp://`` / ``amqps://`` → RabbitMQ;
* ``redis://`` / ``rediss://`` / ``unix://`` → Redis.

Actors are declared against the broker returned here (``dramatiq.actor(fn, broker=…)``),
so no global broker is set and several brokers can live in one process (tests).
"""

from __future__ import annotations

from typing import cast

import dramatiq
import psycopg
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq_postgres import PostgresBroker, init

from projections.schema_lock import serialise_ddl

POSTGRES_SCHEMA = "dramatiq"


def ensure_postgres_schema(database_url: str, schema: str = POSTGRES_SCHEMA) -> bool:
    """Create dramatiq-postgres' tables if missing (advisory-locked); True if created."""
    with psycopg.connect(database_url) as conn, conn.transaction(), conn.cursor() as curs:
        serialise_ddl(curs)
        return bool(init(curs, schema))


def make_broker(broker_url: str | None, database_url: str, *,
                postgres_poll_interval: float = 1.0) -> dramatiq.Broker:
    """A broker for ``broker_url``, or dramatiq-postgres on ``database_url`` when unset."""
    if not broker_url or broker_url.startswith(("postgres://", "postgresql://")):
        url = broker_url or database_url
        ensure_postgres_schema(url)
        return cast(dramatiq.Broker, PostgresBroker(url=url, results=False,
                                                   poll_interval=postgres_poll_interval))
    if broker_url.startswith(("amqp://", "amqps://")):
        return RabbitmqBroker(url=broker_url)
    if broker_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBroker(url=broker_url)  # type: ignore[no-untyped-call]
    scheme = broker_url.split(":", 1)[0]
    raise ValueError(f"unsupported broker URL scheme {scheme!r}: use amqp://, redis:// "
                     "or leave BROKER_URL unset for PostgreSQL")
