"""One wiring point: build the application and its collaborators from settings."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict

from adapters import event_chain
from adapters.memory_recorder import SiyuMemoryRecorder
from adapters.recorders import SiyuPostgresRecorder
from adapters.vault import AesGcmVault, derive_key
from application.app import Siyu
from projections import schema_lock

RECORDER_TOPIC = "adapters.recorders:SiyuPostgresRecorder"


def postgres_env(database_url: str, *, pool_size: int = 5, max_overflow: int = 25,
                 wait: int = 30, idle_in_transaction: int | None = None) -> dict[str, str]:
    """eventsourcing's POSTGRES_* settings for a libpq URL.

    Every projection runner holds one connection while it tails the log (its lock and
    LISTEN), so the pool must outgrow the number of read models (a dozen now) with room
    for the writes: at most ``pool_size + max_overflow`` connections, opened as needed.
    A pooled connection that may be stale (a database restart leaves stale ones) is checked
    before use by the recorder (:mod:`adapters.pooled_connections`), not pinged on every
    borrow; a caller waits at most ``wait`` seconds for one. The server ends a transaction
    left idle ``idle_in_transaction`` seconds (an abandoned one must not hold its locks;
    unset: the event store's 5 s, or ``POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT``).
    """
    info = conninfo_to_dict(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(info.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(info.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(info.get("port") or "5432"),
        "POSTGRES_USER": str(info.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(info.get("password") or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(max_overflow),
        "APPLICATION_RECORDER_TOPIC": RECORDER_TOPIC,
        "CREATE_TABLE": "y",
        "POSTGRES_PRE_PING": "n",  # the recorder checks what may be stale (pooled_connections)
        "POSTGRES_CONNECT_TIMEOUT": str(wait),
        **({} if idle_in_transaction is None else
           {"POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": str(idle_in_transaction)}),
    }


def build_application(database_url: str | None, secret: bytes, *, wait: int = 30,
                      pool: int | None = None, idle_in_transaction: int | None = None) -> Siyu:
    """The application on PostgreSQL, or in memory when ``database_url`` is None;
    ``wait``: seconds a write waits for a connection (the API answers sooner); ``pool``:
    most connections of its pool (one kept open), else :func:`postgres_env`'s;
    ``idle_in_transaction``: seconds a transaction may sit between two statements."""
    vault = AesGcmVault(secret)
    key = derive_key(secret, "blind-index")
    if database_url is None:
        return Siyu(vault=vault, blind_key=key, recorder=SiyuMemoryRecorder())
    # The event store creates its tables as it is built (CREATE_TABLE): not safe while
    # another process does the same, so under the schema lock.
    with schema_lock.held(database_url, connect_timeout=wait):
        sizes = {} if pool is None else {"pool_size": 1, "max_overflow": max(0, pool - 1)}
        app = Siyu(postgres_env(database_url, wait=wait, idle_in_transaction=idle_in_transaction,
                                **sizes), vault=vault, blind_key=key)
    migrate_event_chain(app)
    app.recorder.warm_connections()  # type: ignore[attr-defined]  # PostgreSQL's, built above
    return app


def migrate_event_chain(app: Siyu) -> int:
    """Chain the events stored before the hash chain existed (docs/audit.md); idempotent,
    serialised with every writer. Returns the number of links added (0 once migrated)."""
    recorder = app.recorder
    if not isinstance(recorder, SiyuPostgresRecorder):
        return 0
    with recorder.datastore.get_connection() as conn:
        return event_chain.backfill(conn, recorder.datastore.schema, recorder.events_table_name)
