"""The GraphQL schema: queries read projections, mutations call the application."""

from __future__ import annotations

import logging
from datetime import datetime
from enum import Enum
from typing import Any, cast
from uuid import UUID

import strawberry
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import StoredEvent
from graphql import GraphQLError
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, ExecutionResult, Info

from api import audit, policy, team_scope
from api.context import Context
from api.cost_guard import CostGuard
from api.customer_types import (
    Customer,
    CustomerConnection,
    CustomerEdge,
    CustomerEvent,
    CustomerEventConnection,
    CustomerEventEdge,
)
from api.documents import DocumentCache, Documents, Validations
from api.errors import (
    BAD_INPUT,
    GRAPHQL_VALIDATION_FAILED,
    ApiError,
    CodedErrors,
    forbidden,
    is_unexpected,
    with_code,
)
from api.extension_runner import LeanExtensionsRunner
from api.ingest import install_fast_ingest
from api.input_safety import InputSafety
from api.limits import ApiLimits
from api.privacy import erased_placeholders
from api.read_models import CustomerFilterValues, decode_cursor, encode_cursor
from api.roots import FEATURE_QUERIES, MUTATIONS, SUBSCRIPTIONS
from api.types import LONG_SCALAR, Lifecycle, Long, PageInfo, StaffMember, to_uuid
from api.unavailable import is_unavailable
from domain.errors import InvalidIdentity
from domain.identity import blind_index, parse_identity

MAX_PAGE = 200
log = logging.getLogger(__name__)


@strawberry.input
class CustomerFilter:
    tags: list[str] | None = strawberry.field(default=None, description="Has all these tags.")
    lifecycle: Lifecycle | None = None
    staff_id: strawberry.ID | None = strawberry.field(
        default=None, description="Currently a friend of this staff member.")
    first_channel: str | None = None


@strawberry.enum
class HistoryOrder(Enum):
    NEWEST_FIRST = "newest"
    OLDEST_FIRST = "oldest"


def _page_size(first: int) -> int:
    if not 1 <= first <= MAX_PAGE:
        raise ApiError(BAD_INPUT, f"first must be between 1 and {MAX_PAGE}", field="first")
    return first


def _cursor(kind: str, after: str | None) -> int | None:
    if after is None:
        return None
    try:
        return decode_cursor(kind, after)
    except ValueError:
        raise ApiError(BAD_INPUT, "after is not a cursor of this list", field="after") from None


async def _visible_customer(info: Info[Context, None], customer_id: UUID) -> Customer | None:
    # One root lookup: a direct query (a DataLoader would add a loop turn).
    row = await info.context.services.read_models.profile(customer_id)
    if row is None:
        return None
    if not info.context.principal.may_see(customer_id, list(row["current_staff_ids"])):
        return None  # indistinguishable from "not found": no existence oracle
    return Customer.from_row(row)


#: Events on a customer's stream that the customer does not see in their own history.
_STAFF_ONLY_EVENTS = ("Customer.SensitiveWordsFound",)

_ENVELOPE = {"originator_id", "originator_version", "timestamp", "occurred_at", "by"}

