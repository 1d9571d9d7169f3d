"""Stored events recorded by earlier code stay readable, and fold to the same read models.

``tests/fixtures/stored_events.json.gz`` holds every event and snapshot row that the code
of before issue 14 stored for a scenario touching every event class of every aggregate
(:mod:`tests.fixtures.make_stored_events`), and the read models that code built from them.
The rows go into a fresh event store *as stored* (topics are module paths: a class moved
without ``register_topic`` no longer resolves); the current code must read every aggregate,
snapshots included, and build read models equal to the recorded ones.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from functools import cache
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.utils import get_topic, resolve_topic
from psycopg.rows import dict_row

from application.app import Siyu
from siyu.bootstrap import build_application
from siyu.processes import catch_up
from tests.conftest import SECRET
from tests.fixtures.make_stored_events import (
    EVENTS_TABLE,
    FIXTURE,
    SNAPSHOTS_TABLE,
    dump_table,
)

pytestmark = pytest.mark.integration

#: Columns left out of the comparison (table -> columns), each with why. None today: the
#: rows go in with their stored notification ids, and every time a read model keeps comes
#: from an event (business time, or the library's recording ``timestamp``), never from now().
#: A column filled by the database clock or a sequence would be listed here.
VOLATILE: dict[str, set[str]] = {}


@cache
def fixture() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(gzip.decompress(FIXTURE.read_bytes()))
    return loaded


def insert_as_stored(url: str, table: str, rows: list[dict[str, Any]]) -> None:
    columns = ["originator_id", "originator_version", "topic", "state"]
    if table == EVENTS_TABLE:
        columns.insert(0, "notification_id")
    with psycopg.connect(url) as conn, conn.cursor() as curs:
        curs.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join(['%s'] * len(columns))})",
            [[r["state"].encode() if c == "state" else r[c] for c in columns] for r in rows])
        if table == EVENTS_TABLE:  # the next event goes after the stored ones
            curs.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'notification_id'), "
                         f"(SELECT max(notification_id) FROM {table}))")


@pytest.fixture
def replayed(pg_url: str) -> Iterator[Siyu]:
    """The current application over a fresh store holding the fixture's rows."""
    app = build_application(pg_url, SECRET)  # creates the event store's tables
    insert_as_stored(pg_url, EVENTS_TABLE, fixture()["events"])
    insert_as_stored(pg_url, SNAPSHOTS_TABLE, fixture()["snapshots"])
    yield app
    app.close()


def test_the_fixture_holds_every_aggregate_type_and_snapshots() -> None:
    # Given the fixture recorded before issue 14
    events, snapshots = fixture()["events"], fixture()["snapshots"]
    # Then it holds the 20 aggregate types of then, and snapshots of each type the
    # application snapshots (Siyu.snapshotting_intervals)
    created = {e["topic"] for e in events if e["originator_version"] == 1}
    assert len({t.rsplit(".", 1)[0] for t in created}) == 20
    assert {json.loads(s["state"])["topic"] for s in snapshots} == {
        "domain.customer:Customer", "domain.staff:Staff", "domain.segment:Segment",
        "domain.campaign:Campaign", "domain.referral:ReferralCampaign"}


def test_every_stored_topic_resolves_to_an_event_class_of_today() -> None:
    # Given every topic stored by the earlier code (events, snapshots, snapshotted classes)
    topics = {e["topic"] for e in fixture()["events"]}
    topics |= {s["topic"] for s in fixture()["snapshots"]}
    topics |= {json.loads(s["state"])["topic"] for s in fixture()["snapshots"]}
    # Then each resolves (a moved class needs register_topic with its old topic)
    unresolved = []
    for topic in sorted(topics):
        try:
            resolve_topic(topic)
        except Exception as error:  # TopicError, or the ImportError of a moved module
            unresolved.append(f"{topic}: {error}")
    assert not unresolved, "\n".join(unresolved)


def test_every_stored_aggregate_is_read_by_todays_application(
        replayed: Siyu) -> None:
    # Given the stored rows of every stream
    events = fixture()["events"]
    last = {UUID(e["originator_id"]): e["originator_version"] for e in events}
    created = {UUID(e["originator_id"]): e["topic"] for e in events
               if e["originator_version"] == 1}
    snapshotted = {UUID(s["originator_id"]) for s in fixture()["snapshots"]}
    for originator_id, version in sorted(last.items()):
        # When the application reads it (from its latest snapshot, if any)
        aggregate: Any = replayed.repository.get(originator_id)
        # Then it is at its last stored version, of the class its creation event names
        assert aggregate.version == version, originator_id
        aggregate_topic = created[originator_id].rsplit(".", 1)[0]
        assert isinstance(aggregate, resolve_topic(aggregate_topic)), originator_id
        if originator_id in snapshotted:
            # and a snapshot gives the same state as folding every event from the start
            stored = replayed.recorder.select_events(originator_id)
            folded = project_aggregate(None, (replayed.mapper.to_domain_event(s)
                                              for s in stored))
            assert folded is not None
            assert vars(folded) == vars(aggregate), originator_id


def comparable(table: dict[str, Any], columns: list[str], volatile: set[str]
               ) -> list[list[Any]]:
    """The table's rows restricted to ``columns`` minus the volatile ones, sorted."""
    keep = [table["columns"].index(c) for c in columns if c not in volatile]
    rows = [[row[i] for i in keep] for row in table["rows"]]
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, ensure_ascii=False))


def describe(name: str, columns: list[str], expected: list[list[Any]],
             actual: list[list[Any]]) -> str:
    """The first row only then and the first only now, in the columns where they differ."""
    then = next((r for r in expected if r not in actual), None)
    now = next((r for r in actual if r not in expected), None)
    differ = [i for i, _ in enumerate(columns)
              if then is None or now is None or then[i] != now[i]]
    def show(row: list[Any] | None) -> object:
        return None if row is None else {columns[i]: row[i] for i in differ}
    return (f"{name}: {len(expected)} rows then, {len(actual)} now; "
            f"e.g. then {show(then)} now {show(now)}")


def test_todays_projections_build_the_read_models_of_then(
        replayed: Siyu, pg_url: str) -> None:
    # Given the stored rows
    recorded: dict[str, Any] = fixture()["read_models"]
    # When today's projections build every read model from the log
    catch_up(replayed)
    # Then every table of then holds the same rows (columns added since are not compared)
    with psycopg.connect(pg_url, row_factory=dict_row) as conn:
        built = {name: dump_table(conn, name) for name in sorted(recorded)}
    differences = []
    for name, then in sorted(recorded.items()):
        missing = set(then["columns"]) - set(built[name]["columns"])
        assert not missing, f"{name} lost columns {sorted(missing)}"
        volatile = VOLATILE.get(name, set())
        expected = comparable(then, then["columns"], volatile)
        actual = comparable(built[name], then["columns"], volatile)
        if expected != actual:
            differences.append(describe(name, [c for c in then["columns"] if c not in volatile],
                                        expected, actual))
    assert not differences, "\n".join(differences)


def test_get_topic_of_an_event_class_is_its_stored_topic() -> None:
    # A guard on the guard: stored topics are what get_topic says of today's classes
    from domain.customer import Customer

    assert get_topic(Customer.FriendAdded) in {e["topic"] for e in fixture()["events"]}
