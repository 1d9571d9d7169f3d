"""Staff alerts: once per cause, deliveries once per recipient, open → acknowledged → resolved."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from application.app import Siyu
from domain.errors import AlertClosed, InvalidInput, UnknownAlert
from domain.staff_alert import ACKNOWLEDGED, OPEN, RESOLVED, StaffAlert, alert_id

AT = datetime(2026, 11, 20, 2, tzinfo=UTC)


def raise_one(app: Siyu, key: str = "win_back:c1:7") -> tuple[StaffAlert, bool]:
    return app.supervision.raise_alert(key, "win_back", "s1", "c1", ["s1", "s1", "s0"], {"version": 7}, AT)


def test_an_alert_raised_twice_for_one_cause_is_recorded_once(
        memory_app: Siyu) -> None:
    first, created = raise_one(memory_app)
    again, created_again = raise_one(memory_app)
    assert (created, created_again) == (True, False)
    assert first.id == again.id == alert_id("win_back:c1:7")
    assert again.recipients == ["s0", "s1"] and again.status == OPEN


def test_deliveries_are_recorded_once_per_recipient(memory_app: Siyu) -> None:
    alert, _ = raise_one(memory_app)
    assert memory_app.supervision.record_alert_delivery(alert.id, "s1", "msg-1", None, AT)
    assert not memory_app.supervision.record_alert_delivery(alert.id, "s1", "msg-2", None, AT)
    assert memory_app.supervision.record_alert_delivery(alert.id, "s0", None, "errcode 60111", AT)
    assert memory_app.supervision.alert(alert.id).outcomes == {"s1": "delivered", "s0": "failed"}


def test_an_alert_is_acknowledged_then_resolved_with_who_and_when(
        memory_app: Siyu) -> None:
    alert, _ = raise_one(memory_app)
    assert memory_app.supervision.acknowledge_alert(alert.id, "staff:s1", AT) is not None
    assert memory_app.supervision.acknowledge_alert(alert.id, "staff:s1", AT) is None  # no-op
    assert memory_app.supervision.alert(alert.id).status == ACKNOWLEDGED
    assert memory_app.supervision.resolve_alert(alert.id, "called back", "staff:s1", AT) is not None
    assert memory_app.supervision.alert(alert.id).status == RESOLVED
    assert memory_app.supervision.resolve_alert(alert.id, "", "staff:s1", AT) is None
    with pytest.raises(AlertClosed):
        memory_app.supervision.acknowledge_alert(alert.id, "staff:s1", AT)
    resolved = list(memory_app.repository.event_store.get(alert.id))[-1]
    assert isinstance(resolved, StaffAlert.Resolved)
    assert (resolved.by, resolved.note) == ("staff:s1", "called back")


def test_unknown_alerts_and_kinds_are_refused(memory_app: Siyu) -> None:
    with pytest.raises(UnknownAlert):
        memory_app.supervision.acknowledge_alert(alert_id("nope"), "staff:s1", AT)
    with pytest.raises(InvalidInput):
        memory_app.supervision.raise_alert("k", "nonsense", "s1", None, [], {}, AT)
