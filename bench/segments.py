"""Segment benchmarks: whole-table SQL evaluation, incremental membership, backfill.

* ``segment_eval_1m`` — a 5-predicate rule (AND / OR / NOT) compiled by
  :func:`projections.segments.rule_sql.compile_rule`, materialised as the member id
  set (``CREATE TEMP TABLE … AS SELECT customer_id …``) over 1,000,000
  ``customer_profile`` rows generated in SQL; baseline a ``count(*)`` scan.
* ``segment_incremental`` — extra projection ms per customer event with 20
  segments defined before the events, against none.
* ``projection_throughput`` — events/s through every read model with 20
  segments, against none.
* ``segment_backfill_100k`` — defining one segment over an existing log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row

from application.app import Siyu
from bench import workload
from bench.common import SECRET, Measure, fresh_database, measure, median
from domain.ingestion import EventItem
from domain.segment_rules import Rule, parse_rule
from projections.postgres_views import CustomerProfileView
from projections.runner import BatchRunner, Tracker
from projections.segments.rule_sql import compile_rule
from siyu.bootstrap import build_application
from siyu.processes import read_model_views

BATCH = 1000
TAGS = ["高意向", "宝妈", "价格敏感", "会员", "VIP"]

#: The evaluated rule: 5 predicates under all / any / not.
EVAL_RULE: Rule = {"all": [
    {"tagIn": ["高意向", "VIP"]},
    {"any": [{"ordered": {"atLeast": 2, "withinDays": 90}},
             {"gmv": {"atLeastFen": 50_000, "withinDays": 365}}]},
    {"not": {"inactiveDays": 30}},
    {"isFriend": True},
]}


def segment_rules() -> list[Rule]:
    """20 rules over the workload's tags, staff, groups, channels and orders."""
    rules: list[Rule] = [
        EVAL_RULE,
        {"tagIn": ["VIP"]},
        {"hasAllTags": ["会员", "宝妈"]},
        {"ordered": {"atLeast": 1}},
        {"ordered": {"atLeast": 2, "withinDays": 30}},
        {"gmv": {"atLeastFen": 30_000}},
        {"gmv": {"atLeastFen": 50_000, "withinDays": 365}},
        {"activeWithinDays": 7},
        {"inactiveDays": 14},
        {"isFriend": True},
        {"not": {"isFriend": True}},
        {"friendOf": "staff-3"},
        {"joinedVia": "qr:store-01"},
        {"inGroup": "grp-1"},
        {"lifecycle": "ACTIVE"},
        {"rfm": {"recencyAtLeast": 4, "monetaryAtLeast": 2}},
        {"positioning": "SERVICE_HUB"},
        {"any": [{"tagIn": ["价格敏感"]}, {"not": {"ordered": {"atLeast": 1}}}]},
        {"all": [{"inGroup": "grp-2"}, {"activeWithinDays": 14}]},
        {"all": [{"tagIn": ["高意向"]}, {"not": {"friendOf": "staff-7"}}]},
    ]
    return [parse_rule(r) for r in rules]


# -- segment_eval_1m ----------------------------------------------------------------------

