"""Stored event states decoded by orjson: the library's values, faster.

Turning a stored event back into its domain event was 6.5 us, 4.5 of them the library's
``json`` parse (``projection_group_engagement`` decodes every event of the log); orjson
parses the same states in 2, and :func:`restore` then applies the registered
transcodings as the library's ``object_hook`` does — to every object whose only members
are ``_type_`` and ``_data_``, innermost first — so the values are the library's: 4.7 us
an event in all.

orjson reads some texts otherwise, and those go through the library unchanged: it gives
a float for an integer beyond 64 bits (any float sends the state to the library: event
states hold few), and it refuses ``NaN`` and infinities, lone surrogates and nesting past
1,024 levels. A transcoding name not registered goes through the library too, to raise
its error. A test compares both on every stored event type and on generated states.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from eventsourcing.persistence import DatetimeAsISO, Transcoding

#: The name of the library's ISO transcoding of times.
_ISO = DatetimeAsISO.name
_from_iso = datetime.fromisoformat


class _Library(Exception):
    """The state must be decoded by the library."""


def fast_loads(data: bytes, names: dict[str, Transcoding]) -> tuple[bool, Any]:
    """``(True, value)``, decoded as the library decodes it, or ``(False, None)`` when
    the library must decode it."""
    try:
        return True, _restore(orjson.loads(data), names,
                              type(names.get(_ISO)) is DatetimeAsISO)
    except (orjson.JSONDecodeError, _Library, KeyError, TypeError):
        return False, None


def state_loader(names: dict[str, Transcoding]) -> Callable[[bytes], dict[str, Any] | None]:
    """A function giving an event's state decoded as :func:`fast_loads` decodes it, or
    None when the library must decode it (a state not an object among those) — without
    :func:`fast_loads`' and the transcoder's calls around it (a page decodes thousands of
    small states: those calls were a fifth of the decoding)."""
    iso = type(names.get(_ISO)) is DatetimeAsISO
    loads, restore_ = orjson.loads, _restore

    def load(data: bytes) -> dict[str, Any] | None:
        try:
            value = loads(data)
            if type(value) is not dict or (
                    len(value) == 2 and "_type_" in value and "_data_" in value):
                return None  # not an object, or the whole state one transcoded value
            restored: dict[str, Any] = restore_(value, names, iso)
            return restored
        except (orjson.JSONDecodeError, _Library, KeyError, TypeError):
            return None

    return load


def restore(value: Any, names: dict[str, Transcoding]) -> Any:
    """``value`` with every ``{"_type_": name, "_data_": data}`` object decoded by its
    transcoding, innermost first (orjson's objects and lists reused in place); raises
    :class:`_Library` at a float (perhaps an integer orjson could not read as one)."""
    return _restore(value, names, type(names.get(_ISO)) is DatetimeAsISO)


def _restore(value: Any, names: dict[str, Transcoding], iso: bool) -> Any:
    """:func:`restore`; with ``iso`` (the library's own ISO transcoding is registered), a
    time — two of an event's members at least — is read here, as that transcoding reads
    it, without a call into it (half the decoding of a small event was those calls)."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            inner = type(item)
            if inner is dict:
                if iso and len(item) == 2 and item.get("_type_") == _ISO:
                    text = item.get("_data_")
                    if type(text) is str:
                        value[key] = _from_iso(text)
                        continue
                value[key] = _restore(item, names, iso)
            elif inner is list:
                value[key] = _restore(item, names, iso)
            elif inner is float:
                raise _Library
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return names[value["_type_"]].decode(value["_data_"])
        return value
    if kind is list:
        for index, item in enumerate(value):
            inner = type(item)
            if inner is dict or inner is list:
                value[index] = _restore(item, names, iso)
            elif inner is float:
                raise _Library
    elif kind is float:
        raise _Library
    return value
