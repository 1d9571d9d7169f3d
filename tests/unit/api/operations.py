"""An operation for any root field, with placeholder values for its required arguments
(generated from the schema, so a new field is covered without writing anything)."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    Undefined,
    get_named_type,
)

PLACEHOLDER_ID = "0a6f0000-0000-4000-8000-00000000ffff"
SCALARS: dict[str, Any] = {
    "ID": PLACEHOLDER_ID, "String": "x", "Int": 1, "Float": 1.0, "Boolean": False,
    "DateTime": "2026-11-02T09:00:00+00:00", "Date": "2026-11-02", "JSON": {}, "Long": 1, "Decimal": "1",
    "UUID": PLACEHOLDER_ID,
}


def _one_of(kind: GraphQLInputObjectType) -> bool:
    definition = (kind.extensions or {}).get("strawberry-definition")
    return any(type(d).__name__ == "OneOf" for d in getattr(definition, "directives", ()))


def placeholder(kind: GraphQLInputType) -> Any:
    if isinstance(kind, GraphQLNonNull):
        return placeholder(kind.of_type)
    if isinstance(kind, GraphQLList):
        return [placeholder(kind.of_type)]
    if isinstance(kind, GraphQLEnumType):
        return next(iter(kind.values))
    if isinstance(kind, GraphQLInputObjectType) and _one_of(kind):
        name, first = next((n, f) for n, f in kind.fields.items()
                           if isinstance(get_named_type(f.type), GraphQLEnumType))
        return {name: placeholder(first.type)}
    if isinstance(kind, GraphQLInputObjectType):
        return {name: placeholder(f.type) for name, f in kind.fields.items()
                if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined}
    assert isinstance(kind, GraphQLScalarType)
    return SCALARS[kind.name]


def operation_for(schema: strawberry.Schema, field: str) -> tuple[str, dict[str, Any]]:
    root_name, _, name = field.partition(".")
    raw = schema._schema
    root = {"Query": raw.query_type, "Mutation": raw.mutation_type,
            "Subscription": raw.subscription_type}[root_name]
    assert root is not None
    definition = root.fields[name]
    declared = []
    passed = []
    variables: dict[str, Any] = {}
    for arg_name, arg in definition.args.items():
        if isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined:
            declared.append(f"${arg_name}: {arg.type}")
            passed.append(f"{arg_name}: ${arg_name}")
            variables[arg_name] = placeholder(arg.type)
    head = f"({', '.join(declared)})" if declared else ""
    args = f"({', '.join(passed)})" if passed else ""
    operation = {"Query": "query", "Mutation": "mutation", "Subscription": "subscription"}
    leaf = isinstance(get_named_type(definition.type), GraphQLScalarType | GraphQLEnumType)
    selection = "" if leaf else " { __typename }"
    return f"{operation[root_name]} Probe{head} {{ {name}{args}{selection} }}", variables
