"""``siyu rebuild`` on a short log builds in its own process: a child process would cost
more starting than a second core earns back (``siyu.parallel_rebuild.SMALL_LOG``); past
that length it splits as ``siyu projections`` does."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

import siyu.processes
from application.app import Siyu
from siyu import parallel_rebuild
from siyu.processes import catch_up, rebuild
from siyu.settings import Settings
from tests.conftest import SECRET
from tests.integration.projections.test_quarantine_on_postgres import record
from tests.integration.siyu.test_parallel_rebuild import rows

pytestmark = [pytest.mark.integration, pytest.mark.full_rebuild]


def _settings(url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=url, broker_url=None, data_dir=tmp_path, secret=SECRET)


def test_a_rebuild_of_a_short_log_builds_every_read_model_without_a_child_process(
        pg_app: Siyu, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given read models built from a short log
    record(pg_app, 30)
    catch_up(pg_app)
    before = {t: rows(pg_url, t) for t in ("customer_profile", "tag_group")}

    def no_child(*_: Any) -> Any:
        raise AssertionError("a child process was started")

    monkeypatch.setattr(multiprocessing, "get_context", no_child)
    # When every read model is rebuilt
    counts = rebuild(_settings(pg_url, tmp_path), [])
    # Then they were, in this process, and hold what they held
    assert counts["customer_profile"] == len(before["customer_profile"]) > 0
    assert set(counts) == {v.name for v in siyu.processes.read_model_views()}
    assert {t: rows(pg_url, t) for t in before} == before


def test_a_rebuild_of_a_longer_log_is_split_into_processes(
        pg_app: Siyu, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a log longer than a short one (the bound lowered to 10 notifications)
    record(pg_app, 30)
    monkeypatch.setattr(siyu.processes, "SMALL_LOG", 10)
    asked: list[bool] = []

    def parts(*_: Any, split: bool) -> None:
        asked.append(split)

    monkeypatch.setattr(siyu.processes, "rebuild_parts", parts)
    # When every read model is rebuilt
    rebuild(_settings(pg_url, tmp_path), [])
    # Then the build was asked to split
    assert asked == [True]
    # And not with the default bound (30 notifications are a short log)
    monkeypatch.setattr(siyu.processes, "SMALL_LOG", parallel_rebuild.SMALL_LOG)
    rebuild(_settings(pg_url, tmp_path), [])
    assert asked == [True, False]
