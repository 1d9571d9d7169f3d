"""The group directory from WeCom, against the faithful fake over HTTP: the sync records
each group's creation, name, owner and counts once; a restart records nothing new; a
transfer, a departed owner's groups, a dismissal and an unfiltered list refused (81017) are
all followed; the directory shows it. Member names are never asked for nor stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.group_chats import WeComGroupChats
from application.app import Siyu
from domain.wecom_directory import CustomerGroup
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom
from projections.customer_groups.view import CustomerGroupView
from projections.postgres_views import StaffDirectoryView
from projections.runner import BatchRunner, Tracker
from workers.group_sync import BY, GroupDirectorySync
from workers.lent import opener

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 7, 2, tzinfo=UTC)
STAFF = {"userid": "zhang", "type": 1}


def customers(*ids: str) -> list[dict[str, Any]]:
    return [{"userid": i, "type": 2, "name": f"名字{i}"} for i in ids]


def group_facts(app: Siyu) -> list[tuple[str, str]]:
    """(chat id, event) of every group fact recorded, from the raw log."""
    out = []
    for notification in app.recorder.select_notifications(0, 10_000):
        event = app.mapper.to_domain_event(notification)
        if isinstance(event, CustomerGroup.Event | CustomerGroup.Created):
            group = app.customers.store.find(event.originator_id, CustomerGroup)
            out.append((group.chat_id if group else "?", type(event).__name__))
    return out


@pytest.fixture
def client(fake_wecom: RunningFakeWeCom) -> Iterator[WeComGroupChats]:
    with WeComGroupChats(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET, page=1) as opened:
        yield opened


def directory(app: Siyu) -> dict[str, dict[str, Any]]:
    with app.factory.datastore.transaction() as curs:  # type: ignore[attr-defined]
        curs.execute("SELECT * FROM customer_group ORDER BY chat_id")
        return {r["chat_id"]: dict(r) for r in curs.fetchall()}


def test_the_sync_records_names_owners_and_sizes_once_and_follows_their_changes(
        pg_app: Siyu, pg_url: str, fake_wecom: RunningFakeWeCom,
        client: WeComGroupChats) -> None:
    # Given WeCom's groups: two of zhang's (one also known to the platform from a callback
    # that carried no name), and one of li's, who left the company
    wecom = fake_wecom.state.group_chats
    wecom.clock = lambda: AT.timestamp()
    wecom.put("wrA", "zhang", name="周末福利群", members=[STAFF, *customers("wm1", "wm2")])
    wecom.put("wrB", "zhang", name="老客群", members=[STAFF, *customers("wm3")])
    wecom.put("wrC", "li", name="li 的群", members=customers("wm4"))
    wecom.owner_status("li", 1)
    pg_app.customers.record_group_change(FAKE_CORP_ID, "wrB", "create", "zhang", "cb-1", AT)
    pg_app.customers.record_group_change(FAKE_CORP_ID, "wrC", "create", "li", "cb-2", AT)
    now = [AT + timedelta(hours=1)]
    sync = GroupDirectorySync(pg_app, opener(pg_url), client, FAKE_CORP_ID,
                              clock=lambda: now[0])
    view = BatchRunner(pg_app, CustomerGroupView(),
                       Tracker(pg_app.factory.datastore))  # type: ignore[attr-defined]
    view.catch_up()
    # When the sync runs
    recorded = sync.run_once()
    view.catch_up()
    # Then every group has its name, owner and WeCom's counts — li's too, asked for by name
    rows = directory(pg_app)
    assert {c: (r["name"], r["owner_user_id"], r["customer_count"], r["staff_count"])
            for c, r in rows.items()} == {
        "wrA": ("周末福利群", "zhang", 2, 1), "wrB": ("老客群", "zhang", 1, 1),
        "wrC": ("li 的群", "li", 1, 0)}
    assert rows["wrA"]["created_at"] == AT and rows["wrA"]["stream_id"] is not None
    assert recorded == 7  # wrA created + 3 facts, wrB and wrC 2 each (name, counts)
    # And never a member's name (the client does not ask for them)
    logged = [pg_app.mapper.to_domain_event(n)
              for n in pg_app.recorder.select_notifications(0, 10_000)]
    assert "名字" not in str(logged) and "名字" not in str(rows)
    # When the worker restarts and syncs again with nothing changed at WeCom
    before = group_facts(pg_app)
    again = GroupDirectorySync(pg_app, opener(pg_url), client, FAKE_CORP_ID,
                               clock=lambda: now[0])
    # Then nothing new is recorded
    assert again.run_once() == 0 and group_facts(pg_app) == before
    # When li's group is inherited by wang, wrA renamed and a customer leaves, and wrB is
    # dismissed
    now[0] = AT + timedelta(hours=2)
    wecom.put("wrC", "wang")
    wecom.put("wrA", "zhang", name="周末福利群2", members=[STAFF, *customers("wm1")])
    wecom.dismiss("wrB")
    # Then one pass records each change once, with who and when
    assert again.run_once() == 4
    view.catch_up()
    rows = directory(pg_app)
    assert (rows["wrC"]["owner_user_id"], rows["wrA"]["name"],
            rows["wrA"]["customer_count"]) == ("wang", "周末福利群2", 1)
    assert rows["wrB"]["dismissed_at"] == now[0]
    assert group_facts(pg_app)[len(before):] == [
        ("wrA", "Renamed"), ("wrA", "MembersCounted"), ("wrB", "Dismissed"),
        ("wrC", "OwnerChanged")]
    group = pg_app.customers.store.find(CustomerGroup.create_id(FAKE_CORP_ID, "wrC"),
                                        CustomerGroup)
    assert group is not None and group.owner == "wang"
    # And the rebuilt directory equals the live one
    live = directory(pg_app)
    view.rebuild()
    assert directory(pg_app) == live
    assert BY == "service:group-sync"


def test_a_visible_range_too_large_is_listed_by_the_owners_the_platform_knows(
        pg_app: Siyu, pg_url: str, fake_wecom: RunningFakeWeCom,
        client: WeComGroupChats) -> None:
    # Given a corp whose app sees more than 1,000 members (WeCom refuses the unfiltered
    # list: 81017) and a group of a member the staff directory knows
    wecom = fake_wecom.state.group_chats
    wecom.visible_members = 5000
    wecom.put("wrS", "m-sales", name="门店群", members=customers("wm9"))
    pg_app.staff.hire("sales", "front_office", "王芳", "staff:m", AT, wecom_user_id="m-sales")
    BatchRunner(pg_app, StaffDirectoryView(),
                Tracker(pg_app.factory.datastore)).catch_up()  # type: ignore[attr-defined]
    # When the sync runs
    assert GroupDirectorySync(pg_app, opener(pg_url), client, FAKE_CORP_ID).run_once() == 3
    # Then the group was found through the owner filter
    assert [c for c, _ in group_facts(pg_app)] == ["wrS"] * 3
    assert wecom.calls["groupchat_list"] == 2


def test_a_pass_that_cannot_list_records_nothing(
        pg_app: Siyu, pg_url: str, fake_wecom: RunningFakeWeCom,
        client: WeComGroupChats) -> None:
    wecom = fake_wecom.state.group_chats
    wecom.put("wrX", "zhang", name="群")
    wecom.inject("http_503")
    sync = GroupDirectorySync(pg_app, opener(pg_url), client, FAKE_CORP_ID)
    assert sync.run_once() == 0 and group_facts(pg_app) == []
    assert sync.run_once() == 3  # the next pass
