"""API tokens: random bearer tokens, stored only as SHA-256 hashes.

``api_token`` is internal (never granted to BI). A token names a principal:
``kind`` (``staff`` | ``customer`` | ``service``), ``subject_id`` (staff or
customer uuid, or a service name) and, for staff, a ``role``.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import psycopg

DDL = """
CREATE TABLE IF NOT EXISTS api_token (
    token_hash text PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('staff', 'customer', 'service')),
    subject_id text NOT NULL,
    role       text,
    label      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
-- Short-lived tokens (a customer's WeChat login) expire (NULL: never)
ALTER TABLE api_token ADD COLUMN IF NOT EXISTS expires_at timestamptz
"""

KINDS = ("staff", "customer", "service")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_token_table(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(7368002)")
        try:
            for statement in DDL.split(";"):
                conn.execute(statement)
        finally:
            conn.execute("SELECT pg_advisory_unlock(7368002)")


def issue_token(database_url: str, kind: str, subject_id: str, role: str | None,
                label: str = "") -> str:
    """Create a token and return it; only its hash is stored, so it cannot be shown again."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    if kind == "staff" and not role:
        raise ValueError("a staff token needs a role")
    token = secrets.token_urlsafe(32)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO api_token (token_hash, kind, subject_id, role, label) "
            "VALUES (%s, %s, %s, %s, %s)", (_hash(token), kind, subject_id, role, label))
    return token


def issue_customer_session(database_url: str, customer_id: str, ttl: timedelta,
                           label: str = "wechat-login") -> tuple[str, datetime]:
    """A customer token that expires after ``ttl`` (a mini-program login); with its expiry."""
    token = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + ttl
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO api_token (token_hash, kind, subject_id, role, label, expires_at) "
            "VALUES (%s, 'customer', %s, NULL, %s, %s)",
            (_hash(token), customer_id, label, expires_at))
    return token, expires_at


def revoke_subject_tokens(database_url: str, kind: str, subject_id: str) -> int:
    """Revoke every live token of one principal (an erased customer's); how many."""
    with psycopg.connect(database_url) as conn:
        cur = conn.execute("UPDATE api_token SET revoked_at = now() WHERE kind = %s "
                           "AND subject_id = %s AND revoked_at IS NULL", (kind, subject_id))
        return cur.rowcount


def resolve_token(database_url: str, token: str) -> tuple[str, str, str | None] | None:
    """``(kind, subject_id, role)`` of a valid, unrevoked token; None otherwise."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT kind, subject_id, role FROM api_token "
            "WHERE token_hash = %s AND revoked_at IS NULL "
            "AND (expires_at IS NULL OR expires_at > now())", (_hash(token),)).fetchone()
    return None if row is None else (str(row[0]), str(row[1]), row[2])


def revoke_token(database_url: str, token: str) -> bool:
    with psycopg.connect(database_url) as conn:
        cur = conn.execute("UPDATE api_token SET revoked_at = now() "
                           "WHERE token_hash = %s AND revoked_at IS NULL", (_hash(token),))
        return cur.rowcount == 1
