"""The SOP step dispatcher's statements: claim due steps (``sop_dispatch``, internal), read
them with their customers' profiles, reserve a step being sent
(``sop_contact_reservation``) under the customer's lock, defer one out of quiet hours."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from psycopg import Connection

from projections.schema_lock import serialise_ddl

#: (namespace, hashtext(customer id)): one SOP decision per customer at a time
CUSTOMER_LOCK = 7368104

DUE = """
SELECT s.enrolment_id, s.step
FROM sop_send s
JOIN sop q ON q.sop_id = s.sop_id
JOIN sop_enrolment e ON e.enrolment_id = s.enrolment_id
LEFT JOIN sop_dispatch d ON d.enrolment_id = s.enrolment_id AND d.step = s.step
WHERE s.status = 'planned' AND q.state = 'active' AND e.state = 'active'
  AND greatest(s.due_at, d.not_before) <= %(now)s
  AND (d.enqueued_at IS NULL OR d.enqueued_at < %(stale)s)
ORDER BY s.due_at, s.enrolment_id, s.step
LIMIT %(limit)s
FOR UPDATE OF s SKIP LOCKED
"""

ROWS = """
SELECT s.enrolment_id, s.step, s.sop_id, s.customer_id, s.channel, s.due_at,
       e.trigger_version, e.trigger_group, e.stop_on_converted, e.stop_on_opted_out, r.steps,
       p.customer_id IS NOT NULL AS profiled, p.identities, p.points_balance, p.member_level,
       p.category_orders, p.dnd, p.consents_withdrawn,
       p.current_staff_ids, o.staff_id AS owner, {last_chatted} AS last_chatted,
       siyu_lifecycle(p.ever_friend, p.current_staff_ids, p.last_interaction_at,
                      p.first_seen_at, p.order_count, %(now)s) AS lifecycle
FROM sop_send s
JOIN sop_enrolment e ON e.enrolment_id = s.enrolment_id
JOIN sop q ON q.sop_id = s.sop_id
JOIN sop_revision r ON r.sop_id = s.sop_id AND r.revision = s.revision
LEFT JOIN customer_profile p ON p.customer_id = s.customer_id
LEFT JOIN customer_current_owner o ON o.customer_id = s.customer_id
WHERE (s.enrolment_id, s.step) IN (SELECT * FROM unnest(%(ids)s::uuid[], %(steps)s::int[]))
  AND s.status = 'planned' AND q.state = 'active' AND e.state = 'active'
ORDER BY s.customer_id, s.enrolment_id, s.step
"""


def create_tables(conn: Connection[Any]) -> None:
    """Create ``sop_dispatch`` and ``sop_contact_reservation`` (concurrent creators wait)."""
    serialise_ddl(conn)
    conn.execute((Path(__file__).parent / "dispatch.sql").read_text())


def claim_due(conn: Connection[Any], now: datetime, stale: datetime, limit: int
              ) -> list[dict[str, Any]]:
    """Lock (``SKIP LOCKED``) due planned steps of active sequences and enrolments not
    enqueued since ``stale``: their ``enrolment_id`` and ``step``."""
    rows: list[dict[str, Any]] = conn.execute(
        DUE, {"now": now, "stale": stale, "limit": limit}).fetchall()
    return rows


def forget_reservations(conn: Connection[Any], before: datetime) -> None:
    """Drop reservations older than every cap's window."""
    conn.execute("DELETE FROM sop_contact_reservation WHERE reserved_at < %s", (before,))


def note_enqueued(conn: Connection[Any], now: datetime, steps: Sequence[dict[str, Any]]) -> None:
    conn.execute(
        "INSERT INTO sop_dispatch (enrolment_id, step, enqueued_at) SELECT e, s, %s "
        "FROM unnest(%s::uuid[], %s::int[]) AS r(e, s) ON CONFLICT (enrolment_id, "
        "step) DO UPDATE SET enqueued_at = excluded.enqueued_at",
        (now, [r["enrolment_id"] for r in steps], [r["step"] for r in steps]))


#: Among the customer's current friends, the member with the latest message in their chat
#: (``staff_kpi_thread``): the one WeCom delivers a mass message through.
LAST_CHATTED = """(SELECT t.staff_id FROM staff_kpi_thread t
    WHERE t.customer_id = s.customer_id AND t.staff_id = ANY(p.current_staff_ids)
    ORDER BY t.last_at DESC, t.staff_id LIMIT 1)"""


