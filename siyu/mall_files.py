"""Reading a mall order export: CSV or JSONL lines into records, or an error per line.

A record is ``{column: value}``; a line that cannot be read (not UTF-8, not JSON, not CSV,
a wrong number of fields) becomes a :class:`LineError` in its place, so the import goes on
and reports it by line number. A file that cannot be read at all (a CSV header without
the required columns) raises :class:`FileFormatError`. The columns are described in
:mod:`siyu.mall_import`; turning a record into an order event is :mod:`siyu.mall_orders`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

REQUIRED_COLUMNS = ("order_id", "status", "occurred_at")
FORMATS = ("csv", "jsonl")


class FileFormatError(ValueError):
    """The file as a whole cannot be read (e.g. a CSV header without ``order_id``)."""


class LineError(Exception):
    """Why one line cannot become an event: a stable ``code`` and the column at fault."""

    def __init__(self, code: str, field: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.message = message


Record = Mapping[str, Any] | LineError


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
