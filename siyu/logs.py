"""Log lines as JSON objects, one per line, for a log shipper (``SIYU_LOG_FORMAT=json``).

Fields: ``ts`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger``, ``message``,
``process`` (pid), ``thread`` (name) and, for an exception, ``error`` (its class) and
``traceback``. Nothing else of the record is written: callers log ids, positions and
error classes, never personal data (a customer's name, phone or message text), and the
formatter adds no field a caller did not choose to put in the message.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
            "thread": record.threadName,
        }
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def formatter(kind: str) -> logging.Formatter:
    """The formatter of ``SIYU_LOG_FORMAT`` (``json`` or ``text``)."""
    if kind == "json":
        return JsonFormatter()
    if kind == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise ValueError(f"log format must be one of {FORMATS}, not {kind!r}")
