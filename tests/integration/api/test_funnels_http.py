"""Funnel, cohort retention and satisfaction over HTTP, each figure recomputed from the raw
event log by code of the test's own (no projection code, no projection SQL)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from adapters.tokens import issue_token
from application.app import Siyu
from projections.runner import Tracker
from tests.integration.api.conftest import OTHER_STAFF_ID, STAFF_ID, Api
from tests.integration.api.test_tag_groups_http import data, error
from tests.integration.projections.test_funnels_on_postgres import (
    DAYS,
    expected,
    plus_months,
    raw_log,
)
from tests.support.directory import hire_as
from tests.support.funnel_history import record_history, record_merges

pytestmark = pytest.mark.integration
SHANGHAI = ZoneInfo("Asia/Shanghai")
FUNNEL = """query($from: Date!, $to: Date!, $channel: String, $by: ChannelLevel!) {
  funnel(from: $from, to: $to, channel: $channel, by: $by, lifetimeMonths: 12) {
    total { ...S } byChannel { key stages { ...S } } costFen realisedRoi longTermRoi } }
fragment S on FunnelStages { acquired activated retained paying referrers activationRate
  retentionRate revenueRate referralRate repeatBuyers repurchaseRate paidOrders netFen
  realisedLtvFen projectedLtvFen sharers inviteCodes invitees spreadRate invitesPerUser
  inviteConversion kFactor }"""
COHORTS = """query($t: Touchpoint!, $from: Date!, $to: Date!) {
  cohortRetention(touchpoint: $t, from: $from, to: $to) {
    month key joined checkpoints { name due retained rate } } }"""
SATISFACTION = """query($from: Date!, $to: Date!) { satisfaction(from: $from, to: $to) {
  total { surveyKind answers averageScore score }
  byStaff { staffId figures { surveyKind answers averageScore score } } } }"""


def ratio(a: float, b: float) -> float | None:
    return None if not b else a / b


def stages(n: dict[str, int], today: date, days: int) -> dict[str, Any]:
    """The GraphQL stages from summed counts (docs/funnels.md), ``days`` customer-days."""
    a = n["acquired"]
    run = ratio(n["net_fen"], days / 30.4375)
    return {"acquired": a, "activated": n["activated"], "retained": n["retained"],
            "paying": n["paying"], "referrers": n["referrers"],
            "activationRate": ratio(n["activated"], a), "retentionRate": ratio(n["retained"], a),
            "revenueRate": ratio(n["paying"], a), "referralRate": ratio(n["referrers"], a),
            "repeatBuyers": n["repeat_buyers"],
            "repurchaseRate": ratio(n["repeat_buyers"], n["paying"]),
            "paidOrders": n["paid_orders"], "netFen": n["net_fen"],
            "realisedLtvFen": ratio(n["net_fen"], a),
            "projectedLtvFen": None if run is None else run * 12,
            "sharers": n["sharers"], "inviteCodes": n["invite_codes"], "invitees": n["invitees"],
            "spreadRate": ratio(n["sharers"], a), "invitesPerUser": ratio(n["invite_codes"], a),
            "inviteConversion": ratio(n["invitees"], n["invite_codes"]),
            "kFactor": ratio(n["invitees"], a)}


def close(got: Any, want: Any) -> bool:
    if isinstance(want, float):
        return got is not None and abs(got - want) <= 1e-9 * max(1.0, abs(want))
    if isinstance(want, dict):
        return got.keys() == want.keys() and all(close(got[k], want[k]) for k in want)
    return bool(got == want)


@pytest.fixture
def history(api: Api, pg_app: Siyu) -> list[tuple[int, Any]]:
    record_history(pg_app, seed=11, customers=70, staff=[STAFF_ID, OTHER_STAFF_ID])
    last = pg_app.recorder.max_notification_id() or 0
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    assert tracker.wait("funnel_customer", last, 30), "funnel_customer lags"
    return raw_log(pg_app)


def test_the_funnel_by_channel_and_by_code_is_the_log_recounted(
        api: Api, history: list[tuple[int, Any]]) -> None:
    funnel, _, _ = expected(history)
    today = datetime.now(SHANGHAI).date()
    start, end = today - timedelta(days=150), today - timedelta(days=20)
    for by, channel in (("CHANNEL", None), ("CODE", "qr")):
        sums: dict[str | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        days: dict[str | None, int] = defaultdict(int)
        for (day, code), counts in funnel.items():
            if not start <= day <= end or (channel and code.split(":")[0] != channel):
                continue
            for key in (None, code if by == "CODE" else code.split(":")[0]):
                for column, value in counts.items():
                    sums[key][column] += value
                days[key] += counts["acquired"] * (today - day).days
        got = data(api.gql(FUNNEL, {"from": start.isoformat(), "to": end.isoformat(),
                                    "channel": channel, "by": by}))["funnel"]
        assert close(got["total"], stages(sums[None], today, days[None]))
        assert {s["key"] for s in got["byChannel"]} == set(sums) - {None}
        for s in got["byChannel"]:
            assert close(s["stages"], stages(sums[s["key"]], today, days[s["key"]])), s["key"]
        assert got["total"]["acquired"] > 10
        assert got["costFen"] == 0 and got["longTermRoi"] is None


def test_cohort_retention_is_the_log_recounted_with_checkpoints_due_by_today(
        api: Api, history: list[tuple[int, Any]]) -> None:
    _, _, cohort = expected(history)
    today = datetime.now(SHANGHAI).date()
    start = today - timedelta(days=400)
    for touchpoint in ("WECOM_FRIEND", "GROUP", "MINI_PROGRAM"):
        want: dict[tuple[date, str | None], dict[str, Any]] = {}
        for (tp, day, code), counts in cohort.items():
            if tp != touchpoint.lower():
                continue
            for key in (None, code.split(":")[0]):
                row = want.setdefault((day.replace(day=1), key), {"joined": 0, **{
                    c: [0, 0] for c in DAYS}})
                row["joined"] += counts["joined"]
                for c, (d, m) in DAYS.items():
                    if plus_months(day, m) + timedelta(days=d) <= today:
                        row[c][0] += counts["joined"]
                        row[c][1] += counts[c]
        rows = data(api.gql(COHORTS, {"t": touchpoint, "from": start.isoformat(),
                                      "to": today.isoformat()}))["cohortRetention"]
        got = {(date.fromisoformat(r["month"]), r["key"]): r for r in rows}
        assert got.keys() == want.keys()
        for key, r in got.items():
            assert r["joined"] == want[key]["joined"]
            assert [(c["name"], c["due"], c["retained"]) for c in r["checkpoints"]] == [
                (c.upper(), *want[key][c]) for c in DAYS]
        assert any(c["due"] > c["retained"] > 0 for r in rows for c in r["checkpoints"])


def test_satisfaction_per_staff_member_and_in_total_within_the_readers_scope(
        api: Api, history: list[tuple[int, Any]]) -> None:
    answers = [e for _, e in history if type(e).__name__ == "SurveyAnswered"]
    today = datetime.now(SHANGHAI).date()
    period = {"from": (today - timedelta(days=365)).isoformat(), "to": today.isoformat()}

    def figures(of: list[Any]) -> list[dict[str, Any]]:
        out = []
        for kind in ("csat", "nps"):
            scores = [a.score for a in of if a.survey_kind == kind]
            if not scores:
                continue
            score = (sum(s >= 4 for s in scores) / len(scores) if kind == "csat" else
                     100 * (sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores))
                     / len(scores))
            out.append({"surveyKind": kind.upper(), "answers": len(scores),
                        "averageScore": sum(scores) / len(scores), "score": score})
        return out

    everyone = data(api.gql(SATISFACTION, period))["satisfaction"]
    assert close({"t": everyone["total"]}, {"t": figures(answers)})
    by_staff = {s["staffId"]: s["figures"] for s in everyone["byStaff"]}
    assert by_staff.keys() == {STAFF_ID, OTHER_STAFF_ID}
    for staff_id, got in by_staff.items():
        assert close({"f": got}, {"f": figures([a for a in answers if a.staff_id == staff_id])})
    # A front-line member sees their own figures only, totals included
    own = data(api.gql(SATISFACTION, period, as_="staff"))["satisfaction"]
    mine = figures([a for a in answers if a.staff_id == STAFF_ID])
    assert close({"t": own["total"], "s": own["byStaff"]},
                 {"t": mine, "s": [{"staffId": STAFF_ID, "figures": mine}]})
    # And the funnel is not theirs to read; a backwards period is BAD_INPUT
    assert error(api.gql(FUNNEL, {"from": "2026-01-01", "to": "2026-02-01", "by": "CODE"},
                         as_="staff"))["code"] == "FORBIDDEN"
    assert error(api.gql(SATISFACTION, {"from": "2026-02-01", "to": "2026-01-01"})
                 )["code"] == "BAD_INPUT"


DEPARTMENT_FUNNEL = """query($from: Date!, $to: Date!, $department: String) {
  departmentFunnel(from: $from, to: $to, department: $department, lifetimeMonths: 12) {
    department stages { ...S } } }
