"""A parallel ``siyu rebuild``: it builds what the live runners built; on Ctrl-C the children
stop, drop their build schemas, and the live read models hold what they held."""

from __future__ import annotations

import psycopg
import pytest

from application.app import Siyu
from bench import segments, workload
from projections import quarantine
from projections.bluegreen import Progress
from siyu.parallel_rebuild import rebuild_parts
from siyu.processes import catch_up, read_model_views
from tests.conftest import SECRET
from tests.integration.projections.test_page_sizes_on_postgres import digests
from tests.integration.projections.test_quarantine_on_postgres import record

pytestmark = [pytest.mark.integration, pytest.mark.full_rebuild]


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


def test_siyu_rebuild_of_every_read_model_equals_the_live_ones_and_quarantines_nothing(
        pg_app: Siyu, pg_url: str) -> None:
    # Given segments, 1,500 events over 150 customers, and every read model following them
    segments._define(pg_app, segments.segment_rules()[:8])
    segments._record(pg_app, workload.items(1500, customers=150, seed=3))
    catch_up(pg_app)
    live = digests(pg_url)
    # When `siyu rebuild` builds every read model again, a process per part of the split
    # (connections of its own, as a rebuild has: nothing set up on them by the live runners)
    rebuild_parts(pg_url, SECRET, [v.name for v in read_model_views()], read_model_views,
                  lambda progress: None)
    # Then every table holds what the live one held, and no event was set aside
    rebuilt = digests(pg_url)
    assert len(live) > 30, sorted(live)
    assert {t for t in live if live[t] != rebuilt.get(t)} == set()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute(f"SELECT count(*) FROM {quarantine.TABLE}").fetchone() == (0,)
