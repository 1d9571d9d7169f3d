"""Expected failures as GraphQL errors with a stable ``extensions.code``.

Everything else is a bug: masked as ``INTERNAL`` unless ``SIYU_DEBUG`` is set.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
NOT_FOUND = "NOT_FOUND"
BAD_INPUT = "BAD_INPUT"
BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
INTERNAL = "INTERNAL"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


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


def should_mask(error: GraphQLError) -> bool:
    """Mask unexpected errors; let typed and GraphQL validation errors through."""
    if isinstance(error.original_error, ApiError) or isinstance(error, ApiError):
        return False
    return error.original_error is not None