#: One profile per row of generate_series, with skewed, correlated-enough distributions:
#: ~1/3 with paid orders (geometric counts, newest first), 0-5 tags, half currently friends,
#: last interaction skewed towards recent days.
GENERATE = """
INSERT INTO customer_profile (
    customer_id, position, first_channel, first_seen_at, staff_relations, current_staff_ids,
    ever_friend, tags, groups, member_level, order_count, gmv_fen, order_times, order_amounts,
    first_order_at, last_order_at, last_interaction_at, event_count, updated_at)
SELECT md5('c' || b.i)::uuid, b.i,
       (ARRAY['mini_program', 'qr:store-01', 'official_account', 'mall'])[1 + (b.r1 * 4)::int %% 4],
       least(b.last_at - b.r2 * interval '200 days', o.first_at),
       coalesce((SELECT jsonb_agg(jsonb_build_object('staff_id', s, 'channel', 'qr:store-01',
                                                     'until', NULL)) FROM unnest(st.ids) s),
                '[]'),
       st.ids, cardinality(st.ids) > 0 OR b.r3 < 0.08,
       ARRAY(SELECT t FROM unnest(%(tags)s::text[]) t WHERE random() < 0.2 + 0 * b.i),
       ARRAY(SELECT 'grp-' || g FROM generate_series(0, 8) g WHERE random() < 0.07 + 0 * b.i),
       CASE WHEN b.r3 < 0.3 THEN 'silver' WHEN b.r3 < 0.4 THEN 'gold' END,
       o.n, o.gmv, o.times, o.amounts, o.first_at, o.last_at,
       greatest(b.last_at, o.last_at), o.n + 3, now()
FROM (SELECT i, random() AS r1, random() AS r2, random() AS r3,
             now() - (random() ^ 2) * interval '120 days' AS last_at,
             least(floor(-ln(1 - random()) * 0.9), 20)::int AS orders,
             random() AS friend
      FROM generate_series(1, %(n)s) i) b
CROSS JOIN LATERAL (
    SELECT CASE WHEN b.friend < 0.45 THEN ARRAY['staff-' || (b.i %% 20)]
                WHEN b.friend < 0.55 THEN ARRAY['staff-' || (b.i %% 20), 'staff-' || (b.i %% 7 + 20)]
                ELSE '{}'::text[] END AS ids) st
CROSS JOIN LATERAL (
    SELECT count(*)::int AS n, coalesce(sum(a), 0)::bigint AS gmv,
           coalesce(array_agg(t ORDER BY t DESC), '{}') AS times,
           coalesce(array_agg(a ORDER BY t DESC), '{}') AS amounts,
           min(t) AS first_at, max(t) AS last_at
    FROM (SELECT now() - random() * interval '400 days' AS t,
                 (990 + random() * 38910)::bigint AS a
          FROM generate_series(1, b.orders)) x) o
"""


def _timed(conn: psycopg.Connection[DictRow], statement: str, params: dict[str, Any],
           repeats: int) -> tuple[float, int]:
    """Median seconds of ``repeats`` runs (after one warm-up) and the rows it produced."""
    rows = 0
    times = []
    for i in range(repeats + 1):
        conn.execute("DROP TABLE IF EXISTS bench_members")
        start = time.perf_counter()
        cur = conn.execute(statement, params)
        elapsed = time.perf_counter() - start
        if cur.description is None:
            rows = cur.rowcount
        else:
            row = cur.fetchone()
            assert row is not None
            rows = int(row["n"])
        if i:
            times.append(elapsed)
    return median(times), rows


def segment_eval(quick: bool) -> list[Measure]:
    url = fresh_database()
    customers = 100_000 if quick else 1_000_000
    label = "100k" if quick else "1m"
    app = build_application(url, SECRET)
    view = CustomerProfileView()
    with app.factory.datastore.transaction(commit=True) as curs:  # type: ignore[attr-defined]
        view.create(curs)
    app.close()
    condition, params = compile_rule(EVAL_RULE)
    params = {**params, "at": datetime.now(UTC)}
    members = f"CREATE TEMP TABLE bench_members AS SELECT customer_id FROM customer_profile p " \
              f"WHERE {condition}"
    counting = f"SELECT count(*) AS n FROM customer_profile p WHERE {condition}"
    scan = "SELECT count(*) AS n FROM customer_profile"
    # The baseline reads the heap as the evaluation does (no index-only count).
    heap = ("SET enable_indexonlyscan = off; SET enable_indexscan = off; "
            "SET enable_bitmapscan = off")
    unheap = "RESET enable_indexonlyscan; RESET enable_indexscan; RESET enable_bitmapscan"
    repeats = 5 if quick else 3
    out: list[Measure] = []
    # Client-side binding: CREATE TABLE AS takes no server-side parameters.
    with psycopg.connect(url, autocommit=True, row_factory=dict_row,
                         cursor_factory=psycopg.ClientCursor) as conn:
        conn.execute("SELECT setseed(0.42)")
        start = time.perf_counter()
        conn.execute(GENERATE, {"n": customers, "tags": TAGS})
        generated = time.perf_counter() - start
        out.append(measure(f"segment_eval_{label}_generate", generated, "s"))

        def run(suffix: str) -> None:
            conn.execute(heap)
            base, _ = _timed(conn, scan, {}, repeats)
            conn.execute(unheap)
            seconds, found = _timed(conn, members, params, repeats)
            count, same = _timed(conn, counting, params, repeats)
            assert found == same, (found, same)
            out.append(measure(f"segment_eval_{label}{suffix}", seconds, "s", base))
            out.append(measure(f"segment_eval_{label}_count{suffix}", count, "s", base))
            out.append(measure(f"segment_eval_{label}_members{suffix}", found, "customers"))

        run("_unanalyzed")  # before autovacuum has looked at the fresh table
        conn.execute("VACUUM ANALYZE customer_profile")
        run("")  # the reported one: analysed, default session settings
        conn.execute("SET max_parallel_workers_per_gather = 0")
        run("_serial")
        conn.execute("RESET max_parallel_workers_per_gather")
    return out


