"""Organisation and ownership commands, mixed into the application.

**Staff**: move to another department, change role (``Staff.Moved``,
``Staff.RoleChanged``). Staff aggregates are read fresh from the store (edited
rarely, from any process), so a decision never rests on a stale cache.

**Ownership** (客户归属): a customer's owner is the staff member in charge of it,
recorded as :class:`domain.customer.Customer.OwnerChanged` events. The first
staff member to add the customer as a friend becomes the owner in the same
event batch as the ``FriendAdded`` (the aggregate decides, so ingestion needs no
extra read). A **handover** (离职继承 / 在职继承) moves customers from one staff
member to another:

* the giver must be a known staff member (who may have left), the receiver a
  known staff member who has not left, and the two must differ;
* each customer must be owned by the giver now (else it is refused, per customer,
  with ``NOT_OWNED_BY_GIVER``); a customer the receiver owns already is
  ``unchanged``; a merged-away id stands for its survivor (OneID);
* customers are handed over :data:`CHUNK` per transaction (the write lock is
  released in between, so ingestion goes on), each with the event key
  ``handover:<handover id>:<customer id>``: a retried handover (same id) records
  nothing twice and reports those customers as ``already``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository

from domain.customer import HANDOVER_REASONS, Customer
from domain.errors import (
    DomainError,
    InvalidInput,
    StaffAlreadyLeft,
    UnknownStaff,
)
from domain.ports import IngestIndex
from domain.staff import Staff

if TYPE_CHECKING:
    from application.unit_of_work import UnitOfWork

#: Customers per handover transaction.
CHUNK = 250
#: How far a merged customer's id is followed to its survivor.
MAX_MERGE_DEPTH = 64
MAX_HANDOVER_ID = 64


def handover_key(handover_id: str, customer_id: UUID) -> str:
    """The event key that makes one customer's part of a handover idempotent."""
    return f"handover:{handover_id}:{customer_id}"


@dataclass(frozen=True, slots=True)
class HandoverRefusal:
    customer_id: UUID
    error: DomainError


@dataclass(slots=True)
class HandoverResult:
    handover_id: str
    requested: int = 0
    transferred: int = 0  # an OwnerChanged recorded now
    unchanged: int = 0  # the receiver owned the customer already
    already: int = 0  # recorded by an earlier run of the same handover
    refused: list[HandoverRefusal] = field(default_factory=list)
    last_position: int | None = None


class _Host(Protocol):
    @property
    def repository(self) -> Repository[UUID]: ...

    @property
    def index(self) -> IngestIndex: ...

    def _transact(self, decide: Callable[[UnitOfWork[Customer]], None]) -> int | None: ...

    def _existing(self, customer_id: UUID, batch: UnitOfWork[Customer], field: str) -> Customer: ...

    def _drop_stale(self, aggregate_ids: Iterable[UUID], batch: UnitOfWork[Customer]) -> None: ...


class OwnershipCommands:
    """Staff moves and role changes; customers' ownership and handovers."""

    def move_staff(self: _Host, staff_id: UUID, department: str, by: str,
                   occurred_at: datetime) -> int | None:
        """Move a staff member; the log position, or None if already in ``department``."""
        def decide(batch: UnitOfWork[Customer]) -> None:
            staff = _staff(self, staff_id, "staffId")
            if staff.move(department, by, occurred_at):
                batch.aggregates[staff.id] = cast(Customer, staff)  # saved with the batch

        return self._transact(decide)

    def change_staff_role(self: _Host, staff_id: UUID, role: str, by: str,
                          occurred_at: datetime) -> int | None:
        """Change a staff member's role; None if they hold it already."""
        def decide(batch: UnitOfWork[Customer]) -> None:
            staff = _staff(self, staff_id, "staffId")
            if staff.change_role(role, by, occurred_at):
                batch.aggregates[staff.id] = cast(Customer, staff)

        return self._transact(decide)

    def hand_over_customers(
        self: _Host,
        from_staff_id: UUID,
        to_staff_id: UUID,
        customer_ids: Sequence[UUID],
        reason: str,
        by: str,
        occurred_at: datetime,
        handover_id: str | None = None,
        chunk: int = CHUNK,
    ) -> HandoverResult:
        """Hand ``customer_ids`` over from one staff member to another (see the module)."""
        if reason not in HANDOVER_REASONS:
            raise InvalidInput(f"reason must be one of {sorted(HANDOVER_REASONS)}",
                               field="reason")
        if from_staff_id == to_staff_id:
            raise InvalidInput("a handover needs two different staff members",
                               field="toStaffId")
        hid = _handover_id(handover_id)
        _staff(self, from_staff_id, "fromStaffId")
        receiver = _staff(self, to_staff_id, "toStaffId")
        if receiver.left_at is not None:
            raise StaffAlreadyLeft("the receiving staff member has left", field="toStaffId")
        wanted = list(dict.fromkeys(customer_ids))
        result = HandoverResult(handover_id=hid, requested=len(wanted))
        for start in range(0, len(wanted), max(1, chunk)):
            _hand_over_chunk(self, wanted[start:start + chunk], str(from_staff_id),
                             str(to_staff_id), reason, hid, by, occurred_at, result)
        return result


