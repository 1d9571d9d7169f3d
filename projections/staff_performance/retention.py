"""New friends and their 7 / 30-day retention per (staff, day, channel), kept incrementally.

An add is retained at 7 (30) days when the last friend event of its (customer, staff) pair
at or before ``added_at + 7 (30) days`` (by business time, then log position) is an add.
A friend event at ``t`` can change that only for the pair's adds made in ``[t - 30 days,
t]``, so a page's new friend events are the whole of what changes: each such add's status
is read twice — on the ledger as it is now and as it was before the page (without the
page's new rows; asked only when the last event now is one of them) — and the difference,
with the page's new adds, is *added* to ``staff_daily_channel``. Before (up to version 6's
first form) each touched (staff, day, channel) was counted again whole every page: a cost
growing with the adds of a day, i.e. with the log (docs/benchmarks.md, *What grows*). The
figures are the same: the recount's are what the adds' statuses sum to, and each status
changes only by the events this reads.

``staff_daily_performance``'s ``retained_7d`` / ``retained_30d`` are then the sums of the
changed days' channel rows (a few rows a day).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow

from adapters.binary_arrays import column

RETENTION_DAYS = (7, 30)

Row = dict[str, Any]


def _last_friend_event(horizon: str, exclude_new: bool) -> str:
    """The pair's last friend event at or before the add's time + ``horizon`` days (a
    subquery over ``a``); with ``exclude_new``, as the ledger was before the page."""
    before = "AND x.position <> ALL(%(new)b) " if exclude_new else ""
    return ("SELECT {what} FROM staff_kpi_ledger x WHERE x.kind LIKE 'friend%%' "
            "AND x.customer_id = a.customer_id AND x.staff_id = a.staff_id "
            f"AND x.at <= a.at + %({horizon})s * interval '1 day' {before}"
            "ORDER BY x.at DESC, x.position DESC LIMIT 1")


def _status(horizon: str) -> str:
    """Columns ``now_<h>`` and ``was_<h>`` of one add: retained now, and before the page
    (false for the page's new adds, which were not counted)."""
    now = _last_friend_event(horizon, False).format(
        what=f"x.kind = 'friend_added' AS now_{horizon}, x.position AS last_{horizon}")
    was = _last_friend_event(horizon, True).format(what="x.kind = 'friend_added'")
    return (f"CROSS JOIN LATERAL ({now}) n_{horizon} "
            f"CROSS JOIN LATERAL (SELECT CASE WHEN a.is_new THEN false "
            f"  WHEN n_{horizon}.last_{horizon} <> ALL(%(new)b) THEN n_{horizon}.now_{horizon} "
            f"  ELSE ({was}) END AS was_{horizon}) w_{horizon} ")


#: One statement: the adds a page's new friend events can affect, their statuses now and
#: before, the deltas per (staff, day, channel) added to its row; returns the changed days.
STATEMENT = (
    "WITH p(c, s, at) AS (SELECT * FROM unnest(%(customers)b::uuid[], %(staff)b::text[], "
    "  %(at)b::timestamptz[])), "
    "a AS (SELECT DISTINCT a.position, a.customer_id, a.staff_id, a.at, a.day, a.channel, "
    "  a.position = ANY(%(new)b) AS is_new FROM p "
    "  JOIN staff_kpi_ledger a ON a.customer_id = p.c AND a.staff_id = p.s "
    "  AND a.kind LIKE 'friend%%' AND a.kind = 'friend_added' "
    "  AND a.at >= p.at - %(long)s * interval '1 day' AND a.at <= p.at), "
    "d AS (SELECT a.staff_id, a.day, a.channel, count(*) FILTER (WHERE a.is_new) AS n, "
    "  sum(now_short::int - was_short::int) AS r7, sum(now_long::int - was_long::int) AS r30 "
    f"  FROM a {_status('short')}{_status('long')}"
    "  GROUP BY a.staff_id, a.day, a.channel), "
    "up AS (INSERT INTO staff_daily_channel AS c "
    "  SELECT staff_id, day, channel, n, r7, r30 FROM d WHERE n <> 0 OR r7 <> 0 OR r30 <> 0 "
    "  ON CONFLICT (staff_id, day, channel) DO UPDATE SET "
    "  friends_new = c.friends_new + excluded.friends_new, "
    "  retained_7d = c.retained_7d + excluded.retained_7d, "
    "  retained_30d = c.retained_30d + excluded.retained_30d RETURNING staff_id, day) "
    "SELECT DISTINCT staff_id, day FROM up")


def parameters(entries: Sequence[Row]) -> dict[str, Any]:
    """The statement's parameters for a page's new friend ledger rows."""
    short, long_ = RETENTION_DAYS
    return {"customers": column("uuid", [e["customer_id"] for e in entries]),
            "staff": column("text", [e["staff_id"] for e in entries]),
            "at": column("timestamptz", [e["at"] for e in entries]),
            "new": column("bigint", [e["position"] for e in entries]),
            "short": short, "long": long_}


def update_retention(curs: Cursor[DictRow], entries: Sequence[Row]) -> None:
    """Add what a page's new friend ledger rows (``entries``) change to new friends and
    retention (see the module)."""
    if not entries:
        return
    curs.execute(STATEMENT, parameters(entries))
    keys = [(r["staff_id"], r["day"]) for r in curs.fetchall()]
    if not keys:
        return
    curs.execute(
        "UPDATE staff_daily_performance d SET retained_7d = s.r7, retained_30d = s.r30 "
        "FROM (SELECT c.staff_id, c.day, sum(c.retained_7d) AS r7, sum(c.retained_30d) AS r30 "
        "  FROM staff_daily_channel c JOIN unnest(%s::text[], %s::date[]) AS k(s, d) "
        "  ON c.staff_id = k.s AND c.day = k.d GROUP BY c.staff_id, c.day) s "
        "WHERE d.staff_id = s.staff_id AND d.day = s.day",
        ([k[0] for k in keys], [k[1] for k in keys]))
