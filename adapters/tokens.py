"""API tokens: random bearer tokens, stored only as SHA-256 hashes.

``api_token`` is internal (never granted to BI). A token names a principal — ``kind``
(``staff`` | ``customer`` | ``service``) and ``subject_id`` (staff or customer uuid, or a
service name) — plus optional ``grants`` (``audit:pii``) and an expiry. It does not
carry a staff member's role: the API reads that from the staff directory on each
request. ``role`` is kept as the role *at issue*, for ``siyu token list`` only.

Tokens issued before expiry existed are given one when the table is first migrated
(``expires_at`` = the migration time + the configured lifetime), so an upgrade
invalidates nobody at once and leaves no token valid for ever.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

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
)
"""
#: Added in the trust release; the DO block gives tokens issued before it an expiry once.
MIGRATION = """
ALTER TABLE api_token ADD COLUMN IF NOT EXISTS grants text[] NOT NULL DEFAULT '{{}}';
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = 'api_token'
                   AND column_name = 'expires_at') THEN
    ALTER TABLE api_token ADD COLUMN expires_at timestamptz;
    UPDATE api_token SET expires_at = now() + make_interval(secs => {ttl})
     WHERE revoked_at IS NULL;
  END IF;
END $$;
"""

KINDS = ("staff", "customer", "service")
#: ``SIYU_TOKEN_TTL``'s default: 90 days.
DEFAULT_TTL_SECONDS = 90 * 24 * 3600


@dataclass(frozen=True, slots=True)
class TokenHolder:
    """What a valid token stands for."""

    kind: str
    subject_id: str
    grants: frozenset[str]


@dataclass(frozen=True, slots=True)
class TokenRow:
    """One token as ``list`` shows it: never the token, only the start of its hash."""

    token_id: str  # the first 12 hex digits of its hash
    kind: str
    subject_id: str
    role: str | None  # at issue
    grants: tuple[str, ...]
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


#: Whether the token table has this release's shape (the migration's columns too).
CURRENT = ("SELECT count(*) = 2 FROM information_schema.columns WHERE table_schema = "
           "current_schema() AND table_name = 'api_token' AND column_name IN "
           "('grants', 'expires_at')")


def ensure_token_table(database_url: str, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
    """Create or migrate the token table — only when it lacks this release's shape: the
    migration's ``ALTER TABLE … ADD COLUMN IF NOT EXISTS`` takes the table's ACCESS
    EXCLUSIVE lock even when the column is there, so every API start queued behind (and
    then held up) the other processes' token look-ups."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        current = conn.execute(CURRENT).fetchone()
        if current is not None and current[0]:
            return
        conn.execute("SELECT pg_advisory_lock(7368002)")
        try:
            conn.execute(DDL)
            # Formatted, not bound: DO blocks take no parameters (an int cannot inject).
            conn.execute(MIGRATION.format(ttl=int(ttl_seconds)).encode())
        finally:
            conn.execute("SELECT pg_advisory_unlock(7368002)")


def issue_token(database_url: str, kind: str, subject_id: str, role: str | None = None,
                label: str = "", *, grants: Iterable[str] = (),
                ttl_seconds: int = DEFAULT_TTL_SECONDS) -> str:
    """Create a token and return it; only its hash is stored, so it cannot be shown again.
    ``role`` is informational (the role at issue); ``ttl_seconds`` 0 means no expiry."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    if ttl_seconds < 0:
        raise ValueError("ttl_seconds must be >= 0")
    token = new_token()
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO api_token (token_hash, kind, subject_id, role, label, grants, "
            "expires_at) VALUES (%s, %s, %s, %s, %s, %s, "
            "CASE WHEN %s > 0 THEN now() + make_interval(secs => %s) END)",
            (_hash(token), kind, subject_id, role, label, sorted(set(grants)),
             ttl_seconds, ttl_seconds))
    return token


def new_token() -> str:
    """256 random bits, URL-safe, never beginning with ``-``: a token is pasted on command
    lines (``siyu token revoke TOKEN``), where a leading ``-`` reads as an option (one token
    in 64 did). The first character is drawn again when it is ``-``: 6 of 256 bits lose
    at most 0.03 bits."""
    while (token := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return token


def issue_customer_session(database_url: str, customer_id: str, ttl: timedelta,
                           label: str = "wechat-login") -> tuple[str, datetime]:
    """A customer token that expires after ``ttl`` (a mini-program login); with its expiry."""
    token = new_token()
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


def resolve_token(database_url: str, token: str) -> TokenHolder | None:
    """The holder of a valid (unrevoked, unexpired) token; None otherwise."""
    with psycopg.connect(database_url) as conn:
        return holder_of(conn, token)


def holder_of(conn: psycopg.Connection[Any], token: str) -> TokenHolder | None:
    row = conn.execute(
        "SELECT kind, subject_id, grants FROM api_token "
        "WHERE token_hash = %s AND revoked_at IS NULL "
        "AND (expires_at IS NULL OR expires_at > now())", (_hash(token),)).fetchone()
    if row is None:
        return None
    return TokenHolder(str(row[0]), str(row[1]), frozenset(row[2]))


def revoke_token(database_url: str, token: str) -> bool:
    with psycopg.connect(database_url) as conn:
        cur = conn.execute("UPDATE api_token SET revoked_at = now() "
                           "WHERE token_hash = %s AND revoked_at IS NULL", (_hash(token),))
        return cur.rowcount == 1


_SELECT_ROWS = ("SELECT left(token_hash, 12), kind, subject_id, role, grants, label, "
                "created_at, expires_at, revoked_at FROM api_token")


def list_tokens(conn: psycopg.Connection[Any], *, subject_id: str | None = None,
                live_only: bool = False) -> list[TokenRow]:
    """Tokens, oldest first; of one subject, and only the live ones, if asked."""
    rows = conn.execute(
        _SELECT_ROWS + " WHERE (%s::text IS NULL OR subject_id = %s) AND (NOT %s OR "
        "(revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()))) "
        "ORDER BY created_at, token_hash", (subject_id, subject_id, live_only)).fetchall()
    return [TokenRow(str(r[0]), str(r[1]), str(r[2]), r[3], tuple(r[4]), str(r[5]),
                     r[6], r[7], r[8]) for r in rows]


def revoke_by_id(conn: psycopg.Connection[Any], token_id: str) -> int:
    """Revoke the live token whose hash starts with ``token_id`` (12 hex digits): how many
    were revoked (0, or 1; an id matching several tokens revokes none)."""
    if len(token_id) != 12 or any(c not in "0123456789abcdef" for c in token_id):
        return 0
    matches = conn.execute("SELECT token_hash FROM api_token WHERE left(token_hash, 12) = %s "
                           "AND revoked_at IS NULL", (token_id,)).fetchall()
    if len(matches) != 1:
        return 0
    conn.execute("UPDATE api_token SET revoked_at = now() WHERE token_hash = %s",
                 (matches[0][0],))
    return 1


class TokenStore:
    """The token table for the API process (``apiTokens``, ``revokeApiToken``)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def listing(self, subject_id: str | None, live_only: bool) -> list[TokenRow]:
        with psycopg.connect(self.database_url) as conn:
            return list_tokens(conn, subject_id=subject_id, live_only=live_only)

    def revoke(self, token_id: str) -> bool:
        with psycopg.connect(self.database_url) as conn:
            return revoke_by_id(conn, token_id) == 1
