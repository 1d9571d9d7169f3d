"""Profile rows staged by COPY (projections.customer_profile.copy_rows) are stored exactly as
the JSON path (``jsonb_populate_recordset``) stores them, whatever their text holds: tabs,
newlines, backslashes, quotes, braces, commas, ``NULL`` and ``\\N`` spelled out, any script."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from projections.customer_profile import copy_rows
from projections.postgres_views import upsert_statement
from projections.segments import store as segment_store
from projections.segments.engine import Memberships

pytestmark = pytest.mark.integration

NASTY = st.text(alphabet=st.one_of(st.sampled_from(list('\t\n\r\\"{},\' NUL')),
                                   st.characters(exclude_categories=["Cs"],
                                                 exclude_characters="\0")), max_size=12)
WORDS = st.one_of(NASTY, st.sampled_from(["NULL", "\\N", "", "{}", "高意向", 'a"b', "a\\b"]))
TIMES = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))]))
JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), WORDS),
                    lambda inner: st.one_of(st.lists(inner, max_size=3),
                                            st.dictionaries(WORDS, inner, max_size=3)),
                    max_leaves=8)


def _strategy(sql_type: str, nullable: bool) -> st.SearchStrategy[Any]:
    base: st.SearchStrategy[Any] = {
        "uuid": st.uuids(), "bigint": st.integers(-(2**62), 2**62),
        "integer": st.integers(-(2**31), 2**31 - 1), "text": WORDS, "boolean": st.booleans(),
        "timestamp with time zone": TIMES, "jsonb": JSON.filter(lambda v: v is not None),
        "text[]": st.lists(st.one_of(WORDS, st.none()), max_size=4),
        "timestamp with time zone[]": st.lists(TIMES, max_size=4),
        "bigint[]": st.lists(st.integers(-(2**62), 2**62), max_size=4),
    }[sql_type]
    return st.one_of(st.none(), base) if nullable else base


@pytest.fixture
def conn(pg_url: str) -> Any:
    with psycopg.connect(pg_url, row_factory=dict_row) as connection:
        yield connection


def test_rows_staged_by_copy_are_stored_as_the_json_path_stores_them(conn: Any) -> None:
    columns = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) AS type, NOT attnotnull AS nullable "
        "FROM pg_attribute WHERE attrelid = 'customer_profile'::regclass AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum").fetchall()
    conn.rollback()
    row = st.fixed_dictionaries({c["attname"]: _strategy(c["type"], c["nullable"])
                                 for c in columns})

    def stored(rows: list[dict[str, Any]], by_copy: bool) -> list[dict[str, Any]]:
        try:
            with conn.cursor() as curs:
                if by_copy:
                    curs.execute(copy_rows.upsert_statement(copy_rows.stage(curs, rows)))
                else:
                    curs.execute(*upsert_statement("customer_profile", "customer_id", rows))
                return list(curs.execute("SELECT * FROM customer_profile ORDER BY customer_id"
                                         ).fetchall())
        finally:
            conn.rollback()

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(row, min_size=1, max_size=4, unique_by=lambda r: r["customer_id"]))
    def check(rows: list[dict[str, Any]]) -> None:
        assert stored(rows, by_copy=True) == stored(rows, by_copy=False)

    check()


def test_stored_rows_updated_in_their_changed_columns_end_as_a_full_upsert_leaves_them(
        conn: Any) -> None:
    columns = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) AS type, NOT attnotnull AS nullable "
        "FROM pg_attribute WHERE attrelid = 'customer_profile'::regclass AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum").fetchall()
    conn.rollback()
    strategies = {c["attname"]: _strategy(c["type"], c["nullable"]) for c in columns}
    row = st.fixed_dictionaries(strategies)

    def stored(before: list[dict[str, Any]], after: list[dict[str, Any]],
               by_changes: bool) -> list[dict[str, Any]]:
        try:
            with conn.cursor() as curs:
                curs.execute(*upsert_statement("customer_profile", "customer_id", before))
                if by_changes:
                    known = {r["customer_id"]: r for r in before}
                    staged = copy_rows.stage_changes(
                        curs, after, [known.get(r["customer_id"]) for r in after])
                    parts = copy_rows.write_statements(staged)
                    found = curs.execute(
                        "WITH w0 AS (" + parts[0] + "), w1 AS (" + parts[1] + ") "
                        "SELECT count(*) AS n FROM w1").fetchone()
                    assert found == {"n": staged.updates}
                else:
                    curs.execute(*upsert_statement("customer_profile", "customer_id", after))
                return list(curs.execute("SELECT * FROM customer_profile ORDER BY customer_id"
                                         ).fetchall())
        finally:
            conn.rollback()

    @st.composite
    def pages(draw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        before = draw(st.lists(row, min_size=1, max_size=4,
                               unique_by=lambda r: r["customer_id"]))
        after = []
        for old in before:  # each column kept (the same object), or a new value
            if draw(st.booleans()):
                after.append({c: old[c] if c == "customer_id" or draw(st.booleans())
                              else draw(strategies[c]) for c in old})
        after += draw(st.lists(row, max_size=2, unique_by=lambda r: r["customer_id"]))
        return before, after

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(pages())
    def check(page: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
        before, after = page
        if after:
            assert stored(before, after, by_changes=True) == stored(before, after,
                                                                    by_changes=False)

    check()


def test_a_row_thought_new_but_stored_fails_the_page(conn: Any) -> None:
    # Given a stored profile row
    with conn.cursor() as curs:
        curs.execute("CREATE TEMP TABLE customer_profile (customer_id uuid PRIMARY KEY, "
                     "tags text[] NOT NULL)")
        one = {"customer_id": curs.execute("SELECT gen_random_uuid() AS id").fetchone()["id"],
               "tags": ["a"]}
        curs.execute("INSERT INTO customer_profile VALUES (%(customer_id)s, %(tags)s)", one)
        # When a page stages it as new
        staged = copy_rows.stage_changes(curs, [{**one, "tags": ["b"]}], [None])
        # Then its insert fails rather than leaving the stored row as it was
        with pytest.raises(psycopg.errors.UniqueViolation):
            curs.execute(copy_rows.write_statements(staged)[0])
    conn.rollback()


def test_a_row_thought_stored_but_absent_fails_the_page(conn: Any) -> None:
    # Given no profile row for a customer
    with conn.cursor() as curs:
        curs.execute("CREATE TEMP TABLE customer_profile (customer_id uuid PRIMARY KEY, "
                     "tags text[] NOT NULL)")
        one = {"customer_id": curs.execute("SELECT gen_random_uuid() AS id").fetchone()["id"],
               "tags": ["a"]}
        # When a page stages it as stored, and flushes its writes with the segments'
        staged = copy_rows.stage_changes(curs, [{**one, "tags": ["b"]}], [one])
        # Then the page fails rather than losing the row
        with pytest.raises(RuntimeError, match="0 rows written where 1 were expected"):
            segment_store.flush(curs, Memberships(), segment_store.Also(
                copy_rows.write_statements(staged), [], staged.updates))
    conn.rollback()


def test_a_second_page_in_one_transaction_writes_only_its_own_rows(conn: Any) -> None:
    # Given a profile staged and written, then deleted, in the same transaction
    with conn.cursor() as curs:
        base = curs.execute("SELECT * FROM customer_profile LIMIT 0")
        names = [d.name for d in base.description]
        first = {n: None for n in names}
        curs.execute("SELECT gen_random_uuid() AS a, gen_random_uuid() AS b")
        ids = curs.fetchone()
        assert ids is not None
        row = conn.execute("SELECT * FROM jsonb_populate_record(null::customer_profile, "
                           "'{}'::jsonb)").fetchone()
        defaults = {n: (row[n] if row[n] is not None else first[n]) for n in names}
        one = {**defaults, "customer_id": ids["a"], "position": 1, "first_channel": "qr",
               "first_seen_at": datetime(2026, 1, 1, tzinfo=UTC)}
        for column in ("identities", "staff_relations", "friend_changes", "order_lines"):
            one[column] = []
        for column in ("tag_details", "consents", "sku_quantities", "category_orders",
                       "topic_views", "stream_versions"):
            one[column] = {}
        for column in names:
            if one[column] is None and column.endswith(("_ids", "tags", "groups", "accounts",
                                                        "withdrawn", "times", "amounts")):
                one[column] = []
        for column in names:
            if one[column] is None and column in ("ever_friend", "dnd"):
                one[column] = False
        for column in names:
            if one[column] is None and column.endswith(("count", "_fen", "balance", "views",
                                                        "forwards", "received", "sent",
                                                        "joined", "placed", "cancelled",
                                                        "issued", "redeemed", "brought")):
                one[column] = 0
        one["updated_at"] = datetime(2026, 1, 1, tzinfo=UTC)
        curs.execute(copy_rows.upsert_statement(copy_rows.stage(curs, [one])))
        curs.execute("DELETE FROM customer_profile WHERE customer_id = %s", (ids["a"],))
        # When another page stages only another customer
        two = {**one, "customer_id": ids["b"]}
        curs.execute(copy_rows.upsert_statement(copy_rows.stage(curs, [two])))
        # Then the first is not written again
        found = curs.execute("SELECT customer_id FROM customer_profile").fetchall()
        assert [r["customer_id"] for r in found] == [ids["b"]]
    conn.rollback()


def test_the_staging_table_follows_the_profile_table_s_columns(conn: Any) -> None:
    # Given rows staged and committed: the staging table stays, emptied by the commit
    with conn.cursor() as curs:
        curs.execute("CREATE TEMP TABLE customer_profile (customer_id uuid PRIMARY KEY, "
                     "tags text[] NOT NULL)")
        ids = [r["id"] for r in curs.execute(
            "SELECT gen_random_uuid() AS id FROM generate_series(1, 3)").fetchall()]
        curs.execute(copy_rows.upsert_statement(copy_rows.stage(
            curs, [{"customer_id": ids[0], "tags": ["a\tb"]}])))
    conn.commit()
    with conn.cursor() as curs:
        assert curs.execute("SELECT count(*) AS n FROM customer_profile_staging"
                            ).fetchone() == {"n": 0}
        # When the profile table gains a column (a new version of it)
        curs.execute("ALTER TABLE customer_profile ADD COLUMN level text NOT NULL DEFAULT ''")
        curs.execute(copy_rows.upsert_statement(copy_rows.stage(
            curs, [{"customer_id": ids[1], "tags": [], "level": "gold"}])))
        # Then the staging table is made again with it, and only the page's row is written
        found = curs.execute("SELECT customer_id, tags, level FROM customer_profile "
                             "ORDER BY level").fetchall()
        assert found == [{"customer_id": ids[0], "tags": ["a\tb"], "level": ""},
                         {"customer_id": ids[1], "tags": [], "level": "gold"}]
        # And when it loses one, the staging table loses it too
        curs.execute("ALTER TABLE customer_profile DROP COLUMN level")
        curs.execute(copy_rows.upsert_statement(copy_rows.stage(
            curs, [{"customer_id": ids[2], "tags": ["c"]}])))
        assert curs.execute("SELECT count(*) AS n FROM customer_profile").fetchone() == {"n": 3}
    conn.rollback()


@pytest.mark.parametrize("stored", [False, True], ids=["new", "stored"])
def test_a_none_in_a_column_that_cannot_be_null_fails_the_page(conn: Any, stored: bool) -> None:
    # Given a profile table whose tags cannot be NULL and have a default, and a row for it
    with conn.cursor() as curs:
        curs.execute("CREATE TEMP TABLE customer_profile (customer_id uuid PRIMARY KEY, "
                     "tags text[] NOT NULL DEFAULT '{}', note text)")
        one = {"customer_id": curs.execute("SELECT gen_random_uuid() AS id").fetchone()["id"],
               "tags": ["a"], "note": None}
        # When a page stages it with no tags (a fold's mistake), as new or as stored
        # Then staging fails: NULL there would mean "keep the stored value" or "the default"
        with pytest.raises(ValueError, match=r"customer_profile\.tags cannot be NULL"):
            copy_rows.stage_changes(curs, [{**one, "tags": None}], [one if stored else None])
    conn.rollback()


def test_times_of_any_year_and_zone_are_stored_to_the_microsecond(conn: Any) -> None:
    # Given a profile table with times, the staging holding them as microseconds
    with conn.cursor() as curs:
        curs.execute("CREATE TEMP TABLE customer_profile (customer_id uuid PRIMARY KEY, "
                     "seen_at timestamptz NOT NULL, left_at timestamptz)")
    conn.commit()
    any_time = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                            timezones=st.sampled_from([UTC, timezone(timedelta(hours=-9))]))

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.tuples(st.uuids(), any_time, st.none() | any_time), min_size=1,
                    max_size=4, unique_by=lambda r: r[0]), st.booleans())
    def check(rows: list[tuple[Any, datetime, datetime | None]], stored: bool) -> None:
        page = [{"customer_id": c, "seen_at": s, "left_at": t} for c, s, t in rows]
        try:
            with conn.cursor() as curs:
                # When they are staged, new or over stored rows of other times
                if stored:
                    curs.execute(*upsert_statement("customer_profile", "customer_id", [
                        {**r, "seen_at": datetime(2026, 1, 1, tzinfo=UTC)} for r in page]))
                    staged = copy_rows.stage_changes(curs, page, [
                        {**r, "seen_at": datetime(2026, 1, 1, tzinfo=UTC)} for r in page])
                    for statement in copy_rows.write_statements(staged):
                        curs.execute(statement)
                else:
                    curs.execute(copy_rows.upsert_statement(copy_rows.stage(curs, page)))
                found = curs.execute("SELECT * FROM customer_profile").fetchall()
            # Then each is stored as the instant it names
            assert sorted(found, key=lambda r: r["customer_id"]) == sorted(
                page, key=lambda r: r["customer_id"])
        finally:
            conn.rollback()

    check()
    with conn.cursor() as curs:
        curs.execute("DROP TABLE pg_temp.customer_profile")
    conn.commit()


def test_the_staging_table_of_times_is_kept_from_page_to_page(conn: Any) -> None:
    # Given a profile table with a time, and a page staged
    with conn.cursor() as curs:
        curs.execute("CREATE TEMP TABLE customer_profile (customer_id uuid PRIMARY KEY, "
                     "seen_at timestamptz NOT NULL)")
        ids = [r["id"] for r in curs.execute(
            "SELECT gen_random_uuid() AS id FROM generate_series(1, 2)").fetchall()]
        at = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
        staging = "SELECT 'pg_temp.customer_profile_staging'::regclass::oid AS t"
        copy_rows.stage(curs, [{"customer_id": ids[0], "seen_at": at}])
        first = curs.execute(staging).fetchone()
        # When the next page is staged
        copy_rows.stage(curs, [{"customer_id": ids[1], "seen_at": at}])
        # Then it goes into the same staging table (its times as bigint, the table's alike)
        assert curs.execute(staging).fetchone() == first
        assert curs.execute("SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute "
                            "WHERE attrelid = 'pg_temp.customer_profile_staging'::regclass "
                            "AND attname = 'seen_at'").fetchone() == {"type": "bigint"}
    conn.rollback()
