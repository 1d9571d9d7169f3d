"""What planning a group campaign reads (:mod:`application.campaign_groups`): which owners
are current members, and how many mass messages each group had from the platform in its quota period.

A group's quota period (the corp's rule: month, week or day, Beijing time) counts the
platform's group messages WeCom accepted (``siyu_send_intent`` ``sent`` on channel
``wecom_group``): SOP group steps (``sop-group:<sop>:<step>:<group>:<day>``) and group
campaigns (``campaign-group:<campaign>:<group>``), by the intent's time — and the mass
messages members sent into the group themselves from the WeCom client, synced from WeCom's
task list (``siyu_wecom_member_group_send``, :mod:`workers.wecom_quota`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection

from domain.campaign_groups import NO_SEGMENT

CAMPAIGN_PREFIX = "campaign-group:"
SOP_PREFIX = "sop-group:"


def campaign_group_key(campaign_id: object, group_id: str) -> str:
    """The send key of a group campaign's message into one group."""
    return f"{CAMPAIGN_PREFIX}{campaign_id}:{group_id}"


def group_of(send_key: str) -> str | None:
    """The group a group send key is about (None: not a group key)."""
    parts = send_key.split(":")
    if send_key.startswith(CAMPAIGN_PREFIX) and len(parts) == 3:
        return parts[2]
    if send_key.startswith(SOP_PREFIX) and len(parts) == 5:
        return parts[3]
    return None


def _exists(conn: Connection[Any], table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL AS ok", (table,)).fetchone()
    return bool(row and row["ok"])


def current_members(conn: Connection[Any], user_ids: Sequence[str]) -> set[str]:
    """Those of ``user_ids`` that are the WeCom UserID of a current staff member."""
    if not user_ids or not _exists(conn, "staff_directory"):
        return set()
    return {r["wecom_user_id"] for r in conn.execute(
        "SELECT wecom_user_id FROM staff_directory WHERE wecom_user_id = ANY(%s) "
        "AND left_at IS NULL", (list(user_ids),)).fetchall()}


def known_members(conn: Connection[Any], user_ids: Sequence[str]) -> set[str]:
    """Those of ``user_ids`` the staff directory knows (current or former members)."""
    if not user_ids or not _exists(conn, "staff_directory"):
        return set()
    return {r["wecom_user_id"] for r in conn.execute(
        "SELECT wecom_user_id FROM staff_directory WHERE wecom_user_id = ANY(%s)",
        (list(user_ids),)).fetchall()}


def period_sends(conn: Connection[Any], groups: Sequence[str], since: datetime,
                 until: datetime, limit: int = 0) -> Counter[str]:
    """Each group's mass messages from the platform WeCom accepted in [since, until), less
    a group campaign's whose task expired (WeCom sent nothing), plus those members sent
    into it themselves from the WeCom client (``siyu_wecom_member_group_send``, synced by
    :mod:`workers.wecom_quota`); a group WeCom answered status 3 in the period (it had its
    quota) counts ``limit``: full."""
    if not _exists(conn, "siyu_send_intent"):
        return Counter()
    delivered = _exists(conn, "campaign_group_delivery")
    rows = conn.execute(
        "SELECT send_key FROM siyu_send_intent WHERE channel = 'wecom_group' "
        "AND outcome = 'sent' AND started_at >= %s AND started_at < %s",
        (since, until)).fetchall()
    wanted = set(groups)
    expired: set[str] = set()
    full: set[str] = set()
    if delivered:
        expired = {campaign_group_key(r["campaign_id"], r["chat_id"]) for r in conn.execute(
            "SELECT campaign_id, chat_id FROM campaign_group_delivery WHERE status = 'expired' "
            "AND chat_id = ANY(%s)", (list(wanted),)).fetchall()}
        full = {r["chat_id"] for r in conn.execute(
            "SELECT DISTINCT chat_id FROM campaign_group_delivery WHERE status = "
            "'already_received' AND chat_id = ANY(%s) AND at >= %s AND at < %s",
            (list(wanted), since, until)).fetchall()}
    counts = Counter(g for r in rows if r["send_key"] not in expired
                     and (g := group_of(r["send_key"])) in wanted)
    if _exists(conn, "siyu_wecom_member_group_send"):  # members' own sends (WeCom client)
        for r in conn.execute(
                "SELECT chat_id, kind FROM siyu_wecom_member_group_send WHERE chat_id = ANY(%s) "
                "AND sent_at >= %s AND sent_at < %s", (list(wanted), since, until)).fetchall():
            if r["kind"] == "sent":
                counts[r["chat_id"]] += 1
            else:
                full.add(r["chat_id"])
    for group in full:
        counts[group] = max(counts[group], limit)
    return counts


def running_group_campaign_ids(conn: Connection[Any]) -> list[UUID]:
    """Running campaigns without a segment (into customer groups), from ``campaign``."""
    return [r["campaign_id"] for r in conn.execute(
        "SELECT campaign_id FROM campaign WHERE state = 'running' AND segment_id = %s "
        "ORDER BY campaign_id", (NO_SEGMENT,)).fetchall()]


def followed_group_campaign_ids(conn: Connection[Any], since: datetime) -> list[UUID]:
    """Launched group campaigns not ended before ``since`` (whose WeCom tasks may still be
    awaiting their owners' confirmation), from ``campaign``."""
    return [r["campaign_id"] for r in conn.execute(
        "SELECT campaign_id FROM campaign WHERE segment_id = %s AND launched_at IS NOT NULL "
        "AND coalesce(completed_at, cancelled_at, 'infinity') >= %s ORDER BY campaign_id",
        (NO_SEGMENT, since)).fetchall()]
