"""``campaign``, ``campaign_send`` and ``campaign_exclusion``: campaigns as BI and the
dispatcher see them. Idempotent per campaign version; outcomes come from the customers'
``CampaignMessageSent`` / ``CampaignMessageFailed`` facts (recorded once per send key)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from domain.campaign import Campaign
from domain.campaign_groups import DELIVERED, GroupMessagesRecorded, GroupsDelivered
from domain.customer import Customer

TABLES = ("campaign", "campaign_send", "campaign_exclusion", "campaign_customer_event",
          "campaign_task", "campaign_group_delivery")
#: Customer events measured by reports: kind of each.
MEASURED: dict[type[Any], str] = {
    Customer.CampaignMessageRead: "read", Customer.CampaignLinkClicked: "clicked",
    Customer.FriendDeleted: "friend_deleted", Customer.StaffMuted: "muted",
    Customer.DoNotDisturbSet: "dnd", Customer.ConsentWithdrawn: "consent_withdrawn",
}


class CampaignView:
    name = "campaign"
    #: v2: campaign_customer_event (reads, clicks, harm); v3: WeCom tasks; v4: message_class
    #: and the group counts of campaigns into customer groups; v5: campaign_group_delivery;
    #: v6: campaign_send.delivered_at
    version = 6
    events = (Campaign, GroupMessagesRecorded, GroupsDelivered, Customer.CampaignMessageSent,
              Customer.CampaignMessageDelivered,
              Customer.CampaignMessageRead, Customer.CampaignMessageFailed,
              Customer.CampaignLinkClicked, Customer.FriendDeleted, Customer.StaffMuted,
              Customer.DoNotDisturbSet, Customer.ConsentWithdrawn)

    def bind(self, app: Application[Any]) -> None:
        """Folds events only."""

    def create(self, curs: Cursor[DictRow]) -> None:
        curs.execute((Path(__file__).parent / "campaigns.sql").read_text())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS " + ", ".join(TABLES) + " CASCADE")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE " + ", ".join(TABLES))

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        outcomes: list[Any] = []
        measured: list[tuple[int, Any]] = []
        for position, event in events:
            kind = MEASURED.get(type(event))
            if kind is not None:
                measured.append((position, event))
                continue
            if isinstance(event, (Customer.CampaignMessageSent, Customer.CampaignMessageFailed,
                                  Customer.CampaignMessageDelivered)):
                outcomes.append(event)
                continue
            if outcomes:
                _outcomes(curs, outcomes)
                outcomes = []
            if isinstance(event, (Campaign.Event, Campaign.Drafted)):
                _campaign_event(curs, event)
            elif isinstance(event, GroupMessagesRecorded):
                _group_outcomes(curs, event)
            elif isinstance(event, GroupsDelivered):
                _group_deliveries(curs, event)
        if outcomes:
            _outcomes(curs, outcomes)
        _measured(curs, measured)


def _campaign_event(curs: Cursor[DictRow], e: Any) -> None:
    cid = e.originator_id
    if isinstance(e, Campaign.Drafted):
        curs.execute(
            "INSERT INTO campaign (campaign_id, name, owner, channel, segment_id, state, "
            "variants, holdout_percent, cost_fen, attribution_days, harm_days, drafted_by, "
            "drafted_at, last_version) VALUES (%s, %s, %s, %s, %s, 'draft', %s, %s, %s, %s, %s, "
            "%s, %s, %s) ON CONFLICT (campaign_id) DO NOTHING",
            (cid, e.name, e.owner, e.channel, UUID(e.segment_id), Jsonb(e.variants),
             e.holdout_percent, e.cost_fen, e.attribution_days, e.harm_days, e.by,
             e.occurred_at, e.originator_version))
        return
    curs.execute("UPDATE campaign SET last_version = %s WHERE campaign_id = %s "
                 "AND last_version < %s RETURNING campaign_id",
                 (e.originator_version, cid, e.originator_version))
    if curs.fetchone() is None:
        return  # applied already
    if isinstance(e, Campaign.Scheduled):
        curs.execute("UPDATE campaign SET state = 'scheduled', start_at = %s "
                     "WHERE campaign_id = %s", (e.start_at, cid))
    elif isinstance(e, Campaign.Launched):
        curs.execute("UPDATE campaign SET state = 'running', launched_at = %s, audience = %s, "
                     "included = %s, deferred = %s, excluded = %s WHERE campaign_id = %s",
                     (e.planned_at, e.audience, e.included, e.deferred, Jsonb(e.excluded), cid))
    elif isinstance(e, Campaign.RecipientsPlanned):
        rows = e.recipients
        curs.execute(
            "INSERT INTO campaign_send (campaign_id, customer_id, step, variant_id, send_at, "
            "sender, status) SELECT %s, c, 0, v, t, s, 'planned' FROM unnest(%s::uuid[], "
            "%s::text[], %s::timestamptz[], %s::text[]) AS r(c, v, t, s) "
            "ON CONFLICT DO NOTHING",
            (cid, [r[0] for r in rows], [r[1] for r in rows],
             [datetime.fromisoformat(r[2]) for r in rows], [r[3] for r in rows]))
    elif isinstance(e, Campaign.RecipientsExcluded):
        rows = e.excluded
        curs.execute(
            "INSERT INTO campaign_exclusion SELECT %s, c, r FROM unnest(%s::uuid[], %s::text[]) "
            "AS x(c, r) ON CONFLICT DO NOTHING",
            (cid, [r[0] for r in rows], [r[1] for r in rows]))
    elif isinstance(e, Campaign.ServiceDeclared):
        curs.execute("UPDATE campaign SET message_class = 'service' WHERE campaign_id = %s",
                     (cid,))
    elif isinstance(e, Campaign.Completed):
        curs.execute("UPDATE campaign SET state = 'completed', completed_at = %s "
                     "WHERE campaign_id = %s", (e.occurred_at, cid))
    elif isinstance(e, Campaign.Cancelled):
        curs.execute("UPDATE campaign SET state = 'cancelled', cancelled_at = %s, "
                     "cancel_reason = %s WHERE campaign_id = %s", (e.occurred_at, e.reason, cid))
        curs.execute("UPDATE campaign_send SET status = 'cancelled' WHERE campaign_id = %s "
                     "AND status = 'planned'", (cid,))


def _group_outcomes(curs: Cursor[DictRow], e: GroupMessagesRecorded) -> None:
    """A group campaign's messages: ``sent`` and ``failed`` count groups (unknown ones in
    failed, as for customers; per group in ``campaignGroups``)."""
    sent = sum(1 for _, status, _ in e.outcomes if status == "sent")
    curs.execute("UPDATE campaign SET last_version = %s, sent = sent + %s, "
                 "failed = failed + %s WHERE campaign_id = %s AND last_version < %s",
                 (e.originator_version, sent, len(e.outcomes) - sent, e.originator_id,
                  e.originator_version))


def _group_deliveries(curs: Cursor[DictRow], e: GroupsDelivered) -> None:
    """Groups whose owner confirmed the task: ``delivered`` counts groups WeCom reports
    sent (status 1; not those that already had the period's message, nor expired ones)."""
    delivered = sum(1 for _, status in e.deliveries if status == DELIVERED)
    curs.executemany("INSERT INTO campaign_group_delivery VALUES (%s, %s, %s, %s) "
                     "ON CONFLICT DO NOTHING",
                     [(e.originator_id, chat, status, e.occurred_at)
                      for chat, status in e.deliveries])
    curs.execute("UPDATE campaign SET last_version = %s, delivered = delivered + %s "
                 "WHERE campaign_id = %s AND last_version < %s",
                 (e.originator_version, delivered, e.originator_id, e.originator_version))


def _measured(curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
    rows = [(p, e.originator_id, MEASURED[type(e)], getattr(e, "campaign_id", None),
             e.occurred_at) for p, e in events
            if not (isinstance(e, Customer.FriendDeleted) and e.deleted_by != "customer")
            and not (isinstance(e, Customer.ConsentWithdrawn) and e.purpose != "marketing")]
    if not rows:
        return
    curs.execute(
        "INSERT INTO campaign_customer_event (position, customer_id, kind, campaign_id, at) "
        "SELECT * FROM unnest(%s::bigint[], %s::uuid[], %s::text[], %s::uuid[], "
        "%s::timestamptz[]) ON CONFLICT (position) DO NOTHING",
        ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
         [_uuid(r[3]) for r in rows], [r[4] for r in rows]))


def _uuid(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None  # ingestion refuses these; events stored before it are kept, unlinked


def _deliveries(curs: Cursor[DictRow], events: Sequence[Any]) -> None:
    if not events:
        return
    curs.execute(
        "WITH d(campaign_id, customer_id, step, status, at) AS (SELECT * FROM unnest("
        "%s::uuid[], %s::uuid[], %s::int[], %s::text[], %s::timestamptz[])), changed AS ("
        "UPDATE campaign_send s SET delivery = d.status, delivered_at = d.at FROM d "
        "WHERE s.campaign_id = d.campaign_id AND s.customer_id = "
        "d.customer_id AND s.step = d.step AND s.delivery IS NULL RETURNING s.campaign_id, "
        "s.detail, s.delivery), counted AS (UPDATE campaign c SET delivered = c.delivered + "
        "x.n FROM (SELECT campaign_id, count(*) AS n FROM changed WHERE delivery = 'sent' "
        "GROUP BY 1) x WHERE c.campaign_id = x.campaign_id) "
        "UPDATE campaign_task t SET sent = t.sent + x.sent, not_friend = t.not_friend + "
        "x.not_friend, quota_exceeded = t.quota_exceeded + x.quota, expired = t.expired + "
        "x.expired FROM (SELECT campaign_id, detail, "
        "count(*) FILTER (WHERE delivery = 'sent') AS sent, "
        "count(*) FILTER (WHERE delivery = 'not_friend') AS not_friend, "
        "count(*) FILTER (WHERE delivery = 'quota_exceeded') AS quota, "
        "count(*) FILTER (WHERE delivery = 'expired') AS expired "
        "FROM changed GROUP BY 1, 2) x WHERE t.campaign_id = x.campaign_id "
        "AND t.task_id = x.detail",
        ([UUID(e.campaign_id) for e in events], [e.originator_id for e in events],
         [e.step for e in events], [e.status for e in events],
         [e.occurred_at for e in events]))


def _outcomes(curs: Cursor[DictRow], all_events: Sequence[Any]) -> None:
    _deliveries(curs, [e for e in all_events if isinstance(e, Customer.CampaignMessageDelivered)])
    events = [e for e in all_events if not isinstance(e, Customer.CampaignMessageDelivered)]
    if not events:
        return
    sent = [e for e in events if isinstance(e, Customer.CampaignMessageSent)]
    tasks = [e for e in sent if e.channel == "wecom_mass"]
    if tasks:
        curs.execute(
            "INSERT INTO campaign_task (campaign_id, task_id, sender, recipients) "
            "SELECT t.c, t.k, s.sender, count(*) FROM unnest(%s::uuid[], %s::text[], "
            "%s::uuid[]) AS t(c, k, u) JOIN campaign_send s ON s.campaign_id = t.c AND "
            "s.customer_id = t.u AND s.step = 0 AND s.status = 'planned' "
            "GROUP BY t.c, t.k, s.sender ON CONFLICT (campaign_id, task_id) "
            "DO UPDATE SET recipients = campaign_task.recipients + excluded.recipients",
            ([UUID(e.campaign_id) for e in tasks], [e.gateway_message_id for e in tasks],
             [e.originator_id for e in tasks]))
    rows = [(UUID(e.campaign_id), e.originator_id, e.step,
             "sent" if e in sent else "failed",
             e.gateway_message_id if e in sent else e.reason, e.occurred_at) for e in events]
    curs.execute(
        "WITH o(campaign_id, customer_id, step, status, detail, at) AS (SELECT * FROM "
        "unnest(%s::uuid[], %s::uuid[], %s::int[], %s::text[], %s::text[], %s::timestamptz[])),"
        " changed AS (UPDATE campaign_send s SET status = o.status, detail = o.detail, "
        "outcome_at = o.at FROM o WHERE s.campaign_id = o.campaign_id AND s.customer_id = "
        "o.customer_id AND s.step = o.step AND s.status IN ('planned', 'cancelled') "
        "RETURNING s.campaign_id, s.status) "
        "UPDATE campaign c SET sent = c.sent + x.sent, failed = c.failed + x.failed FROM "
        "(SELECT campaign_id, count(*) FILTER (WHERE status = 'sent') AS sent, "
        "count(*) FILTER (WHERE status = 'failed') AS failed FROM changed GROUP BY 1) x "
        "WHERE c.campaign_id = x.campaign_id",
        ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
         [r[4] for r in rows], [r[5] for r in rows]))
