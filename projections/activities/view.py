"""``activity`` (one row per activity, its current plan) and ``customer_journey`` (one row
per customer event that belongs to a journey), and ``siyu_activity_fact``, the facts each
activity's current plan attributes to it.

:func:`journey_row` is the pure mapping from an event to its journey fact; facts are keyed
by log position and inserted ``ON CONFLICT DO NOTHING``, so a replay adds nothing and a
rebuild gives the same rows. Attribution (:data:`ATTRIBUTE`) runs here, not when figures
are read: a plan recorded or revised re-derives its activity's facts from the journey (an
activity revised after the fact is judged on its current plan), and each page's new facts
are attributed to every activity whose period holds them. Whatever the order, the rows are
those of the journey under the current plans, so a rebuild equals the live model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from adapters.binary_arrays import column, register
from domain.activity import Activity
from domain.customer import Customer
from projections.position_rows import stored_check
from projections.postgres_views import _dumps, fold_page
from projections.schema_lock import serialise_ddl

VERSION = 2  # 2: siyu_activity_fact, attribution kept by the projection
Row = dict[str, Any]

#: The journey step each customer event stands for (docs/activities.md, "Journey facts").
STEP_OF: dict[type[Any], str] = {
    Customer.Registered: "touch", Customer.FriendAdded: "touch",
    Customer.ChannelCodeScanned: "touch", Customer.CampaignMessageSent: "touch",
    Customer.CampaignMessageRead: "touch",
    Customer.ActivityJoined: "visit", Customer.ProductViewed: "visit",
    Customer.ContentViewed: "visit", Customer.LiveStreamWatched: "visit",
    Customer.CampaignLinkClicked: "visit",
    Customer.AddedToCart: "cart", Customer.OrderPlaced: "order", Customer.OrderPaid: "pay",
    Customer.OrderRefunded: "refund",
}


def _uuid(value: Any) -> UUID | None:
    """A campaign id as reported: a malformed one is no campaign (never a stopped view)."""
    try:
        return UUID(str(value))
    except ValueError:
        return None


def _skus(items: Any) -> list[str]:
    return sorted({str(i["sku"]) for i in items if isinstance(i, dict) and "sku" in i})


def journey_row(position: int, event: Any) -> Row | None:
    """The journey fact ``event`` records, or None when it is not part of a journey."""
    fact = journey_fact(position, event)
    return None if fact is None else dict(zip(JOURNEY_NAMES, fact, strict=True))


#: Journey facts that carry the event's channel (besides a registration's first channel).
_CHANNELLED: tuple[type[Any], ...] = (
    Customer.FriendAdded, Customer.ChannelCodeScanned, Customer.ProductViewed,
    Customer.ContentViewed, Customer.OrderPlaced, Customer.OrderPaid)


def journey_fact(position: int, event: Any) -> tuple[Any, ...] | None:
    """:func:`journey_row` as a tuple in the order of :data:`JOURNEY_COLUMNS`, as a page
    COPYs it (a dict a fact, then a list from it, were a third of the view's time)."""
    kind = type(event)
    step = STEP_OF.get(kind)
    if step is None:
        return None
    channel = campaign_id = activity_ref = order_id = amount_fen = None
    skus: list[str] = []
    if isinstance(event, Customer.Registered):
        channel = event.first_channel
    elif isinstance(event, (Customer.CampaignMessageSent, Customer.CampaignMessageRead,
                            Customer.CampaignLinkClicked)):
        campaign_id = _uuid(event.campaign_id)
    elif isinstance(event, Customer.ActivityJoined):
        activity_ref = event.activity_id
    elif isinstance(event, (Customer.ProductViewed, Customer.AddedToCart)):
        skus = [event.sku]
    elif isinstance(event, (Customer.OrderPlaced, Customer.OrderPaid)):
        order_id, amount_fen, skus = event.order_id, event.amount_fen, _skus(event.items)
    elif isinstance(event, Customer.OrderRefunded):
        order_id, amount_fen = event.order_id, event.amount_fen
    if isinstance(event, _CHANNELLED):
        channel = event.channel
    return (position, event.originator_id, event.occurred_at, step, kind.__qualname__,
            channel, campaign_id, activity_ref, order_id, amount_fen, skus)


def activity_row(row: Row | None, event: Any, position: int) -> Row | None:
    if isinstance(event, Activity.Planned):
        if row is not None:
            return row
        return {"activity_id": event.originator_id, "kind": event.kind, **_plan(event),
                "planned_by": event.by, "planned_at": event.occurred_at, "revised_by": None,
                "revised_at": None, "cancelled_at": None, "cancel_reason": None,
                "position": position, "last_version": event.originator_version}
    if row is None or event.originator_version <= row["last_version"]:
        return row
    row = dict(row, last_version=event.originator_version)
    if isinstance(event, Activity.Revised):
        row.update(_plan(event), revised_by=event.by, revised_at=event.occurred_at)
    elif isinstance(event, Activity.Cancelled):
        row.update(cancelled_at=event.occurred_at, cancel_reason=event.reason)
    return row


def _plan(event: Any) -> Row:
    return {"name": event.name, "starts_at": event.starts_at, "ends_at": event.ends_at,
            "channels": list(event.channels), "campaign_ids": list(event.campaign_ids),
            "products": list(event.products), "steps": list(event.steps),
            "target_gmv_fen": event.target_gmv_fen, "target_users": event.target_users,
            "target_aov_fen": event.target_aov_fen}


#: Attribution (docs/activities.md, "Which events count") of journey facts to activities:
#: ``entry`` is the channel a fact makes its customer a participant under (an
#: ``ACTIVITY_JOINED`` of it: its channel or ``activity``; a linked campaign's message:
#: ``campaign:<id>``; a channel at or under one of the activity's), ``counts`` whether it
#: counts as its step for a participant. ``{where}`` picks activities or facts.
ATTRIBUTE = """
INSERT INTO siyu_activity_fact
SELECT * FROM (
    SELECT a.activity_id, j.position, j.customer_id, j.occurred_at,
           (j.occurred_at AT TIME ZONE 'Asia/Shanghai')::date, j.step,
           CASE WHEN j.activity_ref = a.activity_id::text THEN coalesce(j.channel, 'activity')
                WHEN j.campaign_id = ANY (a.campaign_ids) THEN 'campaign:' || j.campaign_id
                WHEN j.channel = ANY (a.channels)
                  OR EXISTS (SELECT FROM unnest(a.channels) c
                             WHERE starts_with(j.channel, c || ':')) THEN j.channel END,
           j.step IN ('visit', 'cart', 'order', 'pay') AND coalesce(CASE j.event_type
                WHEN 'Customer.ActivityJoined' THEN j.activity_ref = a.activity_id::text
                WHEN 'Customer.CampaignLinkClicked' THEN j.campaign_id = ANY (a.campaign_ids)
                WHEN 'Customer.ContentViewed' THEN true
                WHEN 'Customer.LiveStreamWatched' THEN true
                ELSE cardinality(a.products) = 0 OR j.skus && a.products END, false),
           j.order_id, j.amount_fen
    FROM activity a JOIN customer_journey j
      ON j.occurred_at >= a.starts_at AND j.occurred_at < a.ends_at
    WHERE {where}) x (activity_id, position, customer_id, occurred_at, day, step, entry,
                      counts, order_id, amount_fen)
WHERE entry IS NOT NULL OR counts
ON CONFLICT DO NOTHING
"""


def attribute(curs: Cursor[Any], *, activities: Sequence[UUID] = (),
              positions: Sequence[int] = ()) -> None:
    """(Re-)derive the attributed facts of ``activities`` on their current plans, then
    attribute the facts at ``positions`` to every activity."""
    if activities:
        curs.execute("DELETE FROM siyu_activity_fact WHERE activity_id = ANY(%s)",
                     (list(activities),))
        curs.execute(ATTRIBUTE.format(where="a.activity_id = ANY(%s)"), (list(activities),))
    if positions:
        # A page joins a few thousand facts with a small table the planner over-estimates:
        # past jit_above_cost, it compiled the statement on every page (~80 ms, more than
        # running it). Off for the rest of this page's transaction.
        curs.execute("SET LOCAL jit = off")
        register(curs.adapters)  # the positions go as one array built in binary
        curs.execute(ATTRIBUTE.format(where="j.position = ANY(%b)"),
                     (column("bigint", list(positions)),))


#: ``customer_journey``'s columns and their types, for a binary COPY.
JOURNEY_COLUMNS = (("position", "int8"), ("customer_id", "uuid"), ("occurred_at", "timestamptz"),
                   ("step", "text"), ("event_type", "text"), ("channel", "text"),
                   ("campaign_id", "uuid"), ("activity_ref", "text"), ("order_id", "text"),
                   ("amount_fen", "int8"), ("skus", "text[]"))
JOURNEY_NAMES = tuple(c for c, _ in JOURNEY_COLUMNS)


def insert_journey(curs: Cursor[DictRow], facts: Sequence[tuple[Any, ...]]) -> None:
    """Store a page's journey facts, each once: COPYed when none at or past the page's first
    position is stored (a page not applied before: every page but a replay's), else
    inserted skipping the positions stored. The COPY writes a page's few thousand facts
    in a third of the time the row-by-row conflict check took (measured in
    docs/benchmarks.md, ``projection_model_activity``)."""
    curs.execute(stored_check([("customer_journey", "position")]), (min(f[0] for f in facts),))
    row = curs.fetchone()
    if row is None or row["stored_0"]:
        curs.execute(
            "INSERT INTO customer_journey SELECT * FROM "
            "jsonb_populate_recordset(null::customer_journey, %s) "
            "ON CONFLICT (position) DO NOTHING",
            (Jsonb([dict(zip(JOURNEY_NAMES, f, strict=True)) for f in facts], dumps=_dumps),))
        return
    names = ", ".join(JOURNEY_NAMES)
    with curs.copy(f"COPY customer_journey ({names}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types([t for _, t in JOURNEY_COLUMNS])
        write = copy.write_row
        for fact in facts:
            write(fact)


class ActivityView:
    name = "activity"
    version = VERSION
    events = (Activity, *STEP_OF)

    def bind(self, app: Application[Any]) -> None:
        """Folds events only."""

    def create(self, curs: Cursor[DictRow]) -> None:
        serialise_ddl(curs)
        curs.execute((Path(__file__).parent / "activities.sql").read_text())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS activity, customer_journey, siyu_activity_fact "
                     "CASCADE")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE activity, customer_journey, siyu_activity_fact")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        fold_page(curs, "activity", "activity_id", events,
                  lambda e: isinstance(e, (Activity.Planned, Activity.Event)), activity_row)
        facts = [f for f in (journey_fact(n, e) for n, e in events) if f is not None]
        if facts:
            insert_journey(curs, facts)
        attribute(curs, activities=sorted({e.originator_id for _, e in events if isinstance(
            e, (Activity.Planned, Activity.Revised))}), positions=[f[0] for f in facts])
