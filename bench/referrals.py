"""Referral and coupon benchmarks: attributing friend adds with invite codes, verifying codes."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bench.common import SECRET, Measure, fresh_database, measure, p99
from domain.ingestion import EventItem
from siyu.bootstrap import build_application

BATCH = 500


def referral_attribution(quick: bool) -> list[Measure]:
    """Friend adds/s carrying invite codes, each attributed and rewarded with a coupon for the
    inviter and points for the invitee (batches of 500, 100 inviters)."""
    url = fresh_database()
    app = build_application(url, SECRET)
    at = datetime.now(UTC) - timedelta(hours=1)
    campaign_id, _ = app.referrals.draft_campaign(
        "bench", at - timedelta(days=1), None, {"kind": "coupon", "value": 1000, "valid_days": 30},
        "staff:bench", at, invitee_reward={"kind": "points", "value": 10})
    app.referrals.activate_campaign(campaign_id, "staff:bench", at)
    inviters = app.ingestion.record_batch([EventItem(f"i{n}", "REGISTERED", ("mall_member", f"i{n}"), at)
                                 for n in range(100)], "service:bench")
    codes = [app.referrals.invite_code(campaign_id, o.customer_id, "service:bench", at)
             for o in inviters.outcomes if o.customer_id is not None]
    total = 2000 if quick else 10000
    began = time.perf_counter()
    for start in range(0, total, BATCH):
        result = app.ingestion.record_batch([
            EventItem(f"f{n}", "FRIEND_ADDED", ("wecom_external:wwbench", f"f{n}"), at,
                      staff_id="wecom_user:s1", state=codes[n % len(codes)])
            for n in range(start, start + BATCH)], "service:wecom")
        assert result.count("accepted") == BATCH
    rate = total / (time.perf_counter() - began)
    app.close()
    return [measure("referral_attribution", rate, "friend adds/s")]


def coupon_redeem_p99(quick: bool) -> list[Measure]:
    """p99 ms of verifying one redemption code (fresh reads of the coupon and its holder)."""
    url = fresh_database()
    app = build_application(url, SECRET)
    at = datetime.now(UTC) - timedelta(hours=1)
    holder = app.ingestion.record_batch([EventItem("h", "REGISTERED", ("mall_member", "h"), at)],
                              "service:bench").outcomes[0].customer_id
    assert holder is not None
    codes = [app.referrals.grant_coupon(holder, 1000, 30, "staff:bench", at)[1]
             for _ in range(100 if quick else 500)]
    times: list[float] = []
    for code in codes:
        began = time.perf_counter()
        app.referrals.redeem_coupon_code(code, "staff:till", at, store_id="store-1")
        times.append((time.perf_counter() - began) * 1000)
    app.close()
    return [measure("coupon_redeem_p99", p99(times), "ms")]


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {
    "referral_attribution": referral_attribution, "coupon_redeem_p99": coupon_redeem_p99}
