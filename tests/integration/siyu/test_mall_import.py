"""Mall order import: parsing and mapping (pure), importing (memory, PostgreSQL), the CLI, fuzz."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.app import Siyu
from domain.identity import Identity, blind_index
from domain.ingestion import client_event_key
from projections.postgres_views import CustomerProfileView
from projections.runner import BatchRunner, Tracker
from siyu.bootstrap import build_application
from siyu.mall_files import FileFormatError, LineError, csv_records, jsonl_records, records
from siyu.mall_import import BY, Progress, import_orders, run
from siyu.mall_orders import SHANGHAI, OrderLine, Rejected, column, parse_line
from tests.conftest import SECRET

PHONE = "13800138000"
HEADER = "order_id,status,member_id,phone,amount_fen,refund_id,items,occurred_at,store"


def jsonl(*rows: dict[str, Any] | str) -> list[bytes]:
    return [(r if isinstance(r, str) else json.dumps(r)).encode() + b"\n" for r in rows]


def csv_lines(*rows: str, header: str = HEADER) -> list[bytes]:
    return [f"{line}\r\n".encode() for line in (header, *rows)]


def one(lines: list[bytes], fmt: str = "jsonl") -> OrderLine | Rejected:
    [(number, record)] = list(records(lines, fmt))
    return parse_line(number, record)


def order(**fields: Any) -> dict[str, Any]:
    return {"order_id": "E2025001", "status": "paid", "member_id": "m-1001",
            "amount_fen": 12_900, "occurred_at": "2025-11-20T10:00:00+08:00", **fields}


def valid(parsed: OrderLine | Rejected) -> OrderLine:
    assert isinstance(parsed, OrderLine), parsed
    return parsed


def refused(parsed: OrderLine | Rejected) -> tuple[str, str | None]:
    assert isinstance(parsed, Rejected), parsed
    return parsed.code, parsed.field


# -- parsing and mapping (no database) ---------------------------------------------------------
def test_a_paid_line_becomes_an_order_paid_event_with_a_deterministic_id() -> None:
    # Given a JSONL line for a paid order with its items
    line = valid(one(jsonl(order(items=[{"sku": "milk-900g", "quantity": 2, "price_fen": 6450}],
                                 store="sh-01"))))
    # Then it maps to ORDER_PAID for the mall member, keyed by order and status
    item = line.item
    assert (item.event_id, item.type, item.order_id) == ("mall:E2025001:paid", "ORDER_PAID",
                                                         "E2025001")
    assert item.identity == Identity("mall_member", "m-1001")
    assert (item.amount_fen, item.channel) == (12_900, "mall:sh-01")
    assert [(i.sku, i.quantity, i.price_fen) for i in item.items] == [("milk-900g", 2, 6450)]
    assert item.occurred_at == datetime(2025, 11, 20, 2, 0, tzinfo=UTC)
    assert line.link is None


def test_a_refund_is_keyed_by_its_refund_id_and_a_cancellation_needs_no_amount() -> None:
    refund = valid(one(jsonl(order(status="REFUNDED", refund_id="R-7", amount_fen=2900))))
    assert (refund.item.event_id, refund.item.type, refund.item.amount_fen) == (
        "mall:E2025001:refund:R-7", "ORDER_REFUNDED", 2900)
    cancel = valid(one(jsonl(order(status="cancelled", amount_fen=None))))
    assert (cancel.item.event_id, cancel.item.type) == ("mall:E2025001:cancelled",
                                                        "ORDER_CANCELLED")


def test_csv_items_use_the_sku_quantity_price_mini_format() -> None:
    # Given a CSV line whose items column is sku:qty:price;… (a SKU may itself contain ':')
    line = valid(one(csv_lines(
        'E9,placed,m-7,,25800,,"milk:900g:1:12900;nappies-L:2:6450;",2025-11-20 10:00:00,sh-02'),
        "csv"))
    # Then every item is read, and the time without an offset is Shanghai time
    assert [(i.sku, i.quantity, i.price_fen) for i in line.item.items] == [
        ("milk:900g", 1, 12900), ("nappies-L", 2, 6450)]
    assert line.item.occurred_at == datetime(2025, 11, 20, 10, 0, tzinfo=SHANGHAI)
    assert line.item.type == "ORDER_PLACED" and line.item.channel == "mall:sh-02"


def test_csv_items_may_also_be_a_json_array() -> None:
    items = '"[{""sku"": ""milk"", ""quantity"": 1, ""price_fen"": 100}]"'
    line = valid(one(csv_lines(f"E9,paid,m-7,,100,,{items},2025-11-20T10:00:00Z,"), "csv"))
    assert [(i.sku, i.quantity, i.price_fen) for i in line.item.items] == [("milk", 1, 100)]
    assert line.item.channel == "mall"


def test_a_line_with_member_and_phone_links_the_normalised_phone_to_the_member() -> None:
    line = valid(one(jsonl(order(phone="138 0013 8000"))))
    assert line.item.identity == Identity("mall_member", "m-1001")
    assert line.link is not None
    assert (line.link.event_id, line.link.type) == ("mall:E2025001:paid:link", "IDENTITY_LINKED")
    assert line.link.identity == Identity("mall_member", "m-1001")
    assert line.link.link == Identity("phone", "+8613800138000")


def test_a_line_with_only_a_phone_is_recorded_on_the_phone() -> None:
    line = valid(one(jsonl(order(member_id=None, phone=PHONE))))
    assert line.item.identity == Identity("phone", "+8613800138000") and line.link is None


@pytest.mark.parametrize(("line", "expected"), [
    ("{not json", ("MALFORMED_LINE", None)),
    ('["a list"]', ("MALFORMED_LINE", None)),
    (order(order_id=None), ("MISSING_FIELD", "order_id")),
    (order(order_id="E:1"), ("INVALID_INPUT", "order_id")),
    (order(status="shipped"), ("UNKNOWN_STATUS", "status")),
    (order(status=3), ("UNKNOWN_STATUS", "status")),
    (order(member_id=None), ("MISSING_FIELD", "member_id")),
    (order(member_id=None, phone="12345"), ("INVALID_IDENTITY", "phone")),
    (order(member_id="has space"), ("INVALID_IDENTITY", "member_id")),
    (order(amount_fen=None), ("MISSING_FIELD", "amount_fen")),
    (order(amount_fen="129.00"), ("INVALID_AMOUNT", "amount_fen")),
    (order(amount_fen=129.0), ("INVALID_AMOUNT", "amount_fen")),
    (order(amount_fen=-1), ("INVALID_AMOUNT", "amount_fen")),
    (order(amount_fen=True), ("INVALID_AMOUNT", "amount_fen")),
    (order(amount_fen=10**13), ("INVALID_AMOUNT", "amount_fen")),
    (order(status="refunded"), ("MISSING_FIELD", "refund_id")),
    (order(status="refunded", refund_id="R1", amount_fen=0), ("INVALID_AMOUNT", "amount_fen")),
    (order(occurred_at=None), ("MISSING_FIELD", "occurred_at")),
    (order(occurred_at="2025-11-20"), ("INVALID_TIME", "occurred_at")),
    (order(occurred_at="2025-13-40T10:00:00"), ("INVALID_TIME", "occurred_at")),
    (order(occurred_at="0001-01-01T00:00:00+14:00"), ("INVALID_TIME", "occurred_at")),
    (order(items="milk:1"), ("INVALID_INPUT", "items[0]")),
    (order(items=[{"sku": "milk", "quantity": 0, "price_fen": 1}]),
     ("INVALID_INPUT", "items[0].quantity")),
    (order(items=[{"sku": "milk", "quantity": 1}]), ("MISSING_FIELD", "items[0].price_fen")),
    (order(items={"sku": "milk"}), ("INVALID_INPUT", "items")),
    (order(store="x" * 65), ("INVALID_INPUT", "store")),
    (order(store="sh\x0001"), ("INVALID_INPUT", "store")),
    (order(channel="\ud800"), ("INVALID_INPUT", "channel")),
    (order(items=[{"sku": "mi\x00lk", "quantity": 1, "price_fen": 1}]),
     ("INVALID_INPUT", "items[0].sku")),
])
def test_a_malformed_jsonl_line_is_refused_with_a_code_and_its_column(
    line: dict[str, Any] | str, expected: tuple[str, str | None]
) -> None:
    assert refused(one(jsonl(line))) == expected


def test_malformed_csv_lines_are_refused_one_line_at_a_time() -> None:
    rows = list(csv_records([*csv_lines(
        "E1,paid,m-1,,100,,,2025-11-20T10:00:00+08:00",  # a field short
        'E2,paid,m-1,,"100,,,2025-11-20T10:00:00+08:00,',  # a quote never closed
        "E3,paid,m-1,,100,,,2025-11-20T10:00:00+08:00,sh",  # fine
    ), b"E4,paid,\xff\xfe,,100,,,2025-11-20T10:00:00+08:00,sh\n"]))
    assert [n for n, _ in rows] == [2, 3, 4, 5]
    assert [r.code if isinstance(r, LineError) else "ok" for _, r in rows] == [
        "MALFORMED_LINE", "MALFORMED_LINE", "ok", "MALFORMED_LINE"]


def test_a_csv_header_without_the_required_columns_makes_the_file_unusable() -> None:
    with pytest.raises(FileFormatError, match="order_id"):
        list(csv_records(csv_lines("1,2", header="id,status")))
    with pytest.raises(FileFormatError, match="member_id or phone"):
        list(csv_records(csv_lines("1,2,3", header="order_id,status,occurred_at")))


def test_blank_lines_are_skipped_and_line_numbers_are_those_of_the_file() -> None:
    rows = list(jsonl_records([b"\n", b'{"a": 1}\n', b"   \r\n", b'{"b": 2}']))
    assert [n for n, _ in rows] == [2, 4]


def test_a_rejection_shows_the_line_number_and_order_but_never_the_phone() -> None:
    parsed = one(jsonl(order(member_id=None, phone="1380013800X")))
    assert isinstance(parsed, Rejected)
    text = parsed.describe()
    assert text.startswith("line 1 (order E2025001): INVALID_IDENTITY [phone]")
    assert "1380013800X" not in text
    # a malformed order id is not echoed either
    shifted = one(jsonl(order(order_id=PHONE + " x")))
    assert isinstance(shifted, Rejected) and shifted.describe().startswith("line 1: ")


def test_domain_field_names_are_reported_as_the_file_columns() -> None:
    member = Identity("mall_member", "m-1")
    assert column("amountFen", member) == "amount_fen"
    assert column("items[0].priceFen", member) == "items[0].price_fen"
    assert column("customer.value", member) == "member_id"
    assert column("customer.value", ("phone", PHONE)) == "phone"
    assert column(None, member) is None


def test_the_progress_line_shows_lines_done_of_total_and_the_rate() -> None:
    # Given a progress bar on a non-terminal stream and a fake clock
    ticks = iter([0.0, 2.0, 2.5, 10.0])
    stream = io.StringIO()
    bar = Progress(1000, stream, clock=lambda: next(ticks))
    # When lines are done over ten seconds
    bar.update(100)  # t=2: too soon for a log line
    bar.update(500)  # t=2.5: too soon
    bar.finish(1000)  # t=10
    # Then one line is written, with done/total and lines/s
    assert stream.getvalue().count("\n") == 1
    assert "1,000/1,000 lines" in stream.getvalue() and "100 lines/s" in stream.getvalue()


# -- importing through the application (memory) -------------------------------------------------
def test_domain_refusals_are_reported_by_line_and_store_nothing(
    memory_app: Siyu,
) -> None:
    # Given a paid order, a refund too large, and a refund of an order never paid
    rows = jsonl(
        order(),
        order(status="refunded", refund_id="R1", amount_fen=20_000),
        order(order_id="E404", status="refunded", refund_id="R1", amount_fen=100),
        order(order_id="E5", status="cancelled", amount_fen=None),
    )
    reports: list[Rejected] = []
    # When imported in batches of two lines
    summary = import_orders(memory_app.ingestion, records(rows, "jsonl"), batch=2, report=reports.append)
    # Then the refusals name their lines and codes, in line order
    assert [(r.number, r.order_id, r.code, r.field) for r in reports] == [
        (2, "E2025001", "REFUND_EXCEEDS_PAYMENT", "amount_fen"),
        (3, "E404", "UNKNOWN_ORDER", "order_id"),
        (4, "E5", "ORDER_NOT_CANCELLABLE", "order_id"),
    ]
    assert (summary.accepted, summary.duplicates, summary.rejected) == (1, 0, 3)
    assert not summary.ok
    # (event ids are deduplicated per source: the importer's)
    keys = {client_event_key(BY, e): e
            for e in ("mall:E2025001:paid", "mall:E2025001:refund:R1", "mall:E404:refund:R1")}
    known = memory_app.index.known_event_keys(list(keys))
    assert [keys[k] for k in known] == ["mall:E2025001:paid"]


def test_an_order_spread_over_batches_is_placed_paid_and_refunded_on_one_customer(
    memory_app: Siyu,
) -> None:
    rows = jsonl(
        order(status="placed", phone=PHONE),
        order(member_id=None, phone=PHONE, status="paid"),  # the phone, linked in batch 1
        order(status="refunded", refund_id="R1", amount_fen=900),
    )
    summary = import_orders(memory_app.ingestion, records(rows, "jsonl"), batch=1)
    assert (summary.accepted, summary.rejected, summary.linked) == (3, 0, 1)


# -- fuzz: random lines never crash the importer, and invalid ones store nothing --------------
_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**15), 10**15), st.floats(allow_nan=False),
    st.text(max_size=20), st.text(st.characters(), max_size=4),  # with lone surrogates
    st.sampled_from(["E1", "E2", "m-1", "m-2", PHONE, "13900139000", "placed", "paid",
                     "cancelled", "refunded", "R1", "2025-11-20T10:00:00+08:00",
                     "2025-11-20 10:00:00", "2999-01-01T00:00:00Z", "100", "milk:1:100", ""]),
    st.lists(st.fixed_dictionaries({"sku": st.sampled_from(["milk", ""]),
                                    "quantity": st.integers(-1, 3),
                                    "price_fen": st.integers(-1, 500)}), max_size=2),
)
_KEYS = ["order_id", "status", "member_id", "phone", "amount_fen", "refund_id", "items",
         "occurred_at", "store", "channel"]
_PLAUSIBLE = st.fixed_dictionaries({
    "order_id": st.sampled_from(["E1", "E2", "E3"]),
    "status": st.sampled_from(["placed", "paid", "cancelled", "refunded", "Paid"]),
    "amount_fen": st.sampled_from([100, 250, 0, "300"]),
    "refund_id": st.sampled_from(["R1", "R2"]),
    "occurred_at": st.sampled_from(["2025-11-20T10:00:00+08:00", "2025-11-21 09:00:00"]),
}, optional={"member_id": st.sampled_from(["m-1", "m-2"]),
             "phone": st.sampled_from([PHONE, "13900139000"])})
_LINES = st.lists(st.one_of(
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" ") + b"\n"),
    st.dictionaries(st.sampled_from(_KEYS), _VALUES).map(lambda d: jsonl(d)[0]),
    _PLAUSIBLE.map(lambda d: jsonl(d)[0]),
    st.tuples(_PLAUSIBLE, st.sampled_from(_KEYS), _VALUES).map(
        lambda t: jsonl({**t[0], t[1]: t[2]})[0]),
), max_size=25)


def stored(app: Siyu) -> int:
    return app.recorder.max_notification_id() or 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_LINES)
def test_random_lines_never_crash_and_rejected_lines_store_nothing(lines: list[bytes]) -> None:
    # Given a file of random and near-valid lines, imported into a fresh application
    app = build_application(None, SECRET)
    refusals: list[Rejected] = []
    summary = import_orders(app.ingestion, records(lines, "jsonl"), batch=10_000,
                            report=refusals.append)
    # Then every line is counted once
    assert summary.lines == summary.accepted + summary.duplicates + summary.rejected
    assert len(refusals) == summary.rejected + summary.link_rejected
    # And importing the file without its refused lines gives the same event log: refused
    # lines stored nothing and changed nothing for the lines after them. (A refused line's
    # id stays free: a later line with that id is decided afresh, e.g. a cancellation
    # refused before its order arrived and accepted after, so it is kept.)
    parsed = {n: parse_line(n, r) for n, r in records(lines, "jsonl")}
    dropped = {r.number for r in refusals if not r.link}
    kept = [lines[n - 1] for n, p in parsed.items()
            if n not in dropped and isinstance(p, OrderLine)]
    again = build_application(None, SECRET)
    summary_again = import_orders(again.ingestion, records(kept, "jsonl"), batch=10_000)
    assert summary_again.rejected == 0
    assert summary_again.accepted == summary.accepted
    assert stored(again) == stored(app)


# -- PostgreSQL: a JSONL and a CSV export, the profiles, a re-import ----------------------------
JSONL_EXPORT: list[dict[str, Any] | str] = [
    order(status="placed", phone=PHONE, store="sh-01",
          items=[{"sku": "milk-900g", "quantity": 1, "price_fen": 12_900}]),
    order(occurred_at="2025-11-20T10:05:00+08:00"),
    order(status="refunded", refund_id="R1", amount_fen=2_900,
          occurred_at="2025-11-22T09:00:00+08:00"),
    order(order_id="E2025002", status="placed", member_id="m-2002", amount_fen=5_000),
    order(order_id="E2025002", status="cancelled", member_id="m-2002",
          occurred_at="2025-11-20T11:00:00+08:00"),
    '{"order_id": "E2025003", "status": "paid", "member_id": "m-2002", "amount_fen": 1',  # cut
    order(order_id="E2025004", status="shipped"),
]
CSV_EXPORT = [
    "E2025005,paid,m-3003,,25800,,milk-900g:2:12900,2025-11-21 20:13:00,sh-02",
    "E2025005,refunded,m-3003,,30000,R9,,2025-11-22 10:00:00,sh-02",  # more than was paid
    f"E2025006,paid,,{PHONE},9900,,,2025-11-23T10:00:00+08:00,",  # the phone linked above
    "E2025007,paid,m-3003,,12.50,,,2025-11-23T10:00:00+08:00,sh-02",  # yuan, not fen
]


def owner(app: Siyu, namespace: str, value: str) -> str:
    blind = blind_index(app.blind_key, Identity(namespace, value))
    return str(app.index.owners_of([blind])[blind])


def profile(app: Siyu, customer_id: str) -> tuple[int, ...]:
    with app.factory.datastore.transaction() as curs:  # type: ignore[attr-defined]
        curs.execute("SELECT orders_placed, orders_cancelled, order_count, gmv_fen, refund_count,"
                     " refunded_fen FROM customer_profile WHERE customer_id = %s",
                     (customer_id,))
        row = curs.fetchone()
    assert row is not None
    return tuple(row.values())


@pytest.mark.integration
def test_importing_jsonl_and_csv_exports_fills_the_profiles_and_a_reimport_stores_nothing(
    pg_app: Siyu, tmp_path: Path
) -> None:
    # Given a JSONL and a CSV export, each with orders and malformed or refused lines
    jsonl_path = tmp_path / "orders.jsonl"
    jsonl_path.write_bytes(b"".join(jsonl(*JSONL_EXPORT)))
    csv_path = tmp_path / "orders.csv"
    csv_path.write_bytes(b"".join(csv_lines(*CSV_EXPORT)))
    # When both are imported
    out, err = io.StringIO(), io.StringIO()
    assert run(pg_app.ingestion, jsonl_path, "jsonl", out=out, err=err) == 1
    assert run(pg_app.ingestion, csv_path, "csv", out=out, err=err) == 1
    first = out.getvalue()
    # Then the bad lines are reported by number and code, without the phone number
    assert "line 6: MALFORMED_LINE" in first
    assert "line 7 (order E2025004): UNKNOWN_STATUS [status]" in first
    assert "line 3 (order E2025005): REFUND_EXCEEDS_PAYMENT [amount_fen]" in first
    assert "line 5 (order E2025007): INVALID_AMOUNT [amount_fen]" in first
    assert "7 lines: 5 accepted, 0 duplicates, 2 rejected; 1 phone(s)" in first
    assert "4 lines: 2 accepted, 0 duplicates, 2 rejected" in first
    assert PHONE not in first + err.getvalue()
    # And the profiles count what was stored, the phone-only order on the member it was linked to
    BatchRunner(pg_app, CustomerProfileView(),
                Tracker(pg_app.factory.datastore)).catch_up()  # type: ignore[attr-defined]
    alice = owner(pg_app, "mall_member", "m-1001")
    assert owner(pg_app, "phone", "+8613800138000") == alice
    #                                placed cancelled paid  gmv   refunds refunded
    assert profile(pg_app, alice) == (1, 0, 2, 12_900 + 9_900, 1, 2_900)
    assert profile(pg_app, owner(pg_app, "mall_member", "m-2002")) == (1, 1, 0, 0, 0, 0)
    assert profile(pg_app, owner(pg_app, "mall_member", "m-3003")) == (0, 0, 1, 25_800, 0, 0)
    # When the same files are imported again
    before = stored(pg_app)
    again = io.StringIO()
    assert run(pg_app.ingestion, jsonl_path, "jsonl", out=again, err=err) == 1
    assert run(pg_app.ingestion, csv_path, "csv", out=again, err=err) == 1
    # Then nothing new is stored: the stored lines are duplicates
    assert stored(pg_app) == before
    assert "7 lines: 0 accepted, 5 duplicates, 2 rejected; 0 phone(s)" in again.getvalue()
    assert "4 lines: 0 accepted, 2 duplicates, 2 rejected" in again.getvalue()


@pytest.mark.integration
def test_the_import_command_exits_0_when_every_line_is_stored_and_1_otherwise(
    pg_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "DATABASE_URL": pg_url, "SIYU_SECRET": SECRET.decode(),
           "SIYU_DATA_DIR": str(tmp_path)}

    def siyu(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "siyu", "import-orders", *args], env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    # Given a clean CSV export and a JSONL export with one bad phone
    clean = tmp_path / "clean.csv"
    clean.write_bytes(b"".join(csv_lines(*CSV_EXPORT[:1])))
    bad = tmp_path / "bad.export"
    bad.write_bytes(b"".join(jsonl(order(phone="1380013800X"), order(order_id="E2"))))
    # When the command imports them
    ok = siyu(str(clean))
    failed = siyu("--format", "jsonl", "--batch", "1", str(bad))
    unknown = siyu(str(bad))
    # Then the clean one exits 0, the one with a refused line 1, an unknown format 2
    assert ok.returncode == 0, ok.stderr
    assert "1 lines: 1 accepted, 0 duplicates, 0 rejected" in ok.stdout
    assert "lines/s" in ok.stderr and "2/2 lines" in ok.stderr
    assert failed.returncode == 1, failed.stderr
    assert "line 1 (order E2025001): INVALID_IDENTITY [phone]" in failed.stdout
    assert "2 lines: 1 accepted, 0 duplicates, 1 rejected" in failed.stdout
    assert "1380013800X" not in failed.stdout + failed.stderr
    assert unknown.returncode == 2 and "--format" in unknown.stderr