def _event_data(event: DomainEventProtocol[Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, value in vars(event).items():
        if name in _ENVELOPE or name.startswith("_"):
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, UUID):
            value = str(value)
        data[name] = value
    return data


@strawberry.type
class CustomerQuery:
    """Customers, their history and the staff: the spine's questions."""

    @strawberry.field(description="One customer by id (null if unknown or not visible to you). "
                                  "asOf: as it stood at that instant of business time, "
                                  "folded from the event log (docs/audit.md).")
    async def customer(self, info: Info[Context, None], id: strawberry.ID,
                       as_of: datetime | None = None) -> Customer | None:
        if as_of is not None:
            return await audit.customer_as_of(info, to_uuid(id, "id"), as_of)
        return await _visible_customer(info, to_uuid(id, "id"))

    @strawberry.field(description="One customer by any identity.")
    async def customer_by_identity(
        self, info: Info[Context, None], namespace: str, value: str
    ) -> Customer | None:
        try:
            identity = parse_identity(namespace, value)
        except InvalidIdentity as error:
            raise ApiError(error.code, error.message, field=error.field) from None
        blind = blind_index(info.context.services.blind_key, identity)
        customer_id = await info.context.services.read_models.customer_for_blind_index(blind)
        return None if customer_id is None else await _visible_customer(info, customer_id)

    @strawberry.field(description="The calling customer (mini-program / H5 tokens).")
    async def me(self, info: Info[Context, None]) -> Customer | None:
        principal = info.context.principal
        if principal.kind != "customer":
            return None
        return await _visible_customer(info, UUID(principal.subject_id))

    @strawberry.field(description="Customers, newest first. Front-line staff see only their "
                                  "current friends. asOf: the customers first seen by that "
                                  "instant, each as it stood then (no filter; docs/audit.md).")
    async def customers(
        self,
        info: Info[Context, None],
        first: int = 20,
        after: str | None = None,
        filter: CustomerFilter | None = None,
        as_of: datetime | None = None,
    ) -> CustomerConnection:
        if as_of is not None:
            if filter is not None:
                raise ApiError(BAD_INPUT, "filter cannot be combined with asOf", field="filter")
            return await audit.customers_as_of(info, _page_size(first), after, as_of)
        given = filter or CustomerFilter()
        staff_id = str(given.staff_id) if given.staff_id is not None else None
        scope = policy.customer_scope(info.context.principal)
        staff_ids: tuple[str, ...] | None = None
        if not scope.everyone:
            if staff_id is not None and not scope.covers_staff(staff_id):
                raise forbidden("you can only list the customers of staff in your scope")
            if staff_id is None:
                staff_ids = tuple(sorted(scope.staff_ids))
        values = CustomerFilterValues(
            staff_ids=staff_ids,
            tags=tuple(given.tags or ()),
            lifecycle=given.lifecycle.value if given.lifecycle else None,
            staff_id=staff_id,
            first_channel=given.first_channel,
        )
        rows, more = await info.context.services.read_models.list_profiles(
            values, _page_size(first), _cursor("p", after))
        edges = [CustomerEdge(cursor=encode_cursor("p", r["position"]), node=Customer.from_row(r))
                 for r in rows]
        return CustomerConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=more,
                               end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="A customer's stored events, for audit reviewers "
                                  "(managers, service principals, the customer themself). "
                                  "A merged customer's history includes the customers it "
                                  "absorbed, in log order. Filters: event types (as `type` "
                                  "names them) and business time in [occurredFrom, "
                                  "occurredTo).")
    async def customer_history(
        self,
        info: Info[Context, None],
        customer_id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
        order: HistoryOrder = HistoryOrder.NEWEST_FIRST,
        types: list[str] | None = None,
        occurred_from: datetime | None = None,
        occurred_to: datetime | None = None,
    ) -> CustomerEventConnection:
        principal = info.context.principal
        cid = to_uuid(customer_id, "customerId")
        size = _page_size(first)
        cursor = _cursor("n", after)
        read_models = info.context.services.read_models
        row = await read_models.profile(cid)
        if not principal.may_see(cid, list(row["current_staff_ids"]) if row else []):
            raise forbidden("the history of a customer outside your scope")
        streams = await read_models.group(row["customer_id"]) if row else [cid]
        erased = bool(row and row["erased_at"])
        newest = order is HistoryOrder.NEWEST_FIRST
        since, until = audit.time_range(occurred_from, occurred_to)
        stored = await read_models.history(
            streams, newest_first=newest, before=cursor if newest else None,
            after=None if newest else cursor, limit=size + 1, topics=audit.history_topics(types),
            occurred_from=since, occurred_to=until)
        mapper = info.context.services.app.mapper
        edges = []
        for r in stored[:size]:
            if principal.kind == "customer" and r["topic"].endswith(_STAFF_ONLY_EVENTS):
                continue  # staff supervision (sensitive-word hits), not the customer's data
            e = mapper.to_domain_event(StoredEvent(r["originator_id"], r["originator_version"],
                                                   r["topic"], bytes(r["state"])))
            edges.append(CustomerEventEdge(
                cursor=encode_cursor("n", r["notification_id"]),
                node=CustomerEvent(
                    customer_id=strawberry.ID(str(e.originator_id)),
                    version=e.originator_version,
                    position=r["notification_id"],
                    type=type(e).__qualname__,
                    occurred_at=getattr(e, "occurred_at", None),
                    recorded_at=e.timestamp,  # type: ignore[attr-defined]
                    by=getattr(e, "by", None),
                    data=cast(JSON, erased_placeholders(_event_data(e)) if erased
                              else _event_data(e)),
                ),
            ))
        last = stored[:size][-1]["notification_id"] if stored else None
        return CustomerEventConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=len(stored) > size,
                               end_cursor=None if last is None else encode_cursor("n", last)))

    @strawberry.field(description="One staff member.")
    async def staff_member(self, info: Info[Context, None], id: strawberry.ID
                           ) -> StaffMember | None:
        row = await info.context.services.read_models.staff(to_uuid(id, "id"))
        return next((StaffMember(row=r) for r in team_scope.members(info.context.principal, [row])), None)

    @strawberry.field(description="Staff members, by hire date.")
    async def staff_members(self, info: Info[Context, None], include_left: bool = False
                            ) -> list[StaffMember]:
        rows = await info.context.services.read_models.staff_list(include_left)
        return [StaffMember(row=r) for r in team_scope.members(info.context.principal, rows)]


