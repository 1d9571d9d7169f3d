"""Staff, the organisation, and who owns which customer.

**Staff**: hire (the display name sealed in the vault), leave, move to another
department, change role (``Staff.Moved``, ``Staff.RoleChanged``), and a moments post
(朋友圈), recorded on the ``Staff`` aggregate once per ``(staff, moment id)``. Staff
aggregates are read fresh from the store (edited rarely, from any process), so a
decision never rests on a stale cache.

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

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from application.customers import survivor
from application.unit_of_work import EventStore, UnitOfWork
from domain.customer import HANDOVER_REASONS, Customer
from domain.errors import DomainError, InvalidInput, StaffAlreadyLeft, UnknownStaff
from domain.staff import Staff

#: Customers per handover transaction.
CHUNK = 250
MAX_HANDOVER_ID = 64


def handover_key(handover_id: str, customer_id: UUID) -> str:
    """The event key that makes one customer's part of a handover idempotent."""
    return f"handover:{handover_id}:{customer_id}"


def moment_key(staff_id: UUID, moment_id: str) -> str:
    return f"moment:{staff_id}:{moment_id.strip()}"


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


class StaffMembers:
    """Hiring, leaving, moves and roles; moments posts; customers' handovers."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def hire(self, role: str, department: str, display_name: str, by: str,
             occurred_at: datetime, wecom_user_id: str | None = None) -> UUID:
        def decide(unit: UnitOfWork[Staff]) -> UUID:
            staff = unit.add(Staff.hire(role, department, by, occurred_at, wecom_user_id))
            self.store.new_key(staff.id, unit)
            self.store.seal(staff.id, "display_name", display_name, unit)
            return staff.id

        return self.store.transact(Staff, decide)[0]

    def leave(self, staff_id: UUID, by: str, occurred_at: datetime) -> None:
        def decide(unit: UnitOfWork[Staff]) -> None:
            unit.add(self._staff(staff_id, "staffId")).leave(by, occurred_at)

        self.store.transact(Staff, decide)

    def move(self, staff_id: UUID, department: str, by: str, occurred_at: datetime
             ) -> int | None:
        """Move a staff member; the log position, or None if already in ``department``."""
        def decide(unit: UnitOfWork[Staff]) -> None:
            staff = self._staff(staff_id, "staffId")
            if staff.move(department, by, occurred_at):
                unit.add(staff)

        return self.store.transact(Staff, decide)[1]

    def change_role(self, staff_id: UUID, role: str, by: str, occurred_at: datetime
                    ) -> int | None:
        """Change a staff member's role; None if they hold it already."""
        def decide(unit: UnitOfWork[Staff]) -> None:
            staff = self._staff(staff_id, "staffId")
            if staff.change_role(role, by, occurred_at):
                unit.add(staff)

        return self.store.transact(Staff, decide)[1]

    def record_moment_posted(self, staff_id: UUID, moment_id: str, by: str,
                             occurred_at: datetime) -> bool:
        """Record a moments post; False if this (staff, moment) was recorded before."""
        key = moment_key(staff_id, moment_id)

        def decide(unit: UnitOfWork[Staff]) -> None:
            staff = unit.add(self._staff(staff_id, "staffId"))
            staff.post_moment(moment_id, by, occurred_at)
            unit.writes.event_keys.append((key, staff.id))

        return self.store.once(key, Staff, decide)

    def hand_over(self, from_staff_id: UUID, to_staff_id: UUID, customer_ids: Sequence[UUID],
                  reason: str, by: str, occurred_at: datetime, handover_id: str | None = None,
                  chunk: int = CHUNK) -> HandoverResult:
        """Hand ``customer_ids`` over from one staff member to another (see the module)."""
        if reason not in HANDOVER_REASONS:
            raise InvalidInput(f"reason must be one of {sorted(HANDOVER_REASONS)}",
                               field="reason")
        if from_staff_id == to_staff_id:
            raise InvalidInput("a handover needs two different staff members",
                               field="toStaffId")
        hid = _handover_id(handover_id)
        self._staff(from_staff_id, "fromStaffId")
        receiver = self._staff(to_staff_id, "toStaffId")
        if receiver.left_at is not None:
            raise StaffAlreadyLeft("the receiving staff member has left", field="toStaffId")
        wanted = list(dict.fromkeys(customer_ids))
        result = HandoverResult(handover_id=hid, requested=len(wanted))
        for start in range(0, len(wanted), max(1, chunk)):
            self._hand_over_chunk(wanted[start:start + chunk], str(from_staff_id),
                                  str(to_staff_id), reason, hid, by, occurred_at, result)
        return result

    def _hand_over_chunk(self, customer_ids: Sequence[UUID], giver: str, receiver: str,
                         reason: str, hid: str, by: str, occurred_at: datetime,
                         result: HandoverResult) -> None:
        """One transaction; its counts are added to ``result`` once it committed."""
        def decide(unit: UnitOfWork[Customer]) -> tuple[dict[str, int], list[HandoverRefusal]]:
            counts: dict[str, int] = {}
            refused: list[HandoverRefusal] = []
            keys = {cid: handover_key(hid, cid) for cid in customer_ids}
            known = self.store.index.known_event_keys(list(keys.values()))
            # one query for the chunk, not one per customer
            self.store.drop_stale(customer_ids, unit)
            for cid, key in keys.items():
                if key in known:
                    counts["already"] = counts.get("already", 0) + 1
                    continue
                try:
                    customer = survivor(self.store, unit, cid, "customerIds")
                    changed = customer.hand_over(giver, receiver, reason, hid, by, occurred_at)
                except DomainError as error:
                    refused.append(HandoverRefusal(cid, error))
                    continue
                outcome = "transferred" if changed else "unchanged"
                counts[outcome] = counts.get(outcome, 0) + 1
                if changed:
                    unit.writes.event_keys.append((key, customer.id))
            return counts, refused

        (counts, refused), position = self.store.transact(Customer, decide)
        result.transferred += counts.get("transferred", 0)
        result.unchanged += counts.get("unchanged", 0)
        result.already += counts.get("already", 0)
        result.refused += refused
        if position is not None:
            result.last_position = position

    def _staff(self, staff_id: UUID, field: str) -> Staff:
        """The staff member, read fresh from the store."""
        found = self.store.find(staff_id, Staff, fresh=True)
        if found is None:
            raise UnknownStaff(f"no staff member {staff_id}", field=field)
        return found


def _handover_id(given: str | None) -> str:
    if given is None:
        return str(uuid.uuid4())
    hid = given.strip()
    if not 1 <= len(hid) <= MAX_HANDOVER_ID or not all(c.isalnum() or c in "-_." for c in hid):
        raise InvalidInput(f"handoverId must be 1-{MAX_HANDOVER_ID} letters, digits, '-', "
                           "'_' or '.'", field="handoverId")
    return hid