def _hand_over_chunk(host: _Host, customer_ids: Sequence[UUID], giver: str, receiver: str,
                     reason: str, hid: str, by: str, occurred_at: datetime,
                     result: HandoverResult) -> None:
    """One transaction; its counts are added to ``result`` once it committed."""
    counts: dict[str, int] = {}
    refused: list[HandoverRefusal] = []

    def decide(batch: UnitOfWork[Customer]) -> None:
        counts.clear()
        refused.clear()
        keys = {cid: handover_key(hid, cid) for cid in customer_ids}
        known = host.index.known_event_keys(list(keys.values()))
        host._drop_stale(customer_ids, batch)  # one query for the chunk, not one per customer
        for cid, key in keys.items():
            if key in known:
                counts["already"] = counts.get("already", 0) + 1
                continue
            try:
                customer = _survivor(host, cid, batch)
                changed = customer.hand_over(giver, receiver, reason, hid, by, occurred_at)
            except DomainError as error:
                refused.append(HandoverRefusal(cid, error))
                continue
            outcome = "transferred" if changed else "unchanged"
            counts[outcome] = counts.get(outcome, 0) + 1
            if changed:
                batch.writes.event_keys.append((key, customer.id))

    position = host._transact(decide)
    result.transferred += counts.get("transferred", 0)
    result.unchanged += counts.get("unchanged", 0)
    result.already += counts.get("already", 0)
    result.refused += refused
    if position is not None:
        result.last_position = position


def _survivor(host: _Host, customer_id: UUID, batch: UnitOfWork[Customer]) -> Customer:
    customer = host._existing(customer_id, batch, "customerIds")
    for _ in range(MAX_MERGE_DEPTH):
        if customer.merged_into is None:
            break
        customer = host._existing(UUID(customer.merged_into), batch, "customerIds")
    return customer


def _handover_id(given: str | None) -> str:
    if given is None:
        return str(uuid.uuid4())
    hid = given.strip()
    if not 1 <= len(hid) <= MAX_HANDOVER_ID or not all(c.isalnum() or c in "-_." for c in hid):
        raise InvalidInput(f"handoverId must be 1-{MAX_HANDOVER_ID} letters, digits, '-', "
                           "'_' or '.'", field="handoverId")
    return hid


def _staff(host: _Host, staff_id: UUID, field: str) -> Staff:
    """The staff member, read fresh from the store."""
    _forget(host, [staff_id])
    try:
        found: Any = host.repository.get(staff_id)
    except AggregateNotFoundError:
        raise UnknownStaff(f"no staff member {staff_id}", field=field) from None
    if not isinstance(found, Staff):
        raise UnknownStaff(f"no staff member {staff_id}", field=field)
    return found


def _forget(host: _Host, aggregate_ids: Iterable[UUID]) -> None:
    cache = host.repository.cache
    if cache is None:
        return
    for aggregate_id in aggregate_ids:
        with contextlib.suppress(KeyError):
            cast(Any, cache).get(aggregate_id, evict=True)