class SiyuSchema(strawberry.Schema):
    """Logs errors without their messages: GraphQL messages quote input values,
    and inputs carry personal data. Bugs are logged with their traceback.
    Every error it returns carries an ``extensions.code``."""

    def create_extensions_runner(self, execution_context: ExecutionContext,
                                 extensions: list[SchemaExtension]) -> SchemaExtensionsRunner:
        return LeanExtensionsRunner(execution_context=execution_context, extensions=extensions)

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        result = await super().execute(*args, **kwargs)
        if result.errors:
            result.errors = [with_code(error) for error in result.errors]
        return result

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            path = ".".join(str(p) for p in error.path or ())
            if is_unavailable(error.original_error):
                log.warning("database unavailable at %s (%s)", path or "-",
                            type(error.original_error).__name__)
            elif is_unexpected(error):
                original = error.original_error
                assert original is not None
                log.error("unexpected %s at %s", type(original).__name__, path or "-",
                          exc_info=(type(original), original, original.__traceback__))
            else:
                code = (error.extensions or {}).get("code", GRAPHQL_VALIDATION_FAILED)
                log.info("request refused: %s at %s", code, path or "-")


#: Each feature module contributes its own Query and Mutation classes (api.roots); the
#: customer queries are this module's own.
QUERIES: tuple[type, ...] = (CustomerQuery, *FEATURE_QUERIES)


#: Schemas built so far, by their arguments: building one takes ~0.2 s of strawberry's
#: type conversion, and a process (a test run most of all) builds apps with equal settings
#: again and again. A schema holds no per-app state: its caches are keyed by query text.
_BUILT: list[tuple[bool, ApiLimits, strawberry.Schema]] = []


def build_schema(*, debug: bool = False, limits: ApiLimits | None = None) -> strawberry.Schema:
    """The schema with its guards, built once per distinct ``debug`` and ``limits``."""
    limits = limits or ApiLimits()
    for built_debug, built_limits, built in _BUILT:
        if built_debug == debug and built_limits == limits:
            return built
    schema = _build_schema(debug=debug, limits=limits)
    _BUILT.append((debug, limits, schema))
    del _BUILT[:-8]  # a handful of distinct settings at most; never grows without bound
    return schema


def _build_schema(*, debug: bool, limits: ApiLimits) -> strawberry.Schema:
    """The schema with its guards; ``debug`` stops masking unexpected errors.

    ``limits.production`` turns introspection and "did you mean" suggestions off. Depth is
    not limited as such: the schema has no cycle, so depth is bounded anyway, and what a
    deep or wide query costs is what the cost guard (:mod:`api.cost_guard`) weighs."""
    # Guard rules are built once: the validation cache is keyed by them (a fresh rule
    # list per request would miss the cache every time: measured 3.2 ms vs 0.5 ms).
    # Documents and validations are cached by query text (api.documents).
    guards: list[type[ASTValidationRule]] = (
        [NoSchemaIntrospectionCustomRule] if limits.production else [])
    costs: dict[Any, Any] = {}
    documents: Documents = {}
    validations: Validations = {}
    schema = SiyuSchema(
        query=merge_types("Query", QUERIES),
        mutation=merge_types("Mutation", MUTATIONS),
        subscription=merge_types("Subscription", SUBSCRIPTIONS),
        config=StrawberryConfig(scalar_map={Long: LONG_SCALAR}),
        extensions=[
            # Factories, not instances: extensions hold per-request state.
            lambda: DocumentCache(documents=documents, validations=validations, rules=guards),
            # After the validation cache: its refusal replaces the cached result.
            InputSafety,
            lambda: CostGuard(limits=limits, cache=costs),
            lambda: CodedErrors(debug=debug, suggestions=not limits.production),
        ],
    )
    install_fast_ingest(schema)
    policy.install(schema)  # last: it guards every root resolver, the fast one included
    return schema


schema = build_schema()
