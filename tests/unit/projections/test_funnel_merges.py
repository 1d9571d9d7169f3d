"""OneID in the funnel rows: a merged customer counts once, with both streams' facts; it
holds a touchpoint while either stream does; it is credited to the survivor's owner at the
end of its acquisition day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from domain.customer import Customer
from projections.funnels import merges, rows

T0 = datetime(2026, 3, 31, 17, 0, tzinfo=UTC)  # 2026-04-01 01:00 in Shanghai


def stream(customer: UUID, *events: tuple[type[Any], datetime, dict[str, Any]]) -> rows.Row:
    row = rows.empty(customer)
    for position, (kind, at, fields) in enumerate(events, start=1):
        row = rows.fold(row, position, kind(originator_id=customer, originator_version=1,
                                            timestamp=at, by="service:t", occurred_at=at,
                                            **fields))
    return row


def friend(staff: str, channel: str = "qr:a") -> dict[str, Any]:
    return {"staff_id": staff, "channel": channel, "state": None, "welcome_code": None}


def owner(staff: str | None) -> dict[str, Any]:
    return {"previous_staff_id": None, "staff_id": staff, "reason": "first_friend",
            "handover_id": None}


def paid(amount: int) -> dict[str, Any]:
    return {"order_id": str(uuid4()), "amount_fen": amount, "items": [], "channel": "store"}


def test_a_merged_customer_counts_once_with_both_streams_facts() -> None:
    # Given a survivor acquired on 1 April by s1 and a stream acquired earlier by s2 that paid
    survivor, absorbed = uuid4(), uuid4()
    a = stream(survivor, (Customer.FriendAdded, T0, friend("s1")),
               (Customer.OwnerChanged, T0, owner("s1")),
               (Customer.OrderPaid, T0 + timedelta(days=9), paid(300)))
    b = stream(absorbed, (Customer.FriendAdded, T0 - timedelta(days=2), friend("s2", "h5")),
               (Customer.OwnerChanged, T0 - timedelta(days=2), owner("s2")),
               (Customer.OrderPaid, T0 - timedelta(days=1), paid(500)),
               (Customer.MergedInto, T0 + timedelta(days=20), {"survivor_id": str(survivor)}))
    loaded = {survivor: a, absorbed: b}
    assert merges.roots(loaded) == {survivor: str(survivor), absorbed: str(survivor)}
    # When their rows form one tree
    out = merges.tree_contributions([a, dict(b, root_id=str(survivor))])
    # Then one customer, acquired on the earlier day through the earlier channel, two orders;
    # the survivor had no owner then, so the absorbed stream's owner is credited
    day = "2026-03-30"
    counts = dict(zip(rows.FUNNEL_COUNTS, out[("funnel_daily", (day, "h5"))], strict=True))
    assert (counts["acquired"], counts["repeat_buyers"], counts["net_fen"]) == (1, 1, 800)
    assert out[("funnel_owner_daily", (day, "s2"))] == out[("funnel_daily", (day, "h5"))]
    assert [k for k in out if k[0] == "funnel_daily"] == [("funnel_daily", (day, "h5"))]


def test_a_merged_customer_holds_a_touchpoint_while_either_stream_does() -> None:
    survivor, absorbed = uuid4(), uuid4()
    gone = {"staff_id": "s1", "deleted_by": "customer"}
    a = stream(survivor, (Customer.FriendAdded, T0, friend("s1")),
               (Customer.FriendDeleted, T0 + timedelta(days=3), gone))
    b = stream(absorbed, (Customer.FriendAdded, T0 + timedelta(days=1), friend("s1")))
    both = merges.combine([a, b])
    assert both["touchpoints"]["wecom_friend"]["left_at"] is None
    key = ("cohort_daily", ("wecom_friend", "2026-04-01", "qr:a"))
    assert rows.contributions(both)[key] == (1,) * 10
    left = stream(absorbed, (Customer.FriendAdded, T0 + timedelta(days=1), friend("s1")),
                  (Customer.FriendDeleted, T0 + timedelta(days=5), gone))
    # both gone: retained until the later removal (D1 yes, D7 no)
    assert rows.contributions(merges.combine([a, left]))[key][:3] == (1, 1, 0)


def test_a_chain_of_merges_leads_every_stream_to_the_top_survivor() -> None:
    top, middle, bottom = (rows.empty(uuid4()) for _ in range(3))
    middle["merged_into"], bottom["merged_into"] = str(top["customer_id"]), str(
        middle["customer_id"])
    loaded = {r["customer_id"]: r for r in (top, middle, bottom)}
    assert set(merges.roots(loaded).values()) == {str(top["customer_id"])}
