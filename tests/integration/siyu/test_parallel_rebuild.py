"""Ctrl-C during a parallel ``siyu rebuild``: the children stop, drop their build schemas,
and the live read models hold what they held."""

from __future__ import annotations

import psycopg
import pytest

from application.app import Siyu
from projections.bluegreen import Progress
from siyu.parallel_rebuild import rebuild_parts
from siyu.processes import catch_up, read_model_views
from tests.conftest import SECRET
from tests.integration.projections.test_quarantine_on_postgres import record

pytestmark = pytest.mark.integration


def rows(url: str, table: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return sorted(str(r) for r in conn.execute(f"SELECT * FROM {table}"))


def test_an_interrupted_parallel_rebuild_leaves_the_live_read_models_and_no_build_schema(
        pg_app: Siyu, pg_url: str) -> None:
    # Given read models built from a log
    record(pg_app, 30)
    catch_up(pg_app)
    before = {t: rows(pg_url, t) for t in ("customer_profile", "tag_group")}
    heard: list[Progress] = []

    def interrupt(progress: Progress) -> None:
        heard.append(progress)
        raise KeyboardInterrupt  # Ctrl-C at the first progress line

    # When a rebuild of two parts (two processes) is interrupted, the profile's switch
    # kept waiting by a reader
    with psycopg.connect(pg_url) as reader:
        reader.execute("SELECT count(*) FROM customer_profile")
        with pytest.raises(KeyboardInterrupt):
            rebuild_parts(pg_url, SECRET, ["customer_profile", "tag_group"],
                              read_model_views, interrupt)
        reader.rollback()
    # Then it was under way, and the live read models hold what they held, no build left
    assert heard
    assert {t: rows(pg_url, t) for t in before} == before
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT nspname FROM pg_namespace "
                            "WHERE nspname LIKE 'siyu_bg_%'").fetchall() == []
