"""``customer_profile``: one row per customer, the answer to "who is this customer?".

The row logic is a pure function of the previous row and one event, so it is
tested without a database and the PostgreSQL view only loads, applies and
upserts. Lifecycle depends on the current time and is computed at read time
by the SQL function ``siyu_lifecycle`` (see ``docs/bi.md``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.customer import Customer

Row = dict[str, Any]

HANDLED: tuple[type[Any], ...] = (
    Customer.Registered,
    Customer.IdentityLinked,
    Customer.FriendAdded,
    Customer.FriendDeleted,
    Customer.Tagged,
    Customer.Untagged,
    Customer.GroupJoined,
    Customer.GroupLeft,
    Customer.ContentViewed,
    Customer.OrderPaid,
    Customer.OrderRefunded,
    Customer.PersonalDataRecorded,
    Customer.WelcomeMessageSent,
    Customer.WelcomeMessageFailed,
)

#: Events that count as the customer interacting with the brand.
INTERACTIONS: tuple[type[Any], ...] = (
    Customer.Registered,
    Customer.FriendAdded,
    Customer.GroupJoined,
    Customer.ContentViewed,
    Customer.OrderPaid,
)


def new_row(event: Customer.Registered, position: int) -> Row:
    return {
        "customer_id": event.originator_id,
        "position": position,
        "first_channel": event.first_channel,
        "first_seen_at": event.occurred_at,
        "identities": [],
        "staff_relations": [],
        "current_staff_ids": [],
        "ever_friend": False,
        "tags": [],
        "groups": [],
        "order_count": 0,
        "gmv_fen": 0,
        "refund_count": 0,
        "refunded_fen": 0,
        "content_views": 0,
        "last_interaction_at": None,
        "last_order_at": None,
        "event_count": 0,
        "last_version": 0,
        "updated_at": event.timestamp,
    }


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


def apply(row: Row | None, event: Any, position: int) -> Row | None:
    """Fold one event into a profile row. Idempotent per event version."""
    if isinstance(event, Customer.Registered):
        if row is not None:
            return row
        row = new_row(event, position)
    if row is None or not isinstance(event, HANDLED):
        return row
    if event.originator_version <= row["last_version"]:
        return row  # already applied (replayed batch)
    row = dict(row)
    row["event_count"] += 1
    row["last_version"] = event.originator_version
    row["updated_at"] = event.timestamp
    if isinstance(event, INTERACTIONS):
        row["last_interaction_at"] = _later(row["last_interaction_at"], event.occurred_at)
    if isinstance(event, Customer.IdentityLinked):
        row["identities"] = [*row["identities"],
                             {"namespace": event.namespace, "blind_index": event.blind_index}]
    elif isinstance(event, Customer.FriendAdded):
        _friend_added(row, event)
    elif isinstance(event, Customer.FriendDeleted):
        _friend_deleted(row, event)
    elif isinstance(event, Customer.Tagged):
        row["tags"] = sorted({*row["tags"], event.tag})
    elif isinstance(event, Customer.Untagged):
        row["tags"] = [t for t in row["tags"] if t != event.tag]
    elif isinstance(event, Customer.GroupJoined):
        row["groups"] = sorted({*row["groups"], event.group_id})
    elif isinstance(event, Customer.GroupLeft):
        row["groups"] = [g for g in row["groups"] if g != event.group_id]
    elif isinstance(event, Customer.ContentViewed):
        row["content_views"] += 1
    elif isinstance(event, Customer.OrderPaid):
        row["order_count"] += 1
        row["gmv_fen"] += event.amount_fen
        row["last_order_at"] = _later(row["last_order_at"], event.occurred_at)
    elif isinstance(event, Customer.OrderRefunded):
        row["refund_count"] += 1
        row["refunded_fen"] += event.amount_fen
    return row


def _friend_added(row: Row, event: Customer.FriendAdded) -> None:
    relations = [dict(r) for r in row["staff_relations"]]
    relations.append({
        "staff_id": event.staff_id,
        "since": event.occurred_at.isoformat(),
        "until": None,
        "deleted_by": None,
        "channel": event.channel,
        "state": event.state,
    })
    row["staff_relations"] = relations
    row["current_staff_ids"] = sorted({*row["current_staff_ids"], event.staff_id})
    row["ever_friend"] = True


def _friend_deleted(row: Row, event: Customer.FriendDeleted) -> None:
    relations = [dict(r) for r in row["staff_relations"]]
    for relation in reversed(relations):
        if relation["staff_id"] == event.staff_id and relation["until"] is None:
            relation["until"] = event.occurred_at.isoformat()
            relation["deleted_by"] = event.deleted_by
            break
    row["staff_relations"] = relations
    row["current_staff_ids"] = [s for s in row["current_staff_ids"] if s != event.staff_id]
