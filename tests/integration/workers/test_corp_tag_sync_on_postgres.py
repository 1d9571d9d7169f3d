"""The corp-tag sync against the fake WeCom, on PostgreSQL: the corp's tag library is recorded
as facts, the ``wecom_tag_map`` read model matches platform tags by group name and tag name,
and passes or restarts with nothing changed record nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from adapters.corp_tags import WeComCorpTags
from application.app import Siyu
from domain.wecom_directory import CorpTagLibrary
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom
from projections.runner import BatchRunner, Tracker
from projections.tag_groups import TagGroupView
from projections.wecom_tags import WeComTagView
from workers.corp_tags import LIST_EVERY, CorpTagSync

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
BY = "staff:manager-1"


class Clock:
    def __init__(self) -> None:
        self.now = AT

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def client(fake_wecom: RunningFakeWeCom) -> Iterator[WeComCorpTags]:
    tags = WeComCorpTags(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET)
    yield tags
    tags.close()


def catch_up(app: Siyu) -> None:
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    for view in (TagGroupView(), WeComTagView()):
        BatchRunner(app, view, tracker).catch_up()


def query(url: str, sql: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql).fetchall()


def mapping(url: str) -> dict[str, str]:
    return {r["tag"]: r["wecom_tag_id"] for r in query(url, "SELECT * FROM wecom_tag_map")}


def listings(app: Siyu) -> int:
    library = app.corp_tags.library(FAKE_CORP_ID)
    return 0 if library is None else sum(
        isinstance(e, CorpTagLibrary.Listed)
        for e in app.repository.event_store.get(library.id))


def test_platform_tags_map_to_the_wecom_tags_of_the_same_group_and_tag_name(
        pg_app: Siyu, pg_url: str, client: WeComCorpTags) -> None:
    # Given the platform's groups 客户等级 (A, B) and 兴趣 (茶), and a free tag nobody groups
    pg_app.tags.create_group("客户等级", ["A", "B"], True, BY, AT)
    pg_app.tags.create_group("兴趣", ["茶"], False, BY, AT)
    # And the brand's WeCom library: 客户等级 (A, C), and 茶 under another group name
    a, _ = client.add(["A", "C"], group_name="客户等级").tags
    client.add(["茶"], group_name="爱好")
    # When the sync runs and the read models catch up
    clock = Clock()
    assert CorpTagSync(pg_app, FAKE_CORP_ID, client, clock=clock).run_once() == 1
    catch_up(pg_app)
    # Then only A is mapped: B has no WeCom tag, 茶's WeCom group is named differently
    assert mapping(pg_url) == {"A": a.tag_id}
    stored = {r["name"]: r for r in query(pg_url, "SELECT * FROM wecom_corp_tag")}
    assert set(stored) == {"A", "C", "茶"} and stored["A"]["corp_id"] == FAKE_CORP_ID
    assert stored["茶"]["group_name"] == "爱好" and stored["A"]["removed_at"] is None


def test_passes_and_restarts_with_nothing_changed_record_nothing(
        pg_app: Siyu, pg_url: str, fake_wecom: RunningFakeWeCom,
        client: WeComCorpTags) -> None:
    client.add(["A"], group_name="客户等级")
    clock = Clock()
    sync = CorpTagSync(pg_app, FAKE_CORP_ID, client, clock=clock)
    assert sync.run_once() == 1
    # When the same sync passes again (its own listing moved the stream: listed once more),
    # then again (not due: no call), and after LIST_EVERY (listed again)
    assert sync.run_once() == 0
    calls = fake_wecom.state.corp_tags.calls["list"]
    assert sync.run_once() == 0 and fake_wecom.state.corp_tags.calls["list"] == calls
    clock.now += LIST_EVERY
    assert sync.run_once() == 0 and fake_wecom.state.corp_tags.calls["list"] == calls + 1
    # And a restarted sync lists at once
    assert CorpTagSync(pg_app, FAKE_CORP_ID, client, clock=clock).run_once() == 0
    # Then one listing was recorded in all
    assert listings(pg_app) == 1


def test_an_empty_library_is_not_listed_at_every_pass(
        pg_app: Siyu, fake_wecom: RunningFakeWeCom, client: WeComCorpTags) -> None:
    sync = CorpTagSync(pg_app, FAKE_CORP_ID, client, clock=Clock())
    assert sync.run_once() == 0 and sync.run_once() == 0
    assert fake_wecom.state.corp_tags.calls["list"] == 1 and listings(pg_app) == 0


def test_a_callback_makes_the_next_pass_list_and_a_deleted_tag_is_unmapped(
        pg_app: Siyu, pg_url: str, client: WeComCorpTags) -> None:
    pg_app.tags.create_group("客户等级", ["A", "B"], True, BY, AT)
    a, b = client.add(["A", "B"], group_name="客户等级").tags
    clock = Clock()
    sync = CorpTagSync(pg_app, FAKE_CORP_ID, client, clock=clock)
    sync.run_once()
    # When the brand deletes B in WeCom and renames A's group, and WeCom's callback says so
    client.delete(tag_ids=[b.tag_id])
    client.edit(a.group_id, name="会员等级")
    pg_app.customers.record_tag_change(FAKE_CORP_ID, b.tag_id, "tag", "delete", "cb-1",
                                       AT + timedelta(seconds=5))
    clock.now += timedelta(seconds=15)  # well before LIST_EVERY
    assert sync.run_once() == 1
    catch_up(pg_app)
    # Then B is kept as removed, and no platform tag matches any more (group renamed)
    stored = {r["name"]: r for r in query(pg_url, "SELECT * FROM wecom_corp_tag")}
    assert stored["B"]["removed_at"] == clock.now
    assert stored["A"]["group_name"] == "会员等级"
    assert mapping(pg_url) == {}
    # And after the platform's group takes WeCom's name, A maps again
    group_id = query(pg_url, "SELECT group_id FROM tag_group")[0]["group_id"]
    pg_app.tags.rename_group(group_id, "会员等级", BY, AT)
    catch_up(pg_app)
    assert mapping(pg_url) == {"A": a.tag_id}


def test_an_answer_that_is_no_listing_records_nothing_and_is_tried_again(
        pg_app: Siyu, fake_wecom: RunningFakeWeCom, client: WeComCorpTags) -> None:
    client.add(["A"], group_name="客户等级")
    sync = CorpTagSync(pg_app, FAKE_CORP_ID, client, clock=Clock())
    fake_wecom.state.corp_tags.inject("http_500")
    assert sync.run_once() == 0 and listings(pg_app) == 0
    assert sync.run_once() == 1 and listings(pg_app) == 1


def test_a_rebuild_equals_the_live_read_model(
        pg_app: Siyu, pg_url: str, client: WeComCorpTags) -> None:
    pg_app.tags.create_group("客户等级", ["A", "B"], True, BY, AT)
    _, b = client.add(["A", "B"], group_name="客户等级").tags
    clock = Clock()
    sync = CorpTagSync(pg_app, FAKE_CORP_ID, client, clock=clock)
    sync.run_once()
    client.delete(tag_ids=[b.tag_id])
    clock.now += LIST_EVERY
    sync.run_once()
    catch_up(pg_app)
    live = query(pg_url, "SELECT * FROM wecom_corp_tag ORDER BY tag_id")
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    BatchRunner(pg_app, WeComTagView(), tracker).rebuild()
    assert query(pg_url, "SELECT * FROM wecom_corp_tag ORDER BY tag_id") == live
