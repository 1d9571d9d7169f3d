"""``siyu export``: a documented read model to CSV or Parquet and back, row for row."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pyarrow.parquet as pq
import pytest

from application.app import Siyu
from domain.ingestion import EventItem
from projections.postgres_views import CustomerProfileView
from projections.runner import BatchRunner, Tracker
from siyu.export_command import command, csv_text, export

pytestmark = pytest.mark.integration


def seed(app: Siyu) -> None:
    then = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    items = []
    for n in range(7):
        who = ("wecom_external:ww1", f"wmExport{n}")
        items += [EventItem(f"f{n}", "FRIEND_ADDED", who, then, channel="qr:门店",
                            staff_id="wecom_user:s1"),
                  EventItem(f"t{n}", "TAGGED", who, then + timedelta(hours=n), tag="宝妈, \"VIP\""),
                  EventItem(f"o{n}", "ORDER_PAID", who, then + timedelta(days=n),
                            order_id=f"o{n}", amount_fen=100 * n + 1)]
    app.ingestion.record_batch(items, "service:test")
    BatchRunner(app, CustomerProfileView(), Tracker(app.factory.datastore)  # type: ignore[attr-defined]
                ).catch_up()


def table(url: str, name: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    with psycopg.connect(url, options="-c TimeZone=UTC") as conn:
        cur = conn.execute(f"SELECT * FROM {name}")
        assert cur.description is not None
        return [c.name for c in cur.description], cur.fetchall()


def parquet_value(value: Any, arrow_type: str) -> Any:
    """What the Parquet file holds for a database value (docs in siyu/export_command.py)."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    if arrow_type == "string" and isinstance(value, (list, dict)):
        return json.loads(json.dumps(value, ensure_ascii=False, default=str))  # JSON text
    if isinstance(value, list):
        return [str(v) if isinstance(v, UUID) else v for v in value]
    return value


def test_a_read_model_exports_to_csv_and_parquet_and_reads_back_the_same(
        pg_app: Siyu, pg_url: str, tmp_path: Path) -> None:
    # Given customer profiles with arrays, JSON documents, times, money and text to quote
    seed(pg_app)
    names, rows = table(pg_url, "customer_profile")
    assert len(rows) == 7
    # When they are exported to CSV and to Parquet
    err = io.StringIO()
    assert export(pg_url, "customer_profile", "csv", tmp_path / "p.csv", err=err,
                  batch=3) == 7
    assert "7/7 rows" in err.getvalue()  # the progress bar's last line
    assert export(pg_url, "customer_profile", "parquet", tmp_path / "p.parquet",
                  err=io.StringIO(), batch=3) == 7
    # Then the CSV reads back field for field, as documented
    with (tmp_path / "p.csv").open(encoding="utf-8", newline="") as file:
        read = list(csv.reader(file))
    assert read[0] == names
    assert sorted(read[1:]) == sorted([csv_text(v) for v in row] for row in rows)
    assert any("宝妈, \\\"VIP\\\"" in field for line in read[1:] for field in line)
    # and the Parquet file keeps the types
    parquet = pq.read_table(tmp_path / "p.parquet")
    assert parquet.column_names == names
    assert str(parquet.schema.field("gmv_fen").type) == "int64"
    assert str(parquet.schema.field("tags").type) == "list<element: string>"
    assert str(parquet.schema.field("first_seen_at").type) == "timestamp[us, tz=UTC]"
    back = sorted(parquet.to_pylist(), key=lambda r: str(r["customer_id"]))
    types = {n: str(parquet.schema.field(n).type) for n in names}
    want = sorted(({n: parquet_value(v, types[n]) for n, v in zip(names, row, strict=True)}
                   for row in rows), key=lambda r: str(r["customer_id"]))
    for got_row, want_row in zip(back, want, strict=True):
        for name in names:
            got, expected = got_row[name], want_row[name]
            if isinstance(expected, (list, dict)) and types[name] == "string":
                assert json.loads(got) == expected, name
            else:
                assert got == expected, name
    assert any(row[names.index("staff_relations")] for row in rows)  # JSON documents too


def test_only_documented_read_models_can_be_exported(pg_app: Siyu, pg_url: str,
                                                     tmp_path: Path) -> None:
    seed(pg_app)
    out, err = io.StringIO(), io.StringIO()
    # The event log and the vault are not read models
    for name in ("siyu_events", "siyu_vault_value", "api_token"):
        assert command(pg_url, name, "csv", tmp_path / "x.csv", out, err) == 2
    assert "not a documented read model" in err.getvalue()
    assert not (tmp_path / "x.csv").exists()
    # and the command line writes NAME.csv by default
    result = subprocess.run([sys.executable, "-m", "siyu", "export", "segment"],
                            cwd=tmp_path, env={**os.environ, "DATABASE_URL": pg_url},
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "segment: 4 rows to segment.csv" in result.stdout  # the four lifecycle stages
    assert len((tmp_path / "segment.csv").read_text(encoding="utf-8").splitlines()) == 5
