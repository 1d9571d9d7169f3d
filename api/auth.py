"""Principals: who is calling. Every request carries ``Authorization: Bearer <token>``.

* ``service`` — ingestion and BI clients: read everything, record events.
* ``staff`` — a staff member with a role; managers (``private_domain_manager``)
  see every customer and manage staff, front-line staff see only customers
  who are currently their friends.
* ``customer`` — mini-program / H5 calls: see only themself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from threading import Lock
from uuid import UUID

from domain.staff import MANAGER_ROLES


@dataclass(frozen=True, slots=True)
class Principal:
    kind: str  # service | staff | customer
    subject_id: str
    role: str | None = None

    @property
    def is_manager(self) -> bool:
        return self.kind == "staff" and self.role in MANAGER_ROLES

    @property
    def sees_everyone(self) -> bool:
        return self.kind == "service" or self.is_manager

    @property
    def may_record(self) -> bool:
        return self.sees_everyone

    @property
    def actor(self) -> str:
        """How this principal appears as ``by`` on the events it causes."""
        return f"{self.kind}:{self.subject_id}"

    def may_see(self, customer_id: UUID, staff_ids: list[str]) -> bool:
        if self.sees_everyone:
            return True
        if self.kind == "customer":
            return self.subject_id == str(customer_id)
        return self.kind == "staff" and self.subject_id in staff_ids


Resolver = Callable[[str], Principal | None]


class CachedResolver:
    """Resolve tokens through ``lookup``, remembering answers for ``ttl`` seconds."""

    def __init__(self, lookup: Resolver, ttl: float = 30.0, maxsize: int = 10_000) -> None:
        self.lookup = lookup
        self.ttl = ttl
        self.maxsize = maxsize
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = Lock()

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
            self._cache[token] = (now + self.ttl, principal)
        return principal


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
