"""The funnel read models on PostgreSQL: ``funnel_daily`` and ``cohort_daily`` equal what
independent code counts from the raw event log, and a rebuild equals the live model."""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from application.app import Siyu
from projections.funnels import FunnelView
from projections.runner import BatchRunner, Tracker
from tests.support.funnel_history import record_history, record_merges

pytestmark = pytest.mark.integration
SHANGHAI = ZoneInfo("Asia/Shanghai")
ENGAGING = {"ActivityJoined", "ProductViewed", "ContentViewed", "LiveStreamWatched",
            "CampaignLinkClicked", "AddedToCart", "OrderPlaced", "OrderPaid", "MessageReceived",
            "ContentForwarded", "ContentCommented", "StoreVisited", "SurveyAnswered"}
ACQUIRING = ENGAGING | {"Registered", "FriendAdded", "ChannelCodeScanned",
                        "PersonalWeChatFriendAdded", "GroupJoined", "MemberRegistered"}
JOIN_LEAVE = {"FriendAdded": ("wecom_friend", 1), "FriendDeleted": ("wecom_friend", -1),
              "PersonalWeChatFriendAdded": ("personal_wechat", 1),
              "PersonalWeChatFriendDeleted": ("personal_wechat", -1),
              "GroupJoined": ("group", 1), "GroupLeft": ("group", -1),
              "MemberRegistered": ("mini_program", 1)}
DAYS = {"d1": (1, 0), "d7": (7, 0), "d30": (30, 0),
        **{f"m{k}": (0, k) for k in range(1, 7)}}


def raw_log(app: Siyu) -> list[tuple[int, Any]]:
    return [(n.id, app.mapper.to_domain_event(n))
            for n in app.recorder.select_notifications(0, 100_000)]


