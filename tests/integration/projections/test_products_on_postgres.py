"""``product``, ``product_category``, ``order_line`` and ``order_refund``: a rebuild equals
the live model whatever the page size, and an order's lines share its amount exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from application.app import Siyu
from domain.product import ProductSpec
from projections.position_rows import stored_check
from projections.products import ProductLibraryView
from projections.runner import BatchRunner, Tracker
from tests.integration.api.test_products_http import LIBRARY, PRODUCTS, orders
from tests.integration.projections.test_activities_on_postgres import item
from tests.support.read_models import replay_after_losing_half

pytestmark = pytest.mark.integration
TABLES = ("product", "product_category", "order_line", "order_refund")


def tables(url: str) -> dict[str, list[dict[str, Any]]]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        return {t: list(conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2")) for t in TABLES}


def test_rebuild_equals_live_and_lines_share_each_amount_exactly(pg_app: Siyu, pg_url: str
                                                                 ) -> None:
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    live = BatchRunner(pg_app, ProductLibraryView(), tracker, page_size=7)
    now = datetime.now(UTC)
    for code, name in LIBRARY:
        pg_app.products.define_category(code, name, "staff:m", now)
    for spec in PRODUCTS:
        pg_app.products.put(ProductSpec(*spec), "staff:m", now)
    events = [item(e) for e in orders(4, now - timedelta(days=20))]
    for i in range(0, len(events), 40):
        pg_app.ingestion.record_batch(events[i:i + 40], "service:test")
        live.catch_up()
    pg_app.products.put(ProductSpec("T-2", "碧螺春", "tea:black", 9_900), "staff:m", now)
    pg_app.products.delist("W-1", "停产", "staff:m", now)
    pg_app.products.define_category("tea", "中国茶", "staff:m", now)
    live.catch_up()
    before = tables(pg_url)
    assert len(before["order_line"]) > 60 and before["order_refund"]
    assert {r["sku"]: r["category"] for r in before["product"]}["T-2"] == "tea:black"
    assert [r["name"] for r in before["product_category"] if r["code"] == "tea"] == ["中国茶"]
    shares: dict[tuple[Any, str], Decimal] = {}
    for line in before["order_line"]:
        key = (line["customer_id"], line["order_id"])
        shares[key] = shares.get(key, Decimal(0)) + line["gmv_fen"]
        assert line["gmv_fen"] == line["gmv_fen"].quantize(Decimal("0.000001"))
    amounts = {(r["customer_id"], r["order_id"]): r["order_amount_fen"]
               for r in before["order_line"]}
    assert shares == {k: Decimal(v) for k, v in amounts.items()}
    rebuilt = BatchRunner(pg_app, ProductLibraryView(), tracker, page_size=1000)
    rebuilt.rebuild()
    assert tables(pg_url) == before
    # A page applied again adds nothing (its rows are not COPYed over the stored ones),
    # and one partly stored adds only the rows missing
    replay_after_losing_half(pg_app, rebuilt, pg_url, "order_line",
                             lambda: tables(pg_url) == before)


@pytest.mark.parametrize("table, fill", [
    ("order_refund", "INSERT INTO order_refund (position, customer_id, order_id, refunded_at, "
                     "amount_fen) SELECT g, gen_random_uuid(), 'o' || g, now(), 1 "
                     "FROM generate_series(1, 20000) g"),
    ("customer_journey", "INSERT INTO customer_journey (position, customer_id, occurred_at, "
                         "step, event_type) SELECT g, gen_random_uuid(), now(), 'touch', 'x' "
                         "FROM generate_series(1, 20000) g"),
])
def test_a_page_s_stored_check_reads_one_index_entry_not_the_table(
        pg_app: Siyu, pg_url: str, table: str, fill: str) -> None:
    # Given a filled, analyzed fact table keyed by log position (the product library's
    # or the activities' journey: both pages ask position_rows.stored_check)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    BatchRunner(pg_app, ProductLibraryView(), tracker).catch_up()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(fill)
        conn.execute(f"ANALYZE {table}")
        # When a page's check is prepared and planned generically (as after five pages)
        check = stored_check([(table, "position")]).as_string(conn)
        conn.execute("PREPARE stored_check(bigint) AS " + check.replace("%s", "$1"))
        conn.execute("SET plan_cache_mode = force_generic_plan")
        plan = str(conn.execute("EXPLAIN EXECUTE stored_check(20001)").fetchall())
    # Then it reads the key's last entry, not the table
    assert "Seq Scan" not in plan and f"{table}_pkey" in plan, plan
