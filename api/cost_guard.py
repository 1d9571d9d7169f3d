"""Refuse an operation that costs more than its principal's budget, before it runs.

The cost (:mod:`api.cost`) is worked out once the document is valid and the variables are
known, in ``on_execute`` before anything resolves; a refusal takes the place of the result.
Each principal kind has its budget (``SIYU_QUERY_COST_BUDGETS``); the counts of field
selections and of aliases have limits of their own, since a long list of cheap fields is
work too (parsing, validating, answering).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension

from api.cost import Cost, operation_cost
from api.errors import ApiError
from api.limits import ApiLimits

QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"

#: Costs by (query text, operation name), or by (…, integer variables) for documents whose
#: page sizes come from variables (marked :data:`_BY_VARIABLES` under the first key).
_CostCache = dict[tuple[Any, ...], Any]
_BY_VARIABLES = object()
_CACHE_MAX = 5000


def refusal(cost: Cost, kind: str, limits: ApiLimits) -> ApiError | None:
    budget = limits.budget(kind)
    if cost.values > budget:
        return ApiError(QUERY_TOO_COSTLY, f"the operation may produce {cost.values} values, over "
                        f"this principal's budget of {budget}: ask for smaller pages or fewer "
                        "nested lists", cost=cost.values, budget=budget)
    if cost.fields > limits.max_fields:
        return ApiError(QUERY_TOO_COMPLEX, f"the operation selects {cost.fields} fields; at most "
                        f"{limits.max_fields} are allowed", fields=cost.fields,
                        maxFields=limits.max_fields)
    if cost.aliases > limits.max_aliases:
        return ApiError(QUERY_TOO_COMPLEX, f"the operation uses {cost.aliases} aliases; at most "
                        f"{limits.max_aliases} are allowed", aliases=cost.aliases,
                        maxAliases=limits.max_aliases)
    return None


class CostGuard(SchemaExtension):
    def __init__(self, *, limits: ApiLimits, cache: _CostCache) -> None:
        self.limits = limits
        self.cache = cache

    def on_operation(self) -> Iterator[None]:
        # Parsing stops past this many tokens (a token takes at least one character), so a
        # huge query sent any way (GET, WebSocket, multipart) costs no more than the largest
        # allowed one to reject.
        self.execution_context.parse_options["max_tokens"] = self.limits.max_query
        yield

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.result is None and context.graphql_document is not None:
            error = refusal(self.cost(), _kind(context.context), self.limits)
            if error is not None:
                context.result = GraphQLExecutionResult(data=None, errors=[error])
        yield

    def cost(self) -> Cost:
        """Cached by query text, and by the integer variables when a variable gives a page
        size: walking a document costs ~10 µs a field, a cache hit nothing measurable."""
        context = self.execution_context
        if not context.query:
            assert context.graphql_document is not None
            return operation_cost(context.schema._schema, context.graphql_document,
                                  context.operation_name, context.variables)
        key: tuple[Any, ...] = (context.query, context.operation_name)
        cached = self.cache.get(key)
        if cached is _BY_VARIABLES:
            key = (*key, _integers(context.variables))
            cached = self.cache.get(key)
        if isinstance(cached, Cost):
            return cached
        assert context.graphql_document is not None
        cost = operation_cost(context.schema._schema, context.graphql_document,
                              context.operation_name, context.variables)
        if len(self.cache) >= _CACHE_MAX:
            self.cache.clear()
        if cost.uses_variables:
            self.cache[key[:2]] = _BY_VARIABLES
            key = (*key[:2], _integers(context.variables))
        self.cache[key] = cost
        return cost


def _integers(variables: dict[str, Any] | None) -> tuple[tuple[str, int], ...]:
    """The top-level integer variables: the only ones that can give a page size."""
    return tuple(sorted((name, value) for name, value in (variables or {}).items()
                        if isinstance(value, int) and not isinstance(value, bool)))


def _kind(context: Any) -> str:
    principal = getattr(context, "principal", None)
    return str(getattr(principal, "kind", "default"))
