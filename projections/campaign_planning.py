"""Planning a campaign: the audience at launch, through the restraint rules.

Reads the segment's current members with the facts restraint needs (do-not-disturb,
withdrawn consent, the namespaces of their identities (who can be addressed on the
channel), lifecycle, the values of the template variables (:func:`template_values`), current
friends with the WeCom sender first (:func:`choose_sender`)) and every customer's other
campaign sends (planned or sent, not refused by WeCom), SOP steps sent in the caps' windows,
and what WeCom reported of the customer's mass-send quota (:func:`read_contacts`, shared with
the SOP worker), then applies :func:`domain.restraint.decide` to each. The same function
gives the dry run (nothing recorded), the preview of one customer and the plan the launch
records, so the dry run's numbers are the report's.

**The WeCom sender.** WeCom delivers a customer's mass message only through the member who
last chatted with them, so the sender is, among the customer's current staff friends: the
one with the latest message in their chat (``LAST_CHATTED``, from the ``staff_kpi_thread``
read model of the staff-performance projection), else the owner (``OWNER``), else the first
friend by id (``FRIEND``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import DictRow

from domain.campaign_groups import GroupDecision
from domain.restraint import MEMBER_MASS, QUOTA_FULL, Decision, Plan, Policy, Recipient, decide
from domain.templates import VARIABLES, has_value

#: How far back (and ahead) other sends are read: the longest cap window plus a margin.
CONTACT_WINDOW = timedelta(days=40)

AUDIENCE = """
SELECT m.customer_id, p.dnd, %(purpose)s = ANY(p.consents_withdrawn) AS withdrawn,
       p.consents ? %(purpose)s AS consented,
       p.current_staff_ids, o.staff_id AS owner, {last_chatted} AS last_chatted,
       p.member_level, p.points_balance, p.category_orders,
       ARRAY(SELECT i->>'namespace' FROM jsonb_array_elements(p.identities) i
             WHERE i->>'blind_index' IS NOT NULL) AS namespaces,  -- erased: none
       siyu_lifecycle(p.ever_friend, p.current_staff_ids, p.last_interaction_at,
                      p.first_seen_at, p.order_count, %(at)s) AS lifecycle
FROM segment_membership m
JOIN customer_profile p USING (customer_id)
LEFT JOIN customer_current_owner o USING (customer_id)
WHERE m.segment_id = %(segment)s AND (%(only)s::uuid IS NULL OR m.customer_id = %(only)s)
ORDER BY m.customer_id
"""
#: Among the customer's current friends, the member with the latest message in their chat.
LAST_CHATTED = """(SELECT t.staff_id FROM staff_kpi_thread t
    WHERE t.customer_id = m.customer_id AND t.staff_id = ANY(p.current_staff_ids)
    ORDER BY t.last_at DESC, t.staff_id LIMIT 1)"""

#: Other campaigns' sends, planned or sent, unless WeCom reported the message never reached
#: the customer (not a friend, quota reached, expired unconfirmed); and each WeCom status 3
#: (the customer already had the period's mass messages) as a full period: the period of
#: the task's confirmation (``delivered_at``, when the member sent it), not its creation.
CONTACTS = f"""
SELECT s.customer_id, coalesce(s.outcome_at, s.send_at) AS at, c.channel
FROM campaign_send s JOIN campaign c USING (campaign_id)
WHERE s.customer_id = ANY(%(ids)s)
  AND s.campaign_id IS DISTINCT FROM %(campaign)s::uuid
  AND s.status IN ('planned', 'sent') AND coalesce(s.delivery, 'sent') = 'sent'
  AND s.send_at BETWEEN %(since)s AND %(until)s
UNION ALL
SELECT s.customer_id, coalesce(s.delivered_at, s.outcome_at), '{QUOTA_FULL}'
FROM campaign_send s
WHERE s.customer_id = ANY(%(ids)s) AND s.delivery = 'quota_exceeded'
  AND coalesce(s.delivered_at, s.outcome_at) BETWEEN %(since)s AND %(until)s
"""
#: Mass messages members sent from the WeCom client (synced from WeCom's task list by
#: :mod:`workers.wecom_quota`): they use the customer's WeCom quota.
MEMBER_CONTACTS = f"""
SELECT customer_id, sent_at AS at,
       CASE kind WHEN 'sent' THEN '{MEMBER_MASS}' ELSE '{QUOTA_FULL}' END AS channel
FROM siyu_wecom_member_send
WHERE customer_id = ANY(%(ids)s) AND sent_at BETWEEN %(since)s AND %(until)s
"""
#: Steps of automated sequences (SOPs) sent: they count toward every campaign's caps.
SOP_CONTACTS = """
SELECT customer_id, outcome_at AS at, channel FROM sop_send
WHERE customer_id = ANY(%(ids)s) AND status = 'sent'
  AND outcome_at BETWEEN %(since)s AND %(until)s
"""
#: ... and the steps a SOP worker decided to send whose outcome the ``sop`` read model does
#: not show yet (``sop_contact_reservation``, :mod:`workers.sops`), in the same statement
#: (one snapshot: a step turning ``sent`` in between is counted once, never zero times).
SOP_RESERVED_CONTACTS = SOP_CONTACTS + """
UNION ALL
SELECT r.customer_id, r.reserved_at, r.channel FROM sop_contact_reservation r
JOIN sop_send s ON s.enrolment_id = r.enrolment_id AND s.step = r.step
WHERE r.customer_id = ANY(%(ids)s) AND s.status = 'planned'
  AND r.reserved_at BETWEEN %(since)s AND %(until)s
  AND (r.enrolment_id, r.step) NOT IN (
      SELECT * FROM unnest(%(own_enrolments)s::uuid[], %(own_steps)s::int[]))
