"""``siyu persisted-queries add``: register a front end's operations in the allow-list.

Each operation of the given ``.graphql`` files (with the fragments it uses) is checked
against the schema and the cost budgets, then written to the manifest (an Apollo
persisted-query manifest, :mod:`api.persisted`) under the SHA-256 of its printed text. The
front end sends that text's hash (``extensions.persistedQuery.sha256Hash``); the server reads
the manifest named by ``SIYU_PERSISTED_QUERIES`` at start-up.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    OperationDefinitionNode,
    Visitor,
    parse,
    print_ast,
    validate,
    visit,
)

from api.cost import operation_cost
from api.cost_guard import refusal
from api.limits import ApiLimits
from api.persisted import PersistedOperation, PersistedQueries, sha256_hex
from api.schema import build_schema


class Refused(ValueError):
    """An operation that would not run: named with its file and the reason."""


def operations_of(text: str, where: str) -> list[PersistedOperation]:
    """Each operation of ``text`` as the body a client sends: the operation and the
    fragments it uses, printed the way graphql-core prints them."""
    try:
        document = parse(text)
    except GraphQLError as error:
        raise Refused(f"{where}: {error.message}") from None
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    found: list[PersistedOperation] = []
    for operation in document.definitions:
        if not isinstance(operation, OperationDefinitionNode):
            continue
        if operation.name is None:
            raise Refused(f"{where}: every persisted operation needs a name")
        used = [fragments[name] for name in sorted(_spreads(operation, fragments))]
        body = print_ast(DocumentNode(definitions=(operation, *used)))
        found.append(PersistedOperation(id=sha256_hex(body), name=operation.name.value,
                                        type=operation.operation.value, body=body))
    return found


def _spreads(node: OperationDefinitionNode | FragmentDefinitionNode,
             fragments: dict[str, FragmentDefinitionNode]) -> set[str]:
    names: set[str] = set()
    pending = [node]
    while pending:
        collector = _Spreads()
        visit(pending.pop(), collector)
        for name in collector.names - names:
            names.add(name)
            if name in fragments:
                pending.append(fragments[name])
    return names


class _Spreads(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
        self.names.add(node.name.value)


def add(manifest: Path, files: Iterable[Path], limits: ApiLimits | None = None
        ) -> list[PersistedOperation]:
    """Check the operations of ``files`` and write them into ``manifest`` (created if
    absent; other entries kept). Returns what was added."""
    limits = limits or ApiLimits()
    schema = build_schema()._schema
    current = PersistedQueries.load(manifest) if manifest.exists() else PersistedQueries({})
    added: list[PersistedOperation] = []
    for path in files:
        for operation in operations_of(path.read_text(encoding="utf-8"), str(path)):
            document = parse(operation.body)
            errors = validate(schema, document)
            if errors:
                raise Refused(f"{path}: {operation.name}: {errors[0].message}")
            too_dear = refusal(operation_cost(schema, document, operation.name, None),
                               "default", limits)
            if too_dear is not None:
                raise Refused(f"{path}: {operation.name}: {too_dear.message}")
            added.append(operation)
    updated = current.with_operations(added)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(updated.manifest(), ensure_ascii=False, indent=2) + "\n",
                        encoding="utf-8")
    return added
