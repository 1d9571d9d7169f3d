"""Chats in the staff-performance read model: waits, response times, working hours.

A customer message after the staff member's last reply opens a wait; the member's next
message to that customer answers it (:func:`continue_chat`). Messages that arrive in
business-time order continue the chat's state (``staff_kpi_thread``); a late one
re-derives that chat's waits from the ledger. A wait's response time is measured in
**working time** (:func:`domain.working_time.working_seconds`) under the working hours in
force at each instant: ``WorkingHours.Changed`` events are copied into
``staff_kpi_schedule`` (in force from the event's business time), and the answered waits a
change reaches are measured again, so live and rebuilt figures agree whatever the order.
Each touched day's exact response times (sorted), median and p90 are recomputed from
``staff_kpi_wait``.

This module is applied by :class:`projections.staff_performance.StaffPerformanceView` in
the page's transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.types.json import Jsonb

from domain.working_hours import WorkingHours
from domain.working_time import Schedule, Week, business_day, working_seconds
from projections.postgres_views import upsert_rows

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Message:
    at: datetime
    position: int
    received: bool  # from the customer (else from the staff member)


@dataclass(frozen=True, slots=True)
class ChatState:
    last_at: datetime
    last_position: int
    open_at: datetime | None
    open_position: int | None


@dataclass(frozen=True, slots=True)
class Wait:
    opened_position: int
    opened_at: datetime
    answered_at: datetime | None

    def response_seconds(self, schedule: Schedule) -> int | None:
        """Working seconds until the answer (None while unanswered)."""
        if self.answered_at is None:
            return None
        return working_seconds(schedule, self.opened_at, self.answered_at)


def continue_chat(state: ChatState | None, messages: Sequence[Message]
                  ) -> tuple[ChatState, list[Wait]]:
    """Fold messages (sorted by business time, then position) into a chat's state.

    Returns the new state and the waits it changed: answered ones, and the one
    left open (if any)."""
    open_at = state.open_at if state else None
    open_position = state.open_position if state else None
    waits: list[Wait] = []
    for m in messages:
        if m.received:
            if open_position is None:
                open_at, open_position = m.at, m.position
        elif open_position is not None and open_at is not None:
            waits.append(Wait(open_position, open_at, m.at))
            open_at, open_position = None, None
    if open_position is not None and open_at is not None:
        waits.append(Wait(open_position, open_at, None))
    last = messages[-1]
    return ChatState(last.at, last.position, open_at, open_position), waits


def chat_waits(messages: Iterable[Message]) -> tuple[ChatState, list[Wait]]:
    """Every wait of a whole chat (what a late message re-derives)."""
    return continue_chat(None, sorted(messages, key=lambda m: (m.at, m.position)))


def apply_messages(curs: Cursor[DictRow], entries: Sequence[Row]) -> None:
    """Fold the page's new message ledger rows into chats, waits and day summaries."""
    if not entries:
        return
    chats: dict[tuple[UUID, str], list[Message]] = defaultdict(list)
    for e in entries:
        chats[(e["customer_id"], e["staff_id"])].append(
            Message(e["at"], e["position"], e["kind"] == "message_received"))
    keys = sorted(chats)
    schedule = load_schedule(curs)
    rows = curs.connection.cursor(row_factory=tuple_row)  # same transaction, no dict per row
    rows.execute("SELECT t.customer_id, t.staff_id, t.last_at, t.last_position, t.open_at, "
                 "t.open_position FROM staff_kpi_thread t JOIN unnest(%s::uuid[], %s::text[]) "
                 "AS k(c, s) ON t.customer_id = k.c AND t.staff_id = k.s FOR UPDATE OF t",
                 ([k[0] for k in keys], [k[1] for k in keys]))
    states = {(c, s): ChatState(*state) for c, s, *state in rows.fetchall()}
    late: list[tuple[UUID, str]] = []
    new_states: dict[tuple[UUID, str], ChatState] = {}
    waits: list[Row] = []
    for key in keys:
        messages = sorted(chats[key], key=lambda m: (m.at, m.position))
        state = states.get(key)
        if state is not None and (messages[0].at, messages[0].position) < (
                state.last_at, state.last_position):
            late.append(key)
            continue
        new_states[key], changed = continue_chat(state, messages)
        waits += [_wait_row(key, w, schedule) for w in changed]
    touched: set[tuple[str, date]] = set()
    if late:
        touched |= _rederive(curs, late, new_states, waits, schedule)
    if new_states:
        upsert_rows(curs, "staff_kpi_thread", "customer_id, staff_id",
                    [{"customer_id": c, "staff_id": s, "last_at": st.last_at,
                      "last_position": st.last_position, "open_at": st.open_at,
                      "open_position": st.open_position}
                     for (c, s), st in new_states.items()])
    upsert_rows(curs, "staff_kpi_wait", "customer_id, staff_id, opened_position", waits)
    touched |= {(w["staff_id"], w["day"]) for w in waits}
    summarise_days(curs, touched)


