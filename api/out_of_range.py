"""Where a number out of its type's range sits, from graphql-core's error about it.

graphql-core refuses an ``Int`` past 2^31 (and our ``Long`` refuses past 2^53) while
coercing variables or validating literals, as a validation failure. For the client it is a
bad input like any other: the API answers ``INVALID_INPUT`` naming the variable path
(``first``, ``i.amountFen``) or the literal's argument path (``customers.first``).
"""

from __future__ import annotations

import re
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    GraphQLError,
    Node,
    ObjectFieldNode,
    Visitor,
    visit,
)

#: The messages of graphql-core's Int and of our Long scalar for a number out of range.
OUT_OF_RANGE = re.compile(r"non 32-bit signed integer value|outside ±2\^53")
VARIABLE = re.compile(r"^Variable '\$(\w+)' (?:has|got) invalid value(?: at ([\w.\[\]]+))?")


def out_of_range_field(error: GraphQLError, document: DocumentNode | None) -> str | None:
    """The input path of the out-of-range number ``error`` is about; None if it is not
    about one."""
    if not OUT_OF_RANGE.search(error.message):
        return None
    variable = VARIABLE.match(error.message)
    if variable is not None:
        name, at = variable.groups()
        return name + (at or "")
    if document is not None and error.nodes:
        return _literal_path(document, error.nodes[0]) or "query"
    return "query"


class _Find(Visitor):
    def __init__(self, target: Node) -> None:
        super().__init__()
        self.target = target
        self.found: str | None = None

    def enter(self, node: Node, _key: Any, parent: Any, _path: Any,
              ancestors: list[Node | tuple[Node, ...]]) -> Any:
        if node is self.target:
            names = [a.name.value for a in [*ancestors, parent]
                     if isinstance(a, FieldNode | ArgumentNode | ObjectFieldNode)]
            self.found = ".".join(names)
            return self.BREAK
        return None


def _literal_path(document: DocumentNode, target: Node) -> str | None:
    finder = _Find(target)
    visit(document, finder)
    return finder.found