"""


@dataclass(slots=True)
class PlanResult:
    decisions: list[Decision] = field(default_factory=list)
    #: Each planned customer's template values (:func:`template_values`).
    values: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    #: A campaign into customer groups: each group planned or excluded (no customers).
    groups: list[GroupDecision] | None = None

    @property
    def included(self) -> list[Decision]:
        return [d for d in self.decisions if d.included]

    def excluded_by_reason(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for d in self.decisions:
            if not d.included and d.reason:
                out[d.reason] += 1
        return dict(sorted(out.items()))


def _friends(current: Sequence[str], owner: str | None) -> tuple[str, ...]:
    """Current friends, the owner first when still a friend (WeCom: the task's sender)."""
    ordered = sorted(current)
    if owner in ordered:
        ordered.remove(owner)
        ordered.insert(0, owner)
    return tuple(ordered)


def choose_sender(current: Sequence[str], owner: str | None, last_chatted: str | None
                  ) -> tuple[tuple[str, ...], str | None]:
    """Current friends with the WeCom sender first, and why it is that member: the one who
    last chatted with the customer (``LAST_CHATTED``), else the owner (``OWNER``), else
    the first friend (``FRIEND``); (), None without a friend."""
    friends = _friends(current, owner)
    if not friends:
        return (), None
    if last_chatted in friends:
        return (last_chatted, *(f for f in friends if f != last_chatted)), "LAST_CHATTED"
    return friends, "OWNER" if owner == friends[0] else "FRIEND"


def favourite(categories: dict[str, int] | None) -> str | None:
    """The category of the most orders (ties: the first by name)."""
    return max(sorted(categories), key=lambda c: categories[c]) if categories else None


def template_values(row: dict[str, Any], lifecycle: str) -> dict[str, Any]:
    """The template variables' values of a customer (``customer_profile`` row); None for a
    value the customer does not have (0 points is a value)."""
    return {"member_level": row["member_level"], "points_balance": row["points_balance"],
            "favourite_category": favourite(row["category_orders"]), "lifecycle": lifecycle}


def missing(values: dict[str, Any]) -> frozenset[str]:
    return frozenset(name for name in VARIABLES if not has_value(values.get(name)))


def read_contacts(conn: Connection[DictRow], ids: Sequence[UUID], now: datetime,
                  campaign_id: UUID | None = None,
                  own_steps: Sequence[tuple[UUID, int]] = ()
                  ) -> dict[UUID, list[tuple[datetime, str]]]:
    """Each customer's messages in the caps' windows around ``now``: sends of campaigns
    (planned or sent; not of ``campaign_id``), steps of SOPs sent, and steps of SOPs being
    sent (reserved; not the ``own_steps`` (enrolment, step) being decided)."""
    contacts: dict[UUID, list[tuple[datetime, str]]] = defaultdict(list)
    if not ids:
        return contacts
    args = {"ids": list(ids), "campaign": campaign_id, "since": now - CONTACT_WINDOW,
            "until": now + CONTACT_WINDOW, "own_enrolments": [e for e, _ in own_steps],
            "own_steps": [s for _, s in own_steps]}
    sop = conn.execute("SELECT to_regclass('sop_send') IS NOT NULL AS ok, "
                       "to_regclass('sop_contact_reservation') IS NOT NULL AS reserved, "
                       "to_regclass('siyu_wecom_member_send') IS NOT NULL AS members"
                       ).fetchone()
    queries = [CONTACTS]
    if sop and sop["ok"]:
        queries.append(SOP_RESERVED_CONTACTS if sop["reserved"] else SOP_CONTACTS)
    if sop and sop["members"]:
        queries.append(MEMBER_CONTACTS)
    for query in queries:
        for c in conn.execute(query, args).fetchall():
            contacts[c["customer_id"]].append((c["at"], c["channel"]))
    return contacts


def plan_audience(conn: Connection[DictRow], plan: Plan, segment_id: UUID, policy: Policy,
                  now: datetime, only: UUID | None = None) -> PlanResult:
    """The plan of the segment's members (``only``: of that one customer, if a member)."""
    threads = conn.execute("SELECT to_regclass('staff_kpi_thread') IS NOT NULL AS ok"
                           ).fetchone()
    query = AUDIENCE.format(last_chatted=LAST_CHATTED if threads and threads["ok"]
                            else "NULL::text")
    rows = conn.execute(query, {"at": now, "segment": segment_id, "only": only,
                                "purpose": plan.purpose}).fetchall()
    contacts = read_contacts(conn, [r["customer_id"] for r in rows], now, plan.campaign_id)
    result = PlanResult()
    for r in rows:
        values = template_values(r, r["lifecycle"])
        friends, basis = choose_sender(r["current_staff_ids"], r["owner"], r["last_chatted"])
        who = Recipient(customer_id=r["customer_id"], lifecycle=r["lifecycle"], dnd=r["dnd"],
                        consent_withdrawn=bool(r["withdrawn"]),
                        consented=bool(r["consented"]), friends=friends,
                        contacts=contacts.get(r["customer_id"], ()),
                        namespaces=tuple(r["namespaces"]), missing=missing(values),
                        sender_basis=basis)
        decision = decide(plan, policy, who, now)
        result.decisions.append(decision)
        if decision.variant_id is not None:
            result.values[r["customer_id"]] = values
    return result


#: The advisory lock that serialises launches (and the SOP worker's cap reads with them).
LAUNCH_LOCK = 7368101
