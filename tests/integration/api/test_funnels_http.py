"""Funnel, cohort retention and satisfaction over HTTP, each figure recomputed from the raw
event log by code of the test's own (no projection code, no projection SQL)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

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
from tests.support.funnel_history import record_history

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
    funnel, _ = expected(history)
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
    _, cohort = expected(history)
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
