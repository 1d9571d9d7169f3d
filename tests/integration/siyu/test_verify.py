"""``siyu verify``: the hash chain names the event edited or deleted with SQL; anchors held
outside the database catch a rewritten chain; every read model rebuilt into a shadow schema
equals the live one, and a live row edited by hand is found."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from adapters import event_chain
from application.app import Siyu
from domain.ingestion import EventItem
from siyu import cli
from siyu.bootstrap import build_application, migrate_event_chain
from siyu.processes import catch_up
from siyu.verify import describe, verify
from tests.conftest import SECRET

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
#: Rewrites who recorded an event, in its stored state.
FORGE = ("UPDATE siyu_events SET state = convert_to(replace(convert_from(state, 'UTF8'), "
         "'service:tests', 'service:forged'), 'UTF8') ")


def record(app: Siyu, customers: int = 20, rounds: int = 3) -> None:
    for r in range(rounds):
        app.ingestion.record_batch([
            EventItem(f"v{r}-{c}", "TAGGED" if r % 2 else "CONTENT_VIEWED",
                      ("wx_unionid", f"u{c}"), AT + timedelta(hours=r), tag=f"t{r}",
                      content_id=f"c{r}")
            for c in range(customers)], "service:tests")


def chain_report(url: str) -> event_chain.ChainReport:
    with psycopg.connect(url) as conn:
        return event_chain.verify(conn, "public", "siyu_events")


def test_every_stored_event_is_chained_as_it_is_written(pg_app: Siyu, pg_url: str) -> None:
    # Given events written by several transactions
    record(pg_app)
    # Then each has one link, covering the link before it, and the chain is intact
    with psycopg.connect(pg_url) as conn:
        events = conn.execute("SELECT notification_id FROM siyu_events ORDER BY 1").fetchall()
        links = conn.execute("SELECT notification_id, previous_id FROM siyu_event_chain "
                             "ORDER BY 1").fetchall()
    assert [n for n, _ in links] == [n for (n,) in events]
    assert [p for _, p in links] == [0, *[n for (n,) in events][:-1]]
    report = chain_report(pg_url)
    assert report.broken == () and report.checked == len(events)


def test_an_event_edited_with_sql_is_named(pg_app: Siyu, pg_url: str) -> None:
    # Given a chained log
    record(pg_app)
    # When one stored event's state is edited behind the application's back
    with psycopg.connect(pg_url) as conn:
        conn.execute(FORGE + "WHERE notification_id = 30")
        conn.execute("UPDATE siyu_events SET originator_version = originator_version + 100 "
                     "WHERE notification_id = 41")
    # Then verify names exactly those events, and nothing else
    report = chain_report(pg_url)
    assert [(b.position, b.kind) for b in report.broken] == [(30, "altered"), (41, "altered")]


def test_a_deleted_event_is_named_with_or_without_its_link(pg_app: Siyu, pg_url: str) -> None:
    record(pg_app)
    with psycopg.connect(pg_url) as conn:
        # When one event is deleted, and another one together with its link
        conn.execute("DELETE FROM siyu_events WHERE notification_id = 12")
        conn.execute("DELETE FROM siyu_events WHERE notification_id = 25")
        conn.execute("DELETE FROM siyu_event_chain WHERE notification_id = 25")
        # and a link is deleted while its event stays
        conn.execute("DELETE FROM siyu_event_chain WHERE notification_id = 33")
    # Then each is named
    assert [(b.position, b.kind) for b in chain_report(pg_url).broken] == [
        (12, "deleted"), (25, "deleted"), (33, "unchained")]


def test_a_rewritten_chain_is_caught_by_an_anchor_kept_outside(
        pg_app: Siyu, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("SIYU_SECRET", SECRET.decode())
    monkeypatch.setenv("SIYU_DATA_DIR", str(tmp_path))
    record(pg_app)
    # Given yesterday's anchor, kept in a file
    anchors = tmp_path / "anchors.jsonl"
    assert cli.main(["verify", "--anchor", "--out", str(anchors)]) == 0
    kept = json.loads(anchors.read_text())
    assert kept["position"] == pg_app.recorder.max_notification_id()
    assert len(bytes.fromhex(kept["hash"])) == 32 and kept["taken_at"]
    # When someone edits an event and recomputes every link after it (no link is broken)
    with psycopg.connect(pg_url) as conn:
        conn.execute(FORGE + "WHERE notification_id = 30")
        conn.execute("DELETE FROM siyu_event_chain WHERE notification_id >= 30")
        event_chain.backfill(conn, "public", "siyu_events")
    assert chain_report(pg_url).broken == ()
    capsys.readouterr()
    # Then verify against the kept anchor says the chain is not the one anchored
    assert cli.main(["verify", "--chain-only", "--against", str(anchors)]) == 1
    out = capsys.readouterr().out
    assert "BROKEN" in out and f"position {kept['position']}: anchor" in out


@pytest.mark.fresh_database
def test_a_log_written_before_the_chain_is_chained_once_on_migration(
        pg_app: Siyu, pg_url: str) -> None:
    # Given a log whose events have no links (a database from before the chain)
    record(pg_app)
    with psycopg.connect(pg_url) as conn:
        conn.execute("DROP TABLE siyu_event_chain")
        count = conn.execute("SELECT count(*) FROM siyu_events").fetchone()
    assert count is not None
    # When the application starts (twice: the migration is idempotent)
    again = build_application(pg_url, SECRET)
    try:
        assert migrate_event_chain(again) == 0
        # Then every event is chained, once, and new writes extend the chain
        record(again, rounds=5)
    finally:
        again.close()
    report = chain_report(pg_url)
    assert report.broken == () and report.checked > count[0]


def test_every_read_model_rebuilt_in_a_shadow_schema_equals_the_live_one(
        pg_app: Siyu, pg_url: str) -> None:
    # Given live read models caught up with a varied log
    record(pg_app, customers=40, rounds=4)
    pg_app.staff.hire("sales", "front_office", "王芳", "service:tests", AT)
    catch_up(pg_app)
    # When verify rebuilds them all into the shadow schema
    result = verify(pg_url, SECRET)
    # Then the chain holds and each read model equals its rebuild
    assert result.holds, "\n".join(describe(result))
    assert {v.view for v in result.views} >= {"customer_profile", "staff_directory"}
    assert sum(len(v.tables) for v in result.views) > 20
    # and the live tables were not touched (their rows are still there)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM customer_profile").fetchone() == (40,)


def test_a_read_model_row_edited_by_hand_is_reported(pg_app: Siyu, pg_url: str) -> None:
    record(pg_app)
    catch_up(pg_app)
    with psycopg.connect(pg_url) as conn:
        customer = conn.execute("UPDATE customer_profile SET tags = '{forged}' WHERE "
                                "customer_id = (SELECT min(customer_id::text)::uuid FROM "
                                "customer_profile) RETURNING customer_id").fetchone()
    assert customer is not None
    result = verify(pg_url, SECRET)
    differing = {v.view: v.differences for v in result.views if v.differences}
    assert list(differing) == ["customer_profile"]
    (diff,) = differing["customer_profile"]
    assert (diff.table, diff.live_only, diff.rebuilt_only) == ("customer_profile", 1, 1)
    assert all(str(customer[0]) in sample for sample in diff.samples)
    assert not result.holds
