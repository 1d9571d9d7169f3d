"""A read-only PostgreSQL role for BI tools: the documented read models and nothing else.

``siyu bi-role NAME [--password …]`` creates (or updates) a login role that
may SELECT the tables and views of ``docs/bi.md`` — never the event store,
the identity index, the vault or the tokens (``siyu_*``, ``api_token``).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

#: The documented read models (docs/bi.md).
BI_RELATIONS = ("customer_profile", "customer_profile_view", "customer_profile_member",
                "staff_directory", "tag_group", "tag_usage", "segment", "segment_membership",
                "segment_ledger", "segment_size_daily", "customer_lifecycle_history",
                "staff_assignment", "customer_ownership", "customer_current_owner",
                "campaign", "campaign_send", "campaign_exclusion", "campaign_customer_event",
                "staff_alert", "sensitive_term", "sensitive_category", "chat_script",
                "chat_script_version", "chat_script_usage", "daily_report",
                "daily_report_activity")


def grant_bi_role(database_url: str, role: str, password: str | None = None) -> list[str]:
    """Create or update ``role`` with SELECT on the BI relations only; returns them."""
    name = sql.Identifier(role)
    with psycopg.connect(database_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
                         .format(name))
        if password:
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(name, sql.Literal(password)))
        schema = conn.execute("SELECT current_schema()").fetchone()
        assert schema is not None
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
            sql.Identifier(schema[0]), name))
        conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(
            sql.Identifier(schema[0]), name))
        present = [r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relname = ANY(%s)", (list(BI_RELATIONS),))]
        for relation in sorted(present):
            conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(relation),
                                                                   name))
    return sorted(present)
