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

Reading the file is :mod:`siyu.mall_files`, turning a record into an order event
:mod:`siyu.mall_orders`; this module records the events in batches and is the command.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

from application.ingestion import BatchResult
from domain.items import EventItem
from siyu.bootstrap import build_application
from siyu.mall_files import FileFormatError, Record, format_of, records
from siyu.mall_orders import OrderLine, Rejected, column, parse_line
from siyu.settings import Settings

BY = "service:mall-import"


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
    """A progress line on a terminal stream: done/total lines (or another ``unit``) and
    lines/s.

    Redrawn in place at most 10 times a second on a terminal; elsewhere (a log file) one
    plain line every 5 seconds.
    """

    def __init__(self, total: int, stream: TextIO,
                 clock: Callable[[], float] = time.monotonic, *, unit: str = "lines") -> None:
        self.total = total
        self.unit = unit
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
        return (f"[{'#' * filled}{'.' * (30 - filled)}] {done:,}/{self.total:,} {self.unit} "
                f"{share:4.0%}  {rate:,.0f} {self.unit}/s")

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
