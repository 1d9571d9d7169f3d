"""One wiring point: build the application and its collaborators from settings."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict

from application.app import Siyu
from siyu.recorders import SiyuMemoryRecorder
from siyu.vault import AesGcmVault, derive_key

RECORDER_TOPIC = "siyu.recorders:SiyuPostgresRecorder"


def postgres_env(database_url: str, *, pool_size: int = 5, max_overflow: int = 25
                 ) -> dict[str, str]:
    """eventsourcing's POSTGRES_* settings for a libpq URL.

    Every projection runner holds one connection while it tails the log (its lock and
    LISTEN), so the pool must outgrow the number of read models (a dozen now) with room
    for the writes: at most ``pool_size + max_overflow`` connections, opened as needed.
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
    }


def build_application(database_url: str | None, secret: bytes) -> Siyu:
    """The application on PostgreSQL, or in memory when ``database_url`` is None."""
    vault = AesGcmVault(secret)
    key = derive_key(secret, "blind-index")
    if database_url is None:
        return Siyu(vault=vault, blind_key=key, recorder=SiyuMemoryRecorder())
    return Siyu(postgres_env(database_url), vault=vault, blind_key=key)
