"""Event states encoded to their stored bytes by orjson: the library's bytes, faster.

The library's transcoder (``json`` with a ``default`` hook per datetime) was an eighth of
the ingestion time. An event's state is almost always plain — text, integers, booleans,
None, datetimes, lists and dicts of them — and for plain values orjson writes exactly
what ``json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)`` writes, with
datetimes wrapped by their registered transcoding first. Anything else (floats, whose
shortest forms the two libraries spell differently, UUIDs that orjson would write bare,
sets, subclasses, integers beyond 64 bits, unpaired surrogates) goes through the
library's encoder unchanged: stored bytes never depend on which path encoded them, and a
test compares both on every event type and on generated states.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from eventsourcing.persistence import Transcoding

from domain.storable import StorableTranscoder, refuse_nul


class NotPlain(TypeError):
    """A value orjson would not write as the library does."""


class FastStorableTranscoder(StorableTranscoder):
    def __init__(self) -> None:
        super().__init__()
        self._datetime: Transcoding | None = None

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        if transcoding.type is datetime:
            self._datetime = transcoding

    def encode(self, obj: Any) -> bytes:
        try:
            data = orjson.dumps(self._plain(obj))
        except TypeError:  # NotPlain, or orjson.JSONEncodeError (a big int, a surrogate)
            return super().encode(obj)
        return refuse_nul(data)

    def _plain(self, value: Any) -> Any:
        """``value`` with its datetimes transcoded, or :class:`NotPlain`."""
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            return value
        if kind is datetime and self._datetime is not None:
            return {"_type_": self._datetime.name, "_data_": self._datetime.encode(value)}
        if kind is dict:
            plain = {}
            for key, item in value.items():
                if type(key) is not str:
                    raise NotPlain(key)
                plain[key] = self._plain(item)
            return plain
        if kind is list or kind is tuple:
            return [self._plain(item) for item in value]
        raise NotPlain(kind)
