"""A read-only PostgreSQL role for BI tools: the documented read models and nothing else.

``siyu bi-role NAME [--password …]`` creates (or updates) a login role that may SELECT
the tables and views of ``docs/bi.md`` (:mod:`projections.bi_access`) — never the event
store, the identity index, the vault or the tokens (``siyu_*``, ``api_token``). The role
is recorded, so read models rebuilt at a new version grant it again.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from projections import bi_access


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
        with conn.transaction(), conn.cursor() as curs:
            curs.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(schema[0]), name))
            curs.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(
                sql.Identifier(schema[0]), name))
            bi_access.record_role(curs, role)
            return bi_access.grant(curs, role)
