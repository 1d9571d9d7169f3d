"""The chat-script library (话术库): create, revise (a new version each time), archive,
and a staff member's use of a script with a customer.

Scripts are edited rarely and from any process: each change reads the script fresh
from the store, decides, saves, and decides again on a storage conflict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from uuid import UUID

from application.customers import existing
from application.unit_of_work import EventStore, UnitOfWork
from domain.chat_script import ChatScript
from domain.customer import Customer
from domain.errors import UnknownScript


class ChatScripts:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    def create(self, scenario: str, title: str, body: str, keywords: Sequence[str], kind: str,
               by: str, occurred_at: datetime) -> tuple[UUID, int]:
        def decide(unit: UnitOfWork[ChatScript]) -> UUID:
            return unit.add(ChatScript.create(scenario, title, body, list(keywords), kind, by,
                                              occurred_at)).id

        script_id, position = self.store.transact(ChatScript, decide)
        assert position is not None  # a new script records its creation
        return script_id, position

    def revise(self, script_id: UUID, scenario: str, title: str, body: str,
               keywords: Sequence[str], by: str, occurred_at: datetime) -> int | None:
        return self._change(script_id, lambda s: s.revise(scenario, title, body,
                                                          list(keywords), by, occurred_at))

    def archive(self, script_id: UUID, by: str, occurred_at: datetime) -> int | None:
        return self._change(script_id, lambda s: s.archive(by, occurred_at))

    def record_use(self, customer_id: UUID, staff_id: str, script_id: UUID,
                   script_version: int | None, by: str, occurred_at: datetime) -> int | None:
        """``Customer.ScriptUsed`` on the customer (the script must exist)."""
        script = self._script(script_id)

        def decide(unit: UnitOfWork[Customer]) -> None:
            customer = existing(self.store, unit, customer_id, "customerId")
            customer.record_fact(Customer.ScriptUsed, staff_id=staff_id,
                                 script_id=str(script.id),
                                 script_version=script_version or script.content_version,
                                 by=by, occurred_at=occurred_at)

        return self.store.transact(Customer, decide)[1]

    def _change(self, script_id: UUID, change: Callable[[ChatScript], bool]) -> int | None:
        def decide(unit: UnitOfWork[ChatScript]) -> None:
            script = self._script(script_id)
            if change(script):
                unit.add(script)

        return self.store.transact(ChatScript, decide)[1]

    def _script(self, script_id: UUID) -> ChatScript:
        found = self.store.find(script_id, ChatScript, fresh=True)
        if found is None:
            raise UnknownScript(f"no chat script {script_id}", field="scriptId")
        return found
