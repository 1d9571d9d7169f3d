"""Response times and chat timeouts in working time: the projection, the SQL rollup and the
Python computation agree with a straightforward minute-by-minute recomputation — with the
hours changed twice (once after later messages were already projected), late messages,
and a rebuild."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from application.app import Siyu
from domain.ingestion import EventItem
from domain.working_time import SHANGHAI, business_day, working_seconds
from projections.runner import BatchRunner, Tracker
from projections.staff_performance import StaffPerformanceView
from projections.staff_performance.chats import load_schedule

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 2, tzinfo=SHANGHAI).astimezone(UTC)  # a Monday
FIRST_CHANGE = START + timedelta(days=2, hours=3, minutes=17)
SECOND_CHANGE = START + timedelta(days=5, hours=11, minutes=42)
END = START + timedelta(days=9)
AS_OF = END + timedelta(days=1, hours=2)
TIMEOUT = 1800
OFFICE = {d: [("09:00", "12:00"), ("13:00", "18:00")]
          for d in ("monday", "tuesday", "wednesday", "thursday", "friday")}
EVERY_DAY = {d: [("08:30", "22:00")] for d in
             ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
BY = "service:wecom"


def minutes_of(days: dict[str, list[tuple[str, str]]]) -> dict[int, list[tuple[int, int]]]:
    names = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

    def m(text: str) -> int:
        return int(text[:2]) * 60 + int(text[3:])
    return {n: [(m(a), m(b)) for a, b in days.get(name, [])] for n, name in enumerate(names)}


HOURS = [(FIRST_CHANGE, minutes_of(OFFICE)), (SECOND_CHANGE, minutes_of(EVERY_DAY))]


def truth_seconds(a: datetime, b: datetime) -> int:
    """Minute by minute: the part of each clock minute inside [a, b) counts when that minute
    is a working minute under the hours in force then (changes are on minute boundaries)."""
    total = 0
    at = a
    while at < b:
        nxt = min(b, at.replace(second=0, microsecond=0) + timedelta(minutes=1))
        week = None
        for since, w in HOURS:
            if since <= at:
                week = w
        local = at.astimezone(SHANGHAI)
        minute = local.hour * 60 + local.minute
        if week is None or any(lo <= minute < hi for lo, hi in week[local.weekday()]):
            total += (nxt - at) // timedelta(microseconds=1)
        at = nxt
    return total // 1_000_000


@dataclass
class Msg:
    at: datetime
    customer: int
    staff: int
    received: bool
    late: bool


def generate(rng: random.Random, staff: int, customers: int) -> list[Msg]:
    out: list[Msg] = []
    for c in range(customers):
        s = rng.randrange(staff)
        clock = START + timedelta(minutes=rng.uniform(0, 60 * 24 * 8))
        for _ in range(rng.randrange(1, 5)):
            for _ in range(rng.randrange(1, 3)):
                clock += timedelta(seconds=rng.uniform(1, 600))
                out.append(Msg(clock, c, s, True, rng.random() < 0.05))
            if rng.random() < 0.85:
                clock += timedelta(seconds=rng.uniform(5, 40000))
                out.append(Msg(clock, c, s, False, rng.random() < 0.05))
            clock += timedelta(minutes=rng.uniform(1, 900))
    return sorted((m for m in out if m.at < END), key=lambda m: m.at)


def truth(messages: list[Msg], staff_ids: list[str]
          ) -> tuple[dict[tuple[str, date], list[int]], list[tuple[str, datetime]]]:
    chats: dict[tuple[int, int], list[Msg]] = defaultdict(list)
    for m in messages:
        chats[(m.customer, m.staff)].append(m)
    responses: dict[tuple[str, date], list[int]] = defaultdict(list)
    unanswered: list[tuple[str, datetime]] = []
    for (_, s), chat in chats.items():
        opened: datetime | None = None
        for m in sorted(chat, key=lambda m: m.at):
            if m.received and opened is None:
                opened = m.at
            elif not m.received and opened is not None:
                responses[(staff_ids[s], business_day(opened))].append(
                    truth_seconds(opened, m.at))
                opened = None
        if opened is not None:
            unanswered.append((staff_ids[s], opened))
    return {k: sorted(v) for k, v in responses.items()}, unanswered


def projected(url: str) -> dict[tuple[str, date], list[int]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute("SELECT staff_id, day, response_seconds FROM staff_daily_performance "
                            "WHERE first_responses > 0").fetchall()
    return {(r["staff_id"], r["day"]): r["response_seconds"] for r in rows}


def timed_out(url: str, staff_id: str, as_of: datetime = AS_OF) -> int:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        row = conn.execute("SELECT chats_timed_out FROM staff_kpi_rollup(%s, NULL, %s, %s, %s, %s)",
                           ([staff_id], START.date() - timedelta(days=1),
                            END.date() + timedelta(days=1), TIMEOUT, as_of)).fetchone()
    assert row is not None
    return int(row["chats_timed_out"])


def test_response_times_are_working_time_live_after_a_late_change_and_rebuilt(
        pg_app: Siyu, pg_url: str) -> None:
    rng = random.Random(11)
    pg_app.clock = lambda: END + timedelta(days=30)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    runner = BatchRunner(pg_app, StaffPerformanceView(), tracker, page_size=500)
    staff_ids = [str(pg_app.staff.hire("sales", "front_office", f"s{s}", "staff:m",
                                       START - timedelta(days=1))) for s in range(8)]
    messages = generate(rng, len(staff_ids), 400)
    items = [(m, EventItem(f"m{n}", "MESSAGE_RECEIVED" if m.received else "MESSAGE_SENT",
                           ("wx_unionid", f"u{m.customer}"), m.at,
                           staff_id=staff_ids[m.staff], message_kind="text"))
             for n, m in enumerate(messages)]

    def send(batch: list[tuple[Msg, EventItem]]) -> None:
        for n in range(0, len(batch), 400):
            result = pg_app.ingestion.record_batch([i for _, i in batch[n:n + 400]], BY)
            assert result.count("accepted") == len(batch[n:n + 400])
            runner.catch_up()

    # Given office hours from the first change, messages in time order up to the second
    # change, then the later messages, and only then the second change (dated before them)
    send([x for x in items if x[0].at < FIRST_CHANGE and not x[0].late])
    assert pg_app.working_hours.set(OFFICE, "staff:m", FIRST_CHANGE) is not None
    send([x for x in items if x[0].at >= FIRST_CHANGE and not x[0].late])
    pg_app.working_hours.set(EVERY_DAY, "staff:m", SECOND_CHANGE)
    runner.catch_up()
    # And late messages, which re-derive their chats
    send([x for x in items if x[0].late])
    # Then every day's response times equal the minute-by-minute recomputation
    want, unanswered = truth(messages, staff_ids)
    live = projected(pg_url)
    assert live == want
    assert sum(len(v) for v in want.values()) > 500
    # And the rollup's timeouts count waits over the limit in working time, answered or not
    for staff_id in staff_ids[:3]:
        late_answers = sum(1 for (s, _), v in want.items() if s == staff_id
                           for x in v if x > TIMEOUT)
        still_open = sum(1 for s, at in unanswered
                         if s == staff_id and truth_seconds(at, AS_OF) > TIMEOUT)
        assert timed_out(pg_url, staff_id) == late_answers + still_open
        # And asked as of a time inside the range (the days it falls in are counted wait
        # by wait, the days before from their stored counts), only waits open long enough
        for as_of in (START + timedelta(days=3, hours=3, minutes=17),
                      END - timedelta(days=1, hours=14)):
            open_then = sum(1 for s, at in unanswered
                            if s == staff_id and truth_seconds(at, as_of) > TIMEOUT)
            assert timed_out(pg_url, staff_id, as_of) == late_answers + open_then
    # And the SQL working time equals the Python one on any interval
    with psycopg.connect(pg_url, row_factory=dict_row) as conn:
        schedule = load_schedule(conn.cursor())
        pairs = []
        for _ in range(300):
            a = START + timedelta(seconds=rng.uniform(-86400, 10 * 86400))
            pairs.append((a, a + timedelta(seconds=rng.uniform(0, 4 * 86400))))
        got = conn.execute("SELECT staff_kpi_working_seconds(a, b) AS s FROM unnest("
                           "%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS p(a, b, n) "
                           "ORDER BY n", ([a for a, _ in pairs], [b for _, b in pairs])).fetchall()
    assert [r["s"] for r in got] == [working_seconds(schedule, a, b) for a, b in pairs]
    assert [working_seconds(schedule, a, b) for a, b in pairs[:60]] == [
        truth_seconds(a, b) for a, b in pairs[:60]]
    # And the rollup's cutoff is the latest instant with that much working time before an end
    with psycopg.connect(pg_url, row_factory=dict_row) as conn:
        ends = [START + timedelta(seconds=rng.uniform(0, 12 * 86400)) for _ in range(150)]
        limits = [rng.choice((0, 1, 59, 1800, 7201, 40000, 200000)) for _ in ends]
        cutoffs = [r["c"] for r in conn.execute(
            "SELECT staff_kpi_working_cutoff(e, s) AS c FROM unnest(%s::timestamptz[], "
            "%s::bigint[]) WITH ORDINALITY AS p(e, s, n) ORDER BY n", (ends, limits)).fetchall()]
    tick = timedelta(microseconds=1)
    for end, limit, cut in zip(ends, limits, cutoffs, strict=True):
        assert working_seconds(schedule, cut, end) == limit
        assert limit == 0 or working_seconds(schedule, cut + tick, end) == limit - 1
    # When the read model is rebuilt with other page boundaries, it equals the live one
    BatchRunner(pg_app, StaffPerformanceView(), tracker, page_size=137).rebuild()
    assert projected(pg_url) == live


def test_setting_the_same_hours_again_records_nothing(pg_app: Siyu) -> None:
    at = datetime(2026, 11, 2, 1, tzinfo=UTC)
    assert pg_app.working_hours.set(OFFICE, "staff:m", at) is not None
    assert pg_app.working_hours.set(OFFICE, "staff:m", at + timedelta(hours=1)) is None
    assert pg_app.working_hours.get().describe()["monday"] == ["09:00-12:00", "13:00-18:00"]
