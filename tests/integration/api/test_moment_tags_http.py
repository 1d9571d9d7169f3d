"""A moment task names the platform's tags; WeCom gets their WeCom tag ids — synced from the
corp's WeCom tag library (same group name and tag name), ``SIYU_WECOM_TAG_IDS`` overriding —
and a tag with none is refused with a typed error."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.corp_tags import WeComCorpTags
from application.app import Siyu
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom
from projections.runner import Tracker
from siyu.settings import Settings
from tests.conftest import SECRET
from tests.integration.api.conftest import Api, serving
from tests.integration.api.test_moments_http import (
    CREATE,
    error,
    hire,
    run,
    settle,
    sync,  # noqa: F401 - fixture
)
from workers.corp_tags import CorpTagSync
from workers.moments import MomentSync

pytestmark = pytest.mark.integration


@pytest.fixture
def tagged_api(pg_url: str, pg_app: Siyu, live_projections: None, tmp_path: Path
               ) -> Iterator[Api]:
    """The API of a corp whose platform tag VIP is the WeCom tag etVIP."""
    settings = Settings(database_url=pg_url, broker_url=None, data_dir=tmp_path, secret=SECRET,
                        wecom_tag_ids={"VIP": "etVIP"})
    with serving(settings, pg_url, pg_app) as served:
        yield served


def test_a_moment_task_goes_to_wecom_with_the_wecom_ids_of_its_tags(
        tagged_api: Api, pg_app: Siyu, fake_wecom: RunningFakeWeCom,
        sync: MomentSync) -> None:  # noqa: F811
    hire(pg_app, "zhangsan")
    fake_wecom.state.moments.members = {"zhangsan"}
    settle(pg_app)
    # When a task for VIP customers is created and submitted
    body = tagged_api.gql(CREATE, {"input": {"content": "会员日", "userIds": ["zhangsan"],
                                             "tags": ["VIP"]}}, as_="manager")
    assert "errors" not in body, body
    run(sync, pg_app, 4)
    # Then WeCom's task is visible to the WeCom tag etVIP
    [moment] = fake_wecom.state.moments.moments.values()
    assert moment.tags == ["etVIP"]


def test_a_tag_with_no_wecom_id_is_refused_and_nothing_is_planned(
        tagged_api: Api, pg_app: Siyu) -> None:
    hire(pg_app, "zhangsan")
    settle(pg_app)
    body = tagged_api.gql(CREATE, {"input": {"content": "会员日", "userIds": ["zhangsan"],
                                             "tags": ["VIP", "金卡"]}}, as_="manager")
    assert error(body) == {"code": "UNMAPPED_TAG", "field": "tags[1]"}
    assert tagged_api.gql("{ momentTasks { id } }", as_="manager")["data"]["momentTasks"] == []


def test_a_moment_task_uses_the_synced_wecom_tag_ids_and_the_configuration_overrides_them(
        tagged_api: Api, pg_app: Siyu, fake_wecom: RunningFakeWeCom,
        sync: MomentSync) -> None:  # noqa: F811
    # Given the platform's group 会员 with VIP and 金卡, and the same group in WeCom
    hire(pg_app, "zhangsan")
    fake_wecom.state.moments.members = {"zhangsan"}
    pg_app.tags.create_group("会员", ["VIP", "金卡"], False, "staff:manager", datetime.now(UTC))
    with WeComCorpTags(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET) as client:
        vip, gold = client.add(["VIP", "金卡"], group_name="会员").tags
        # When the tag sync has listed the library and the read models caught up
        assert CorpTagSync(pg_app, FAKE_CORP_ID, client).run_once() == 1
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    assert tracker.wait("wecom_corp_tag", pg_app.recorder.max_notification_id() or 0, 20)
    settle(pg_app)
    # And a task names both tags
    body = tagged_api.gql(CREATE, {"input": {"content": "会员日", "userIds": ["zhangsan"],
                                             "tags": ["VIP", "金卡"]}}, as_="manager")
    assert "errors" not in body, body
    run(sync, pg_app, 4)
    # Then WeCom's task is visible to 金卡's synced id, and to etVIP (configured) for VIP
    [moment] = fake_wecom.state.moments.moments.values()
    assert sorted(moment.tags) == sorted(["etVIP", gold.tag_id]) and vip.tag_id not in moment.tags
