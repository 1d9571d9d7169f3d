"""Segment membership maintained with the profiles: live equals rebuild, equals recomputation,
the ledger is consistent, lifecycles partition the customers, and kill -9 loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from application.app import Siyu
from projections.postgres_views import CustomerProfileView
from projections.runner import BatchRunner, Tracker
from projections.segments.rule_sql import compile_rule
from projections.segments.store import LIFECYCLE_SEGMENTS
from tests.integration.projections.test_segment_sql_on_postgres import populate

pytestmark = pytest.mark.integration

LEDGER = ("segment_id, rule_version, customer_id, change, at, occurred_at, cause, "
          "cause_position, cause_event, backfilled")
Snapshot = dict[str, list[tuple[Any, ...]]]


def snapshot(url: str) -> Snapshot:
    """Every segment table, in a stable order (the ledger in entry order, without entry_id)."""
    with psycopg.connect(url) as conn:
        return {
            "ledger": conn.execute(f"SELECT {LEDGER} FROM segment_ledger ORDER BY entry_id"
                                   ).fetchall(),
            "membership": conn.execute("SELECT * FROM segment_membership "
                                       "ORDER BY segment_id, customer_id").fetchall(),
            "check": conn.execute("SELECT * FROM segment_check "
                                  "ORDER BY segment_id, customer_id").fetchall(),
            "segment": conn.execute("SELECT * FROM segment ORDER BY segment_id").fetchall(),
        }


def tracker_of(app: Siyu) -> Tracker:
    return Tracker(app.factory.datastore)  # type: ignore[attr-defined]


def customer_ids(url: str) -> list[UUID]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT customer_id FROM customer_profile ORDER BY customer_id").fetchall()]


def members_by_segment(url: str) -> dict[UUID, set[UUID]]:
    with psycopg.connect(url) as conn:
        out: dict[UUID, set[UUID]] = defaultdict(set)
        for segment_id, customer_id in conn.execute(
                "SELECT segment_id, customer_id FROM segment_membership").fetchall():
            out[segment_id].add(customer_id)
        return out


def recomputed(url: str, at: datetime) -> dict[UUID, set[UUID]]:
    """Each live segment's members by its rule in SQL over the profiles at ``at``."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        live = conn.execute("SELECT segment_id, rule FROM segment WHERE archived_at IS NULL"
                            ).fetchall()
        out: dict[UUID, set[UUID]] = {}
        for segment in live:
            condition, params = compile_rule(segment["rule"])
            out[segment["segment_id"]] = {r["customer_id"] for r in conn.execute(
                f"SELECT p.customer_id FROM customer_profile p WHERE {condition}",
                {**params, "at": at}).fetchall()}
        return out


def assert_members_are_the_rules_at(url: str, at: datetime) -> None:
    expected = recomputed(url, at)
    got = members_by_segment(url)
    for segment_id, members in expected.items():
        assert got.get(segment_id, set()) == members, segment_id
    archived = set(got) - set(expected)
    assert not archived, "archived segments keep no members"


def assert_the_ledger_is_consistent(url: str) -> None:
    with psycopg.connect(url) as conn:
        entries = conn.execute("SELECT segment_id, customer_id, change FROM segment_ledger "
                               "ORDER BY entry_id").fetchall()
        counts: dict[UUID, int] = dict(conn.execute(
            "SELECT segment_id, member_count FROM segment").fetchall())
    last: dict[tuple[UUID, UUID], str] = {}
    for segment_id, customer_id, change in entries:
        previous = last.get((segment_id, customer_id), "EXITED")
        assert change != previous, f"{change} twice in a row for {(segment_id, customer_id)}"
        last[(segment_id, customer_id)] = change
    members = members_by_segment(url)
    inside = {k for k, change in last.items() if change == "ENTERED"}
    assert inside == {(s, c) for s, cs in members.items() for c in cs}
    assert counts == {s: len(members.get(s, set())) for s in counts}


def assert_lifecycles_partition_the_customers(url: str) -> None:
    members = members_by_segment(url)
    for customer_id in customer_ids(url):
        stages = [stage for stage, s in LIFECYCLE_SEGMENTS.items()
                  if customer_id in members.get(s, set())]
        assert len(stages) == 1, (customer_id, stages)


