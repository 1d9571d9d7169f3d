"""A page's events decoded as the library's mapper decodes them, with less work each.

``Mapper.to_domain_event`` resolves the topic, looks up the id's convertor and the class
version for every event; a page of thousands of events of a dozen classes needs each
once. :func:`event_decoder` gives a function doing what the mapper does — the same state
decoded by the same transcoder, the same ``__dict__`` in the same order, the same
upcasts — with those looked up once per class; a state it cannot decode goes through
the mapper, for the mapper's error. With a cipher or a compressor it is the mapper's own
method. A transcoder offering ``state_loader()`` (the application's, orjson's) decodes
most states through the function it gives — no method calls around each — and the rest
through its ``decode``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, cast

from eventsourcing.persistence import Mapper, Notification, find_id_convertor
from eventsourcing.utils import resolve_topic

Decoder = Callable[[Notification], Any]


def event_decoder(mapper: Mapper[Any]) -> Decoder:
    """``mapper.to_domain_event``, or the same done leaner (see the module)."""
    if mapper.cipher is not None or mapper.compressor is not None:
        return mapper.to_domain_event
    decode = mapper.transcoder.decode
    offered = getattr(mapper.transcoder, "state_loader", None)
    load: Callable[[bytes], dict[str, Any] | None] = (
        offered() if offered is not None else lambda _: None)
    classes: dict[tuple[str, type], tuple[type, Callable[[Any], Any], int]] = {}
    new = object.__new__
    assign = object.__setattr__

    def to_event(n: Notification) -> Any:
        originator_id = n.originator_id
        key = (n.topic, type(originator_id))
        found = classes.get(key)
        if found is None:
            cls = resolve_topic(n.topic)
            found = classes[key] = (cls, find_id_convertor(cls, cast(Hashable, key[1])),
                                    getattr(cls, "class_version", 1))
        cls, convert, class_version = found
        try:
            loaded = load(n.state)
            state: dict[str, Any] = decode(n.state) if loaded is None else loaded
        except Exception:  # the mapper's error, worded as the mapper words it
            return mapper.to_domain_event(n)
        state["originator_id"] = convert(originator_id)
        state["originator_version"] = n.originator_version
        version = state.pop("class_version", 1)
        while version < class_version:
            getattr(cls, f"upcast_v{version}_v{version + 1}")(state)
            version += 1
        event: Any = new(cls)
        assign(event, "__dict__", state)
        return event

    return to_event