# -- logs through the application ----------------------------------------------------------

def _record(app: Siyu, items: list[EventItem]) -> float:
    start = time.perf_counter()
    for i in range(0, len(items), BATCH):
        result = app.ingestion.record_batch(items[i:i + BATCH], "service:bench")
        assert all(o.status == "accepted" for o in result.outcomes), result.outcomes[:3]
    return time.perf_counter() - start


def _define(app: Siyu, rules: list[Rule]) -> int:
    position = 0
    for n, rule in enumerate(rules):
        _, position = app.segments.define(f"bench segment {n}", "", rule, "staff:bench",
                                         datetime.now(UTC))
    return position


@contextmanager
def _log(events: int, customers: int, segments: int
         ) -> Iterator[tuple[Siyu, Tracker]]:
    """A fresh database with ``segments`` defined, then ``events`` workload events."""
    url = fresh_database()
    app = build_application(url, SECRET)
    try:
        _define(app, segment_rules()[:segments])
        _record(app, workload.items(events, customers=customers, seed=7))
        yield app, Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    finally:
        app.close()


def _catch_up(app: Siyu, tracker: Tracker) -> dict[str, float]:
    """Seconds per read model, every view of ``read_model_views()`` caught up in turn."""
    runners = [BatchRunner(app, view, tracker) for view in read_model_views()]
    times = {}
    for runner in runners:
        start = time.perf_counter()
        runner.catch_up()
        times[runner.view.name] = time.perf_counter() - start
    return times


def _with_and_without(events: int, customers: int) -> tuple[dict[str, float], dict[str, float]]:
    with _log(events, customers, 0) as (app, tracker):
        without = _catch_up(app, tracker)
    with _log(events, customers, 20) as (app, tracker):
        with_ = _catch_up(app, tracker)
    return with_, without


def segment_incremental(quick: bool) -> list[Measure]:
    events, customers = (8_000, 2_000) if quick else (20_000, 5_000)
    with_, without = _with_and_without(events, customers)
    t_with, t_without = with_["customer_profile"], without["customer_profile"]
    per_event = (t_with - t_without) / events * 1000
    return [measure("segment_incremental", per_event, "ms/event", t_without / events * 1000)]


def projection_throughput(quick: bool) -> list[Measure]:
    events, customers = (10_000, 2_000) if quick else (60_000, 10_000)
    with_, without = _with_and_without(events, customers)
    return [measure("projection_throughput", events / sum(with_.values()), "events/s",
                    events / sum(without.values()))]


# -- segment_backfill ----------------------------------------------------------------------

def backfill_items(customers: int) -> list[EventItem]:
    """Two workload events per customer on average, every customer at least one."""
    items = workload.items(2 * customers, customers=customers, seed=11, prefix="b")
    for k in range(customers):
        items[k] = replace(items[k], identity=("wx_unionid", f"bu{k}"))
    return items


def segment_backfill(quick: bool) -> list[Measure]:
    customers = 20_000 if quick else 100_000
    label = "20k" if quick else "100k"
    url = fresh_database()
    app = build_application(url, SECRET)
    items = backfill_items(customers)
    generated = _record(app, items)
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    built = _catch_up(app, tracker)["customer_profile"]
    with app.factory.datastore.transaction() as curs:  # type: ignore[attr-defined]
        curs.execute("SELECT count(*) AS n FROM customer_profile")
        row = curs.fetchone()
        assert row is not None and row["n"] == customers, row
    runners = [BatchRunner(app, view, tracker) for view in read_model_views()]
    start = time.perf_counter()
    _define(app, [EVAL_RULE])
    for runner in runners:
        runner.catch_up()
    seconds = time.perf_counter() - start
    app.close()
    return [
        measure(f"segment_backfill_{label}", seconds, "s", built),
        measure(f"segment_backfill_{label}_generate", generated, "s"),
        measure(f"segment_backfill_{label}_generate_rate", len(items) / generated, "events/s"),
    ]


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {
    "segment_eval_1m": segment_eval,
    "segment_incremental": segment_incremental,
    "projection_throughput": projection_throughput,
    "segment_backfill_100k": segment_backfill,
}
