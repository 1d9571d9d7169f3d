"""Chat scripts: versioned edits, archiving, and uses recorded on the customer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from application.app import Siyu
from domain.chat_script import ChatScript
from domain.customer import Customer
from domain.errors import InvalidInput, ScriptArchived, UnknownCustomer, UnknownScript
from domain.ingestion import EventItem

AT = datetime(2026, 11, 20, 2, tzinfo=UTC)


def test_each_edit_is_a_new_version_and_old_versions_stay_in_the_history(
        memory_app: Siyu) -> None:
    script_id, _ = memory_app.chat_scripts.create("催付", "温和提醒", "亲, 订单还未付款哦",
                                                 ["付款"], "script", "staff:c", AT)
    assert memory_app.chat_scripts.revise(script_id, "催付", "温和提醒", "亲, 库存不多啦",
                                         ["付款", "库存"], "staff:c", AT) is not None
    assert memory_app.chat_scripts.revise(script_id, "催付", "温和提醒", "亲, 库存不多啦",
                                         ["付款", "库存"], "staff:c", AT) is None  # unchanged
    history = list(memory_app.repository.event_store.get(script_id))
    assert [type(e).__name__ for e in history] == ["Created", "Revised"]
    assert history[0].body == "亲, 订单还未付款哦"  # type: ignore[attr-defined]
    assert history[1].content_version == 2  # type: ignore[attr-defined]
    assert memory_app.chat_scripts.archive(script_id, "staff:c", AT) is not None
    with pytest.raises(ScriptArchived):
        memory_app.chat_scripts.revise(script_id, "催付", "x", "y", [], "staff:c", AT)


def test_invalid_scripts_are_refused(memory_app: Siyu) -> None:
    with pytest.raises(InvalidInput):
        memory_app.chat_scripts.create("s", "t", "   ", [], "script", "staff:c", AT)
    with pytest.raises(InvalidInput):
        memory_app.chat_scripts.create("s", "t", "b", [], "poem", "staff:c", AT)
    with pytest.raises(UnknownScript):
        memory_app.chat_scripts.archive(ChatScript.create("s", "t", "b", [], "sop", "x", AT).id,
                                       "staff:c", AT)


def test_a_script_use_is_a_fact_on_the_customer_with_the_current_version(
        memory_app: Siyu) -> None:
    script_id, _ = memory_app.chat_scripts.create("欢迎", "新客", "欢迎!", [], "sop", "staff:c", AT)
    result = memory_app.ingestion.record_batch([EventItem(
        event_id="e1", type="SCRIPT_USED", identity=("wx_unionid", "oA"), occurred_at=AT,
        staff_id="s1", script_id=str(script_id))], "service:t")
    customer_id = result.outcomes[0].customer_id
    assert customer_id is not None
    memory_app.chat_scripts.record_use(customer_id, "s2", script_id, None, "staff:s2", AT)
    uses = [e for e in memory_app.repository.event_store.get(customer_id)
            if isinstance(e, Customer.ScriptUsed)]
    assert [(u.staff_id, u.script_version) for u in uses] == [("s1", None), ("s2", 1)]
    with pytest.raises(UnknownCustomer):
        memory_app.chat_scripts.record_use(script_id, "s2", script_id, None, "staff:s2", AT)
