"""Parse and validate each query text once: later requests with the same text reuse the
document and its validation errors.

One extension in place of strawberry's ``ParserCache``, ``ValidationCache`` and
``AddValidationRules``: those are keyed by the parsed document, which hashes the whole
syntax tree on every request (~70 node hashes for the profile query), and each adds its
own hook contexts to every request. Here the key is the query text itself (a ``str``
caches its hash) with the parse options, and, for validation, the exact list of rules
that ran — so a document validated under one rule set is never taken as valid under
another. Validation does not depend on who asks (the rules are the schema's, the same
for every principal); what does — the cost budget, the policy gate, masking, rate
limits — runs on every request after this, unchanged.

A document given already parsed (no query text) is validated every time, uncached.
Each cache holds at most ``maxsize`` entries and is emptied when full: a client sending
endless distinct texts costs memory no more than that, and itself a parse each time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import graphql
from graphql import DocumentNode, GraphQLError
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

#: (query text, parse options) → document; (query text, rules) → validation errors.
Documents = dict[tuple[Any, ...], DocumentNode]
Validations = dict[tuple[Any, ...], list[GraphQLError]]


class DocumentCache(SchemaExtension):
    """``rules``: validation rules added to strawberry's (introspection off in production)."""

    def __init__(self, *, documents: Documents, validations: Validations,
                 rules: Sequence[type[ASTValidationRule]] = (), maxsize: int = 1000) -> None:
        self.documents = documents
        self.validations = validations
        self.rules = tuple(rules)
        self.maxsize = maxsize

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query:
            options = context.parse_options
            key = (context.query, *sorted(options.items()))
            document = self.documents.get(key)
            if document is None:  # a syntax error raises here, and is not cached
                document = graphql.parse(context.query, **options)
                _bounded(self.documents, self.maxsize)
                self.documents[key] = document
            context.graphql_document = document
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if self.rules:
            context.validation_rules = (*context.validation_rules, *self.rules)
        document = context.graphql_document
        if document is not None:
            ran = tuple(context.validation_rules)
            if context.query:
                key = (context.query, ran)
                errors = self.validations.get(key)
                if errors is None:
                    errors = validate_document(context.schema._schema, document, ran)
                    _bounded(self.validations, self.maxsize)
                    self.validations[key] = errors
            else:
                errors = validate_document(context.schema._schema, document, ran)
            context.pre_execution_errors = list(errors)
        yield


def _bounded(cache: dict[Any, Any], maxsize: int) -> None:
    if len(cache) >= maxsize:
        cache.clear()
