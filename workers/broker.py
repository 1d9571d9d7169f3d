"""The Dramatiq broker, chosen by URL, built at the wiring point (never at import time).

* no ``BROKER_URL`` → ``dramatiq-postgres`` on the application's own PostgreSQL
  (schema ``dramatiq``, created idempotently). It holds a connection per consumed queue
  and per delay queue, plus one LISTEN: the wiring puts every actor on one queue
  (:data:`POSTGRES_QUEUE`) and caps its pool (``postgres_pool``);
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
#: The one queue of every actor on the PostgreSQL broker: 2 consumer connections, not 12.
POSTGRES_QUEUE = "siyu"


def is_postgres(broker_url: str | None) -> bool:
    return not broker_url or broker_url.startswith(("postgres://", "postgresql://"))


def ensure_postgres_schema(database_url: str, schema: str = POSTGRES_SCHEMA) -> bool:
    """Create dramatiq-postgres' tables if missing (advisory-locked); True if created."""
    with psycopg.connect(database_url) as conn, conn.transaction(), conn.cursor() as curs:
        serialise_ddl(curs)
        return bool(init(curs, schema))


def make_broker(broker_url: str | None, database_url: str, *,
                postgres_poll_interval: float = 1.0,
                postgres_pool: int | None = None) -> dramatiq.Broker:
    """A broker for ``broker_url``, or dramatiq-postgres on ``database_url`` when unset
    (``postgres_pool``: most connections it opens; its default is 16)."""
    if not broker_url or is_postgres(broker_url):
        url = broker_url or database_url
        ensure_postgres_schema(url)
        if postgres_pool is not None:  # dramatiq-postgres reads it from the URL's query
            url += ("&" if "?" in url else "?") + f"maxconn={postgres_pool}"
        return cast(dramatiq.Broker, PostgresBroker(url=url, results=False,
                                                   poll_interval=postgres_poll_interval))
    if broker_url.startswith(("amqp://", "amqps://")):
        return RabbitmqBroker(url=broker_url)
    if broker_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBroker(url=broker_url)  # type: ignore[no-untyped-call]
    scheme = broker_url.split(":", 1)[0]
    raise ValueError(f"unsupported broker URL scheme {scheme!r}: use amqp://, redis:// "
                     "or leave BROKER_URL unset for PostgreSQL")