def planned_rows(conn: Connection[Any], items: Sequence[tuple[UUID, int]], now: datetime
                 ) -> list[dict[str, Any]]:
    """The still-planned steps among ``items`` with their customers' profiles and the
    friend who last chatted with them (``last_chatted``), by customer."""
    threads = conn.execute("SELECT to_regclass('staff_kpi_thread') IS NOT NULL AS ok"
                           ).fetchone()
    query = ROWS.format(last_chatted=LAST_CHATTED if threads and threads["ok"]
                        else "NULL::text")
    rows: list[dict[str, Any]] = conn.execute(
        query, {"now": now, "ids": [i for i, _ in items],
               "steps": [s for _, s in items]}).fetchall()
    return rows


def lock_customer(conn: Connection[Any], launch_lock: int, customer_id: UUID) -> None:
    """For the transaction: the campaign launch lock (shared) and the customer's SOP lock."""
    conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (launch_lock,))
    conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s::text))",
                 (CUSTOMER_LOCK, customer_id))


def reserve(conn: Connection[Any], own: tuple[UUID, int], customer_id: UUID, channel: str,
            now: datetime) -> None:
    conn.execute(
        "INSERT INTO sop_contact_reservation VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (enrolment_id, step) DO NOTHING",
        (*own, customer_id, channel, now))


def defer(conn: Connection[Any], enrolment: UUID, step: int, until: datetime) -> None:
    conn.execute("UPDATE sop_dispatch SET not_before = %s, enqueued_at = NULL "
                 "WHERE enrolment_id = %s AND step = %s", (until, enrolment, step))


GROUP_LOCK = 7368104
#: The group's messages from campaigns into groups in the quota period (Asia/Shanghai
#: dates), as WeCom accepted them (:mod:`projections.campaigns.group_reads`): they count
#: toward its quota.
CAMPAIGN_GROUP_SENDS = (
    "SELECT count(*) FROM siyu_send_intent WHERE channel = 'wecom_group' "
    "AND outcome = 'sent' AND send_key LIKE 'campaign-group:%%' "
    "AND split_part(send_key, ':', 3) = %s "
    "AND (started_at AT TIME ZONE 'Asia/Shanghai')::date >= %s "
    "AND (started_at AT TIME ZONE 'Asia/Shanghai')::date < %s")
#: The mass messages members sent into the group themselves from the WeCom client in the
#: period (synced by :mod:`workers.wecom_quota`): ``sent`` each count, a ``quota_full``
#: (WeCom's status 3) fills the period.
MEMBER_GROUP_SENDS = (
    "SELECT count(*) FILTER (WHERE kind = 'sent') AS sent, "
    "bool_or(kind = 'quota_full') AS full FROM siyu_wecom_member_group_send "
    "WHERE chat_id = %s AND (sent_at AT TIME ZONE 'Asia/Shanghai')::date >= %s "
    "AND (sent_at AT TIME ZONE 'Asia/Shanghai')::date < %s")


def claim_group(conn: Connection[Any], sop_id: UUID, step: int, group_id: str, day: date,
                enrolment: UUID, now: datetime, quota: tuple[date, date, int]) -> str | None:
    """Claim the (sequence, step, group, day) group message for ``enrolment`` (the
    transaction holds the group's lock): None when it is this enrolment's to send (claimed
    now or by an earlier attempt), else why not — ``GROUP_ALREADY_SENT`` (another joiner's
    enrolment has it) or ``WECOM_GROUP_QUOTA`` (the group had its quota period's mass
    messages — the platform's, and those members sent into it from the WeCom client:
    ``quota`` is the period's first day, the day after it, both Asia/Shanghai,
    and its limit under the corp's rule, :func:`domain.restraint.wecom_quota_period`)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (GROUP_LOCK, group_id))
    held = conn.execute(
        "SELECT enrolment_id FROM sop_group_send WHERE sop_id = %s AND step = %s "
        "AND group_id = %s AND day = %s", (sop_id, step, group_id, day)).fetchone()
    if held is not None:
        return None if held["enrolment_id"] == enrolment else "GROUP_ALREADY_SENT"
    first, after, limit = quota
    sent = conn.execute(
        "SELECT count(*) + (" + CAMPAIGN_GROUP_SENDS + ") AS n FROM sop_group_send "
        "WHERE group_id = %s AND day >= %s AND day < %s",
        (group_id, first, after, group_id, first, after)).fetchone()
    members = conn.execute(MEMBER_GROUP_SENDS, (group_id, first, after)).fetchone()
    if members is not None and members["full"]:
        return "WECOM_GROUP_QUOTA"
    if sent is not None and sent["n"] + (members["sent"] if members else 0) >= limit:
        return "WECOM_GROUP_QUOTA"
    conn.execute("INSERT INTO sop_group_send VALUES (%s, %s, %s, %s, %s, %s)",
                 (sop_id, step, group_id, day, enrolment, now))
    return None