def define_segments(app: Siyu, at: datetime) -> dict[str, UUID]:
    rules: dict[str, dict[str, Any]] = {
        "buyers": {"ordered": {"atLeast": 2, "withinDays": 30}},
        "sleepers": {"inactiveDays": 30},
        "vip friends": {"all": [{"tagIn": ["vip"]}, {"isFriend": True}]},
        "spenders": {"gmv": {"atLeastFen": 30_000, "withinDays": 90}},
        "recent": {"any": [{"rfm": {"recencyAtLeast": 4}}, {"activeWithinDays": 7}]},
        "not new": {"not": {"lifecycle": "NEW"}},
    }
    return {name: app.segments.define(name, "", rule, "staff:m", at)[0]
            for name, rule in rules.items()}


def live_history(app: Siyu, url: str, live: BatchRunner, now: datetime,
                 check: bool) -> None:
    """Events, definitions, revisions, archiving, merges and ticks, caught up in between."""
    # Given customers, then segments, then more customers
    populate(app, now, customers=150, events=900, seed=1)
    live.catch_up()
    ids = define_segments(app, now)
    populate(app, now, customers=180, events=600, seed=2)
    live.catch_up()
    app.segments.record_tick(now + timedelta(hours=1))
    live.catch_up()
    if check:
        assert_members_are_the_rules_at(url, now + timedelta(hours=1))
    # When a rule is revised, customers merge, and time passes
    app.segments.revise(ids["buyers"], {"ordered": {"atLeast": 1, "withinDays": 60}},
                       "staff:m", now)
    survivor, absorbed, other = customer_ids(url)[:3]
    app.identity.merge(survivor, absorbed, "staff:m", now)
    populate(app, now, customers=200, events=500, seed=3)
    app.segments.record_tick(now + timedelta(days=10))
    live.catch_up()
    if check:
        assert_members_are_the_rules_at(url, now + timedelta(days=10))
    app.segments.archive(ids["vip friends"], "staff:m", now)
    app.segments.record_tick(now + timedelta(days=40))
    app.identity.merge(survivor, other, "staff:m", now)
    live.catch_up()
    app.identity.unmerge(absorbed, "staff:m", now)
    populate(app, now, customers=200, events=400, seed=4)
    app.segments.revise(ids["sleepers"], {"inactiveDays": 60}, "staff:m", now, name="long sleepers")
    live.catch_up()
    for days in (100, 400):  # far enough for every window to expire
        app.segments.record_tick(now + timedelta(days=days))
        live.catch_up()
        if check:
            assert_members_are_the_rules_at(url, now + timedelta(days=days))
    # and customers act again after the far-future ticks (checks are due again)
    populate(app, now, customers=200, events=300, seed=9)
    live.catch_up()


def test_a_rebuild_writes_the_same_ledger_members_checks_and_counts_as_the_live_projection(
        pg_app: Siyu, pg_url: str, now: datetime) -> None:
    # Given a live projection in small pages through a varied history
    tracker = tracker_of(pg_app)
    live_history(pg_app, pg_url, BatchRunner(pg_app, CustomerProfileView(), tracker,
                                             page_size=50), now, check=False)
    before = snapshot(pg_url)
    assert len(before["ledger"]) > 1000 and before["check"]
    # (segments defined after events are backfilled from the log, so the definition itself
    # usually has nothing left to reconcile: DEFINED entries appear only for differences)
    assert {row[6] for row in before["ledger"]} >= {"EVENT", "REVISED", "ARCHIVED",
                                                     "TICK", "MERGED", "UNMERGED"}
    assert any(row[9] for row in before["ledger"]), "some entries are backfilled"
    # When it is rebuilt from the log in pages of another size
    BatchRunner(pg_app, CustomerProfileView(), tracker, page_size=1000).rebuild()
    # Then every segment table is the same, row for row
    after = snapshot(pg_url)
    for table in before:
        assert after[table] == before[table], table


def test_after_each_tick_the_members_are_the_customers_the_rules_select_at_that_instant(
        pg_app: Siyu, pg_url: str, now: datetime) -> None:
    # Given a live projection; When ticks are recorded at later and later instants
    # Then after each, every live segment's members are its rule evaluated at the tick
    live = BatchRunner(pg_app, CustomerProfileView(), tracker_of(pg_app), page_size=50)
    live_history(pg_app, pg_url, live, now, check=True)
    # and a last tick, after every event, agrees too
    pg_app.segments.record_tick(now + timedelta(days=401))
    live.catch_up()
    assert_members_are_the_rules_at(pg_url, now + timedelta(days=401))