def _wait_row(key: tuple[UUID, str], wait: Wait, schedule: Schedule) -> Row:
    return {"customer_id": key[0], "staff_id": key[1], "opened_position": wait.opened_position,
            "opened_at": wait.opened_at, "day": business_day(wait.opened_at),
            "answered_at": wait.answered_at, "response_seconds": wait.response_seconds(schedule)}


def _rederive(curs: Cursor[DictRow], late: Sequence[tuple[UUID, str]],
              states: dict[tuple[UUID, str], ChatState], waits: list[Row],
              schedule: Schedule) -> set[tuple[str, date]]:
    """Chats with a late message: delete their waits, derive them again from the ledger."""
    customers, staff = [k[0] for k in late], [k[1] for k in late]
    rows = curs.connection.cursor(row_factory=tuple_row)  # same transaction, no dict per row
    rows.execute("DELETE FROM staff_kpi_wait w USING unnest(%s::uuid[], %s::text[]) AS k(c, s) "
                 "WHERE w.customer_id = k.c AND w.staff_id = k.s "
                 "RETURNING w.staff_id, w.day", (customers, staff))
    touched: set[tuple[str, date]] = set(rows.fetchall())
    rows.execute("SELECT l.customer_id, l.staff_id, l.at, l.position, "
                 "l.kind = 'message_received' "
                 "FROM staff_kpi_ledger l JOIN unnest(%s::uuid[], %s::text[]) AS k(c, s) "
                 "ON l.customer_id = k.c AND l.staff_id = k.s "
                 "WHERE l.kind IN ('message_received', 'message_sent')", (customers, staff))
    history: dict[tuple[UUID, str], list[Message]] = defaultdict(list)
    for customer_id, staff_id, at, position, received in rows.fetchall():
        history[(customer_id, staff_id)].append(Message(at, position, received))
    for key in late:
        states[key], derived = chat_waits(history[key])
        waits += [_wait_row(key, w, schedule) for w in derived]
    return touched


def summarise_days(curs: Cursor[DictRow], touched: set[tuple[str, date]]) -> None:
    if not touched:
        return
    keys = sorted(touched)
    curs.execute(
        "UPDATE staff_daily_performance d SET first_responses = s.n, response_seconds = s.arr, "
        "first_response_median_s = s.arr[ceil(0.5 * s.n)::int], "
        "first_response_p90_s = s.arr[ceil(0.9 * s.n)::int], chats_unanswered = s.open "
        "FROM (SELECT k.s AS staff_id, k.d AS day, "
        "  coalesce(array_agg(w.response_seconds ORDER BY w.response_seconds) "
        "    FILTER (WHERE w.response_seconds IS NOT NULL), '{}') AS arr, "
        "  count(w.response_seconds) AS n, "
        "  count(w.opened_position) FILTER (WHERE w.answered_at IS NULL) AS open "
        "  FROM unnest(%s::text[], %s::date[]) AS k(s, d) "
        "  LEFT JOIN staff_kpi_wait w ON w.staff_id = k.s AND w.day = k.d GROUP BY k.s, k.d) s "
        "WHERE d.staff_id = s.staff_id AND d.day = s.day",
        ([k[0] for k in keys], [k[1] for k in keys]))


# -- working hours ---------------------------------------------------------------------------
def load_schedule(curs: Cursor[Any]) -> list[tuple[datetime, Week]]:
    """The working-hours history (empty: every minute counts); [] if the table is absent."""
    curs.execute("SELECT to_regclass('staff_kpi_schedule') IS NOT NULL AS present")
    row = curs.fetchone()
    present = row["present"] if isinstance(row, dict) else bool(row and row[0])
    if not present:
        return []
    curs.execute("SELECT effective_from, week FROM staff_kpi_schedule "
                 "ORDER BY effective_from, position")
    rows = curs.fetchall()
    return [(r["effective_from"], Week.from_json(r["week"])) if isinstance(r, dict)
            else (r[0], Week.from_json(r[1])) for r in rows]


def apply_working_hours(curs: Cursor[DictRow],
                        changes: Sequence[tuple[int, WorkingHours.Changed]]) -> None:
    """Record the changes; measure again the answered waits they reach."""
    if not changes:
        return
    curs.execute(
        "INSERT INTO staff_kpi_schedule SELECT * FROM unnest(%s::bigint[], "
        "%s::timestamptz[], %s::jsonb[]) ON CONFLICT (position) DO NOTHING",
        ([n for n, _ in changes], [e.occurred_at for _, e in changes],
         [Jsonb(e.week) for _, e in changes]))
    since = min(e.occurred_at for _, e in changes)
    schedule = load_schedule(curs)
    curs.execute("SELECT * FROM staff_kpi_wait WHERE answered_at > %s FOR UPDATE", (since,))
    rows = curs.fetchall()
    changed = []
    for r in rows:
        wait = Wait(r["opened_position"], r["opened_at"], r["answered_at"])
        seconds = wait.response_seconds(schedule)
        if seconds != r["response_seconds"]:
            changed.append({**r, "response_seconds": seconds})
    upsert_rows(curs, "staff_kpi_wait", "customer_id, staff_id, opened_position", changed)
    summarise_days(curs, {(r["staff_id"], r["day"]) for r in changed})
