"""A moment task cancelled while WeCom is still creating it is stopped once the job
finishes (``cancel_moment_task`` takes the moment id the job yields), as WeCom documents."""

from __future__ import annotations

import pytest

from application.app import Siyu
from fakes.wecom import RunningFakeWeCom
from tests.integration.api.conftest import Api
from tests.integration.api.test_moments_http import (
    CANCEL,
    create,
    hire,
    run,
    settle,
    sync,  # noqa: F401 - fixture
    task,
)
from workers.moments import MomentSync

pytestmark = pytest.mark.integration


def test_a_task_cancelled_while_wecom_creates_it_is_stopped_when_the_job_finishes(
        api: Api, pg_app: Siyu, fake_wecom: RunningFakeWeCom,
        sync: MomentSync) -> None:  # noqa: F811
    hire(pg_app, "zhangsan")
    fake_wecom.state.moments.members = {"zhangsan"}
    settle(pg_app)
    # Given a task WeCom is creating: submitted, its job not finished
    created = create(api, userIds=["zhangsan"])
    run(sync, pg_app)
    assert task(api, created["id"])["status"] == "SUBMITTED"
    # When a manager cancels it
    answer = api.gql(CANCEL, {"id": created["id"]}, as_="manager")
    assert answer["data"]["cancelMomentTask"]["task"]["status"] == "CANCELLED", answer
    # And the worker follows the job to its end, then runs again
    run(sync, pg_app, 5)
    # Then the task stays cancelled, knows the moment WeCom made, and WeCom stopped it:
    # the member can no longer post it
    after = task(api, created["id"])
    assert after["status"] == "CANCELLED" and after["momentId"]
    assert not fake_wecom.state.moments.post(after["momentId"], "zhangsan")
    assert fake_wecom.state.moments.add_calls == 1  # never submitted again
