"""Import a mall's order export (有赞-style): one line per order state change → order events.

``siyu import-orders PATH [--format csv|jsonl] [--batch 1000]``. Every line is one state
change of one order; the columns (CSV header names, or JSON keys) are:

| column | required | meaning |
|---|---|---|
| ``order_id`` | yes | the mall's order number: 1-56 of ``A-Z a-z 0-9 _ - .`` |
| ``status`` | yes | ``placed`` · ``paid`` · ``cancelled`` · ``refunded`` (any case) |
| ``member_id`` | one of the two | mall member id → identity ``mall_member`` |
| ``phone`` | one of the two | buyer's phone (E.164, or an 11-digit mainland mobile) → ``phone`` |
| ``amount_fen`` | placed, paid, refunded | whole fen: the order amount, or for ``refunded`` the refund |
| ``refund_id`` | refunded | the mall's refund number (same characters as ``order_id``) |
| ``items`` | no | placed/paid lines: ``sku:quantity:price_fen;sku:quantity:price_fen`` or a JSON array |
|  |  | of ``{"sku", "quantity", "price_fen"}`` (the JSON array is the natural form in JSONL) |
| ``occurred_at`` | yes | ISO 8601 with a time; an offset is recommended, a time without one is |
|  |  | read as Asia/Shanghai (UTC+08:00, the mall back office's clock) |
| ``channel`` / ``store`` | no | ``channel`` as given; else ``mall:<store>``; else ``mall`` |

Other columns are ignored. CSV needs a header line and one record per line (a quoted field
may not span lines); JSONL has one JSON object per line; blank lines are skipped.

Event ids are deterministic — ``mall:{order_id}:{status}``, and for refunds
``mall:{order_id}:refund:{refund_id}`` — so importing the same file again stores nothing
(its lines come back as duplicates). A line with both ``member_id`` and ``phone`` is
recorded on the member, and once the order event is stored (or known) the phone is linked
to that customer in a second transaction (``…:link``); a phone that already belongs to
another customer merges the two (OneID).

A line that cannot become an event (bad JSON/CSV, missing field, bad amount, unknown status)
or that the domain refuses (``UNKNOWN_ORDER``, ``REFUND_EXCEEDS_PAYMENT`` …) stores nothing
and is reported by line number, order id, code and column — never with personal data.
"""

from __future__ import annotations

import csv
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol, TextIO

from application.ingestion import BatchResult
from domain.errors import InvalidIdentity
from domain.identity import Identity, parse_identity
from domain.items import EventItem, OrderItem
from siyu.bootstrap import build_application
from siyu.settings import Settings

#: Mainland China has kept UTC+08:00 without daylight saving since 1991.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
STATUSES = {"placed": "ORDER_PLACED", "paid": "ORDER_PAID", "cancelled": "ORDER_CANCELLED",
            "refunded": "ORDER_REFUNDED"}
REQUIRED_COLUMNS = ("order_id", "status", "occurred_at")
FORMATS = ("csv", "jsonl")
BY = "service:mall-import"
MAX_AMOUNT_FEN = 10**12
MAX_QUANTITY = 10**6
MAX_ITEMS = 200
MAX_TEXT = 128

