"""``funnel_customer`` and its rollups ``funnel_daily``, ``funnel_owner_daily`` and
``cohort_daily``; ``survey_answer``.

A page loads the rows of the customers it touches with their whole OneID merge trees
(:mod:`.merges`), folds their events (:mod:`.rows`), writes them back and adds to the
rollups the difference between each tree's new and old contributions — all in the page's
transaction, with the tracking position.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb, set_json_loads

from domain.customer import Customer
from domain.referral import InviteCode
from projections.funnels import merges, rows
from projections.postgres_views import _dumps, upsert_rows
from projections.schema_lock import serialise_ddl

VERSION = 2
TABLES = ("funnel_customer, funnel_daily, funnel_owner_daily, cohort_daily, "
          "survey_answer")
Delta = dict[tuple[str, rows.Key], tuple[int, ...]]


def survey_row(position: int, event: Any) -> rows.Row:
    return {"position": position, "customer_id": event.originator_id,
            "staff_id": event.staff_id, "survey_kind": event.survey_kind, "score": event.score,
            "occurred_at": event.occurred_at, "day": rows.business_day(event.occurred_at)}


def delta(before: Sequence[Sequence[rows.Row]], after: Sequence[Sequence[rows.Row]]
          ) -> Delta:
    """What the rollups gain when merge trees ``before`` become trees ``after``."""
    out: dict[tuple[str, rows.Key], list[int]] = {}
    for sign, trees in ((-1, before), (1, after)):
        for tree in trees:
            for key, counts in merges.tree_contributions(tree).items():
                known = out.get(key)
                if known is None:
                    out[key] = [sign * v for v in counts]
                else:
                    out[key] = [k + sign * v for k, v in zip(known, counts, strict=True)]
    return {k: tuple(v) for k, v in out.items() if any(v)}


def _add(curs: Cursor[DictRow], table: str, key: str, columns: Sequence[str],
         records: list[rows.Row]) -> None:
    if not records:
        return
    sums = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns)
    curs.execute(f"INSERT INTO {table} SELECT * FROM jsonb_populate_recordset(null::{table}, %s) "
                 f"ORDER BY {key} ON CONFLICT ({key}) DO UPDATE SET {sums}",
                 (Jsonb(records, dumps=_dumps),))


def apply_delta(curs: Cursor[DictRow], changes: Delta) -> None:
    daily, owners, cohort = [], [], []
    for (table, key), counts in sorted(changes.items()):
        if table == "funnel_daily":
            daily.append({"day": key[0], "channel": key[1],
                          **dict(zip(rows.FUNNEL_COUNTS, counts, strict=True))})
        elif table == "funnel_owner_daily":
            owners.append({"day": key[0], "owner": key[1],
                           **dict(zip(rows.FUNNEL_COUNTS, counts, strict=True))})
        else:
            cohort.append({"touchpoint": key[0], "day": key[1], "channel": key[2],
                           **dict(zip(rows.COHORT_COUNTS, counts, strict=True))})
    _add(curs, "funnel_daily", "day, channel", rows.FUNNEL_COUNTS, daily)
    _add(curs, "funnel_owner_daily", "day, owner", rows.FUNNEL_COUNTS, owners)
    _add(curs, "cohort_daily", "touchpoint, day, channel", rows.COHORT_COUNTS, cohort)


def _uuid(value: Any) -> UUID:
    """A stream id as a UUID (most are already: rebuilding one from its text is a cost per
    event)."""
    return value if isinstance(value, UUID) else UUID(str(value))


def _order(customer_id: UUID) -> int:
    """``UUID.__lt__``'s order, without a Python comparison per step of the sort."""
    return customer_id.int


class FunnelView:
    name = "funnel_customer"
    version = VERSION
    events: tuple[type[Any], ...] = (*rows.COUNTED, *rows.CREDITING, InviteCode.Issued)

    def bind(self, app: Application[Any]) -> None:
        """Folds events only."""

    def create(self, curs: Cursor[DictRow]) -> None:
        serialise_ddl(curs)
        curs.execute((Path(__file__).parent / "funnels.sql").read_text())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute(f"DROP TABLE IF EXISTS {TABLES} CASCADE")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute(f"TRUNCATE {TABLES}")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        surveys = [survey_row(n, e) for n, e in events
                   if isinstance(e, Customer.SurveyAnswered)]
        if surveys:
            curs.execute("INSERT INTO survey_answer SELECT * FROM "
                         "jsonb_populate_recordset(null::survey_answer, %s) "
                         "ON CONFLICT (position) DO NOTHING", (Jsonb(surveys, dumps=_dumps),))
        kinds = frozenset(self.events)
        counted = [(n, e, _uuid(rows.subject_of(e))) for n, e in events if type(e) in kinds]
        if not counted:
            return
        ids = {c for _, _, c in counted}
        ids |= {_uuid(e.survivor_id) for _, e, _ in counted
                if isinstance(e, (Customer.MergedInto, Customer.UnmergedFrom))}
        set_json_loads(orjson.loads, curs)  # the touchpoints: several times the stdlib's speed
        # whole merge trees: every stream whose facts count with a stream the page touches
        curs.execute("SELECT * FROM funnel_customer WHERE root_id IN (SELECT root_id FROM "
                     "funnel_customer WHERE customer_id = ANY(%s)) "
                     "ORDER BY customer_id FOR UPDATE", (sorted(ids, key=_order),))
        before = {r["customer_id"]: dict(r) for r in curs.fetchall()}
        after = dict(before)
        for customer_id in ids - before.keys():
            after[customer_id] = rows.empty(customer_id)
        copied: set[UUID] = set()  # rows this page folds into: copied once, not per event
        for position, event, customer_id in counted:
            row = after[customer_id]
            if position <= row["last_position"]:
                continue  # seen before: the row stays the one loaded
            if customer_id not in copied:
                copied.add(customer_id)
                row = after[customer_id] = rows.own_copy(row)
            rows.fold_into(row, position, event)
        for customer_id, root in merges.roots(after).items():
            if str(after[customer_id]["root_id"]) != root:
                after[customer_id] = dict(after[customer_id], root_id=root)
        changed = [r for c, r in after.items() if r is not before.get(c)]
        upsert_rows(curs, "funnel_customer", "customer_id", changed)
        apply_delta(curs, delta(merges.trees(before), merges.trees(after)))