def day_of(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


def plus_months(d: date, k: int) -> date:
    y, m = divmod(d.month - 1 + k, 12)
    last = calendar.monthrange(d.year + y, m + 1)[1]
    return date(d.year + y, m + 1, min(d.day, last))


def survivors(log: list[tuple[int, Any]]) -> dict[str, str]:
    """Each absorbed stream's survivor at the end of the log, merge chains followed."""
    parent: dict[str, str] = {}
    for _, e in log:
        name = type(e).__qualname__
        if name == "Customer.MergedInto":
            parent[str(e.originator_id)] = str(e.survivor_id)
        elif name == "Customer.UnmergedFrom":
            parent.pop(str(e.originator_id), None)
    out = {}
    for stream in parent:
        top = stream
        while top in parent:
            top = parent[top]
        out[stream] = top
    return out


Fact = tuple[datetime, int, str, Any]


def _membership(timeline: list[Fact], touchpoint: str) -> tuple[datetime, datetime | None,
                                                                   bool] | None:
    """One stream's first join, when it last left, and whether it still holds a key."""
    moves = sorted(((f[0], f[1], JOIN_LEAVE[f[2]][1], getattr(f[3], "staff_id", None)
                     or getattr(f[3], "group_id", None)) for f in timeline
                    if f[2] in JOIN_LEAVE and JOIN_LEAVE[f[2]][0] == touchpoint),
                   key=lambda m: m[1])  # membership follows the log
    joins = [m for m in moves if m[2] == 1]
    if not joins:
        return None
    held: set[Any] = set()
    left: datetime | None = None
    for at, _, sign, key in moves:
        if sign == 1:
            held.add(key)
            left = None
        elif key in held:
            held.discard(key)
            left = at if not held else left
    return min(m[0] for m in joins), left, bool(held)


def _owner(streams: list[list[Fact]], acquired: datetime) -> str | None:
    """The survivor's owner at the end of the acquisition day, else the owner then of the
    stream acquired first."""
    end = datetime.combine(day_of(acquired) + timedelta(days=1), time(0), SHANGHAI)
    for timeline in streams:
        changes = sorted((f[0], f[1], f[3].staff_id) for f in timeline
                         if f[2] == "OwnerChanged" and f[0] < end)
        if changes and changes[-1][2] is not None:
            return str(changes[-1][2])
    return None


def expected(log: list[tuple[int, Any]]) -> tuple[dict[Any, dict[str, int]],
                                                   dict[Any, dict[str, int]],
                                                   dict[Any, dict[str, int]]]:
    """The rollups (by channel, by credited owner, cohorts), counted customer by customer
    from the log with no projection code; a merged customer's streams count as one."""
    by_stream: dict[str, list[Fact]] = defaultdict(list)
    for position, e in log:
        name = type(e).__name__
        if name == "Issued" and hasattr(e, "inviter_id"):
            by_stream[str(e.inviter_id)].append((e.occurred_at, position, "InviteCode", e))
        elif type(e).__qualname__.startswith("Customer."):
            by_stream[str(e.originator_id)].append((e.occurred_at, position, name, e))
    top = survivors(log)
    customers: dict[str, list[str]] = defaultdict(list)
    for stream in by_stream:
        customers[top.get(stream, stream)].append(stream)
    funnel: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    owned: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    cohort: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for survivor, streams in customers.items():
        timelines = {s: sorted(by_stream[s], key=lambda f: (f[0], f[1])) for s in streams}
        timeline = sorted((f for s in streams for f in by_stream[s]),
                          key=lambda f: (f[0], f[1]))
        acq = [f for f in timeline if f[2] in ACQUIRING]
        if not acq:
            continue
        acquired = acq[0][0]
        named = [getattr(f[3], "first_channel", None) or getattr(f[3], "channel", None)
                 for f in acq]
        channel = next((c for c in named if c and c != "unknown"), "unknown")
        engaged = [f[0] for f in timeline if f[2] in ENGAGING]
        paid = [f[3].amount_fen for f in timeline if f[2] == "OrderPaid"]
        refunded = sum(f[3].amount_fen for f in timeline if f[2] == "OrderRefunded")
        codes = sum(1 for f in timeline if f[2] == "InviteCode")
        brought = sum(1 for f in timeline if f[2] == "ReferralBrought")
        first_acquired = {s: min((f[0] for f in timelines[s] if f[2] in ACQUIRING),
                                 default=None) for s in streams}
        others = sorted((s for s in streams if s != survivor), key=lambda s: (
            first_acquired[s] is None, first_acquired[s] or acquired, s))
        owner = _owner([timelines[s] for s in [survivor, *others] if s in timelines],
                       acquired)
        figures = {
            "acquired": 1, "activated": int(any(t - acquired < timedelta(days=7)
                                                for t in engaged)),
            "retained": int(any(t - acquired >= timedelta(days=7) for t in engaged)),
            "paying": int(len(paid) >= 1), "repeat_buyers": int(len(paid) >= 2),
            "paid_orders": len(paid), "net_fen": sum(paid) - refunded,
            "sharers": int(codes > 0), "invite_codes": codes,
            "referrers": int(brought > 0), "invitees": brought}
        for column, value in figures.items():
            funnel[(day_of(acquired), channel)][column] += value
            if owner is not None:
                owned[(day_of(acquired), owner)][column] += value
        for touchpoint in ("wecom_friend", "personal_wechat", "group", "mini_program"):
            held = [m for m in (_membership(timelines[s], touchpoint) for s in streams)
                    if m is not None]
            if not held:
                continue
            first = day_of(min(m[0] for m in held))
            left = None if any(m[2] for m in held) else max(
                m[1] for m in held if m[1] is not None)
            counts = cohort[(touchpoint, first, channel)]
            counts["joined"] += 1
            for column, (days, months) in DAYS.items():
                due = datetime.combine(plus_months(first, months) + timedelta(days=days),
                                       time(0), SHANGHAI)
                if touchpoint == "mini_program":
                    counts[column] += int(any(t >= due for t in engaged))
                else:
                    counts[column] += int(left is None or left >= due)
    return tuple({k: dict(v) for k, v in d.items()}  # type: ignore[return-value]
                 for d in (funnel, owned, cohort))


def rollups(app: Siyu) -> tuple[dict[Any, dict[str, int]], dict[Any, dict[str, int]],
                                 dict[Any, dict[str, int]]]:
    with app.factory.datastore.transaction() as curs:  # type: ignore[attr-defined]
        curs.execute("SELECT * FROM funnel_daily")
        funnel = {(r.pop("day"), r.pop("channel")): dict(r) for r in curs.fetchall()}
        curs.execute("SELECT * FROM funnel_owner_daily")
        owned = {(r.pop("day"), r.pop("owner")): dict(r) for r in curs.fetchall()}
        curs.execute("SELECT * FROM cohort_daily")
        cohort = {(r.pop("touchpoint"), r.pop("day"), r.pop("channel")): dict(r)
                  for r in curs.fetchall()}
    # no row of nothing: whether one exists would depend on where pages split the log
    for d in (funnel, owned, cohort):
        assert all(any(v.values()) for v in d.values()), [k for k, v in d.items()
                                                           if not any(v.values())]
    return funnel, owned, cohort


def test_rollups_equal_an_independent_count_of_the_log_and_a_rebuild(pg_app: Siyu) -> None:
    # Given eight months of history, part of it imported late, projected page by page
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    live = BatchRunner(pg_app, FunnelView(), tracker, page_size=13)
    customers = record_history(pg_app)
    live.catch_up()
    # When customers are merged (OneID) — pairs, a chain, one merge undone — after the fact
    record_merges(pg_app, customers)
    live.catch_up()
    # Then the rollups are what the raw log says, each merged customer counted once
    funnel, owned, cohort = rollups(pg_app)
    log = raw_log(pg_app)
    want_funnel, want_owned, want_cohort = expected(log)
    assert funnel == want_funnel
    assert owned == want_owned
    assert cohort == want_cohort
    # And the history is real: several acquisition months, late imports, money, referrals,
    # merges that took customers out of the count
    assert len({d.month for d, _ in funnel}) >= 6
    assert any(c == "store" for _, c in funnel)
    assert sum(r["net_fen"] for r in funnel.values()) > 0
    assert sum(r["invitees"] for r in funnel.values()) > 0
    assert sum(r["invite_codes"] for r in funnel.values()) > 0
    assert {t for t, _, _ in cohort} == {"wecom_friend", "personal_wechat", "group",
                                         "mini_program"}
    assert 0 < sum(r["m1"] for r in cohort.values()) < sum(r["joined"] for r in cohort.values())
    merged = len(survivors(log))
    assert merged == 6
    assert sum(r["acquired"] for r in funnel.values()) == len(customers) - merged
    assert 0 < sum(r["acquired"] for r in owned.values()) < len(customers) - merged
    # And a rebuild in one page gives the same rollups
    BatchRunner(pg_app, FunnelView(), tracker, page_size=1000).rebuild()
    assert rollups(pg_app) == (funnel, owned, cohort)
