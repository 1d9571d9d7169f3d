"""tag_group and tag_usage on real PostgreSQL: live rows, counts, rebuild equality, claims."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from application.app import Siyu
from domain.errors import TagInOtherGroup
from domain.ingestion import EventItem
from projections.postgres_views import CustomerProfileView
from projections.runner import BatchRunner, Tracker
from projections.tag_groups import TagGroupView
from siyu.processes import read_model_views

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
BY = "staff:manager-1"


def runners(app: Siyu) -> list[BatchRunner]:
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    return [BatchRunner(app, CustomerProfileView(), tracker),
            BatchRunner(app, TagGroupView(), tracker)]


def rows(url: str, sql: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql).fetchall()


def seed(app: Siyu) -> dict[str, Any]:
    """Three customers, an exclusive level group, an interest group, a free tag."""
    ids: list[Any] = []
    for n in range(3):
        result = app.ingestion.record_batch([EventItem(f"c{n}", "CONTENT_VIEWED", ("wx_unionid", f"u{n}"),
                                             AT, content_id="c")], "service:test")
        ids.append(result.outcomes[0].customer_id)
    levels, _ = app.tags.create_group("客户等级", ["A", "B", "C"], True, BY, AT)
    interests, _ = app.tags.create_group("兴趣", ["茶", "酒"], False, BY, AT)
    app.tags.tag(ids[0], ["A", "茶", "宝妈"], "staff:s1", "manual", AT)
    app.tags.tag(ids[1], ["A", "酒"], "staff:s1", "manual", AT)
    app.tags.tag(ids[1], ["B"], "staff:s1", "升级", AT)  # replaces A
    app.tags.tag(ids[2], ["宝妈"], "staff:s1", "manual", AT)
    app.tags.add_to_group(interests, ["咖啡"], BY, AT)
    app.tags.rename_group(interests, "兴趣爱好", BY, AT)
    app.tags.remove_from_group(interests, "酒", BY, AT)
    old, _ = app.tags.create_group("旧分层", ["X"], False, BY, AT)
    app.tags.archive_group(old, BY, AT)
    return {"levels": levels, "interests": interests, "old": old}


def test_the_tag_library_and_its_usage_are_projected(
    pg_app: Siyu, pg_url: str
) -> None:
    # Given a tag library and tagged customers
    groups = seed(pg_app)
    # When the projections catch up
    for runner in runners(pg_app):
        runner.catch_up()
    # Then there is one row per group
    library = {r["name"]: r for r in rows(pg_url, "SELECT * FROM tag_group")}
    assert set(library) == {"客户等级", "兴趣爱好", "旧分层"}
    assert library["客户等级"]["tags"] == ["A", "B", "C"] and library["客户等级"]["exclusive"]
    assert library["兴趣爱好"]["tags"] == ["茶", "咖啡"]
    assert library["旧分层"]["archived_at"] == AT
    assert library["客户等级"]["created_by"] == BY
    # And tag_usage counts the customers holding each tag, free tags included
    usage = {(r["group_name"], r["tag"]): r["customers"]
             for r in rows(pg_url, "SELECT * FROM tag_usage")}
    assert usage == {("客户等级", "A"): 1, ("客户等级", "B"): 1, ("客户等级", "C"): 0,
                     ("兴趣爱好", "茶"): 1, ("兴趣爱好", "咖啡"): 0, ("旧分层", "X"): 0,
                     (None, "宝妈"): 2, (None, "酒"): 1}  # 酒 left its group: a free tag now
    order = rows(pg_url, "SELECT tag FROM tag_usage WHERE group_id = "
                 f"'{groups['levels']}' ORDER BY tag_order")
    assert [r["tag"] for r in order] == ["A", "B", "C"]


def test_a_rebuild_equals_the_live_projection(pg_app: Siyu, pg_url: str) -> None:
    # Given live projections that followed the changes in small pages
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    live = BatchRunner(pg_app, TagGroupView(), tracker, page_size=3)
    # (made second, the profile runner drops and re-creates customer_profile: tag_usage survives)
    profile = BatchRunner(pg_app, CustomerProfileView(), tracker)
    seed(pg_app)
    live.catch_up()
    profile.catch_up()
    before = rows(pg_url, "SELECT * FROM tag_group ORDER BY group_id")
    usage = rows(pg_url, "SELECT * FROM tag_usage ORDER BY tag, group_id")
    # When the read model is rebuilt from the log, and rebuilt again
    live.rebuild()
    BatchRunner(pg_app, TagGroupView(), tracker).rebuild()
    # Then it equals the live one
    assert rows(pg_url, "SELECT * FROM tag_group ORDER BY group_id") == before
    assert rows(pg_url, "SELECT * FROM tag_usage ORDER BY tag, group_id") == usage
    assert len(before) == 3


def test_siyu_rebuild_and_projections_include_the_tag_library() -> None:
    assert "tag_group" in [v.name for v in read_model_views()]


def test_postgres_refuses_a_second_live_claim_on_a_tag_even_past_the_check(
    pg_app: Siyu, pg_url: str
) -> None:
    # Given "A" claimed by a group, and a check that (as if racing another process) sees nothing
    pg_app.tags.create_group("客户等级", ["A"], False, BY, AT)
    recorder: Any = pg_app.recorder
    real = recorder.tag_claims
    calls: list[int] = []

    def stale_then_real(tags: list[str]) -> object:
        calls.append(1)
        return [] if len(calls) == 1 else real(tags)

    recorder.tag_claims = stale_then_real
    # When another group claims "A", then the unique index fails the commit and the retry refuses
    with pytest.raises(TagInOtherGroup):
        pg_app.tags.create_group("重复", ["A"], False, BY, AT)
    assert len(calls) == 2
    assert [r["n"] for r in rows(pg_url, "SELECT count(*) AS n FROM siyu_events "
                                         "WHERE topic LIKE 'domain.tag_group:%'")] == [1]
