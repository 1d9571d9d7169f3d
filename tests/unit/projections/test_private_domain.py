"""The pure row logic of ``private_domain_link``: link intervals from a customer's changes,
and the business-day spans (and daily deltas) the series adds up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from projections.private_domain.view import Change, Link, Presence, deltas, link_intervals, presence

T0 = datetime(2026, 11, 1, 2, tzinfo=UTC)  # 10:00 in Shanghai, 1 November


def test_a_link_opens_once_and_closes_on_its_closing_change() -> None:
    # Given an add, a repeated add, a delete, a stray delete and a re-add of one friend
    changes = [(T0, Change("wecom_friends", "s1", True)),
               (T0 + timedelta(hours=1), Change("wecom_friends", "s1", True)),
               (T0 + timedelta(days=2), Change("wecom_friends", "s1", False)),
               (T0 + timedelta(days=3), Change("wecom_friends", "s1", False)),
               (T0 + timedelta(days=4), Change("wecom_friends", "s1", True))]
    # Then two intervals: the first closed, the second open
    assert link_intervals(changes) == [
        Link("wecom_friends", "s1", T0, T0 + timedelta(days=2)),
        Link("wecom_friends", "s1", T0 + timedelta(days=4), None)]


def test_a_link_closed_the_instant_it_opened_holds_no_day() -> None:
    changes = [(T0, Change("groups", "g1", True)), (T0, Change("groups", "g1", False))]
    assert link_intervals(changes) == []


def test_overlapping_links_count_a_customer_once_per_touchpoint_and_in_total() -> None:
    # Given two groups overlapping, and a WeCom friend added and deleted within one day
    links = [Link("groups", "g1", T0, T0 + timedelta(days=3)),
             Link("groups", "g2", T0 + timedelta(days=1), None),
             Link("wecom_friends", "s1", T0 + timedelta(days=5), T0 + timedelta(days=5, hours=2))]
    spans = sorted(presence(links))
    # Then one open span in groups and in total; the same-day friend never counts
    assert spans == [Presence("groups", date(2026, 11, 1), None),
                     Presence("total", date(2026, 11, 1), None)]
    assert deltas(spans, -1) == {("groups", date(2026, 11, 1)): -1,
                                 ("total", date(2026, 11, 1)): -1}


def test_a_customer_who_leaves_and_comes_back_enters_twice() -> None:
    links = [Link("groups", "g1", T0, T0 + timedelta(days=2)),
             Link("groups", "g1", T0 + timedelta(days=4), T0 + timedelta(days=6))]
    spans = [s for s in presence(links) if s.touchpoint == "groups"]
    assert spans == [Presence("groups", date(2026, 11, 1), date(2026, 11, 3)),
                     Presence("groups", date(2026, 11, 5), date(2026, 11, 7))]