def test_the_ledger_alternates_entries_and_exits_and_ends_in_the_current_membership(
        pg_app: Siyu, pg_url: str, now: datetime) -> None:
    live = BatchRunner(pg_app, CustomerProfileView(), tracker_of(pg_app), page_size=50)
    live_history(pg_app, pg_url, live, now, check=False)
    assert_the_ledger_is_consistent(pg_url)


def test_every_customer_is_in_exactly_one_lifecycle_segment(
        pg_app: Siyu, pg_url: str, now: datetime) -> None:
    # Given customers projected and caught up
    populate(pg_app, now, customers=200, events=1_500, seed=5)
    live = BatchRunner(pg_app, CustomerProfileView(), tracker_of(pg_app), page_size=50)
    live.catch_up()
    # Then each is in one lifecycle stage, as at every later tick
    assert_lifecycles_partition_the_customers(pg_url)
    for days in (1, 31, 90):
        pg_app.segments.record_tick(now + timedelta(days=days))
        live.catch_up()
        assert_lifecycles_partition_the_customers(pg_url)
        assert_members_are_the_rules_at(pg_url, now + timedelta(days=days))
    with psycopg.connect(pg_url) as conn:
        stages: dict[str, int] = dict(conn.execute("SELECT name, member_count FROM segment WHERE built_in"
                                   ).fetchall())
    assert sum(stages.values()) == len(customer_ids(pg_url))
    assert stages["Lifecycle: SILENT"] > 0


RUNNER = textwrap.dedent("""
    import sys
    from siyu.bootstrap import build_application
    from projections.runner import BatchRunner, Tracker
    from projections.postgres_views import CustomerProfileView
    app = build_application(sys.argv[1], b"x" * 32)
    runner = BatchRunner(app, CustomerProfileView(), Tracker(app.factory.datastore),
                         page_size=10)
    print("ready", flush=True)
    runner.run_forever()
""")


def test_kill_9_during_projection_leaves_the_same_ledger_as_a_clean_rebuild(
        pg_app: Siyu, pg_url: str, now: datetime) -> None:
    # Given a log of customer events, segment definitions and ticks, waiting to be projected
    populate(pg_app, now, customers=200, events=1_200, seed=6)
    ids = define_segments(pg_app, now)
    populate(pg_app, now, customers=250, events=800, seed=7)
    pg_app.segments.record_tick(now + timedelta(days=35))
    pg_app.segments.revise(ids["spenders"], {"gmv": {"atLeastFen": 5_000, "withinDays": 30}},
                          "staff:m", now)
    populate(pg_app, now, customers=250, events=800, seed=8)
    pg_app.segments.record_tick(now + timedelta(days=200))
    last = pg_app.recorder.max_notification_id()
    tracker = tracker_of(pg_app)
    # When a projection process is killed with SIGKILL three times mid-way
    for _ in range(3):
        before = tracker.position("customer_profile")
        with subprocess.Popen([sys.executable, "-c", RUNNER, pg_url], stdout=subprocess.PIPE,
                              env={**os.environ}) as proc:
            assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
            deadline = time.monotonic() + 30
            while tracker.position("customer_profile") == before and time.monotonic() < deadline:
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    partial = tracker.position("customer_profile")
    assert last is not None and 0 < partial < last, "the kills should land mid-way"
    # and a last runner finishes the job
    runner = BatchRunner(pg_app, CustomerProfileView(), tracker)
    runner.catch_up()
    assert tracker.position("customer_profile") == last
    survived = snapshot(pg_url)
    # Then the ledger, members, checks and counts equal a clean rebuild's
    runner.rebuild()
    clean = snapshot(pg_url)
    for table in clean:
        assert survived[table] == clean[table], table
    assert_the_ledger_is_consistent(pg_url)


