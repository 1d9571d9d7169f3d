"""Expected failures as GraphQL errors with a stable ``extensions.code``.

Everything else is a bug: masked as ``INTERNAL`` unless ``SIYU_DEBUG`` is set.
"""

from __future__ import annotations

import re
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSyntaxError
from strawberry.extensions import MaskErrors

from api.out_of_range import out_of_range_field
from api.unavailable import MESSAGE, UNAVAILABLE, is_unavailable
from domain.errors import DomainError

UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
NOT_FOUND = "NOT_FOUND"
BAD_INPUT = "BAD_INPUT"
BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
INTERNAL = "INTERNAL"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
INVALID_INPUT = "INVALID_INPUT"
#: The query text is longer than the parser is allowed to read (the same code as the
#: character limit of the JSON path).
TOO_MANY_TOKENS = "QUERY_TOO_LARGE"
TOKENS = re.compile(r"Document contains more than \d+ tokens")
#: graphql-core's "did you mean" tail, removed in production (it maps the schema out).
SUGGESTION = re.compile(r" Did you mean [^?]*\?")


class ApiError(GraphQLError):
    def __init__(self, code: str, message: str, *, field: str | None = None,
                 **extra: Any) -> None:
        extensions: dict[str, Any] = {"code": code}
        if field is not None:
            extensions["field"] = field
        extensions.update(extra)
        super().__init__(message, extensions=extensions)
        self.code = code


def forbidden(message: str = "not allowed for this principal") -> ApiError:
    return ApiError(FORBIDDEN, message)


class CodedErrors(MaskErrors):
    """Mask unexpected errors as ``INTERNAL``; give every error an ``extensions.code``.

    Errors raised before execution (syntax, unknown fields, wrong variable
    types) have no path: they get ``GRAPHQL_VALIDATION_FAILED``.
    """

    def __init__(self, *, debug: bool = False, suggestions: bool = True) -> None:
        super().__init__(should_mask_error=(lambda _: False) if debug else should_mask,
                         error_message="Unexpected error.")
        self.suggestions = suggestions

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": INTERNAL}
        return masked

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        for error in processed:
            original = error.original_error
            if is_unavailable(original):
                error.message = MESSAGE
                error.extensions = {"code": UNAVAILABLE}
                continue
            if isinstance(original, DomainError) and not (error.extensions or {}).get("code"):
                # A refusal no resolver translated (the event store's last check, say).
                extensions: dict[str, Any] = {"code": original.code}
                if original.field is not None:
                    extensions["field"] = original.field
                error.extensions = {**(error.extensions or {}), **extensions}
            if not self.suggestions:
                error.message = SUGGESTION.sub("", error.message)
            if not (error.extensions or {}).get("code"):
                with_code(error, self.execution_context.graphql_document)
        return processed


def is_unexpected(error: GraphQLError) -> bool:
    """A bug: raised while executing, and not one of our typed errors."""
    if isinstance(error, ApiError) or isinstance(error.original_error, ApiError | DomainError):
        return False
    if is_unavailable(error.original_error):
        return False
    return error.original_error is not None and bool(error.path)


def should_mask(error: GraphQLError) -> bool:
    """Mask unexpected errors raised while executing; let typed ones through.

    Errors without a path happened before execution (syntax, validation,
    variable coercion): they describe the client's own request and stay as is.
    """
    return is_unexpected(error)


def with_code(error: GraphQLError, document: DocumentNode | None = None) -> GraphQLError:
    """``error`` with an ``extensions.code``, for errors raised where no extension sees
    them (a syntax error is raised in the parser cache's hook, outside the operation).

    A number out of its type's range (an ``Int`` past 2^31, a ``Long`` past 2^53) is the
    client's input, not a malformed document: ``INVALID_INPUT`` naming where it sits."""
    if (error.extensions or {}).get("code"):
        return error
    extensions: dict[str, Any] = {}
    if isinstance(error, GraphQLSyntaxError):
        code = TOO_MANY_TOKENS if TOKENS.search(error.message) else GRAPHQL_PARSE_FAILED
    elif error.path:
        code = INTERNAL
    elif (field := out_of_range_field(error, document)) is not None:
        code, extensions = INVALID_INPUT, {"field": field}
    else:
        code = GRAPHQL_VALIDATION_FAILED
    error.extensions = {**(error.extensions or {}), "code": code, **extensions}
    return error
