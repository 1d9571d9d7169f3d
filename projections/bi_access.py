"""Read access for BI roles: the documented read models (docs/bi.md) and nothing else.

``siyu bi-role NAME`` records the role in ``siyu_bi_role`` (internal) and grants it
SELECT on :data:`BI_RELATIONS` that exist, plus :data:`FUNCTION_INTERNALS` — the internal
tables the documented KPI functions read (``staff_kpi_rollup`` runs with its caller's
rights). Never the event store, the identity index, the vault, the tokens or the other
internal tables.

A read model whose version changes is dropped and created again by its projection runner,
which loses the grants on its tables: the runner calls :func:`grant_bi_roles` after every
``create``, so each recorded role gets SELECT back on what it lacks (nothing to do, no
catalogue write, in the usual case).
"""

from __future__ import annotations

from typing import Any

from psycopg import Cursor, sql

#: Tables and views documented in docs/bi.md (a test keeps the two lists equal).
BI_RELATIONS = (
    "customer_profile", "customer_profile_view", "customer_profile_member", "staff_directory",
    "tag_group", "tag_usage", "segment", "segment_membership", "segment_ledger",
    "segment_size_daily", "customer_lifecycle_history", "staff_assignment",
    "customer_ownership", "customer_current_owner", "campaign", "campaign_send",
    "campaign_exclusion", "campaign_customer_event", "campaign_task_view", "sop",
    "sop_revision", "sop_enrolment", "sop_send", "sop_progress", "sop_step_progress",
    "staff_daily_performance", "staff_daily_channel", "private_domain_users", "staff_target",
    "marketing_task", "marketing_task_view", "staff_alert", "sensitive_term",
    "sensitive_category", "chat_script", "chat_script_version", "chat_script_usage",
    "daily_report", "daily_report_activity", "referral_campaign", "referral_inviter",
    "coupon_ledger", "campaign_task", "activity", "customer_journey", "channel_code",
    "channel_code_friend", "product", "product_category", "order_line", "order_refund",
    "content", "content_cadence", "content_engagement", "content_conversion",
    "funnel_customer", "funnel_daily", "funnel_owner_daily", "cohort_daily", "survey_answer",
    "moment_task", "private_domain_link", "customer_group", "customer_group_member",
    "campaign_group_delivery", "wecom_corp_tag", "wecom_tag_map")

#: Internal tables read by the documented functions (``staff_kpi_rollup``,
#: ``staff_kpi_working_seconds``): readable, but their shape may change between versions.
FUNCTION_INTERNALS = ("staff_kpi_ledger", "staff_kpi_ownership", "staff_kpi_wait",
                      "staff_kpi_schedule")

ROLES_TABLE = "siyu_bi_role"
_LOCK = 7368090  # serialises GRANTs: concurrent ones on one table fail ("tuple concurrently
#                  updated")


def readable() -> tuple[str, ...]:
    """Every relation a BI role may SELECT."""
    return BI_RELATIONS + FUNCTION_INTERNALS


def record_role(curs: Cursor[Any], role: str) -> None:
    """Remember ``role`` so that rebuilt read models grant it again."""
    curs.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (role name PRIMARY KEY, "
                         "recorded_at timestamptz NOT NULL DEFAULT now())")
                 .format(sql.Identifier(ROLES_TABLE)))
    curs.execute(sql.SQL("INSERT INTO {} (role) VALUES (%s) ON CONFLICT DO NOTHING")
                 .format(sql.Identifier(ROLES_TABLE)), (role,))


def grant(curs: Cursor[Any], role: str) -> list[str]:
    """Grant ``role`` SELECT on the readable relations it lacks; returns all it can read."""
    curs.execute(
        "SELECT c.relname, has_table_privilege(%s, c.oid, 'SELECT') AS granted "
        "FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace "
        "AND c.relname = ANY(%s)", (role, list(readable())))
    rows = [(_get(r, "relname", 0), _get(r, "granted", 1)) for r in curs.fetchall()]
    missing = sorted(name for name, granted in rows if not granted)
    if missing:
        curs.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        for relation in missing:
            curs.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(
                sql.Identifier(relation), sql.Identifier(role)))
    return sorted(name for name, _ in rows)


def grant_bi_roles(curs: Cursor[Any]) -> None:
    """Give every recorded BI role what it lacks (after a read model was created)."""
    curs.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (ROLES_TABLE,))
    row = curs.fetchone()
    if row is None or not _get(row, "present", 0):
        return
    curs.execute(sql.SQL("SELECT r.role FROM {} r JOIN pg_roles p ON p.rolname = r.role "
                         "ORDER BY r.role").format(sql.Identifier(ROLES_TABLE)))
    for role in [str(_get(r, "role", 0)) for r in curs.fetchall()]:
        grant(curs, role)


def _get(row: Any, key: str, index: int) -> Any:
    return row[key] if isinstance(row, dict) else row[index]