def test_ticks_recorded_out_of_order_or_twice_keep_rebuild_equal_to_live(
        pg_app: Siyu, pg_url: str, now: datetime) -> None:
    # Given segments over customers, and a scheduler that strikes a far tick before a near one
    populate(pg_app, now, customers=120, events=700, seed=12)
    define_segments(pg_app, now)
    tracker = tracker_of(pg_app)
    live = BatchRunner(pg_app, CustomerProfileView(), tracker, page_size=37)
    live.catch_up()
    for days in (90, 8, 45):
        assert pg_app.segments.record_tick(now + timedelta(days=days)) is not None
        live.catch_up()
    # When the same instant is struck again, nothing is recorded
    assert pg_app.segments.record_tick(now + timedelta(days=8)) is None
    populate(pg_app, now, customers=120, events=200, seed=13)
    live.catch_up()
    before = snapshot(pg_url)
    assert any(row[6] == "TICK" for row in before["ledger"])
    # Then the ledger is consistent and a rebuild reproduces it
    assert_the_ledger_is_consistent(pg_url)
    BatchRunner(pg_app, CustomerProfileView(), tracker).rebuild()
    after = snapshot(pg_url)
    for table in before:
        assert after[table] == before[table], table
    # and a tick later than all of them brings every member up to that instant
    pg_app.segments.record_tick(now + timedelta(days=120))
    live.catch_up()
    assert_members_are_the_rules_at(pg_url, now + timedelta(days=120))


def test_a_segment_defined_late_backfills_the_ledger_the_live_projection_wrote(
        pg_app: Siyu, pg_url: str, now: datetime) -> None:
    # Given a segment maintained live from the start, through events and ticks (no merges)
    rule = {"any": [{"ordered": {"atLeast": 2, "withinDays": 30}},
                    {"all": [{"tagIn": ["vip"]}, {"activeWithinDays": 20}]}]}
    live = BatchRunner(pg_app, CustomerProfileView(), tracker_of(pg_app), page_size=40)
    early, _ = pg_app.segments.define("early", "", rule, "staff:m", now)
    populate(pg_app, now, customers=120, events=700, seed=5)
    live.catch_up()
    for days in (5, 25, 45):
        pg_app.segments.record_tick(now + timedelta(days=days))
        populate(pg_app, now + timedelta(days=days), customers=140, events=200, seed=days)
        live.catch_up()
    # When the same rule is defined again, later
    late, position = pg_app.segments.define("late", "", rule, "staff:m",
                                           now + timedelta(days=46))
    live.catch_up()

    # Then the late one's backfilled history is the early one's live history, entry for entry
    def history(segment_id: UUID, backfilled: bool) -> list[tuple[Any, ...]]:
        with psycopg.connect(pg_url) as conn:
            return conn.execute(
                "SELECT customer_id, change, at, cause, cause_position, cause_event "
                "FROM segment_ledger WHERE segment_id = %s AND backfilled = %s "
                "AND cause_position < %s ORDER BY entry_id",
                (segment_id, backfilled, position)).fetchall()

    early_history = history(early, False)
    assert len(early_history) > 10
    assert history(late, True) == early_history
    # and at its definition it evaluates everyone at once: since the last tick, only
    # customers whose time window ran out can differ, and the next tick settles them alike
    pg_app.segments.record_tick(now + timedelta(days=47))
    live.catch_up()
    assert members_by_segment(pg_url)[late] == members_by_segment(pg_url)[early]


def test_the_bi_views_give_daily_sizes_and_lifecycle_histories(
        pg_app: Siyu, pg_url: str, now: datetime) -> None:
    # Given customers and a segment
    populate(pg_app, now, customers=60, events=300, seed=11)
    segment_id, _ = pg_app.segments.define("buyers", "", {"ordered": {"atLeast": 1}},
                                          "staff:m", now)
    BatchRunner(pg_app, CustomerProfileView(), tracker_of(pg_app)).catch_up()
    with psycopg.connect(pg_url, row_factory=dict_row) as conn:
        # Then today's size is the member count, and every customer has a lifecycle history
        days = conn.execute("SELECT day, size FROM segment_size_daily WHERE segment_id = %s "
                            "ORDER BY day", (segment_id,)).fetchall()
        count = conn.execute("SELECT member_count FROM segment WHERE segment_id = %s",
                             (segment_id,)).fetchone()
        assert days and count is not None and days[-1]["size"] == count["member_count"] > 0
        histories = conn.execute("SELECT customer_id, array_agg(stage ORDER BY entered_at) "
                                 "AS stages FROM customer_lifecycle_history GROUP BY 1"
                                 ).fetchall()
        customers = conn.execute("SELECT count(*) AS n FROM customer_profile").fetchone()
        assert customers is not None and len(histories) == customers["n"]
        assert all(h["stages"][0] in ("NEW", "ACTIVE", "SILENT", "CHURNED") for h in histories)
