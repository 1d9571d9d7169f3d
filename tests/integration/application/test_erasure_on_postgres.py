"""Erasure (PIPL) on real PostgreSQL: nothing of the person is left in a dump or a log,
KPIs stay, a rebuild equals the live read models, and the phone is a stranger again."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from application.app import Siyu
from domain.customer import Customer
from domain.identity import blind_index, parse_identity
from domain.ingestion import EventItem, OrderItem
from projections.runner import BatchRunner, Tracker
from siyu.processes import read_model_views

pytestmark = pytest.mark.integration

PHONE = "13912345678"
OPENID = "oPrivacyTest42xyz"
NICKNAME = "隐私测试者"
MESSAGE = "我住在幸福路88号, 快递放门口"  # a customer message's text, sealed in the vault
OPENID_NS = "wx_openid:wx-demo-app"
KPI_QUERIES = {
    "private_domain_users": "SELECT * FROM private_domain_users",
    "totals": "SELECT count(*), sum(gmv_fen), sum(order_count), sum(refunded_fen), "
              "sum(content_views) FROM customer_profile",
    "tags": "SELECT t, count(*) FROM customer_profile, unnest(tags) t GROUP BY t ORDER BY t",
    "channels": "SELECT first_channel, count(*) FROM customer_profile GROUP BY 1 ORDER BY 1",
}
#: Read models compared live against rebuilt (every column).
REBUILT = ("customer_profile", "customer_profile_member", "segment_membership")


def _pg_dump() -> str:
    found = shutil.which("pg_dump")
    if found is None:
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                check=True).stdout.strip()
        found = str(Path(bindir) / "pg_dump")
    return found


def dump(url: str) -> str:
    done = subprocess.run([_pg_dump(), "--no-owner", "--dbname", url], capture_output=True,
                          check=True, env={**os.environ, "PGCLIENTENCODING": "UTF8"})
    return done.stdout.decode("utf-8")


def kpis(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in KPI_QUERIES.items()}


def tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in REBUILT}


def seed(app: Siyu, now: datetime) -> UUID:
    phone = ("phone", PHONE)
    t = now - timedelta(days=3)
    result = app.ingestion.record_batch([
        EventItem("e1", "FRIEND_ADDED", phone, t, channel="qr:store-01",
                  staff_id="0a6f0000-0000-4000-8000-000000000001"),
        EventItem("e2", "IDENTITY_LINKED", phone, t, link=(OPENID_NS, OPENID)),
        EventItem("e3", "PROFILE_UPDATED", phone, t, nickname=NICKNAME),
        EventItem("e4", "TAGGED", phone, t, tag="vip"),
        EventItem("e5", "ORDER_PAID", phone, t + timedelta(hours=1), order_id="o-1",
                  amount_fen=12_900, items=[OrderItem("milk", 1, 12_900, "dairy")]),
        EventItem("e6", "CONSENT_GIVEN", phone, t, purpose="marketing", wording_version="v3"),
        EventItem("e7", "CONTENT_VIEWED", phone, t, content_id="c-1"),
        EventItem("e9", "MESSAGE_RECEIVED", phone, t + timedelta(minutes=5),
                  staff_id="0a6f0000-0000-4000-8000-000000000001", message_kind="text",
                  text=MESSAGE),
        # a bystander, who keeps everything
        EventItem("b1", "TAGGED", ("phone", "13800000009"), t, tag="vip"),
        EventItem("b2", "PROFILE_UPDATED", ("phone", "13800000009"), t, nickname="旁观者"),
    ], "service:test")
    assert result.count("accepted") == 10
    customer_id = result.outcomes[0].customer_id
    assert customer_id is not None
    return customer_id


def test_an_erased_customer_leaves_no_personal_data_in_a_dump_or_a_log_and_kpis_stay(
    pg_app: Siyu, pg_url: str, now: datetime, caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    runners = [BatchRunner(pg_app, view, tracker) for view in read_model_views()]
    # Given a customer known by phone and openid, with a nickname, an order, a tag, a consent
    customer_id = seed(pg_app, now)
    for runner in runners:
        runner.catch_up()
    assert pg_app.customers.personal_data(customer_id)["nickname"] == NICKNAME
    assert MESSAGE in pg_app.customers.personal_data(customer_id).values()
    assert MESSAGE not in dump(pg_url)  # sealed: ciphertext in the vault, in no read model
    pg_app.take_snapshot(customer_id)  # a snapshot holds the aggregate's identities
    before = kpis(pg_url)
    blinds = [blind_index(pg_app.blind_key, parse_identity(ns, v))
              for ns, v in (("phone", PHONE), (OPENID_NS, OPENID))]
    assert all(b in dump(pg_url) for b in blinds)  # the read model shows them, for now

    # When a privacy officer erases them
    streams, position = pg_app.privacy.erase(customer_id, "customer_request", "case-2026-001",
                                             "staff:privacy-1", now)
    assert streams == [customer_id] and position is not None
    for runner in runners:
        runner.catch_up()

    # Then the KPIs are those of before, and the history is kept
    assert kpis(pg_url) == before
    assert [type(pg_app.mapper.to_domain_event(e)).__name__
            for e in pg_app.recorder.select_events(customer_id)][-1] == "Erased"
    # and nothing reads their personal data any more
    assert pg_app.customers.personal_data(customer_id) == {}
    assert pg_app.index.owners_of(blinds) == {}
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM siyu_snapshots WHERE originator_id = %s",
                            (customer_id,)).fetchone() == (0,)
    pg_app.evict([customer_id])
    reloaded = pg_app.find(customer_id, Customer)
    assert reloaded is not None and reloaded.erased and reloaded.identities == {}
    # and a rebuild of every read model equals the live ones
    live = tables(pg_url)
    for runner in runners:
        runner.rebuild()
    assert tables(pg_url) == live
    assert kpis(pg_url) == before
    # and neither a dump of the database nor any log holds their values or blind indexes
    dumped = dump(pg_url)
    captured = capfd.readouterr()
    for text in (dumped, caplog.text, captured.out, captured.err):
        for value in (PHONE, "+86" + PHONE, OPENID, NICKNAME, MESSAGE, *blinds):
            assert value not in text
    assert "旁观者" not in dumped  # vault values are ciphertext, the bystander's too...
    assert pg_app.customers.personal_data(
        pg_app.index.owners_of([blind_index(pg_app.blind_key, parse_identity(
            "phone", "13800000009"))])[blind_index(pg_app.blind_key, parse_identity(
                "phone", "13800000009"))])["nickname"] == "旁观者"  # ...and still readable

    # When an event arrives later with the same phone
    again = pg_app.ingestion.record_batch(
        [EventItem("e8", "TAGGED", ("phone", PHONE), now, tag="new")], "service:test")
    # Then it is a new customer, who knows nothing of the erased one
    new_id = again.outcomes[0].customer_id
    assert again.outcomes[0].status == "accepted" and new_id not in (None, customer_id)
    assert new_id is not None
    assert pg_app.customers.personal_data(new_id) == {f"identity:{blinds[0]}": "+86" + PHONE}
