"""The state of a customer at an instant of business time, as a pure fold.

**Which events count at instant T**: every event now in the log whose business time
(``occurred_at``) is at or before T — whenever it was recorded. An event imported or
backfilled later counts at every instant from its business time on; an event recorded
early but dated later counts only from its date. The events that count are applied in
log order (the order the customer's aggregate decided them in), with the same row fold as
the live ``customer_profile`` (:mod:`projections.customer_profile.rows`), so at an
instant after every event the state *is* the live profile. The customer exists at T if
its first event (``Registered``) or any other of its events counts at T; ``Registered``
is always folded first, since it opens the row.

The state is the profile row plus ``owner`` (the staff member in charge, from
``OwnerChanged``) and ``through_at``, the latest business time among the events folded
into it: a checkpoint of the first *n* events of a stream can start the fold for an
instant T only when its ``through_at`` is at or before T (an event among them dated
after T must not count).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.customer import Customer
from projections.customer_profile import rows as profile_rows
from projections.segments import evaluation

#: A checkpoint is written every this many events of a customer stream.
INTERVAL = 100

State = dict[str, Any]
#: Events a customer's state folds (merges regroup streams instead: see the profile).
SKIPPED = (Customer.CustomerMerged, Customer.CustomerUnmerged)


def counts_at(event: Any, at: datetime) -> bool:
    """Whether ``event`` counts at instant ``at`` (business time)."""
    return bool(event.occurred_at <= at)


def fold(state: State | None, event: Any, position: int, row_id: Any = None) -> State | None:
    """Fold one event into the state (the profile's fold, plus owner and ``through_at``)."""
    if isinstance(event, SKIPPED):
        return state
    row = profile_rows.apply(state, event, position, row_id)
    if row is None or row is state:
        return row
    row.setdefault("owner", None)
    if isinstance(event, Customer.OwnerChanged):
        row["owner"] = event.staff_id
    through = row.get("through_at")
    row["through_at"] = event.occurred_at if through is None or event.occurred_at > through \
        else through
    return row


def row_at(state: State, at: datetime) -> State:
    """The state with what ``customer_profile_view`` computes at read time, at ``at``:
    lifecycle, RFM scores, positioning and average order (same rules as the SQL)."""
    row = dict(state)
    count = row["order_count"]
    row.update(
        as_of=at,
        lifecycle=evaluation.lifecycle(row, at),
        average_order_fen=row["gmv_fen"] // count if count > 0 else None,
        recency_score=evaluation.recency_score(row, at),
        frequency_score=evaluation.frequency_score(row),
        monetary_score=evaluation.monetary_score(row),
        positioning=evaluation.positioning(row),
    )
    return row


def fold_at(state: State | None, events: list[tuple[int, Any]], at: datetime,
            row_id: Any = None) -> State | None:
    """Fold, in the order given (log order), the events that count at ``at`` — and every
    ``Registered`` — onto ``state``; None if the customer did not exist yet at ``at``."""
    seen = state is not None  # a checkpoint is used only when all its events count
    for position, event in events:
        counted = counts_at(event, at)
        if counted or isinstance(event, Customer.Registered):
            state = fold(state, event, position, row_id)
            seen = seen or counted
    return state if seen else None
