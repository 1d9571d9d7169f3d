"""Query texts are parsed and validated once; a cached validation never stands in for
another rule set's."""

from __future__ import annotations

from typing import Any

import graphql
import pytest
import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule

from api.documents import DocumentCache, Documents, Validations


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, name: str) -> str:
        return f"hello {name}"


def schema_with(docs: Documents, validations: Validations, **options: Any) -> strawberry.Schema:
    return strawberry.Schema(query=Query, extensions=[
        lambda: DocumentCache(documents=docs, validations=validations, **options)])


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = graphql.parse

    def counting(source: str, **options: Any) -> Any:
        seen.append(source)
        return real(source, **options)

    monkeypatch.setattr(graphql, "parse", counting)
    return seen


def test_a_query_text_is_parsed_and_validated_once_whatever_its_variables(
        parses: list[str]) -> None:
    # Given a schema with the cache
    docs: Documents = {}
    validations: Validations = {}
    schema = schema_with(docs, validations)
    query = "query($n: String!) { hello(name: $n) }"
    # When the same text comes twice with different variables
    first = schema.execute_sync(query, variable_values={"n": "a"})
    second = schema.execute_sync(query, variable_values={"n": "b"})
    # Then it was parsed once, validated once, and each answer is its own
    assert parses == [query]
    assert len(validations) == 1
    assert (first.data, second.data) == ({"hello": "hello a"}, {"hello": "hello b"})


def test_an_invalid_text_is_refused_every_time(parses: list[str]) -> None:
    schema = schema_with({}, {})
    for _ in range(2):
        result = schema.execute_sync("{ nope }")
        assert result.errors and "nope" in result.errors[0].message
    assert schema.execute_sync("{ hello(").errors  # a syntax error is not cached
    assert schema.execute_sync("{ hello(").errors
    assert parses.count("{ hello(") == 2


def test_a_text_valid_without_a_rule_is_refused_where_the_rule_applies() -> None:
    # Given two schemas sharing the caches, one of them refusing introspection
    docs: Documents = {}
    validations: Validations = {}
    open_schema = schema_with(docs, validations)
    closed = schema_with(docs, validations, rules=[NoSchemaIntrospectionCustomRule])
    query = "{ __schema { queryType { name } } }"
    # When the open one has validated the text first
    assert open_schema.execute_sync(query).errors is None
    # Then the closed one still refuses it
    result = closed.execute_sync(query)
    assert result.errors and "introspection" in result.errors[0].message.lower()
    assert open_schema.execute_sync(query).errors is None


def test_each_cache_is_emptied_when_full() -> None:
    docs: Documents = {}
    validations: Validations = {}
    schema = schema_with(docs, validations, maxsize=3)
    for n in range(5):
        schema.execute_sync(f'{{ hello(name: "{n}") }}')
    assert 0 < len(docs) <= 3 and 0 < len(validations) <= 3
