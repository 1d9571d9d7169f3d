"""What an operation will cost, worked out from its document before anything runs.

The cost of an operation is the number of field values it can produce: each selected field
counts once per parent object it is resolved on, and a list multiplies what is selected
below it by its size. A list's size is its page size where it is paginated (the ``first``
argument, from a literal, a variable or the argument's default; a connection's ``edges`` are
that page), and :data:`ASSUMED_LIST_SIZE` where it is not (a customer's identities, a
campaign's variants: small lists without a bound in the schema). Scalar lists (a customer's
tags) count as one value. Introspection (``__schema``, ``__type``) costs
:data:`INTROSPECTION_COST` per occurrence, whatever it selects: it is bounded by the schema.

So ``customers(first: 200) { edges { node { id staffRelations { staffId since } } } }``
costs 1 + 1 + 200 * (1 + 1 + 1 + 10 * 2) = 4,602, and thirty aliases of it thirty times
that. The walk also counts the field selections themselves (fragments expanded): a document
that selects more than a budget of fields is refused whatever its lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)

#: The size assumed for a list without a page size.
ASSUMED_LIST_SIZE = 10
#: What one ``__schema`` or ``__type`` selection costs, whatever it selects.
INTROSPECTION_COST = 1_000
#: Names of the page-size argument and of the fields of a page that hold its items.
PAGE_ARGUMENT = "first"
PAGE_ITEMS = frozenset({"edges", "nodes"})


@dataclass(frozen=True, slots=True)
class Cost:
    #: Field values the operation can produce at most (see the module's docstring).
    values: int
    #: Field selections in the document, fragments expanded.
    fields: int
    #: Of those, the ones under an alias.
    aliases: int = 0
    #: Whether a variable gave a page size (else the cost depends on the document alone).
    uses_variables: bool = False


def operation_cost(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
                   variables: Mapping[str, Any] | None) -> Cost:
    """The cost of the operation ``operation_name`` selects in ``document`` (a validated one:
    unknown fields and undefined fragments count as one value and are not descended into)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    # Without a name, which operation runs is the executor's choice: weigh the dearest.
    costs = [_operation(schema, document, o, variables or {}) for o in operations]
    return max(costs, key=lambda c: (c.values, c.fields, c.aliases), default=Cost(0, 0))


def _operation(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode,
               variables: Mapping[str, Any]) -> Cost:
    root = schema.get_root_type(operation.operation)
    if root is None:
        return Cost(values=0, fields=0)
    walk = _Walk(schema, document, variables)
    walk.selection_set(root, operation.selection_set, multiplier=1, page=None, seen=())
    return Cost(values=walk.values, fields=walk.fields, aliases=walk.aliases,
                uses_variables=walk.uses_variables)


class _Walk:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode,
                 variables: Mapping[str, Any]) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        self.values = 0
        self.fields = 0
        self.aliases = 0
        self.uses_variables = False

    def selection_set(self, parent: Any, selection_set: SelectionSetNode, *, multiplier: int,
                      page: int | None, seen: tuple[str, ...]) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self.field(parent, selection, multiplier=multiplier, page=page, seen=seen)
            elif isinstance(selection, InlineFragmentNode):
                target = parent
                if selection.type_condition is not None:
                    target = self.schema.get_type(selection.type_condition.name.value) or parent
                self.selection_set(target, selection.selection_set, multiplier=multiplier,
                                   page=page, seen=seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue  # validation refuses both; never loop
                target = self.schema.get_type(fragment.type_condition.name.value) or parent
                self.selection_set(target, fragment.selection_set, multiplier=multiplier,
                                   page=page, seen=(*seen, name))

    def field(self, parent: Any, node: FieldNode, *, multiplier: int, page: int | None,
              seen: tuple[str, ...]) -> None:
        self.fields += 1
        if node.alias is not None:
            self.aliases += 1
        name = node.name.value
        if name in ("__schema", "__type"):
            self.values += INTROSPECTION_COST
            return
        self.values += multiplier
        definition = _field_definition(parent, name)
        if definition is None or node.selection_set is None:
            return  # a scalar, a list of scalars, __typename, or an unknown field
        size = self.page_size(node, definition)
        if size is not None:
            page = size
        field_type = definition.type
        while isinstance(field_type, GraphQLNonNull | GraphQLList):
            if isinstance(field_type, GraphQLList):
                if page is not None:
                    multiplier *= page  # the page's items
                    page = None
                else:
                    multiplier *= ASSUMED_LIST_SIZE
            field_type = field_type.of_type
        if name in PAGE_ITEMS and page is not None:
            page = None  # consumed above; a list inside an item is a list of its own
        self.selection_set(field_type, node.selection_set, multiplier=multiplier, page=page,
                           seen=seen)

    def page_size(self, node: FieldNode, definition: GraphQLField) -> int | None:
        argument = definition.args.get(PAGE_ARGUMENT)
        if argument is None:
            return None
        value: Any = argument.default_value
        for given in node.arguments or ():
            if given.name.value != PAGE_ARGUMENT:
                continue
            if isinstance(given.value, IntValueNode):
                value = int(given.value.value)
            elif isinstance(given.value, VariableNode):
                self.uses_variables = True
                value = self.variables.get(given.value.name.value, value)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**31:
            return ASSUMED_LIST_SIZE  # absent, or refused later as input: assume the ordinary
        return value


def _field_definition(parent: Any, name: str) -> GraphQLField | None:
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        found: GraphQLField | None = parent.fields.get(name)
        return found
    if isinstance(parent, GraphQLUnionType):
        return None  # only __typename is selectable on a union itself
    return None
