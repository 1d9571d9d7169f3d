"""The alert, lexicon and chat-script read models on PostgreSQL: a rebuild equals the live run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from application.app import Siyu
from domain.ingestion import EventItem
from projections.chat_scripts import ChatScriptView
from projections.runner import BatchRunner, Tracker, View
from projections.staff_alerts import StaffAlertView

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 30, 2, tzinfo=UTC)
TABLES = ("staff_alert", "sensitive_term", "sensitive_category", "chat_script",
          "chat_script_version", "chat_script_usage")


def snapshot(app: Siyu) -> dict[str, list[dict[str, Any]]]:
    with app.factory.datastore.transaction() as curs:  # type: ignore[attr-defined]
        out: dict[str, list[dict[str, Any]]] = {}
        for table in TABLES:
            curs.execute(f"SELECT * FROM {table} ORDER BY 1, 2")
            out[table] = [dict(r) for r in curs.fetchall()]
        return out


def test_rebuilding_gives_the_rows_of_the_live_projection(pg_app: Siyu) -> None:
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    views: list[View] = [StaffAlertView(), ChatScriptView()]
    runners = [BatchRunner(pg_app, v, tracker, page_size=3) for v in views]
    # Given a lexicon, alerts in every state and scripts with versions and uses
    pg_app.supervision.define_category("competitor", "竞品", "staff:m", AT)
    added, _ = pg_app.supervision.add_terms("competitor", ["某宝", "某东"], "staff:m", AT)
    pg_app.supervision.remove_term(added[0].term_id, "staff:m", AT)
    for n in range(4):
        alert, _ = pg_app.supervision.raise_alert(f"win_back:c{n}:5", "win_back", "s1", None, ["s1"], {},
                                      AT)
        if n:
            pg_app.supervision.record_alert_delivery(alert.id, "s1", f"m{n}", None, AT)
        if n > 1:
            pg_app.supervision.acknowledge_alert(alert.id, "staff:s1", AT)
        if n > 2:
            pg_app.supervision.resolve_alert(alert.id, "ok", "staff:s1", AT)
    script_id, _ = pg_app.chat_scripts.create("催付", "提醒", "v1", ["付款"], "script", "x", AT)
    pg_app.chat_scripts.revise(script_id, "催付", "提醒", "v2", ["付款"], "x", AT)
    pg_app.ingestion.record_batch([EventItem(event_id=f"u{n}", type="SCRIPT_USED",
                                   identity=("wx_unionid", f"o{n % 2}"), occurred_at=AT,
                                   staff_id=f"s{n % 2}", script_id=str(script_id))
                         for n in range(5)], "service:t")
    # When the views follow the log page by page, then are rebuilt
    for runner in runners:
        runner.catch_up()
    live = snapshot(pg_app)
    for runner in runners:
        runner.rebuild()
    # Then the rows are the same
    assert snapshot(pg_app) == live
    assert [r["status"] for r in live["staff_alert"]].count("resolved") == 1
    assert len(live["chat_script_version"]) == 2
    assert sorted(r["uses"] for r in live["chat_script_usage"]) == [2, 3]
    assert [r["removed_at"] is not None for r in live["sensitive_term"]] == [True, False]
