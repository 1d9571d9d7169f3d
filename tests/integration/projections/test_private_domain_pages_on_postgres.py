"""``private_domain_link`` across pages: a customer whose new changes all come after its
stored ones, and one whose new change comes before a stored one (a late callback), get
the links a rebuild derives from all their changes (a guard for any shortcut that goes on
from the stored links: it must not take the late callback's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from application.app import Siyu
from domain.ingestion import EventItem
from projections.private_domain import PrivateDomainView
from projections.runner import BatchRunner, Tracker

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 2, tzinfo=UTC)
#: Each customer's friend (one each: a link's key tells whose it is).
STAFF = {"u-a": "wecom_user:s1", "u-b": "wecom_user:s2"}


def _links(url: str, unionid: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT since, until FROM private_domain_link "
                            "WHERE touchpoint = 'wecom_friends' AND link_key = %s ORDER BY 1",
                            (STAFF[unionid],)).fetchall()


def _page(app: Siyu, runner: BatchRunner, *items: EventItem) -> None:
    result = app.ingestion.record_batch(list(items), "service:test")
    assert result.count("accepted") == len(items), result.outcomes
    runner.catch_up()


def _friend(key: str, unionid: str, kind: str, at: datetime) -> EventItem:
    if kind == "FRIEND_DELETED":
        return EventItem(key, kind, ("wx_unionid", unionid), at, staff_id=STAFF[unionid],
                         deleted_by="CUSTOMER")
    return EventItem(key, kind, ("wx_unionid", unionid), at, staff_id=STAFF[unionid])


def test_a_late_change_before_a_stored_one_is_derived_again_with_it(
        pg_app: Siyu, pg_url: str) -> None:
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    runner = BatchRunner(pg_app, PrivateDomainView(), tracker)
    # Given a friend add, and a repeated add two days later (which changes nothing)
    _page(pg_app, runner, _friend("a1", "u-a", "FRIEND_ADDED", T0),
          _friend("a2", "u-a", "FRIEND_ADDED", T0 + timedelta(days=2)))
    # And, in other pages, a customer whose changes arrive in order
    _page(pg_app, runner, _friend("b1", "u-b", "FRIEND_ADDED", T0))
    _page(pg_app, runner, _friend("b2", "u-b", "FRIEND_DELETED", T0 + timedelta(days=1)))
    # When the delete between the two adds arrives late, and the second customer re-adds
    _page(pg_app, runner, _friend("a3", "u-a", "FRIEND_DELETED", T0 + timedelta(days=1)),
          _friend("b3", "u-b", "FRIEND_ADDED", T0 + timedelta(days=3)))
    # Then the stored repeat add opens the link again after the late delete
    assert _links(pg_url, "u-a") == [(T0, T0 + timedelta(days=1)),
                                     (T0 + timedelta(days=2), None)]
    # And the in-order customer has both its links
    assert _links(pg_url, "u-b") == [(T0, T0 + timedelta(days=1)),
                                     (T0 + timedelta(days=3), None)]
    # And a rebuild in one page gives the same links and daily deltas
    with psycopg.connect(pg_url) as conn:
        links = conn.execute("SELECT * FROM private_domain_link ORDER BY 1, 2, 3, 4").fetchall()
        deltas = conn.execute("SELECT * FROM siyu_private_domain_delta WHERE delta <> 0 "
                              "ORDER BY 1, 2").fetchall()
    runner.rebuild()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT * FROM private_domain_link ORDER BY 1, 2, 3, 4"
                            ).fetchall() == links
        assert conn.execute("SELECT * FROM siyu_private_domain_delta WHERE delta <> 0 "
                            "ORDER BY 1, 2").fetchall() == deltas
