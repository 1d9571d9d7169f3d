"""Principals: who is calling. Every request carries ``Authorization: Bearer <token>``.

A token names a principal — a service, a customer, or a staff member — and never a
role: a staff member's role and department are read from the staff directory when the
token is resolved (answers are cached a few seconds, see :class:`CachedResolver`), so
``leaveStaff`` or a role change takes effect within seconds. What each role may do is
:mod:`api.policy`'s table (docs/access.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from threading import Lock
from uuid import UUID

from api.policy import CM, DM, SV, Access, access_of, customer_scope


@dataclass(frozen=True, slots=True)
class Principal:
    kind: str  # service | staff | customer (| anonymous: the GraphiQL page)
    subject_id: str
    role: str | None = None  # staff: the directory's role now
    department: str | None = None  # staff: the directory's department now
    #: A department manager's department: its current members' staff ids.
    department_staff: frozenset[str] = field(default_factory=frozenset)
    grants: frozenset[str] = field(default_factory=frozenset)

    @property
    def access(self) -> Access | None:
        return access_of(self.kind, self.role)

    @property
    def is_manager(self) -> bool:
        return self.access in (CM, DM)

    @property
    def sees_everyone(self) -> bool:
        """Reads everyone's customers and staff work (company manager, operator, auditor)."""
        return customer_scope(self).everyone

    @property
    def may_record(self) -> bool:
        return self.access in (CM, SV)

    @property
    def actor(self) -> str:
        """How this principal appears as ``by`` on the events it causes."""
        return f"{self.kind}:{self.subject_id}"

    def may_see(self, customer_id: UUID, staff_ids: list[str]) -> bool:
        return customer_scope(self).covers_customer(str(customer_id), staff_ids)


Resolver = Callable[[str], Principal | None]


class CachedResolver:
    """Resolve tokens through ``lookup``, remembering answers for ``ttl`` seconds: the
    longest a revoked token, a role change or a departure can go unnoticed. The API
    forgets everything at once (:meth:`clear`) when it records a staff change itself."""

    def __init__(self, lookup: Resolver, ttl: float = 5.0, maxsize: int = 10_000,
                 negative_ttl: float = 1.0) -> None:
        self.lookup = lookup
        self.ttl = ttl
        #: A refusal is remembered for less long: a member hired a moment ago may not be
        #: in the directory yet (its read model follows the log).
        self.negative_ttl = negative_ttl
        self.maxsize = maxsize
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = Lock()

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def peek(self, token: str) -> Principal | None:
        """A cached, still fresh principal for ``token``; None if unknown (no I/O)."""
        hit = self._cache.get(token)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def __call__(self, token: str) -> Principal | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(token)
        if hit is not None and hit[0] > now:
            return hit[1]
        principal = self.lookup(token)
        with self._lock:
            if len(self._cache) >= self.maxsize:
                self._cache.clear()
            ttl = self.ttl if principal is not None else self.negative_ttl
            self._cache[token] = (now + ttl, principal)
        return principal


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
