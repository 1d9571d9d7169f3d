"""Planning a campaign: the audience at launch, through the restraint rules.

Reads the segment's current members with the facts restraint needs (do-not-disturb,
withdrawn consent, the namespaces of their identities (who can be addressed on the
channel), lifecycle, current friends with the owner first) and every customer's
other campaign sends (planned or sent) and SOP steps sent in the caps' windows
(:func:`read_contacts`, shared with the SOP worker), then applies
:func:`domain.restraint.decide` to each. The same function gives the dry run (nothing
recorded) and the plan the launch records, so the dry run's numbers are the report's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from psycopg import Connection
from psycopg.rows import DictRow

from domain.restraint import Decision, Plan, Policy, Recipient, decide

#: How far back (and ahead) other sends are read: the longest cap window plus a margin.
CONTACT_WINDOW = timedelta(days=40)

AUDIENCE = """
SELECT m.customer_id, p.dnd, %(purpose)s = ANY(p.consents_withdrawn) AS withdrawn,
       p.consents ? %(purpose)s AS consented,
       p.current_staff_ids, o.staff_id AS owner,
       ARRAY(SELECT i->>'namespace' FROM jsonb_array_elements(p.identities) i
             WHERE i->>'blind_index' IS NOT NULL) AS namespaces,  -- erased: none
       siyu_lifecycle(p.ever_friend, p.current_staff_ids, p.last_interaction_at,
                      p.first_seen_at, p.order_count, %(at)s) AS lifecycle
FROM segment_membership m
JOIN customer_profile p USING (customer_id)
LEFT JOIN customer_current_owner o USING (customer_id)
WHERE m.segment_id = %(segment)s
ORDER BY m.customer_id
"""

CONTACTS = """
SELECT s.customer_id, coalesce(s.outcome_at, s.send_at) AS at, c.channel
FROM campaign_send s JOIN campaign c USING (campaign_id)
WHERE s.customer_id = ANY(%(ids)s)
  AND s.campaign_id IS DISTINCT FROM %(campaign)s::uuid
  AND s.status IN ('planned', 'sent')
  AND s.send_at BETWEEN %(since)s AND %(until)s
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
                       "to_regclass('sop_contact_reservation') IS NOT NULL AS reserved"
                       ).fetchone()
    queries = [CONTACTS]
    if sop and sop["ok"]:
        queries.append(SOP_RESERVED_CONTACTS if sop["reserved"] else SOP_CONTACTS)
    for query in queries:
        for c in conn.execute(query, args).fetchall():
            contacts[c["customer_id"]].append((c["at"], c["channel"]))
    return contacts


def plan_audience(conn: Connection[DictRow], plan: Plan, segment_id: UUID, policy: Policy,
                  now: datetime) -> PlanResult:
    rows = conn.execute(AUDIENCE, {"at": now, "segment": segment_id,
                                   "purpose": plan.purpose}).fetchall()
    contacts = read_contacts(conn, [r["customer_id"] for r in rows], now, plan.campaign_id)
    result = PlanResult()
    for r in rows:
        who = Recipient(customer_id=r["customer_id"], lifecycle=r["lifecycle"], dnd=r["dnd"],
                        consent_withdrawn=bool(r["withdrawn"]),
                        consented=bool(r["consented"]),
                        friends=_friends(r["current_staff_ids"], r["owner"]),
                        contacts=contacts.get(r["customer_id"], ()),
                        namespaces=tuple(r["namespaces"]))
        result.decisions.append(decide(plan, policy, who, now))
    return result


#: The advisory lock that serialises launches (and the SOP worker's cap reads with them).
LAUNCH_LOCK = 7368101
