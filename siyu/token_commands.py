"""``siyu token issue | list | revoke``: API tokens from the command line.

A token is issued only for a principal that exists: a staff member who has not left
(with one of the directory's roles), a customer known to the event log, or a service
named by a short printable name. ``list`` shows who holds what, never a token (only
hashes are stored); ``revoke`` takes a token, or every token of a subject (after a
staff member leaves, say).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from eventsourcing.application import AggregateNotFoundError

from adapters import tokens
from domain.customer import Customer
from domain.organisation import ROLES
from domain.staff import Staff
from siyu.bootstrap import build_application

SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


class TokenRefused(ValueError):
    """The token was not issued: the message says why."""


@dataclass(frozen=True, slots=True)
class TokenRow:
    hash_prefix: str
    kind: str
    subject_id: str
    role: str | None
    label: str
    created_at: datetime
    revoked_at: datetime | None


def issue(database_url: str, secret: bytes, kind: str, subject: str, role: str | None,
          label: str = "") -> str:
    """Issue a token for an existing principal; :class:`TokenRefused` otherwise."""
    check_principal(database_url, secret, kind, subject, role)
    tokens.ensure_token_table(database_url)
    return tokens.issue_token(database_url, kind, subject, role, label)


def check_principal(database_url: str, secret: bytes, kind: str, subject: str,
                    role: str | None) -> None:
    if kind == "service":
        if role:
            raise TokenRefused("a service token takes no --role")
        if not SERVICE_NAME.fullmatch(subject):
            raise TokenRefused("a service is named by 1-64 letters, digits or . _ : -")
        return
    if kind not in ("staff", "customer"):
        raise TokenRefused(f"--kind must be one of {tokens.KINDS}")
    try:
        subject_id = UUID(subject)
    except ValueError:
        raise TokenRefused(f"a {kind} token's --subject is the {kind}'s id (a UUID)") from None
    if kind == "customer" and role:
        raise TokenRefused("a customer token takes no --role")
    if kind == "staff" and role not in ROLES:
        raise TokenRefused(f"--role must be one of {', '.join(sorted(ROLES))}")
    app = build_application(database_url, secret)
    found: object
    try:
        found = app.repository.get(subject_id)
    except AggregateNotFoundError:
        found = None
    finally:
        app.close()
    if kind == "staff":
        if not isinstance(found, Staff):
            raise TokenRefused(f"no staff member {subject}")
        if found.left_at is not None:
            raise TokenRefused(f"staff member {subject} has left")
    elif not isinstance(found, Customer):
        raise TokenRefused(f"no customer {subject}")


def listing(database_url: str) -> list[TokenRow]:
    tokens.ensure_token_table(database_url)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT left(token_hash, 12), kind, subject_id, role, label, created_at, revoked_at "
            "FROM api_token ORDER BY created_at").fetchall()
    return [TokenRow(*row) for row in rows]


def revoke(database_url: str, *, token: str | None = None, subject: str | None = None) -> int:
    """Revoke one token, or every live token of ``subject``; how many were revoked."""
    tokens.ensure_token_table(database_url)
    if token is not None:
        return 1 if tokens.revoke_token(database_url, token) else 0
    with psycopg.connect(database_url) as conn:
        cur = conn.execute("UPDATE api_token SET revoked_at = now() "
                           "WHERE subject_id = %s AND revoked_at IS NULL", (subject,))
        return cur.rowcount
