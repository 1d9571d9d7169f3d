"""``siyu token issue | list | revoke``: API tokens from the command line.

A token is issued only for a principal that exists: a staff member who has not left,
a customer known to the event log, or a service named by a short printable name. A
staff token carries no role — the API reads the member's role from the directory on
each request — so ``--role`` is optional and, if given, must be the role they hold now
(a check against typos). ``--grant audit:pii`` lets an auditor read personal data.
Tokens expire after ``SIYU_TOKEN_TTL`` seconds. ``list`` shows who holds what, never a
token (only hashes are stored); ``revoke`` takes a token, a token id from ``list``, or
every token of a subject (after a staff member leaves, say).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from uuid import UUID

import psycopg
from eventsourcing.application import AggregateNotFoundError

from adapters import tokens
from adapters.tokens import DEFAULT_TTL_SECONDS, TokenRow
from api.policy import AUDIT_PII, GRANTS, STAFF_ROLE_ACCESS, Access
from domain.customer import Customer
from domain.organisation import ROLES
from domain.staff import Staff
from siyu.bootstrap import build_application

SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


class TokenRefused(ValueError):
    """The token was not issued: the message says why."""


def issue(database_url: str, secret: bytes, kind: str, subject: str, role: str | None,
          label: str = "", *, grants: Sequence[str] = (),
          ttl_seconds: int = DEFAULT_TTL_SECONDS) -> str:
    """Issue a token for an existing principal; :class:`TokenRefused` otherwise."""
    held = check_principal(database_url, secret, kind, subject, role)
    for grant in grants:
        if grant not in GRANTS:
            raise TokenRefused(f"--grant must be one of {', '.join(sorted(GRANTS))}")
        if grant == AUDIT_PII and STAFF_ROLE_ACCESS.get(held or "") is not Access.AUDITOR:
            raise TokenRefused("--grant audit:pii is for auditors' tokens only")
    tokens.ensure_token_table(database_url, ttl_seconds)
    return tokens.issue_token(database_url, kind, subject, held, label, grants=grants,
                              ttl_seconds=ttl_seconds)


def check_principal(database_url: str, secret: bytes, kind: str, subject: str,
                    role: str | None) -> str | None:
    """Refuse a principal that does not exist; a staff member's role now (else None)."""
    if kind == "service":
        if role:
            raise TokenRefused("a service token takes no --role")
        if not SERVICE_NAME.fullmatch(subject):
            raise TokenRefused("a service is named by 1-64 letters, digits or . _ : -")
        return None
    if kind not in ("staff", "customer"):
        raise TokenRefused(f"--kind must be one of {tokens.KINDS}")
    try:
        subject_id = UUID(subject)
    except ValueError:
        raise TokenRefused(f"a {kind} token's --subject is the {kind}'s id (a UUID)") from None
    if kind == "customer" and role:
        raise TokenRefused("a customer token takes no --role")
    if kind == "staff" and role is not None and role not in ROLES:
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
        if role is not None and role != found.role:
            raise TokenRefused(f"staff member {subject} holds the role {found.role}, not "
                               f"{role} (a staff token carries no role: omit --role)")
        return str(found.role)
    if not isinstance(found, Customer):
        raise TokenRefused(f"no customer {subject}")
    return None


def listing(database_url: str) -> list[TokenRow]:
    tokens.ensure_token_table(database_url)
    with psycopg.connect(database_url) as conn:
        return tokens.list_tokens(conn)


def revoke(database_url: str, *, token: str | None = None, subject: str | None = None,
           token_id: str | None = None) -> int:
    """Revoke one token (by itself or its id), or every live token of ``subject``;
    how many were revoked."""
    tokens.ensure_token_table(database_url)
    if token is not None:
        return 1 if tokens.revoke_token(database_url, token) else 0
    if token_id is not None:
        with psycopg.connect(database_url) as conn:
            return tokens.revoke_by_id(conn, token_id)
    with psycopg.connect(database_url) as conn:
        cur = conn.execute("UPDATE api_token SET revoked_at = now() "
                           "WHERE subject_id = %s AND revoked_at IS NULL", (subject,))
        return cur.rowcount
