"""Supervision (会话质检): the sensitive-word lexicon, message scanning, staff alerts.

**Scanning.** A ``MESSAGE_SENT`` (staff) or ``MESSAGE_RECEIVED`` (customer) item may carry
the message ``text``. In the batch that records its message event, the text is matched
against the current lexicon (:class:`domain.wordmatch.Matcher`, rebuilt when the lexicon's
stored version changes — one version query per batch); on a hit the customer also records
``Customer.SensitiveWordsFound`` (side, categories and term ids). A customer's text is
sealed in the vault under the customer's key, field ``message:<message event version>``,
hit or not; a staff member's only on a hit (else it is dropped). No event, log line or
read model ever holds it in clear.

**Alerts.** :meth:`Supervision.supervision.raise_alert` records a
:class:`domain.staff_alert.StaffAlert` once per key; deliveries, acknowledgements and
resolutions are recorded on it. Every command re-reads the alert from the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from application.unit_of_work import EventStore, UnitOfWork
from domain.customer import Customer
from domain.errors import UnknownAlert
from domain.items import Command
from domain.lexicon import LEXICON_ID, STARTER_TERMS, Lexicon, Term
from domain.staff_alert import StaffAlert, alert_id
from domain.wordmatch import Matcher


@dataclass(slots=True)
class LoadedLexicon:
    version: int
    terms: dict[str, Term]
    matcher: Matcher


class Supervision:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._loaded_lexicon: LoadedLexicon | None = None

    # -- the lexicon ---------------------------------------------------------------------
    def lexicon(self) -> Lexicon | None:
        return self.store.find(LEXICON_ID, Lexicon, fresh=True)

    def define_category(self, category: str, label: str, by: str, occurred_at: datetime
                        ) -> int | None:
        return self._change_lexicon(lambda lx: lx.define_category(category, label, by,
                                                                  occurred_at), by, occurred_at)

    def add_terms(self, category: str, terms: Sequence[str], by: str, occurred_at: datetime
                  ) -> tuple[list[Term], int | None]:
        added: list[Term] = []

        def decide(lexicon: Lexicon) -> bool:
            added[:] = lexicon.add_terms(category, list(terms), by, occurred_at)
            return bool(added)

        return added, self._change_lexicon(decide, by, occurred_at)

    def add_starter_terms(self, by: str, occurred_at: datetime
                          ) -> tuple[list[Term], int | None]:
        """Add the built-in categories' starter terms the lexicon lacks (see
        :data:`domain.lexicon.STARTER_TERMS`); a second call adds nothing."""
        added: list[Term] = []

        def decide(lexicon: Lexicon) -> bool:
            added.clear()
            for category, terms in STARTER_TERMS.items():
                added.extend(lexicon.add_terms(category, list(terms), by, occurred_at))
            return bool(added)

        return added, self._change_lexicon(decide, by, occurred_at)

    def remove_term(self, term_id: str, by: str, occurred_at: datetime) -> int | None:
        def decide(lexicon: Lexicon) -> bool:
            lexicon.remove_term(term_id, by, occurred_at)
            return True

        return self._change_lexicon(decide, by, occurred_at)

    def _change_lexicon(self, change: Callable[[Lexicon], bool], by: str,
                        occurred_at: datetime) -> int | None:
        def decide(unit: UnitOfWork[Lexicon]) -> None:
            stored = self.store.find(LEXICON_ID, Lexicon, fresh=True)
            lexicon = stored or Lexicon.start(by, occurred_at)
            if change(lexicon) or stored is None:  # the first change starts the lexicon
                unit.add(lexicon)

        return self.store.transact(Lexicon, decide)[1]

    # -- scanning (by ingestion, for each command, inside its unit of work) ---------------
    def scan_message(self, command: Command, customer: Customer, unit: UnitOfWork[Customer]
                     ) -> None:
        text, staff_id = command.message_text, command.message_staff_id
        if text is None or staff_id is None:
            return
        ref = f"message:{customer.version}"  # the message event just recorded
        side = command.message_side
        if side == "customer":  # a customer's words are kept for review, hit or not
            self.store.seal(customer.id, ref, text, unit)
        loaded = self._current_lexicon(unit)
        found = [] if loaded is None else loaded.matcher.find(text)
        if loaded is None or not found:
            return
        hits = [{"category": loaded.terms[k].category, "term_id": k,
                 "term": loaded.terms[k].term} for k in found]
        customer.record_fact(Customer.SensitiveWordsFound, staff_id=staff_id,
                             message_kind=command.message_kind or "text", hits=hits,
                             message_ref=ref, lexicon_version=loaded.version, side=side,
                             by="system", occurred_at=command.occurred_at)
        if side == "staff":
            self.store.seal(customer.id, ref, text, unit)

    def _current_lexicon(self, unit: UnitOfWork[Any]) -> LoadedLexicon | None:
        """The lexicon as stored now (checked once per unit, rebuilt on a new version)."""
        if unit.lexicon_checked:
            return self._loaded_lexicon
        unit.lexicon_checked = True
        stored = self.store.index.stream_versions([LEXICON_ID]).get(LEXICON_ID)
        if stored is None:
            self._loaded_lexicon = None
        elif self._loaded_lexicon is None or self._loaded_lexicon.version != stored:
            lexicon: object = self.store.repository.get(LEXICON_ID, version=stored)
            if isinstance(lexicon, Lexicon):
                self._loaded_lexicon = LoadedLexicon(lexicon.version, dict(lexicon.terms),
                                                     lexicon.matcher())
        return self._loaded_lexicon

    # -- alerts ------------------------------------------------------------------------------
    def raise_alert(self, key: str, kind: str, staff_id: str, customer_id: str | None,
                    recipients: Sequence[str], context: dict[str, Any], occurred_at: datetime
                    ) -> tuple[StaffAlert, bool]:
        """Record the alert of ``key`` once; returns it and whether it was recorded now."""
        aggregate_id = alert_id(key)

        def decide(unit: UnitOfWork[StaffAlert]) -> tuple[StaffAlert, bool]:
            existing = self.store.find(aggregate_id, StaffAlert, fresh=True)
            if existing is not None:
                return existing, False
            return unit.add(StaffAlert.raise_for(key, kind, staff_id, customer_id,
                                                 list(recipients), context, "system",
                                                 occurred_at)), True

        try:
            return self.store.transact(StaffAlert, decide, attempts=1)[0]
        except IntegrityError:  # raised concurrently: the stored one stands
            found = self.store.find(aggregate_id, StaffAlert, fresh=True)
            if found is None:
                raise
            return found, False

    def alert(self, alert_id_: UUID) -> StaffAlert:
        found = self.store.find(alert_id_, StaffAlert, fresh=True)
        if found is None:
            raise UnknownAlert(f"no alert {alert_id_}", field="alertId")
        return found

    def record_alert_delivery(self, alert_id_: UUID, recipient: str,
                              gateway_message_id: str | None, failure: str | None,
                              occurred_at: datetime) -> bool:
        return self._change_alert(alert_id_, lambda a: a.record_delivery(
            recipient, gateway_message_id, failure, "system", occurred_at)) is not None

    def acknowledge_alert(self, alert_id_: UUID, by: str, occurred_at: datetime
                          ) -> int | None:
        return self._change_alert(alert_id_, lambda a: a.acknowledge(by, occurred_at))

    def resolve_alert(self, alert_id_: UUID, note: str, by: str, occurred_at: datetime
                      ) -> int | None:
        return self._change_alert(alert_id_, lambda a: a.resolve(note, by, occurred_at))

    def _change_alert(self, aggregate_id: UUID, change: Callable[[StaffAlert], bool]
                      ) -> int | None:
        def decide(unit: UnitOfWork[StaffAlert]) -> None:
            alert = self.alert(aggregate_id)
            if change(alert):
                unit.add(alert)

        return self.store.transact(StaffAlert, decide)[1]
