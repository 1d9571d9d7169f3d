"""Retention kept incrementally (``projections.staff_performance.retention``) on PostgreSQL:
after every page it equals a recount of the ledger, and a page's cost does not grow with
the adds its days already hold."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg.rows import DictRow, dict_row

from adapters.binary_arrays import register
from projections.staff_performance import StaffPerformanceView, business_day
from projections.staff_performance.ledger import insert_ledger
from projections.staff_performance.retention import STATEMENT, parameters, update_retention

pytestmark = pytest.mark.integration
START = datetime(2026, 11, 1, tzinfo=UTC)
Row = dict[str, Any]


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection[DictRow]]:
    with psycopg.connect(pg_url, row_factory=dict_row) as conn:
        register(conn.adapters)
        with conn.cursor() as curs:
            StaffPerformanceView().create(curs)
        conn.commit()
        yield conn


def friend_row(position: int, kind: str, customer: UUID, staff: str, at: datetime,
               channel: str | None = None) -> Row:
    return {"position": position, "kind": kind, "customer_id": customer, "staff_id": staff,
            "at": at, "day": business_day(at), "channel": channel}


def apply(conn: psycopg.Connection[DictRow], page: Sequence[Row]) -> None:
    with conn.cursor() as curs:
        update_retention(curs, insert_ledger(curs, page))
    conn.commit()


def recount(ledger: Sequence[Row]) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    """Per (staff, day, channel): adds, retained at 7 and at 30 days, counted whole."""
    counts: dict[tuple[Any, ...], Counter[str]] = {}
    for add in (r for r in ledger if r["kind"] == "friend_added"):
        group = counts.setdefault((add["staff_id"], add["day"], add["channel"]), Counter())
        group["n"] += 1
        for days in (7, 30):
            until = add["at"] + timedelta(days=days)
            last = max((r for r in ledger if (r["customer_id"], r["staff_id"]) ==
                        (add["customer_id"], add["staff_id"]) and r["at"] <= until),
                       key=lambda r: (r["at"], r["position"]))
            group[f"r{days}"] += last["kind"] == "friend_added"
    return {k: (c["n"], c["r7"], c["r30"]) for k, c in counts.items()}


def stored(conn: psycopg.Connection[DictRow]) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    rows = conn.execute("SELECT * FROM staff_daily_channel").fetchall()
    return {(r["staff_id"], r["day"], r["channel"]):
            (r["friends_new"], r["retained_7d"], r["retained_30d"]) for r in rows}


def test_retention_equals_a_recount_of_the_ledger_after_every_page(
        conn: psycopg.Connection[DictRow]) -> None:
    # Given adds and deletes of a few (customer, staff) pairs over 70 days, late ones and
    # ones at the same time among them
    rng = random.Random(17)
    customers, staff = [uuid4() for _ in range(4)], ["s1", "s2", "s3"]
    times = [START + timedelta(days=rng.uniform(0, 70)) for _ in range(60)]
    log = []
    for position in range(1, 401):
        kind = rng.choice(["friend_added", "friend_added", "friend_deleted_by_customer",
                           "friend_deleted_by_staff"])
        log.append(friend_row(position, kind, rng.choice(customers), rng.choice(staff),
                              rng.choice(times),
                              rng.choice(["qr", "referral"]) if kind == "friend_added" else None))
    # When they are applied in pages of 1 to 25 events
    done = 0
    while done < len(log):
        page = log[done:done + rng.randint(1, 25)]
        apply(conn, page)
        done += len(page)
        # Then after every page each (staff, day, channel) is what a recount gives
        assert stored(conn) == recount(log[:done])
    # And a page applied again changes nothing
    apply(conn, log[-10:])
    assert stored(conn) == recount(log)


def ledger_rows_read(conn: psycopg.Connection[DictRow], page: Sequence[Row]) -> int:
    """Ledger rows the retention statement reads for ``page`` (its rows stored first)."""
    with conn.cursor() as curs:
        insert_ledger(curs, page)
        curs.execute("ANALYZE staff_kpi_ledger")  # as autovacuum keeps it: statistics
        curs.execute("SET LOCAL enable_seqscan = off")  # and the plans of a large ledger
        curs.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {STATEMENT}", parameters(page))
        plan = curs.fetchone()
    conn.rollback()
    assert plan is not None
    found = plan["QUERY PLAN"]
    nodes = json.loads(found)[0]["Plan"] if isinstance(found, str) else found[0]["Plan"]

    def read(node: dict[str, Any]) -> int:
        own = 0
        if node.get("Relation Name") == "staff_kpi_ledger":
            own = (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * \
                node["Actual Loops"]
        return own + sum(read(n) for n in node.get("Plans", []))
    return read(nodes)


def test_a_page_s_retention_reads_the_same_rows_whether_its_day_holds_ten_adds_or_300(
        conn: psycopg.Connection[DictRow]) -> None:
    # Given a staff member's day holding 10 adds through one channel
    at = START + timedelta(hours=3)
    adds = [friend_row(n, "friend_added", uuid4(), "s1", at + timedelta(seconds=n), "qr")
            for n in range(1, 301)]
    apply(conn, adds[:10])
    one_more = [friend_row(1000, "friend_added", uuid4(), "s1", at + timedelta(hours=1), "qr")]
    with_ten = ledger_rows_read(conn, one_more)
    # When the day holds 300
    apply(conn, adds[10:])
    # Then a page adding one more friend that day reads as many ledger rows as before
    assert ledger_rows_read(conn, one_more) == with_ten <= 5
