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

#: Costs by (query text, operation name) for documents whose cost no variable changes.
_CostCache = dict[tuple[str, str | None], Cost]
_CACHE_MAX = 1000


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
        context = self.execution_context
        key = (context.query or "", context.operation_name)
        cached = self.cache.get(key) if context.query else None
        if cached is not None:
            return cached
        assert context.graphql_document is not None
        cost = operation_cost(context.schema._schema, context.graphql_document,
                              context.operation_name, context.variables)
        if context.query and not cost.uses_variables:
            if len(self.cache) >= _CACHE_MAX:
                self.cache.clear()
            self.cache[key] = cost
        return cost


def _kind(context: Any) -> str:
    principal = getattr(context, "principal", None)
    return str(getattr(principal, "kind", "default"))