fragment S on FunnelStages { acquired activated retained paying referrers activationRate
  retentionRate revenueRate referralRate repeatBuyers repurchaseRate paidOrders netFen
  realisedLtvFen projectedLtvFen sharers inviteCodes invitees spreadRate invitesPerUser
  inviteConversion kFactor }"""
BACK_ID = "0a6f0000-0000-4000-8000-0000000000b7"
DM_ID = "0a6f0000-0000-4000-8000-0000000000b8"


def test_the_department_funnel_credits_the_owners_department_on_the_acquisition_day(
        api: Api, pg_app: Siyu, pg_url: str) -> None:
    # Given a back-office member whose customers they own, the fixture's salesperson owning
    # the others and moving from the front to the back office 60 days ago, and merges
    hire_as(pg_app, BACK_ID, "sales", "back_office")
    hire_as(pg_app, DM_ID, "department_manager", "front_office")
    now = datetime.now(UTC)
    front = record_history(pg_app, seed=11, customers=40, staff=[STAFF_ID, OTHER_STAFF_ID])
    record_history(pg_app, seed=13, customers=30, staff=[BACK_ID, STAFF_ID])
    record_merges(pg_app, front, now)
    moved = now - timedelta(days=60)
    pg_app.staff.move(UUID(STAFF_ID), "back_office", "staff:m", moved)
    last = pg_app.recorder.max_notification_id() or 0
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    for view in ("funnel_customer", "staff_assignment"):
        assert tracker.wait(view, last, 30), f"{view} lags"
    _, owned, _ = expected(raw_log(pg_app))
    today = datetime.now(SHANGHAI).date()
    start, end = today - timedelta(days=300), today

    def department(owner: str, day: date) -> str:
        if owner == BACK_ID:
            return "back_office"
        day_end = datetime.combine(day + timedelta(days=1), time(0), SHANGHAI)
        return "back_office" if moved < day_end else "front_office"

    sums: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    days: dict[str, int] = defaultdict(int)
    for (day, owner), counts in owned.items():
        if start <= day <= end:
            d = department(owner, day)
            for column, value in counts.items():
                sums[d][column] += value
            days[d] += counts["acquired"] * (today - day).days
    period = {"from": start.isoformat(), "to": end.isoformat()}
    # When the company manager reads every department
    got = data(api.gql(DEPARTMENT_FUNNEL, period))["departmentFunnel"]
    # Then each is the log recounted with the owner's department of the acquisition day
    assert [g["department"] for g in got] == ["back_office", "front_office"]
    for g in got:
        assert close(g["stages"], stages(sums[g["department"]], today, days[g["department"]]))
    assert all(sums[d]["acquired"] > 5 for d in ("back_office", "front_office"))
    # And a department manager reads their own department only
    token = issue_token(pg_url, "staff", DM_ID, None, "tests")
    own = data(api.gql(DEPARTMENT_FUNNEL, period, token=token))["departmentFunnel"]
    assert own == [g for g in got if g["department"] == "front_office"]
    assert error(api.gql(DEPARTMENT_FUNNEL, {**period, "department": "back_office"},
                         token=token))["code"] == "FORBIDDEN"
    assert error(api.gql(DEPARTMENT_FUNNEL, period, as_="staff"))["code"] == "FORBIDDEN"
    assert error(api.gql(DEPARTMENT_FUNNEL, {**period, "department": "nowhere"})
                 )["code"] == "BAD_INPUT"
