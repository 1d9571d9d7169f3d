"""The GraphQL examples of the README are valid against the live schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import parse, validate

from api.schema import schema

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLES = re.findall(r"```graphql\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_graphql_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.split("\n")[0][:40] for e in EXAMPLES])
def test_each_readme_example_validates_against_the_schema(example: str) -> None:
    errors = validate(schema._schema, parse(example))
    assert not errors, [e.message for e in errors]
