"""Referrals and coupons on real PostgreSQL: attribution, rewards once, redemption once
under concurrency, and the read models (live == rebuild)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from application.app import Siyu
from domain.coupon import CouponAlreadyRedeemed
from domain.errors import DomainError
from domain.ingestion import EventItem
from projections.coupons import CouponLedgerView
from projections.referrals import ReferralProgressView
from projections.runner import BatchRunner, Tracker
from siyu.bootstrap import build_application
from tests.conftest import SECRET

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
BY = "staff:manager-1"


def rows(url: str, sql: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql).fetchall()


def register(app: Siyu, name: str) -> UUID:
    result = app.ingestion.record_batch([EventItem(f"reg-{name}", "REGISTERED", ("wx_unionid", name), AT)],
                              "service:test")
    assert result.outcomes[0].customer_id is not None
    return result.outcomes[0].customer_id


def friend(name: str, code: str, event_id: str) -> EventItem:
    return EventItem(event_id, "FRIEND_ADDED", ("wecom_external:ww1", name),
                     AT + timedelta(hours=1), staff_id="wecom_user:s1", state=code, channel="wecom")


def test_an_invitee_is_attributed_and_the_inviter_rewarded_once_across_processes(
        pg_url: str) -> None:
    # Given a capped referral campaign (coupon for the inviter, points for the invitee)
    first, second = build_application(pg_url, SECRET), build_application(pg_url, SECRET)
    try:
        campaign_id, _ = first.referrals.draft_campaign(
            "老带新", AT - timedelta(days=1), None,
            {"kind": "coupon", "value": 2000, "valid_days": 30}, BY, AT,
            invitee_reward={"kind": "points", "value": 50}, cap_per_inviter=2)
        first.referrals.activate_campaign(campaign_id, BY, AT)
        inviter = register(first, "inviter")
        code = first.referrals.invite_code(campaign_id, inviter, "customer:x", AT)
        assert second.referrals.invite_code(campaign_id, inviter, BY, AT) == code  # any process
        # When three friends add staff with the code, each callback delivered by both
        # processes at once (same event id) and again later with a new event id
        for n in range(3):
            items = [friend(f"f{n}", code, f"cb-{n}")]
            threads = [threading.Thread(target=app.ingestion.record_batch, args=(items, "service:wecom"))
                       for app in (first, second)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            second.ingestion.record_batch([friend(f"f{n}", code, f"cb-{n}-again")], "service:wecom")
        # Then three invitees are attributed, the inviter rewarded twice (the cap), each
        # invitee once
        check = build_application(pg_url, SECRET)
        try:
            holder: Any = check.repository.get(inviter)
            assert len(holder.coupons) == 2
            invitees = rows(pg_url, "SELECT count(*) AS n FROM siyu_events WHERE topic = "
                                    "'domain.customer:Customer.Referred'")
            assert invitees[0]["n"] == 3
            points = rows(pg_url, "SELECT count(*) AS n FROM siyu_events WHERE topic = "
                                  "'domain.customer:Customer.PointsEarned'")
            assert points[0]["n"] == 3
            # And the read models say so, live and rebuilt alike
            tracker = Tracker(check.factory.datastore)  # type: ignore[attr-defined]
            runners = [BatchRunner(check, ReferralProgressView(), tracker, page_size=7),
                       BatchRunner(check, CouponLedgerView(), tracker, page_size=7)]
            for runner in runners:
                runner.catch_up()
            queries = ("SELECT * FROM referral_campaign",
                       "SELECT * FROM referral_inviter ORDER BY inviter_id",
                       "SELECT * FROM coupon_ledger ORDER BY coupon_id")
            live = [rows(pg_url, q) for q in queries]
            (progress,), (leader,), ledger = live
            assert (progress["state"], progress["invite_codes"], progress["invitees"],
                    progress["inviter_rewards"], progress["invitee_rewards"],
                    progress["reward_points"], progress["reward_coupon_fen"]) == (
                "active", 1, 3, 2, 3, 150, 4000)
            assert (leader["inviter_id"], leader["invitees"], leader["rewards"],
                    leader["reward_coupon_fen"]) == (inviter, 3, 2, 4000)
            assert [(r["customer_id"], r["value_fen"], r["source"], r["campaign_id"])
                    for r in ledger] == [(inviter, 2000, "referral", campaign_id)] * 2
            for runner in runners:
                runner.rebuild()
            assert [rows(pg_url, q) for q in queries] == live
        finally:
            check.close()
    finally:
        first.close()
        second.close()


def test_two_simultaneous_verifications_of_a_code_redeem_it_once(pg_url: str) -> None:
    # Given a coupon, and four processes at four tills
    apps = [build_application(pg_url, SECRET) for _ in range(4)]
    try:
        holder = register(apps[0], "holder")
        coupon_id, code, _ = apps[0].referrals.grant_coupon(holder, 1500, 30, BY, AT)
        for app in apps:  # warm caches: every process has read the coupon before
            assert app.referrals.coupon(coupon_id) is not None
        # When all of them verify the code at the same moment
        barrier = threading.Barrier(len(apps))
        outcomes: list[str] = []

        def verify(app: Siyu) -> None:
            barrier.wait()
            try:
                app.referrals.redeem_coupon_code(code, BY, AT + timedelta(hours=1), store_id="sh-01")
                outcomes.append("redeemed")
            except DomainError as error:
                outcomes.append(error.code)

        threads = [threading.Thread(target=verify, args=(app,)) for app in apps]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Then exactly one succeeds, the others get COUPON_ALREADY_REDEEMED
        assert sorted(outcomes) == ["COUPON_ALREADY_REDEEMED"] * 3 + ["redeemed"]
        redeemed = rows(pg_url, "SELECT count(*) AS n FROM siyu_events WHERE topic IN ("
                                "'domain.coupon:Coupon.Redeemed', "
                                "'domain.customer:Customer.CouponRedeemed')")
        assert redeemed[0]["n"] == 2  # one on the coupon, one on the holder
        with pytest.raises(CouponAlreadyRedeemed):
            apps[1].referrals.redeem_coupon_code(code, BY, AT + timedelta(hours=2))
    finally:
        for app in apps:
            app.close()
