"""The test database emptied between tests: no row of an earlier test survives, whether
its table was emptied by ``DELETE`` or ``TRUNCATE``, and what creating the schema wrote is
there again, every sequence where the build left it."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from tests.support.clean_database import CleanDatabase


def _contents(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    tables = conn.execute("SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
                          "WHERE schemaname = 'public' ORDER BY 1").fetchall()
    return {name: sorted(conn.execute(sql.SQL("SELECT * FROM {}").format(
        sql.SQL(name))).fetchall(), key=repr) for (name,) in tables}


def _sequences(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT sequencename, last_value FROM pg_sequences "
                        "WHERE schemaname = 'public' ORDER BY 1").fetchall()


def test_every_row_a_test_wrote_is_gone_and_the_schema_rows_are_back(
        pg_url: str, test_database: CleanDatabase) -> None:
    # Given the emptied schema as a test finds it
    with psycopg.connect(pg_url, autocommit=True) as conn:
        before, sequences = _contents(conn), _sequences(conn)
        # When a test writes rows: a few in small tables, many in one (over a megabyte on
        # disk), into the log, and changes and deletes rows the schema's creation wrote
        conn.execute("INSERT INTO siyu_projection_quarantine VALUES ('p', 1, "
                     "gen_random_uuid(), 1, 't', 'E', 'e', now(), NULL)")
        conn.execute("INSERT INTO staff_directory (staff_id, role, department, hired_at, "
                     "last_version) SELECT gen_random_uuid(), repeat('x', 200), 'd', now(), 1 "
                     "FROM generate_series(1, 6000)")
        assert conn.execute("SELECT pg_relation_size('staff_directory')"
                            ).fetchone()[0] > 1 << 20  # type: ignore[index]
        conn.execute("INSERT INTO siyu_events (originator_id, originator_version, topic, "
                     "state) VALUES (gen_random_uuid(), 1, 't', '\\x00')")
        conn.execute("UPDATE siyu_read_model_version SET version = version + 100")
        conn.execute("DELETE FROM segment")
        assert _contents(conn) != before
    # Then the next test finds exactly what the first one did
    test_database.empty()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert _contents(conn) == before
        assert _sequences(conn) == sequences
