"""Event states encoded to their stored bytes by orjson: the library's bytes, faster.

The library's transcoder (``json`` with a ``default`` hook per datetime) was an eighth of
the ingestion time. An event's state is almost always plain — text, integers, booleans,
None, datetimes, lists and dicts of them — and for plain values orjson writes exactly
what ``json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)`` writes, with
datetimes wrapped by their registered transcoding first (a UTC time is left to orjson
inside the wrapper: it spells one exactly as ``isoformat`` does, at half the cost of the
call, and the tests' generated states include such times). Anything else (floats, whose
shortest forms the two libraries spell differently, UUIDs that orjson would write bare,
sets, subclasses, integers beyond 64 bits, unpaired surrogates) goes through the
library's encoder unchanged: stored bytes never depend on which path encoded them, and a
test compares both on every event type and on generated states.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from eventsourcing.persistence import DatetimeAsISO, Transcoding

from application.event_decoding import fast_loads, state_loader
from domain.storable import StorableTranscoder, refuse_nul


class SetAsList(Transcoding):
    """Sets are stored as sorted lists (the library has no transcoding for them)."""

    type = set
    name = "set"

    def encode(self, obj: set[Any]) -> list[Any]:
        return sorted(obj)

    def decode(self, data: list[Any]) -> set[Any]:
        return set(data)


class NotPlain(TypeError):
    """A value orjson would not write as the library does."""


class FastStorableTranscoder(StorableTranscoder):
    def __init__(self) -> None:
        super().__init__()
        self._datetime: Transcoding | None = None
        self._iso = False  # the library's ISO transcoding: orjson spells UTC times alike

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        if transcoding.type is datetime:
            self._datetime = transcoding
            self._iso = type(transcoding) is DatetimeAsISO

    def decode(self, data: bytes) -> Any:
        """The library's values, parsed by orjson (:mod:`application.event_decoding`)."""
        done, value = fast_loads(data, self.names)
        return value if done else super().decode(data)

    def state_loader(self) -> Callable[[bytes], dict[str, Any] | None]:
        """An event state's decoding without this method's calls around it, None when
        :meth:`decode` must decode it (:func:`application.event_decoding.state_loader`)."""
        return state_loader(self.names)

    def encode(self, obj: Any) -> bytes:
        try:
            data = orjson.dumps(self._plain_dict(obj) if type(obj) is dict else self._plain(obj))
        except TypeError:  # NotPlain, or orjson.JSONEncodeError (a big int, a surrogate)
            return super().encode(obj)
        return refuse_nul(data)

    def _plain_dict(self, value: dict[Any, Any]) -> dict[str, Any]:
        """An event's state: :meth:`_plain` with its flat values checked inline (a call per
        value was most of the encoding's time)."""
        plain = {}
        transcoding = self._datetime
        for key, item in value.items():
            if type(key) is not str:
                raise NotPlain(key)
            kind = type(item)
            if kind is str or kind is int or kind is bool or item is None:
                plain[key] = item
            elif kind is datetime and transcoding is not None:
                plain[key] = {"_type_": transcoding.name, "_data_": self._time(item)}
            else:
                plain[key] = self._plain(item)
        return plain

    def _time(self, value: datetime) -> Any:
        """A UTC time as it is (orjson writes it as ``isoformat`` does, faster), any other
        through the registered transcoding."""
        if value.tzinfo is UTC and self._iso:
            return value
        assert self._datetime is not None
        return self._datetime.encode(value)

    def _plain(self, value: Any) -> Any:
        """``value`` with its datetimes transcoded, or :class:`NotPlain`."""
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            return value
        if kind is datetime and self._datetime is not None:
            return {"_type_": self._datetime.name, "_data_": self._time(value)}
        if kind is dict:
            return self._plain_dict(value)
        if kind is list or kind is tuple:
            return [self._plain(item) for item in value]
        raise NotPlain(kind)
