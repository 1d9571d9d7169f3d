"""``referral_campaign`` and ``referral_inviter``: referral progress (see ``referrals.sql``).

Row logic is pure (:func:`fold_campaign`, :func:`fold_inviter`); the view loads the
rows a page touches, folds its events in log order and writes them back in the
page's transaction. ``Customer.Referred`` counts only for referral campaigns
(the ``campaignId`` of a ``REFERRED`` item may name anything else).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow

from domain.customer import Customer
from domain.referral import InviteCode, ReferralCampaign
from projections.postgres_views import upsert_rows

VERSION = 1

Row = dict[str, Any]
_CAMPAIGN = (ReferralCampaign.Drafted, ReferralCampaign.Activated, ReferralCampaign.Ended,
             ReferralCampaign.InviteeRewarded)


def _value(event: Any, kind: str) -> int:
    return int(event.value) if event.kind == kind else 0


def fold_campaign(row: Row | None, event: Any) -> Row | None:
    """One campaign's row after ``event`` (its own events, codes issued, referrals)."""
    if isinstance(event, ReferralCampaign.Drafted):
        if row is not None:
            return row
        invitee = event.invitee_reward or {}
        return {"campaign_id": event.originator_id, "name": event.name, "state": "draft",
                "starts_at": event.starts_at, "ends_at": event.ends_at,
                "success": event.success, "order_days": event.order_days,
                "inviter_reward_kind": event.inviter_reward["kind"],
                "inviter_reward_value": event.inviter_reward["value"],
                "invitee_reward_kind": invitee.get("kind"),
                "invitee_reward_value": invitee.get("value"),
                "cap_per_inviter": event.cap_per_inviter, "created_by": event.by,
                "created_at": event.occurred_at, "activated_at": None, "ended_at": None,
                "invite_codes": 0, "invitees": 0, "inviter_rewards": 0, "invitee_rewards": 0,
                "reward_points": 0, "reward_coupon_fen": 0,
                "last_version": event.originator_version}
    if row is None:
        return None
    if isinstance(event, InviteCode.Issued):
        return dict(row, invite_codes=row["invite_codes"] + 1)
    if isinstance(event, Customer.Referred):
        return dict(row, invitees=row["invitees"] + 1)
    if event.originator_version <= row["last_version"]:
        return row
    row = dict(row, last_version=event.originator_version)
    if isinstance(event, ReferralCampaign.Activated):
        row.update(state="active", activated_at=event.occurred_at)
    elif isinstance(event, ReferralCampaign.Ended):
        row.update(state="ended", ended_at=event.occurred_at)
    elif isinstance(event, ReferralCampaign.InviteeRewarded):
        counter = "inviter_rewards" if event.rule == "inviter" else "invitee_rewards"
        row.update({counter: row[counter] + 1,
                    "reward_points": row["reward_points"] + _value(event, "points"),
                    "reward_coupon_fen": row["reward_coupon_fen"] + _value(event, "coupon")})
    return row


def fold_inviter(row: Row | None, event: Any, campaign_id: UUID, inviter_id: UUID) -> Row:
    """One inviter's row in one campaign after ``event``."""
    if row is None:
        row = {"campaign_id": campaign_id, "inviter_id": inviter_id, "code_issued_at": None,
               "invitees": 0, "rewards": 0, "reward_points": 0, "reward_coupon_fen": 0,
               "last_referral_at": None}
    if isinstance(event, InviteCode.Issued):
        return dict(row, code_issued_at=event.occurred_at)
    if isinstance(event, Customer.Referred):
        return dict(row, invitees=row["invitees"] + 1, last_referral_at=event.occurred_at)
    if isinstance(event, ReferralCampaign.InviteeRewarded) and event.rule == "inviter":
        return dict(row, rewards=row["rewards"] + 1,
                    reward_points=row["reward_points"] + _value(event, "points"),
                    reward_coupon_fen=row["reward_coupon_fen"] + _value(event, "coupon"))
    return row


def campaign_of(event: Any) -> UUID | None:
    """The referral campaign an event counts for (None: not one of ours)."""
    if isinstance(event, _CAMPAIGN):
        return UUID(str(event.originator_id))
    raw = event.campaign_id if isinstance(event, (InviteCode.Issued, Customer.Referred)) else None
    try:
        return None if raw is None else UUID(raw)
    except ValueError:
        return None


def inviter_of(event: Any) -> UUID | None:
    if isinstance(event, (InviteCode.Issued, Customer.Referred)):
        return UUID(event.inviter_id)
    if isinstance(event, ReferralCampaign.InviteeRewarded) and event.rule == "inviter":
        return UUID(event.inviter_id)
    return None


class ReferralProgressView:
    name = "referral_campaign"
    events = (ReferralCampaign, InviteCode, Customer.Referred)
    version = VERSION

    def bind(self, app: Application[Any]) -> None:
        """Folds events only: needs nothing from the application."""

    def create(self, curs: Cursor[DictRow]) -> None:
        curs.execute((Path(__file__).parent / "referrals.sql").read_text())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS referral_campaign, referral_inviter CASCADE")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE referral_campaign, referral_inviter")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        relevant = [(e, c) for _, e in events if (c := campaign_of(e)) is not None]
        if not relevant:
            return
        campaign_ids = sorted({c for _, c in relevant})
        curs.execute("SELECT * FROM referral_campaign WHERE campaign_id = ANY(%s) FOR UPDATE",
                     (campaign_ids,))
        campaigns: dict[UUID, Row | None] = {r["campaign_id"]: dict(r) for r in curs.fetchall()}
        keys = sorted({(c, i) for e, c in relevant if (i := inviter_of(e)) is not None})
        curs.execute("SELECT * FROM referral_inviter WHERE (campaign_id, inviter_id) IN "
                     "(SELECT * FROM unnest(%s::uuid[], %s::uuid[])) FOR UPDATE",
                     ([c for c, _ in keys], [i for _, i in keys]))
        inviters: dict[tuple[UUID, UUID], Row] = {
            (r["campaign_id"], r["inviter_id"]): dict(r) for r in curs.fetchall()}
        for event, campaign_id in relevant:
            if campaigns.get(campaign_id) is None and not isinstance(
                    event, ReferralCampaign.Drafted):
                continue  # a REFERRED item naming some other campaign
            campaigns[campaign_id] = fold_campaign(campaigns.get(campaign_id), event)
            inviter_id = inviter_of(event)
            if inviter_id is not None:
                key = (campaign_id, inviter_id)
                inviters[key] = fold_inviter(inviters.get(key), event, campaign_id, inviter_id)
        upsert_rows(curs, "referral_campaign", "campaign_id",
                    [r for r in campaigns.values() if r is not None])
        upsert_rows(curs, "referral_inviter", "campaign_id, inviter_id", list(inviters.values()))
