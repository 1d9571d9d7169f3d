"""Refuse text no store can hold, before any resolver sees it.

PostgreSQL ``text`` and ``jsonb`` cannot hold NUL (U+0000), and a lone
surrogate (U+D800-U+DFFF without its pair) cannot be encoded as UTF-8 at all.
JSON and GraphQL string literals carry both. An event holding one is stored
(the event store keeps JSON bytes) and then stops every projection that copies
the text into a read model, on every restart and rebuild.

So every operation — query, mutation or subscription, over any transport — is
checked once, whole, before validation: the raw query text, every string
literal in the document and every variable value (object keys included). The
first offender is refused with ``INVALID_INPUT`` naming where it sits
(``input.title`` for a variable, ``draftCampaign.input.title`` for a literal);
its value is never echoed, since echoing a lone surrogate is what turned such
requests into plain-text HTTP 500s. The one exception is ingestion
(``recordCustomerEvents``), which checks each event itself and refuses a bad
one alone, so that it does not block the rest of its batch.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    Node,
    ObjectFieldNode,
    OperationDefinitionNode,
    StringValueNode,
    Visitor,
    visit,
)
from strawberry.extensions import SchemaExtension

from api.errors import ApiError

INVALID_INPUT = "INVALID_INPUT"

#: NUL and lone surrogates: nothing downstream can store or encode them.
UNSAFE = re.compile("[\x00\ud800-\udfff]")


def unsafe_value_path(value: Any, path: str) -> str | None:
    """Where in ``value`` (a decoded JSON value) the first unsafe string sits."""
    if isinstance(value, str):
        return path if UNSAFE.search(value) else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and UNSAFE.search(key):
                return path or "variables"  # the key itself is never echoed
            found = unsafe_value_path(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = unsafe_value_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


class _UnsafeLiteral(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: str | None = None

    def enter_string_value(self, node: StringValueNode, _key: Any, parent: Any,
                           _path: Any, ancestors: list[Node | tuple[Node, ...]]) -> Any:
        if UNSAFE.search(node.value):
            self.found = ".".join(_names([*ancestors, parent])) or "query"
            return self.BREAK
        return None


def _names(ancestors: list[Node | tuple[Node, ...]]) -> Iterator[str]:
    for ancestor in ancestors:
        if isinstance(ancestor, FieldNode | ArgumentNode | ObjectFieldNode):
            yield ancestor.name.value


def unsafe_literal_path(document: DocumentNode) -> str | None:
    """Where in ``document`` the first string literal with unsafe text sits."""
    visitor = _UnsafeLiteral()
    visit(document, visitor)
    return visitor.found


#: Literal checks by query text: a document's literals do not change, and walking it cost
#: a tenth of a small query's time. Bounded like the parser cache.
_LITERALS: dict[str, str | None] = {}
_LITERALS_MAX = 1000


def cached_literal_path(query: str, document: DocumentNode) -> str | None:
    if query in _LITERALS:
        return _LITERALS[query]
    found = unsafe_literal_path(document)
    if len(_LITERALS) >= _LITERALS_MAX:
        _LITERALS.clear()
    _LITERALS[query] = found
    return found


def refusal(field: str) -> ApiError:
    return ApiError(INVALID_INPUT, f"{field} contains NUL or an unpaired surrogate, "
                    "which cannot be stored", field=field)


#: Root fields that check every item of their input themselves and refuse bad items one by
#: one (``recordCustomerEvents`` answers REJECTED / INVALID_INPUT for that event): one bad
#: event must not block the batch of a thousand a source sends, nor its retries. The event
#: log's transcoder (domain/storable.py) still refuses whatever slips past.
ITEM_VALIDATING_FIELDS = frozenset({"recordCustomerEvents"})


def _root_fields(document: DocumentNode, operation_name: str | None) -> set[str] | None:
    """Names of the selected operation's root fields; None if they cannot be told
    without expanding fragments (then nothing is exempt)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1:
        return None
    names: set[str] = set()
    for selection in operations[0].selection_set.selections:
        if not isinstance(selection, FieldNode):
            return None
        names.add(selection.name.value)
    return names


class InputSafety(SchemaExtension):
    """Checks each operation in ``on_validate``: a refusal replaces validation,
    so no validation message can echo the offending value either."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        field: str | None = None
        if context.query is not None and UNSAFE.search(context.query):
            field = "query"
        if field is None and context.operation_name is not None and UNSAFE.search(
                context.operation_name):
            field = "operationName"
        document = context.graphql_document
        if field is None and document is not None:
            roots = _root_fields(document, context.operation_name)
            if roots and roots <= ITEM_VALIDATING_FIELDS:
                document = None  # each item is checked, and refused alone, downstream
        if field is None and document is not None and context.variables:
            field = unsafe_value_path(context.variables, "")
        if field is None and document is not None:
            field = (unsafe_literal_path(document) if context.query is None
                     else cached_literal_path(context.query, document))
        if field is not None:
            context.pre_execution_errors = [refusal(field)]
        yield
