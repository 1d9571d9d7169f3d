"""The campaign workers' statements: the dispatcher's claims (``campaign_dispatch``,
internal), the chunk's sends with their profiles, the rate limiter shared by every worker
(``siyu_rate_limit``, internal), the launcher's due and finished campaigns, and the
WeCom mass-send tasks still open, and the send intents (``siyu_send_intent``, internal):
each send recorded before its provider call, settled after."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from psycopg import Connection

from domain.campaign import sender_user_id, staff_senders
from projections.schema_lock import serialise_ddl

Row = dict[str, Any]

DUE = """
SELECT s.campaign_id, s.customer_id, s.step
FROM campaign_send s
JOIN campaign c USING (campaign_id)
LEFT JOIN campaign_dispatch d USING (campaign_id, customer_id, step)
WHERE s.status = 'planned' AND c.state = 'running' AND s.send_at <= %(now)s
  AND (d.enqueued_at IS NULL OR d.enqueued_at < %(stale)s)
ORDER BY s.send_at, s.campaign_id, s.customer_id
LIMIT %(limit)s
FOR UPDATE OF s SKIP LOCKED
"""


def create_tables(conn: Connection[Any]) -> None:
    """Create ``campaign_dispatch`` and ``siyu_rate_limit`` (concurrent creators wait)."""
    serialise_ddl(conn)
    conn.execute((Path(__file__).parent / "dispatch.sql").read_text())


def claim_due(conn: Connection[Any], now: datetime, stale: datetime, limit: int) -> list[Row]:
    """Lock (``SKIP LOCKED``) due planned sends of running campaigns not enqueued since
    ``stale``: their ``campaign_id``, ``customer_id`` and ``step``."""
    rows: list[Row] = conn.execute(DUE, {"now": now, "stale": stale, "limit": limit}).fetchall()
    return rows


def note_enqueued(conn: Connection[Any], now: datetime, sends: Sequence[Row]) -> None:
    conn.execute(
        "INSERT INTO campaign_dispatch SELECT c, u, s, %s FROM unnest(%s::uuid[], "
        "%s::uuid[], %s::int[]) AS r(c, u, s) ON CONFLICT (campaign_id, customer_id, "
        "step) DO UPDATE SET enqueued_at = excluded.enqueued_at",
        (now, [r["campaign_id"] for r in sends], [r["customer_id"] for r in sends],
         [r["step"] for r in sends]))


def campaign(conn: Connection[Any], campaign_id: UUID) -> Row | None:
    row: Row | None = conn.execute("SELECT * FROM campaign WHERE campaign_id = %s",
                                   (campaign_id,)).fetchone()
    return row


def planned_sends(conn: Connection[Any], campaign_id: UUID, step: int,
                  customers: Sequence[UUID]) -> list[Row]:
    """The still-planned sends of a chunk with their customers' profiles, by customer."""
    rows: list[Row] = conn.execute(
        "SELECT s.customer_id, s.variant_id, s.sender, p.identities, p.points_balance, "
        "p.member_level, p.category_orders, p.ever_friend, p.current_staff_ids, "
        "p.last_interaction_at, p.first_seen_at, p.order_count "
        "FROM campaign_send s JOIN customer_profile p USING (customer_id) "
        "WHERE s.campaign_id = %s AND s.step = %s AND s.customer_id = ANY(%s) "
        "AND s.status = 'planned' ORDER BY s.customer_id",
        (campaign_id, step, list(customers))).fetchall()
    return rows


def reserve_slots(conn: Connection[Any], name: str, span_seconds: float) -> Row | None:
    """Move limiter ``name``'s next free slot ``span_seconds`` on (from now at the
    earliest, by the database's clock): ``next_at`` and the seconds to ``wait``."""
    # A reservation lost in a crash only leaves a gap of a few milliseconds: no
    # need to wait for the WAL flush (it serialised every send on the disk).
    conn.execute("SET LOCAL synchronous_commit = off")
    conn.execute("INSERT INTO siyu_rate_limit VALUES (%s, clock_timestamp()) "
                 "ON CONFLICT DO NOTHING", (name,))
    row: Row | None = conn.execute(
        "UPDATE siyu_rate_limit SET next_at = greatest(next_at, clock_timestamp()) "
        "+ %(span)s * interval '1 second' WHERE name = %(name)s RETURNING next_at, "
        "extract(epoch FROM next_at - clock_timestamp())::float8 - %(span)s AS wait",
        {"span": span_seconds, "name": name}).fetchone()
    return row


def due_scheduled(conn: Connection[Any], now: datetime) -> list[UUID]:
    """Scheduled campaigns whose start has come, earliest first."""
    return [r["campaign_id"] for r in conn.execute(
        "SELECT campaign_id FROM campaign WHERE state = 'scheduled' AND start_at <= %s "
        "ORDER BY start_at", (now,)).fetchall()]


