"""The last line of defence: no event is stored that a read model could not hold.

Edges validate their own input (``INVALID_INPUT`` naming the field), but an
event can be built from anywhere — a callback, an importer, a worker. An event
whose state carries NUL (which PostgreSQL text cannot hold) would be stored and
then stop every projection that copies it, on every restart and rebuild; one
with a lone surrogate cannot be encoded at all. This transcoder refuses both
when the event is encoded, before anything is written.
"""

from __future__ import annotations

import re
from typing import Any

from eventsourcing.persistence import JSONTranscoder, StoredEvent

from domain.errors import InvalidInput

#: ``\\u0000`` in JSON output that is an escape, not an escaped backslash before "u0000".
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class UnstorableText(InvalidInput):
    """Text that no store can hold reached the event log's door."""


class StorableTranscoder(JSONTranscoder):
    def encode(self, obj: Any) -> bytes:
        try:
            data = super().encode(obj)
        except UnicodeEncodeError as error:
            raise UnstorableText("text with an unpaired surrogate cannot be stored") from error
        return refuse_nul(data)


def refuse_nul(data: bytes) -> bytes:
    """``data`` (an encoded state), unless it holds an escaped NUL character."""
    if b"\\u0000" in data and _NUL_ESCAPE.search(data):
        raise UnstorableText("text with a NUL character cannot be stored")
    return data


_new = object.__new__


def stored_event(originator_id: Any, originator_version: int, topic: str, state: bytes
                 ) -> StoredEvent:
    """``StoredEvent(originator_id, originator_version, topic, state)`` at a third of the
    cost: the library's frozen dataclass sets each field through ``object.__setattr__``,
    and ingestion makes one record per event it writes and per event it reads back."""
    record = _new(StoredEvent)
    record.__dict__.update(originator_id=originator_id, originator_version=originator_version,
                           topic=topic, state=state)
    return record
