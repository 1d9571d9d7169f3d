"""Chat-script library commands (话术库), mixed into the application.

Scripts are edited rarely and from any process: each command reads the script fresh
from the store, decides, saves, and decides again on a storage conflict.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.persistence import IntegrityError, Recording

from domain.chat_script import ChatScript
from domain.customer import Customer
from domain.errors import UnknownScript

if TYPE_CHECKING:
    from application.unit_of_work import UnitOfWork

ATTEMPTS = 8


class _Host(Protocol):
    @property
    def repository(self) -> Repository[UUID]: ...

    _write_lock: Any

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]: ...

    def _transact(self, decide: Callable[[UnitOfWork[Customer]], None]) -> int | None: ...

    def _existing(self, customer_id: UUID, batch: UnitOfWork[Customer], field: str) -> Customer: ...


class ScriptCommands:
    """Create, revise (a new version each time) and archive chat scripts."""

    def create_chat_script(self: _Host, scenario: str, title: str, body: str,
                           keywords: Sequence[str], kind: str, by: str, occurred_at: datetime
                           ) -> tuple[UUID, int]:
        script = ChatScript.create(scenario, title, body, list(keywords), kind, by, occurred_at)
        with self._write_lock:
            recordings = self.save(script)
        return script.id, max(r.notification.id for r in recordings)

    def revise_chat_script(self: _Host, script_id: UUID, scenario: str, title: str, body: str,
                           keywords: Sequence[str], by: str, occurred_at: datetime
                           ) -> int | None:
        return _change(self, script_id, lambda s: s.revise(scenario, title, body,
                                                           list(keywords), by, occurred_at))

    def record_script_use(self: _Host, customer_id: UUID, staff_id: str, script_id: UUID,
                          script_version: int | None, by: str, occurred_at: datetime
                          ) -> int | None:
        """``Customer.ScriptUsed`` on the customer (the script must exist)."""
        script = _script(self, script_id)

        def decide(batch: UnitOfWork[Customer]) -> None:
            customer = self._existing(customer_id, batch, "customerId")
            customer.record_fact(Customer.ScriptUsed, staff_id=staff_id,
                                 script_id=str(script.id),
                                 script_version=script_version or script.content_version,
                                 by=by, occurred_at=occurred_at)

        return self._transact(decide)

    def archive_chat_script(self: _Host, script_id: UUID, by: str, occurred_at: datetime
                            ) -> int | None:
        return _change(self, script_id, lambda s: s.archive(by, occurred_at))


def _change(host: _Host, script_id: UUID, decide: Callable[[ChatScript], bool]) -> int | None:
    with host._write_lock:
        for attempt in range(ATTEMPTS):
            script = _script(host, script_id)
            try:
                if not decide(script):
                    return None
                return max(r.notification.id for r in host.save(script))
            except IntegrityError:
                if attempt == ATTEMPTS - 1:
                    raise
            finally:
                _forget(host, script_id)
    return None  # pragma: no cover


def _script(host: _Host, script_id: UUID) -> ChatScript:
    _forget(host, script_id)
    try:
        found: Any = host.repository.get(script_id)
    except AggregateNotFoundError:
        raise UnknownScript(f"no chat script {script_id}", field="scriptId") from None
    if not isinstance(found, ChatScript):
        raise UnknownScript(f"no chat script {script_id}", field="scriptId")
    return found


def _forget(host: _Host, aggregate_id: UUID) -> None:
    cache = host.repository.cache
    if cache is not None:
        with contextlib.suppress(KeyError):
            cast(Any, cache).get(aggregate_id, evict=True)