def finished_running(conn: Connection[Any]) -> list[UUID]:
    """Running campaigns whose every planned send has an outcome (rows not yet projected do
    not count)."""
    return [r["campaign_id"] for r in conn.execute(
        "SELECT c.campaign_id FROM campaign c WHERE c.state = 'running' AND "
        "(SELECT count(*) FROM campaign_send s WHERE s.campaign_id = c.campaign_id "
        "AND s.status IN ('sent', 'failed')) = c.included").fetchall()]


def open_tasks(conn: Connection[Any], limit: int) -> list[Row]:
    """WeCom mass-send tasks not finished yet: ``campaign_id``, ``task_id``, ``sender`` and
    ``created_at`` (when its sends were recorded, just after its creation)."""
    rows: list[Row] = conn.execute(
        "SELECT t.campaign_id, t.task_id, t.sender, (SELECT min(s.outcome_at) "
        "FROM campaign_send s WHERE s.campaign_id = t.campaign_id AND s.detail = t.task_id "
        "AND s.status = 'sent') AS created_at FROM campaign_task_view t "
        "WHERE NOT t.finished ORDER BY t.campaign_id, t.task_id LIMIT %s", (limit,)).fetchall()
    return rows


def undelivered(conn: Connection[Any], campaign_id: UUID, task_id: str) -> list[Row]:
    """The task's sends with no delivery status yet, with the customers' identities."""
    rows: list[Row] = conn.execute(
        "SELECT s.customer_id, p.identities FROM campaign_send s JOIN customer_profile p "
        "USING (customer_id) WHERE s.campaign_id = %s AND s.detail = %s "
        "AND s.delivery IS NULL", (campaign_id, task_id)).fetchall()
    return rows


def intents(conn: Connection[Any], keys: Sequence[str]) -> list[Row]:
    """The intents recorded for these send keys, each with its ``age`` in seconds (by the
    database's clock) and its intent's ``members`` (how many send keys share it)."""
    rows: list[Row] = conn.execute(
        "SELECT i.*, extract(epoch FROM clock_timestamp() - i.started_at)::float8 AS age, "
        "extract(epoch FROM i.started_at)::float8 AS started_epoch, "
        "(SELECT count(*) FROM siyu_send_intent m WHERE m.intent_id = i.intent_id) AS members "
        "FROM siyu_send_intent i WHERE i.send_key = ANY(%s)", (list(keys),)).fetchall()
    return rows


def open_intent(conn: Connection[Any], intent_id: UUID, keys: Sequence[str], channel: str,
                sender: str | None, text_digest: str,
                settle: Sequence[tuple[str, UUID, str, str]] = ()) -> list[str]:
    """Record an intent for ``keys`` (new keys, or keys whose last intent was not sent) and
    settle earlier intents (send key, intent, outcome, detail), in one statement; the keys
    the intent now holds (a key held by another open or settled intent is left alone)."""
    rows = conn.execute(
        "WITH settled AS (UPDATE siyu_send_intent i SET outcome = x.o, detail = x.d, "
        "settled_at = clock_timestamp() FROM unnest(%(sk)s::text[], %(si)s::uuid[], "
        "%(so)s::text[], %(sd)s::text[]) AS x(k, i, o, d) "
        "WHERE i.send_key = x.k AND i.intent_id = x.i RETURNING 1) "
        "INSERT INTO siyu_send_intent (send_key, intent_id, channel, sender, text_digest, "
        "started_at) SELECT k, %(id)s, %(channel)s, %(sender)s, %(digest)s, clock_timestamp() "
        "FROM unnest(%(keys)s::text[]) AS k "
        "ON CONFLICT (send_key) DO UPDATE SET intent_id = excluded.intent_id, "
        "channel = excluded.channel, sender = excluded.sender, "
        "text_digest = excluded.text_digest, started_at = excluded.started_at, "
        "outcome = NULL, detail = NULL, settled_at = NULL "
        "WHERE siyu_send_intent.outcome = 'not_sent' RETURNING send_key",
        {"id": intent_id, "channel": channel, "sender": sender, "digest": text_digest,
         "keys": list(keys), "sk": [o[0] for o in settle], "si": [o[1] for o in settle],
         "so": [o[2] for o in settle], "sd": [o[3] for o in settle]}).fetchall()
    return [r["send_key"] for r in rows]


def settle_intents(conn: Connection[Any], outcomes: Sequence[tuple[str, UUID, str, str]]
                   ) -> None:
    """Settle (send key, intent, outcome, detail); a key re-opened by a later intent is not
    touched."""
    conn.execute(
        "UPDATE siyu_send_intent i SET outcome = x.o, detail = x.d, "
        "settled_at = clock_timestamp() FROM unnest(%s::text[], %s::uuid[], %s::text[], "
        "%s::text[]) AS x(k, i, o, d) WHERE i.send_key = x.k AND i.intent_id = x.i",
        ([o[0] for o in outcomes], [o[1] for o in outcomes], [o[2] for o in outcomes],
         [o[3] for o in outcomes]))


