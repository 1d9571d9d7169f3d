"""Supervision commands, mixed into the application: the lexicon, message scanning, alerts.

**Scanning.** A ``MESSAGE_SENT`` item may carry the message ``text``. In the batch that
records its ``Customer.MessageSent``, the text is matched against the current lexicon
(:class:`domain.wordmatch.Matcher`, rebuilt when the lexicon's stored version changes —
one version query per batch); on a hit the customer also records
``Customer.SensitiveWordsFound`` (categories and term ids) and the text is sealed in the
vault under the customer's key, field ``message:<MessageSent version>``. Without a hit
the text is dropped. No event, log line or read model ever holds it in clear.

**Alerts.** :meth:`SupervisionCommands.raise_alert` records a
:class:`domain.staff_alert.StaffAlert` once per key; deliveries, acknowledgements and
resolutions are recorded on it. Every command re-reads the alert from the store.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.persistence import IntegrityError, Recording

from domain.customer import Customer
from domain.errors import UnknownAlert
from domain.items import Command
from domain.lexicon import LEXICON_ID, Lexicon, Term
from domain.ports import IngestIndex
from domain.staff_alert import StaffAlert, alert_id
from domain.wordmatch import Matcher

if TYPE_CHECKING:
    from application.unit_of_work import UnitOfWork

ATTEMPTS = 8


@dataclass(slots=True)
class LoadedLexicon:
    version: int
    terms: dict[str, Term]
    matcher: Matcher


class _Host(Protocol):
    @property
    def repository(self) -> Repository[UUID]: ...

    @property
    def index(self) -> IngestIndex: ...

    _write_lock: Any

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]: ...

    def _seal(self, subject_id: UUID, name: str, value: str, batch: UnitOfWork[Customer]) -> None: ...


class SupervisionCommands:
    """The sensitive-word lexicon, message scanning, and staff alerts."""

    _loaded_lexicon: LoadedLexicon | None = None

    # -- the lexicon ---------------------------------------------------------------------
    def lexicon(self: _Host) -> Lexicon | None:
        _forget(self, [LEXICON_ID])
        try:
            found: Any = self.repository.get(LEXICON_ID)
        except AggregateNotFoundError:
            return None
        return cast(Lexicon, found)

    def define_sensitive_category(self: _Host, category: str, label: str, by: str,
                                  occurred_at: datetime) -> int | None:
        return _change_lexicon(self, lambda lx: lx.define_category(category, label, by,
                                                                   occurred_at), by, occurred_at)

    def add_sensitive_terms(self: _Host, category: str, terms: Sequence[str], by: str,
                            occurred_at: datetime) -> tuple[list[Term], int | None]:
        added: list[Term] = []

        def decide(lexicon: Lexicon) -> bool:
            added[:] = lexicon.add_terms(category, list(terms), by, occurred_at)
            return bool(added)

        return added, _change_lexicon(self, decide, by, occurred_at)

    def remove_sensitive_term(self: _Host, term_id: str, by: str, occurred_at: datetime
                              ) -> int | None:
        def decide(lexicon: Lexicon) -> bool:
            lexicon.remove_term(term_id, by, occurred_at)
            return True

        return _change_lexicon(self, decide, by, occurred_at)

    # -- scanning (called by the application for each command, inside the batch) ----------
    def _scan_message(self, command: Command, customer: Customer, batch: UnitOfWork[Customer]) -> None:
        text, staff_id = command.message_text, command.message_staff_id
        if text is None or staff_id is None:
            return
        loaded = self._current_lexicon(batch)
        if loaded is None:
            return
        found = loaded.matcher.find(text)
        if not found:
            return
        ref = f"message:{customer.version}"  # the MessageSent just recorded
        hits = [{"category": loaded.terms[k].category, "term_id": k,
                 "term": loaded.terms[k].term} for k in found]
        customer.record_fact(Customer.SensitiveWordsFound, staff_id=staff_id,
                             message_kind=command.message_kind or "text", hits=hits,
                             message_ref=ref, lexicon_version=loaded.version,
                             by="system", occurred_at=command.occurred_at)
        cast(_Host, self)._seal(customer.id, ref, text, batch)

    def _current_lexicon(self, batch: UnitOfWork[Customer]) -> LoadedLexicon | None:
        """The lexicon as stored now (checked once per batch, rebuilt on a new version)."""
        if batch.lexicon_checked:
            return self._loaded_lexicon
        batch.lexicon_checked = True
        host = cast(_Host, self)
        stored = host.index.stream_versions([LEXICON_ID]).get(LEXICON_ID)
        if stored is None:
            self._loaded_lexicon = None
        elif self._loaded_lexicon is None or self._loaded_lexicon.version != stored:
            lexicon = cast(Lexicon, host.repository.get(LEXICON_ID, version=stored))
            self._loaded_lexicon = LoadedLexicon(lexicon.version, dict(lexicon.terms),
                                                 lexicon.matcher())
        return self._loaded_lexicon

    # -- alerts ------------------------------------------------------------------------------
    def raise_alert(self: _Host, key: str, kind: str, staff_id: str, customer_id: str | None,
                    recipients: Sequence[str], context: dict[str, Any], occurred_at: datetime
                    ) -> tuple[StaffAlert, bool]:
        """Record the alert of ``key`` once; returns it and whether it was recorded now."""
        with self._write_lock:
            existing = _alert_or_none(self, alert_id(key))
            if existing is not None:
                return existing, False
            alert = StaffAlert.raise_for(key, kind, staff_id, customer_id, list(recipients),
                                         context, "system", occurred_at)
            try:
                self.save(alert)
            except IntegrityError:
                found = _alert_or_none(self, alert_id(key))
                if found is None:
                    raise
                return found, False
            return alert, True

    def alert(self: _Host, alert_id_: UUID) -> StaffAlert:
        found = _alert_or_none(self, alert_id_)
        if found is None:
            raise UnknownAlert(f"no alert {alert_id_}", field="alertId")
        return found

    def record_alert_delivery(self: _Host, alert_id_: UUID, recipient: str,
                              gateway_message_id: str | None, failure: str | None,
                              occurred_at: datetime) -> bool:
        return _change_alert(self, alert_id_, lambda a: a.record_delivery(
            recipient, gateway_message_id, failure, "system", occurred_at)) is not None

    def acknowledge_alert(self: _Host, alert_id_: UUID, by: str, occurred_at: datetime
                          ) -> int | None:
        return _change_alert(self, alert_id_, lambda a: a.acknowledge(by, occurred_at))

    def resolve_alert(self: _Host, alert_id_: UUID, note: str, by: str,
                      occurred_at: datetime) -> int | None:
        return _change_alert(self, alert_id_, lambda a: a.resolve(note, by, occurred_at))


def _change_lexicon(host: _Host, decide: Callable[[Lexicon], bool], by: str,
                    occurred_at: datetime) -> int | None:
    with host._write_lock:
        for attempt in range(ATTEMPTS):
            _forget(host, [LEXICON_ID])
            try:
                lexicon = cast(Lexicon, host.repository.get(LEXICON_ID))
            except AggregateNotFoundError:
                lexicon = Lexicon.start(by, occurred_at)
            try:
                if not decide(lexicon) and _stored(host, LEXICON_ID):
                    return None
                recordings = host.save(lexicon)
                return max((r.notification.id for r in recordings), default=None)
            except IntegrityError:
                if attempt == ATTEMPTS - 1:
                    raise
            finally:
                _forget(host, [LEXICON_ID])
    return None  # pragma: no cover


def _change_alert(host: _Host, aggregate_id: UUID, decide: Callable[[StaffAlert], bool]
                  ) -> int | None:
    with host._write_lock:
        for attempt in range(ATTEMPTS):
            alert = _alert_or_none(host, aggregate_id)
            if alert is None:
                raise UnknownAlert(f"no alert {aggregate_id}", field="alertId")
            try:
                if not decide(alert):
                    return None
                recordings = host.save(alert)
                return max(r.notification.id for r in recordings)
            except IntegrityError:
                if attempt == ATTEMPTS - 1:
                    raise
            finally:
                _forget(host, [aggregate_id])
    return None  # pragma: no cover


def _stored(host: _Host, aggregate_id: UUID) -> bool:
    return aggregate_id in host.index.stream_versions([aggregate_id])


def _alert_or_none(host: _Host, aggregate_id: UUID) -> StaffAlert | None:
    _forget(host, [aggregate_id])
    try:
        found: Any = host.repository.get(aggregate_id)
    except AggregateNotFoundError:
        return None
    return found if isinstance(found, StaffAlert) else None


def _forget(host: _Host, aggregate_ids: Iterable[UUID]) -> None:
    cache = host.repository.cache
    if cache is None:
        return
    for aggregate_id in aggregate_ids:
        with contextlib.suppress(KeyError):
            cast(Any, cache).get(aggregate_id, evict=True)