_ID = re.compile(r"^[A-Za-z0-9_\-.]{1,56}$")
_FEN = re.compile(r"^\d{1,13}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
#: Control characters and lone surrogates: PostgreSQL text/jsonb cannot hold NUL, and a lone
#: surrogate (a valid JSON escape) cannot be encoded at all.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


class FileFormatError(ValueError):
    """The file as a whole cannot be read (e.g. a CSV header without ``order_id``)."""


class LineError(Exception):
    """Why one line cannot become an event: a stable ``code`` and the column at fault."""

    def __init__(self, code: str, field: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class OrderLine:
    """A valid line: its order event, and the phone link when both identities are given."""

    number: int
    order_id: str
    item: EventItem
    link: EventItem | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A line that stored nothing (or, with ``link`` set, whose phone was not linked)."""

    number: int
    order_id: str | None
    code: str
    field: str | None
    message: str
    link: bool = False

    def describe(self) -> str:
        where = f"line {self.number}" + (f" (order {self.order_id})" if self.order_id else "")
        what = f"{self.code} [{self.field}]" if self.field else self.code
        if self.link:
            return f"{where}: order stored, phone not linked: {what}: {self.message}"
        return f"{where}: {what}: {self.message}"


Record = Mapping[str, Any] | LineError


# -- reading -----------------------------------------------------------------------------------
def jsonl_records(lines: Iterable[bytes]) -> Iterator[tuple[int, Record]]:
    """``(line number, JSON object or error)`` per non-blank line."""
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw.decode("utf-8").removeprefix("\ufeff"))
        except UnicodeDecodeError:
            yield number, LineError("MALFORMED_LINE", None, "the line is not UTF-8")
            continue
        except json.JSONDecodeError as error:
            yield number, LineError("MALFORMED_LINE", None,
                                    f"not JSON: {error.msg} at column {error.colno}")
            continue
        except (ValueError, RecursionError):
            yield number, LineError("MALFORMED_LINE", None, "not JSON that can be read")
            continue
        if not isinstance(value, dict):
            yield number, LineError("MALFORMED_LINE", None, "the line is not a JSON object")
            continue
        yield number, value


def csv_records(lines: Iterable[bytes]) -> Iterator[tuple[int, Record]]:
    """``(line number, {column: text} or error)`` per non-blank line after the header."""
    header: list[str] | None = None
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
            row = next(csv.reader([text.removeprefix("\ufeff")], strict=True))
        except UnicodeDecodeError:
            error = LineError("MALFORMED_LINE", None, "the line is not UTF-8")
        except csv.Error as bad:
            error = LineError("MALFORMED_LINE", None, f"not CSV: {bad}")
        else:
            if header is None:
                header = _header(row)
                continue
            if len(row) != len(header):
                yield number, LineError("MALFORMED_LINE", None,
                                        f"{len(row)} fields where the header has {len(header)}")
                continue
            yield number, dict(zip(header, row, strict=True))
            continue
        if header is None:
            raise FileFormatError(f"line {number}: the header cannot be read: {error.message}")
        yield number, error


def _header(row: list[str]) -> list[str]:
    names = [name.strip().lower() for name in row]
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise FileFormatError(f"the CSV header lacks {', '.join(missing)}")
    if "member_id" not in names and "phone" not in names:
        raise FileFormatError("the CSV header needs member_id or phone")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise FileFormatError(f"the CSV header repeats {', '.join(twice)}")
    return names


def records(lines: Iterable[bytes], fmt: str) -> Iterator[tuple[int, Record]]:
    if fmt == "csv":
        return csv_records(lines)
    if fmt == "jsonl":
        return jsonl_records(lines)
    raise FileFormatError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def format_of(path: Path) -> str | None:
    """The format implied by a file name, if any."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return None


# -- mapping -----------------------------------------------------------------------------------
def _value(record: Mapping[str, Any], name: str) -> Any:
    value = record.get(name)
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _missing(name: str, why: str = "") -> LineError:
    return LineError("MISSING_FIELD", name, f"{name} is required{why}")


def _id(record: Mapping[str, Any], name: str, why: str = "") -> str:
    value = _value(record, name)
    if value is None:
        raise _missing(name, why)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise LineError("INVALID_INPUT", name, f"{name} must be a string")
    text = str(value).strip()
    if not _ID.match(text):
        raise LineError("INVALID_INPUT", name,
                        f"{name} must be 1-56 letters, digits, '_', '-' or '.'")
    return text


def _fen(value: Any, name: str, *, positive: bool = False) -> int:
    if isinstance(value, str) and _FEN.match(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise LineError("INVALID_AMOUNT", name,
                        f"{name} must be a whole number of fen (12900 for ¥129.00)")
    if value < (1 if positive else 0) or value > MAX_AMOUNT_FEN:
        raise LineError("INVALID_AMOUNT", name,
                        f"{name} must be from {1 if positive else 0} to {MAX_AMOUNT_FEN} fen")
    return value


def _quantity(value: Any, name: str) -> int:
    if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) <= 7:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUANTITY:
        raise LineError("INVALID_INPUT", name, f"{name} must be a whole number from 1 to "
                                               f"{MAX_QUANTITY}")
    return value


def _label(value: Any, name: str, longest: int = MAX_TEXT) -> str:
    """A free-text label (SKU, store, channel): 1 to ``longest`` printable characters."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise LineError("INVALID_INPUT", name, f"{name} must be a string")
    text = str(value).strip()
    if not 1 <= len(text) <= longest or _UNPRINTABLE.search(text):
        raise LineError("INVALID_INPUT", name,
                        f"{name} must be 1-{longest} printable characters")
    return text


def parse_items(value: Any) -> list[OrderItem]:
    """``sku:quantity:price_fen;…``, a JSON array as text, or a list of objects."""
    if value is None:
        return []
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise LineError("INVALID_INPUT", "items", "items is not a JSON array") from None
    if isinstance(value, str):
        entries: list[Any] = []
        for n, part in enumerate(p for p in value.split(";") if p.strip()):
            fields = part.strip().rsplit(":", 2)
            if len(fields) != 3:
                raise LineError("INVALID_INPUT", f"items[{n}]",
                                "items are sku:quantity:price_fen separated by ';'")
            entries.append(dict(zip(("sku", "quantity", "price_fen"), fields, strict=True)))
        value = entries
    if not isinstance(value, list):
        raise LineError("INVALID_INPUT", "items", "items must be a list")
    if len(value) > MAX_ITEMS:
        raise LineError("INVALID_INPUT", "items", f"at most {MAX_ITEMS} items per line")
    out: list[OrderItem] = []
    for n, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise LineError("INVALID_INPUT", f"items[{n}]",
                            "an item is an object with sku, quantity and price_fen")
        for name in ("sku", "quantity", "price_fen"):
            if entry.get(name) is None:
                raise _missing(f"items[{n}].{name}")
        out.append(OrderItem(_label(entry["sku"], f"items[{n}].sku"),
                             _quantity(entry["quantity"], f"items[{n}].quantity"),
                             _fen(entry["price_fen"], f"items[{n}].price_fen")))
    return out


def parse_time(value: Any) -> datetime:
    """ISO 8601 with a time of day; without an offset, Asia/Shanghai. Returned in UTC."""
    if value is None:
        raise _missing("occurred_at")
    if not isinstance(value, str) or not _TIME.match(value.strip()):
        raise LineError("INVALID_TIME", "occurred_at",
                        "occurred_at must be ISO 8601 with a time, e.g. 2026-11-20T10:00:00+08:00")
    try:
        at = datetime.fromisoformat(value.strip())
        if at.tzinfo is None:
            at = at.replace(tzinfo=SHANGHAI)
        return at.astimezone(UTC)
    except (ValueError, OverflowError):
        raise LineError("INVALID_TIME", "occurred_at",
                        "occurred_at is not a valid ISO 8601 time") from None


def _identity(record: Mapping[str, Any], name: str, namespace: str) -> Identity | None:
    value = _value(record, name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise LineError("INVALID_IDENTITY", name, f"{name} must be a string")
    try:
        return parse_identity(namespace, str(value))
    except InvalidIdentity:
        hint = ("E.164 (+8613800138000) or an 11-digit mainland mobile" if name == "phone"
                else "1-128 letters, digits or _-@.+=/")
        raise LineError("INVALID_IDENTITY", name, f"{name} must be {hint}") from None


def _channel(record: Mapping[str, Any]) -> str:
    channel = _value(record, "channel")
    if channel is not None:
        return _label(channel, "channel")
    store = _value(record, "store")
    return "mall" if store is None else f"mall:{_label(store, 'store', 64)}"


def order_line(number: int, record: Mapping[str, Any]) -> OrderLine:
    """Map one line to its order event; raise :class:`LineError` if it cannot be one."""
    order_id = _id(record, "order_id")
    status_value = _value(record, "status")
    if status_value is None:
        raise _missing("status")
    status = status_value.strip().lower() if isinstance(status_value, str) else ""
    kind = STATUSES.get(status)
    if kind is None:
        raise LineError("UNKNOWN_STATUS", "status",
                        f"status must be one of {', '.join(STATUSES)}")
    member = _identity(record, "member_id", "mall_member")
    phone = _identity(record, "phone", "phone")
    customer = member or phone
    if customer is None:
        raise LineError("MISSING_FIELD", "member_id", "member_id or phone is required")
    occurred_at = parse_time(_value(record, "occurred_at"))
    channel = _channel(record)
    event_id = f"mall:{order_id}:{status}"
    item = EventItem(event_id, kind, customer, occurred_at, channel=channel, order_id=order_id)
    if status in ("placed", "paid"):
        amount = _value(record, "amount_fen")
        if amount is None:
            raise _missing("amount_fen", f" for {status}")
        item.amount_fen = _fen(amount, "amount_fen")
        item.items = parse_items(_value(record, "items"))
    elif status == "refunded":
        refund_id = _id(record, "refund_id", " for refunded")
        amount = _value(record, "amount_fen")
        if amount is None:
            raise _missing("amount_fen", " for refunded (the refund amount)")
        item.amount_fen = _fen(amount, "amount_fen", positive=True)
        item.event_id = event_id = f"mall:{order_id}:refund:{refund_id}"
    link = None
    if member is not None and phone is not None:
        link = EventItem(f"{event_id}:link", "IDENTITY_LINKED", member, occurred_at,
                         channel=channel, link=phone)
    return OrderLine(number, order_id, item, link)


def parse_line(number: int, record: Record) -> OrderLine | Rejected:
    """:func:`order_line`, with a failure turned into a :class:`Rejected` report."""
    if isinstance(record, LineError):
        return Rejected(number, None, record.code, record.field, record.message)
    try:
        return order_line(number, record)
    except LineError as error:
        order_id = _value(record, "order_id")
        shown = str(order_id).strip() if isinstance(order_id, str | int) and not isinstance(
            order_id, bool) and _ID.match(str(order_id).strip()) else None
        return Rejected(number, shown, error.code, error.field, error.message)


def column(field: str | None, identity: Any) -> str | None:
    """A domain error's field (camelCase, GraphQL-style) named as the file's column."""
    if field is None:
        return None
    if field.startswith("customer"):
        kind = identity.namespace if isinstance(identity, Identity) else ""
        return "member_id" if kind == "mall_member" else "phone"
    if field.startswith("link"):
        return "phone"
    if field == "eventId":
        return "order_id"
    return _CAMEL.sub(lambda m: "_" + m.group(1).lower(), field)


# -- importing ---------------------------------------------------------------------------------
class Recorder(Protocol):
    def record_batch(self, items: Sequence[EventItem], by: str, *, atomic: bool = False
                     ) -> BatchResult: ...


@dataclass(slots=True)
class Summary:
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    linked: int = 0  # phones newly linked to a member
    link_rejected: int = 0

    @property
    def ok(self) -> bool:
        return self.rejected == 0 and self.link_rejected == 0

    def describe(self) -> str:
        text = (f"{self.lines} lines: {self.accepted} accepted, {self.duplicates} duplicates, "
                f"{self.rejected} rejected; {self.linked} phone(s) newly linked to members")
        return text + (f", {self.link_rejected} not linked" if self.link_rejected else "")


def _record(app: Recorder, lines: Sequence[OrderLine], by: str, summary: Summary
            ) -> list[Rejected]:
    """One transaction for the order events, then one for the phone links of stored orders."""
    refused: list[Rejected] = []
    result = app.record_batch([line.item for line in lines], by)
    links: list[OrderLine] = []
    for outcome in result.outcomes:
        line = lines[outcome.index]
        if outcome.status == "accepted":
            summary.accepted += 1
        elif outcome.status == "duplicate":
            summary.duplicates += 1
        else:
            summary.rejected += 1
            error = outcome.error
            refused.append(Rejected(
                line.number, line.order_id, error.code if error else outcome.status.upper(),
                column(error.field if error else None, line.item.identity),
                error.message if error else "not stored"))
            continue
        # A repeat of an id refused earlier in the same batch comes back as a duplicate of
        # nothing (no customer): only link phones to orders that are stored.
        if line.link is not None and outcome.customer_id is not None:
            links.append(line)
    if links:
        result = app.record_batch([line.link for line in links if line.link is not None], by)
        for outcome in result.outcomes:
            line = links[outcome.index]
            if outcome.status == "accepted":
                summary.linked += 1
            elif outcome.status != "duplicate":
                summary.link_rejected += 1
                error = outcome.error
                refused.append(Rejected(
                    line.number, line.order_id, error.code if error else outcome.status.upper(),
                    "phone", error.message if error else "not linked", link=True))
    return refused


def import_orders(
    app: Recorder,
    rows: Iterable[tuple[int, Record]],
    *,
    batch: int = 1000,
    by: str = BY,
    report: Callable[[Rejected], None] = lambda rejected: None,
    progress: Callable[[int], None] = lambda line_number: None,
) -> Summary:
    """Import ``rows`` (from :func:`records`) in batches of ``batch`` valid lines.

    Rejections are reported in line order, once the batch they belong to is recorded.
    """
    summary = Summary()
    pending: list[OrderLine] = []
    refused: list[Rejected] = []

    def flush() -> None:
        if pending:
            refused.extend(_record(app, pending, by, summary))
            pending.clear()
        for rejected in sorted(refused, key=lambda r: r.number):
            report(rejected)
        refused.clear()

    for number, record in rows:
        summary.lines += 1
        parsed = parse_line(number, record)
        if isinstance(parsed, Rejected):
            summary.rejected += 1
            refused.append(parsed)
        else:
            pending.append(parsed)
        if len(pending) >= batch or len(refused) >= batch:
            flush()
        progress(number)
    flush()
    return summary


# -- the command -------------------------------------------------------------------------------
class Progress:
    """A progress line on a terminal stream: done/total lines and lines/s.

    Redrawn in place at most 10 times a second on a terminal; elsewhere (a log file) one
    plain line every 5 seconds.
    """

    def __init__(self, total: int, stream: TextIO,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.stream = stream
        self.clock = clock
        self.tty = stream.isatty()
        self.interval = 0.1 if self.tty else 5.0
        self.started = self.last = clock()
        self.drawn = False

    def update(self, done: int) -> None:
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            self.draw(done, now)

    def line(self, done: int, now: float) -> str:
        share = min(done / self.total, 1.0) if self.total else 1.0
        filled = int(share * 30)
        rate = done / max(now - self.started, 1e-6)
        return (f"[{'#' * filled}{'.' * (30 - filled)}] {done:,}/{self.total:,} lines "
                f"{share:4.0%}  {rate:,.0f} lines/s")

    def draw(self, done: int, now: float) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K" + self.line(done, now))
            self.drawn = True
        else:
            self.stream.write(self.line(done, now) + "\n")
        self.stream.flush()

    def clear(self) -> None:
        """Wipe the bar (before another line is printed to the same terminal)."""
        if self.tty and self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False

    def finish(self, done: int) -> None:
        self.draw(done, self.clock())
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def count_lines(path: Path) -> int:
    count = 0
    last = b"\n"
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def run(app: Recorder, path: Path, fmt: str, *, batch: int = 1000,
        out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Import ``path``; rejections and the summary on ``out``, progress on ``err``.

    Exit code 0 if every line was stored or already there, 1 otherwise.
    """
    bar = Progress(count_lines(path), err)

    def report(rejected: Rejected) -> None:
        bar.clear()
        out.write(rejected.describe() + "\n")
        out.flush()

    with path.open("rb") as file:
        summary = import_orders(app, records(file, fmt), batch=batch, report=report,
                                progress=bar.update)
    bar.finish(bar.total)
    out.write(summary.describe() + "\n")
    return 0 if summary.ok else 1


def command(settings: Settings, path: Path, fmt: str | None, batch: int) -> int:
    """``siyu import-orders``: 0 all stored, 1 some lines rejected, 2 the file is unusable."""
    fmt = fmt or format_of(path)
    problem = ("no such file" if not path.is_file()
               else "give --format csv or jsonl" if fmt is None
               else "--batch must be from 1 to 5000" if not 1 <= batch <= 5000 else None)
    if problem is not None or fmt is None:
        print(f"siyu import-orders: {path.name}: {problem}", file=sys.stderr)
        return 2
    assert settings.database_url is not None
    app = build_application(settings.database_url, settings.secret)
    try:
        return run(app.ingestion, path, fmt, batch=batch)
    except FileFormatError as error:
        print(f"\nsiyu import-orders: {path.name}: {error}", file=sys.stderr)
        return 2
    finally:
        app.close()