def claimed_tasks(conn: Connection[Any], task_ids: Sequence[str], intent_id: UUID
                  ) -> set[str]:
    """The mass-send task ids already settled as the outcome of another intent."""
    return {r["detail"] for r in conn.execute(
        "SELECT DISTINCT detail FROM siyu_send_intent WHERE outcome = 'sent' "
        "AND detail = ANY(%s) AND intent_id <> %s", (list(task_ids), intent_id)).fetchall()}


def settle_intent(conn: Connection[Any], intent_id: UUID, outcome: str, detail: str) -> None:
    """Settle every still-open send key of one intent."""
    conn.execute("UPDATE siyu_send_intent SET outcome = %s, detail = %s, "
                 "settled_at = clock_timestamp() WHERE intent_id = %s AND outcome IS NULL",
                 (outcome, detail, intent_id))


def sender_userids(conn: Connection[Any], senders: Sequence[str]) -> dict[str, str]:
    """Each planned sender's WeCom UserID (:func:`domain.campaign.sender_user_id`; a staff
    member's from the staff directory), for the senders that have one."""
    staff = staff_senders(senders)
    directory: dict[str, str] = {}
    row = conn.execute("SELECT to_regclass('staff_directory') IS NOT NULL AS ok").fetchone()
    if staff and row is not None and row["ok"]:
        directory = {r["staff_id"]: r["wecom_user_id"] for r in conn.execute(
            "SELECT staff_id::text AS staff_id, wecom_user_id FROM staff_directory "
            "WHERE staff_id::text = ANY(%s) AND wecom_user_id IS NOT NULL",
            (staff,)).fetchall()}
    found = {s: sender_user_id(s, directory) for s in senders}
    return {s: u for s, u in found.items() if u}


def note_reminder(conn: Connection[Any], campaign_id: UUID, task_id: str, number: int) -> bool:
    """Note reminder ``number`` of a task before it is asked for; False if noted already."""
    return conn.execute(
        "INSERT INTO siyu_task_reminder VALUES (%s, %s, %s, clock_timestamp()) "
        "ON CONFLICT DO NOTHING RETURNING task_id", (campaign_id, task_id, number)
    ).fetchone() is not None


def settled_member_tasks(conn: Connection[Any], task_ids: Sequence[str]) -> set[str]:
    """Of these WeCom tasks, the members' own already read to the end and any the platform
    created (a send intent holds its msgid): not to be read (again)."""
    return {r["task_id"] for r in conn.execute(
        "SELECT task_id FROM siyu_wecom_member_task WHERE task_id = ANY(%(ids)s) AND settled "
        "UNION SELECT detail FROM siyu_send_intent WHERE outcome = 'sent' "
        "AND detail = ANY(%(ids)s)", {"ids": list(task_ids)}).fetchall()}


def record_member_group_sends(conn: Connection[Any], task_id: str, creator: str,
                              sent_at: datetime, settled: bool,
                              kinds: Sequence[tuple[str, str]]) -> None:
    """A member's own mass send into their groups: each group's result (``sent`` /
    ``quota_full``), and whether the task is settled (no group pending)."""
    with conn.cursor() as curs:
        curs.executemany(
            "INSERT INTO siyu_wecom_member_group_send VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (task_id, chat_id) DO UPDATE SET kind = excluded.kind",
            [(task_id, chat, sent_at, kind) for chat, kind in kinds])
    conn.execute("INSERT INTO siyu_wecom_member_task VALUES (%s, %s, %s, %s) "
                 "ON CONFLICT (task_id) DO UPDATE SET settled = excluded.settled",
                 (task_id, creator, sent_at, settled))


def record_member_sends(conn: Connection[Any], task_id: str, creator: str, sent_at: datetime,
                        settled: bool, kinds: Sequence[tuple[UUID, str]]) -> None:
    """A member's own mass send: each customer's result (``sent`` / ``quota_full``), and
    whether the task is settled (no recipient pending)."""
    with conn.cursor() as curs:
        curs.executemany(
            "INSERT INTO siyu_wecom_member_send VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (task_id, customer_id) DO UPDATE SET kind = excluded.kind",
            [(task_id, customer, sent_at, kind) for customer, kind in kinds])
    conn.execute("INSERT INTO siyu_wecom_member_task VALUES (%s, %s, %s, %s) "
                 "ON CONFLICT (task_id) DO UPDATE SET settled = excluded.settled",
                 (task_id, creator, sent_at, settled))
