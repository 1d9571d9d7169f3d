"""A deterministic mix of customer actions, shaped like a brand's month (most views, few orders)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.ingestion import EventItem, OrderItem


def items(count: int, customers: int, seed: int = 1, prefix: str = "w") -> list[EventItem]:
    rng = random.Random(seed)
    now = datetime.now(UTC) - timedelta(minutes=1)
    out: list[EventItem] = []
    for n in range(count):
        who = ("wx_unionid", f"{prefix}u{rng.randrange(customers)}")
        at = now - timedelta(seconds=rng.randrange(30 * 86400))
        roll = rng.random()
        eid = f"{prefix}{seed}-{n}"
        if roll < 0.55:
            out.append(EventItem(eid, "CONTENT_VIEWED", who, at, channel="mini_program",
                                 content_id=f"article-{rng.randrange(50)}"))
        elif roll < 0.70:
            out.append(EventItem(eid, "TAGGED", who, at, tag=rng.choice(
                ["高意向", "宝妈", "价格敏感", "会员", "VIP"])))
        elif roll < 0.80:
            out.append(EventItem(eid, "FRIEND_ADDED", who, at, channel="qr:store-01",
                                 staff_id=f"wecom_user:staff-{rng.randrange(20)}", state="st"))
        elif roll < 0.88:
            out.append(EventItem(eid, "GROUP_JOINED", who, at, group_id=f"grp-{rng.randrange(9)}"))
        else:
            price = rng.randrange(990, 39_900)
            out.append(EventItem(eid, "ORDER_PAID", who, at, channel="mini_program",
                                 order_id=f"{eid}-o", amount_fen=price,
                                 items=[OrderItem("sku-1", 1, price)]))
    return out


def as_graphql(item: EventItem) -> dict[str, Any]:
    namespace, value = item.identity if isinstance(item.identity, tuple) else (
        item.identity.namespace, item.identity.value)
    out: dict[str, Any] = {"eventId": item.event_id, "type": item.type,
                           "customer": {"namespace": namespace, "value": value},
                           "occurredAt": item.occurred_at.isoformat()}
    for key, field in (("channel", "channel"), ("staffId", "staff_id"), ("state", "state"),
                       ("tag", "tag"), ("groupId", "group_id"), ("contentId", "content_id"),
                       ("orderId", "order_id"), ("amountFen", "amount_fen")):
        value = getattr(item, field)
        if value is not None:
            out[key] = value
    if item.items:
        out["items"] = [{"sku": i.sku, "quantity": i.quantity, "priceFen": i.price_fen}
                        for i in item.items]
    return out
