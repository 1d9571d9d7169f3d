"""GraphQL for segments (分层): define, revise, archive; members, ledger, sizes, reasons."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, Any, cast
from uuid import UUID

import strawberry
from anyio import to_thread
from strawberry.scalars import JSON
from strawberry.types import Info

from api.context import Context
from api.errors import BAD_INPUT, NOT_FOUND, ApiError, forbidden
from api.ingest import require_recorder
from api.read_models import decode_cursor, encode_cursor
from api.segment_reads import SegmentReads, decode_member_cursor, encode_member_cursor
from api.types import Customer, Lifecycle, Long, PageInfo, Positioning, to_uuid
from domain.errors import DomainError
from domain.segment_rules import parse_rule
from projections.segment_eval import explain

MAX_PAGE = 200
MAX_SERIES_POINTS = 1000


# -- the rule input (oneOf: exactly one field per node) -----------------------------------
@strawberry.input(description="Paid orders, optionally within the last `withinDays` days.")
class OrderedInput:
    at_least: int
    within_days: int | None = None


@strawberry.input(description="Paid amount in fen, optionally within the last `withinDays` days.")
class GmvInput:
    at_least_fen: Long
    within_days: int | None = None


@strawberry.input(description="Minimum RFM scores (0-5, see docs/bi.md); at least one.")
class RfmInput:
    recency_at_least: int | None = None
    frequency_at_least: int | None = None
    monetary_at_least: int | None = None


@strawberry.input(description="Paid quantity of one SKU.")
class BoughtSkuInput:
    sku: str
    at_least: int


@strawberry.input(description="Paid orders with an item of the category.")
class BoughtCategoryInput:
    category: str
    at_least: int


@strawberry.input(description="Content views of the topic.")
class ViewedTopicInput:
    topic: str
    at_least: int


@strawberry.input(one_of=True, description="One node of a segment rule: `all`, `any`, `not`, "
                                           "or one predicate (README: Segments).")
class SegmentRuleInput:
    all: list[SegmentRuleInput] | None = strawberry.UNSET
    any: list[SegmentRuleInput] | None = strawberry.UNSET
    not_: SegmentRuleInput | None = strawberry.field(default=strawberry.UNSET, name="not")
    tag_in: list[str] | None = strawberry.UNSET
    has_all_tags: list[str] | None = strawberry.UNSET
    lifecycle: Lifecycle | None = strawberry.UNSET
    ordered: OrderedInput | None = strawberry.UNSET
    gmv: GmvInput | None = strawberry.UNSET
    inactive_days: int | None = strawberry.UNSET
    active_within_days: int | None = strawberry.UNSET
    referrals_at_least: int | None = strawberry.UNSET
    friend_of: strawberry.ID | None = strawberry.UNSET
    is_friend: bool | None = strawberry.UNSET
    joined_via: str | None = strawberry.UNSET
    in_group: str | None = strawberry.UNSET
    rfm: RfmInput | None = strawberry.UNSET
    positioning: Positioning | None = strawberry.UNSET
    member_level: str | None = strawberry.UNSET
    bought_sku: BoughtSkuInput | None = strawberry.UNSET
    bought_category: BoughtCategoryInput | None = strawberry.UNSET
    viewed_topic: ViewedTopicInput | None = strawberry.UNSET


def rule_to_data(rule: SegmentRuleInput) -> dict[str, Any]:
    """The GraphQL input as the rule language's plain data (validated by parse_rule)."""
    for name, value in vars(rule).items():
        if value is strawberry.UNSET or value is None:
            continue
        key = {"not_": "not"}.get(name, _camel(name))
        if name in ("all", "any"):
            return {key: [rule_to_data(r) for r in value]}
        if name == "not_":
            return {key: rule_to_data(value)}
        if isinstance(value, Enum):
            return {key: value.value}
        if is_dataclass(value):
            return {key: {_camel(k): v for k, v in asdict(value).items()}}  # type: ignore[arg-type]
        return {key: str(value) if name == "friend_of" else value}
    return {}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _parsed(rule: SegmentRuleInput) -> dict[str, Any]:
    try:
        return parse_rule(rule_to_data(rule))
    except DomainError as error:
        raise ApiError(error.code, error.message, field=error.field) from None


# -- output types --------------------------------------------------------------------------
@strawberry.enum
class SegmentChange(Enum):
    ENTERED = "ENTERED"
    EXITED = "EXITED"


@strawberry.enum(description="What caused a membership change.")
class SegmentCause(Enum):
    EVENT = "EVENT"
    TICK = "TICK"
    DEFINED = "DEFINED"
    REVISED = "REVISED"
    ARCHIVED = "ARCHIVED"
    MERGED = "MERGED"
    UNMERGED = "UNMERGED"


@strawberry.type(description="One entry or exit, with the rule version and its cause.")
class SegmentLedgerEntry:
    segment_id: strawberry.ID
    customer_id: strawberry.ID
    change: SegmentChange
    at: datetime = strawberry.field(description="When the platform evaluated the change (UTC).")
    rule_version: int
    cause: SegmentCause
    cause_position: strawberry.ID = strawberry.field(
        description="Log position of the causing event (see customerHistory).")
    cause_event: str = strawberry.field(description="Type of the causing event.")
    backfilled: bool = strawberry.field(
        description="Computed when this rule version was defined, for a time before it.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SegmentLedgerEntry:
        return cls(segment_id=strawberry.ID(str(row["segment_id"])),
                   customer_id=strawberry.ID(str(row["customer_id"])),
                   change=SegmentChange(row["change"]), at=row["at"],
                   rule_version=row["rule_version"], cause=SegmentCause(row["cause"]),
                   cause_position=strawberry.ID(str(row["cause_position"])),
                   cause_event=row["cause_event"], backfilled=row["backfilled"])


@strawberry.type
class SegmentLedgerEdge:
    cursor: str
    node: SegmentLedgerEntry


@strawberry.type
class SegmentLedgerConnection:
    edges: list[SegmentLedgerEdge]
    page_info: PageInfo


@strawberry.type
class SegmentMemberEdge:
    cursor: str
    since: datetime
    rule_version: int = strawberry.field(description="The rule version that let them in.")
    node: Customer


@strawberry.type
class SegmentMemberConnection:
    edges: list[SegmentMemberEdge]
    page_info: PageInfo


@strawberry.type
class SegmentSizePoint:
    at: datetime
    size: int


@strawberry.type(description="A segment: a named, versioned rule (read model `segment`).")
class Segment:
    row: strawberry.Private[dict[str, Any]]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row["segment_id"]))

    @strawberry.field
    def name(self) -> str:
        return str(self.row["name"])

    @strawberry.field
    def description(self) -> str:
        return str(self.row["description"])

    @strawberry.field(description="The current rule, as the rule language's JSON.")
    def rule(self) -> JSON:
        return cast(JSON, self.row["rule"])

    @strawberry.field
    def rule_version(self) -> int:
        return int(self.row["rule_version"])

    @strawberry.field(description="True if time passing alone can change membership.")
    def time_dependent(self) -> bool:
        return bool(self.row["time_dependent"])

    @strawberry.field(description="Built in (the lifecycle stages): cannot be revised.")
    def built_in(self) -> bool:
        return bool(self.row["built_in"])

    @strawberry.field
    def defined_by(self) -> str:
        return str(self.row["defined_by"])

    @strawberry.field
    def defined_at(self) -> datetime:
        return self.row["defined_at"]  # type: ignore[no-any-return]

    @strawberry.field
    def revised_at(self) -> datetime | None:
        return self.row["revised_at"]  # type: ignore[no-any-return]

    @strawberry.field
    def archived_at(self) -> datetime | None:
        return self.row["archived_at"]  # type: ignore[no-any-return]

    @strawberry.field(description="Members get this tag, once (an auto-tag rule); null: none.")
    def auto_tag(self) -> str | None:
        return self.row["auto_tag"]  # type: ignore[no-any-return]

    @strawberry.field(description="Current members (for front-line staff: the whole segment).")
    def member_count(self) -> int:
        return int(self.row["member_count"])

    @strawberry.field(description="Current members, latest entry first. Front-line staff see "
                                  "only their own friends.")
    async def members(self, info: Info[Context, None], first: int = 50,
                      after: str | None = None) -> SegmentMemberConnection:
        principal = info.context.principal
        staff = None if principal.sees_everyone else principal.subject_id
        cursor = None
        if after is not None:
            try:
                cursor = decode_member_cursor(after)
            except ValueError:
                raise ApiError(BAD_INPUT, "after is not a cursor of this list",
                               field="after") from None
        rows, more = await _reads(info).members(self.row["segment_id"], _size(first), cursor,
                                                staff)
        edges = [SegmentMemberEdge(
            cursor=encode_member_cursor(r["entry_position"], r["customer_id"]),
            since=r["member_since"], rule_version=r["member_version"], node=Customer.from_row(r))
            for r in rows]
        return SegmentMemberConnection(edges=edges, page_info=PageInfo(
            has_next_page=more, end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="Ledger entries, newest first: e.g. who entered since a time.")
    async def entries(self, info: Info[Context, None], since: datetime | None = None,
                      until: datetime | None = None, change: SegmentChange | None = None,
                      customer_id: strawberry.ID | None = None, first: int = 50,
                      after: str | None = None) -> SegmentLedgerConnection:
        _managers_only(info)
        return await _ledger(info, self.row["segment_id"],
                             to_uuid(customer_id, "customerId") if customer_id else None,
                             change, since, until, first, after)

    @strawberry.field(description="Members at a past instant (actual history, see docs/bi.md).")
    async def size_at(self, info: Info[Context, None], at: datetime) -> int:
        points = await _reads(info).size_series(self.row["segment_id"], at, at, 1)
        return int(points[0]["size"]) if points else 0

    @strawberry.field(description="Members at `from`, `from + everyHours`, … up to `to` "
                                  f"(at most {MAX_SERIES_POINTS} points).")
    async def size_series(self, info: Info[Context, None],
                          from_: Annotated[datetime, strawberry.argument(name="from")],
                          to: datetime,
                          every_hours: int = 24) -> list[SegmentSizePoint]:
        if every_hours < 1 or to < from_:
            raise ApiError(BAD_INPUT, "everyHours must be >= 1 and `to` after `from`",
                           field="everyHours")
        if (to - from_) / timedelta(hours=every_hours) > MAX_SERIES_POINTS:
            raise ApiError(BAD_INPUT, f"at most {MAX_SERIES_POINTS} points", field="everyHours")
        rows = await _reads(info).size_series(self.row["segment_id"], from_, to, every_hours)
        return [SegmentSizePoint(at=r["at"], size=int(r["size"])) for r in rows]


@strawberry.type(description="One predicate of the rule, evaluated for one customer.")
class PredicateResult:
    path: str = strawberry.field(description="Where in the rule, e.g. `all[1].ordered`.")
    predicate: str
    value: JSON = strawberry.field(description="The predicate's parameters.")
    result: bool
    observed: JSON = strawberry.field(description="What the customer's profile shows.")


@strawberry.type(description="Why a customer is, or is not, in a segment.")
class SegmentExplanation:
    segment_id: strawberry.ID
    customer_id: strawberry.ID
    rule_version: int
    member: bool = strawberry.field(description="In the segment now (membership table).")
    matches_now: bool = strawberry.field(
        description="The rule's answer at `evaluatedAt` (differs from `member` only until the "
                    "next clock tick re-evaluates a time window).")
    evaluated_at: datetime
    since: datetime | None
    predicates: list[PredicateResult]
    tree: JSON = strawberry.field(description="The whole rule with each node's result.")
    last_change: SegmentLedgerEntry | None


@strawberry.type(description="A dry run of a rule: how many customers match it now.")
class SegmentPreview:
    size: int
    sample_customer_ids: list[strawberry.ID]


@strawberry.type
class SegmentPayload:
    segment_id: strawberry.ID
    position: strawberry.ID | None = strawberry.field(
        description="Log position of the change; null if nothing changed.")
    projected: bool = strawberry.field(
        description="True once membership reflects the change (waitForProjection).")


# -- helpers ---------------------------------------------------------------------------------
def _reads(info: Info[Context, None]) -> SegmentReads:
    return SegmentReads(info.context.services.read_models.pool)


def _size(first: int) -> int:
    if not 1 <= first <= MAX_PAGE:
        raise ApiError(BAD_INPUT, f"first must be between 1 and {MAX_PAGE}", field="first")
    return first


def _staff_or_better(info: Info[Context, None]) -> None:
    if info.context.principal.kind not in ("staff", "service"):
        raise forbidden("segments are for staff and service principals")


def _managers_only(info: Info[Context, None]) -> None:
    if not info.context.principal.sees_everyone:
        raise forbidden("this is for managers and service principals")


async def _ledger(info: Info[Context, None], segment_id: UUID | None, customer_id: UUID | None,
                  change: SegmentChange | None, since: datetime | None, until: datetime | None,
                  first: int, after: str | None) -> SegmentLedgerConnection:
    before = None
    if after is not None:
        try:
            before = decode_cursor("l", after)
        except ValueError:
            raise ApiError(BAD_INPUT, "after is not a cursor of this list", field="after") from None
    rows, more = await _reads(info).entries(segment_id, customer_id,
                                            change.value if change else None, since, until,
                                            _size(first), before)
    edges = [SegmentLedgerEdge(cursor=encode_cursor("l", r["entry_id"]),
                               node=SegmentLedgerEntry.from_row(r)) for r in rows]
    return SegmentLedgerConnection(edges=edges, page_info=PageInfo(
        has_next_page=more, end_cursor=edges[-1].cursor if edges else None))


async def _segment_row(info: Info[Context, None], segment_id: strawberry.ID) -> dict[str, Any]:
    row = await _reads(info).segment(to_uuid(segment_id, "segmentId"))
    if row is None:
        raise ApiError(NOT_FOUND, "no such segment", field="segmentId")
    return row


def _flatten(node: dict[str, Any], path: str, out: list[PredicateResult]) -> None:
    if node["children"]:
        for i, child in enumerate(node["children"]):
            step = f"{node['node']}[{i}]" if node["node"] != "not" else "not"
            _flatten(child, f"{path}.{step}" if path else step, out)
        return
    out.append(PredicateResult(path=f"{path}.{node['node']}" if path else node["node"],
                               predicate=node["node"], value=cast(JSON, node["value"]),
                               result=node["result"], observed=cast(JSON, node["observed"])))


def _json_tree(node: dict[str, Any]) -> dict[str, Any]:
    return {"node": node["node"], "value": node["value"], "result": node["result"],
            "observed": node["observed"], "children": [_json_tree(c) for c in node["children"]]}


# -- queries and mutations ------------------------------------------------------------------
@strawberry.type
class SegmentQuery:
    @strawberry.field(description="Segments (staff and service principals).")
    async def segments(self, info: Info[Context, None], include_archived: bool = False,
                       include_built_in: bool = True) -> list[Segment]:
        _staff_or_better(info)
        rows = await _reads(info).segments(include_archived, include_built_in)
        return [Segment(row=r) for r in rows]

    @strawberry.field(description="One segment by id.")
    async def segment(self, info: Info[Context, None], id: strawberry.ID) -> Segment | None:
        _staff_or_better(info)
        row = await _reads(info).segment(to_uuid(id, "id"))
        return None if row is None else Segment(row=row)

    @strawberry.field(description="Why a customer is or is not in a segment: every predicate "
                                  "with what the profile shows, and the last ledger entry.")
    async def segment_explanation(self, info: Info[Context, None], segment_id: strawberry.ID,
                                  customer_id: strawberry.ID) -> SegmentExplanation:
        _staff_or_better(info)
        segment = await _segment_row(info, segment_id)
        cid = to_uuid(customer_id, "customerId")
        profile = await info.context.services.read_models.profile(cid)
        if profile is None or not info.context.principal.may_see(
                profile["customer_id"], list(profile["current_staff_ids"])):
            raise ApiError(NOT_FOUND, "no such customer", field="customerId")
        root = profile["customer_id"]
        full = await _full_profile(info, root)
        now = datetime.now(UTC)
        tree = explain(segment["rule"], full, now)
        predicates: list[PredicateResult] = []
        _flatten(tree, "", predicates)
        reads = _reads(info)
        membership = await reads.is_member(segment["segment_id"], root)
        last, _ = await reads.entries(segment["segment_id"], root, None, None, None, 1, None)
        return SegmentExplanation(
            segment_id=strawberry.ID(str(segment["segment_id"])),
            customer_id=strawberry.ID(str(root)), rule_version=segment["rule_version"],
            member=membership is not None, matches_now=tree["result"], evaluated_at=now,
            since=membership["since"] if membership else None, predicates=predicates,
            tree=cast(JSON, _json_tree(tree)),
            last_change=SegmentLedgerEntry.from_row(last[0]) if last else None)

    @strawberry.field(description="Dry run: how many customers a rule matches now.")
    async def segment_preview(self, info: Info[Context, None], rule: SegmentRuleInput,
                              sample: int = 10) -> SegmentPreview:
        _managers_only(info)
        if not 0 <= sample <= MAX_PAGE:
            raise ApiError(BAD_INPUT, f"sample must be 0-{MAX_PAGE}", field="sample")
        size, ids = await _reads(info).preview(_parsed(rule), datetime.now(UTC), sample)
        return SegmentPreview(size=size, sample_customer_ids=[strawberry.ID(str(i)) for i in ids])

    @strawberry.field(description="The segment ledger across segments or for one customer, "
                                  "newest first (managers and service principals).")
    async def segment_ledger(self, info: Info[Context, None],
                             segment_id: strawberry.ID | None = None,
                             customer_id: strawberry.ID | None = None,
                             change: SegmentChange | None = None, since: datetime | None = None,
                             until: datetime | None = None, first: int = 50,
                             after: str | None = None) -> SegmentLedgerConnection:
        _managers_only(info)
        return await _ledger(info, to_uuid(segment_id, "segmentId") if segment_id else None,
                             to_uuid(customer_id, "customerId") if customer_id else None,
                             change, since, until, first, after)


async def _full_profile(info: Info[Context, None], customer_id: UUID) -> dict[str, Any]:
    async with info.context.services.read_models.pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM customer_profile WHERE customer_id = %s",
                                 (customer_id,))
        row = await cur.fetchone()
    if row is None:
        raise ApiError(NOT_FOUND, "no such customer", field="customerId")
    return dict(row)


@strawberry.input
class DefineSegmentInput:
    name: str
    description: str = ""
    rule: SegmentRuleInput
    auto_tag: str | None = strawberry.field(
        default=None, description="Tag every member, now and as they enter (auto-tag rule).")
    wait_for_projection: bool = False
    timeout_ms: int = 5000


@strawberry.input
class ReviseSegmentInput:
    segment_id: strawberry.ID
    rule: SegmentRuleInput | None = None
    name: str | None = None
    description: str | None = None
    wait_for_projection: bool = False
    timeout_ms: int = 5000


@strawberry.input
class SetSegmentAutoTagInput:
    segment_id: strawberry.ID
    tag: str | None = strawberry.field(default=None, description="Null stops auto-tagging.")
    wait_for_projection: bool = False
    timeout_ms: int = 5000


@strawberry.input
class ArchiveSegmentInput:
    segment_id: strawberry.ID
    wait_for_projection: bool = False
    timeout_ms: int = 5000


async def _projected(info: Info[Context, None], position: int | None, wait: bool,
                     timeout_ms: int) -> bool:
    if position is None:
        return True
    if not wait:
        return False
    if not 0 <= timeout_ms <= 60000:
        raise ApiError(BAD_INPUT, "timeoutMs must be 0-60000", field="timeoutMs")
    tracker = info.context.services.tracker
    return await to_thread.run_sync(
        lambda: tracker.wait("customer_profile", position, timeout_ms / 1000))


async def _built_in(info: Info[Context, None], segment_id: UUID) -> None:
    row = await _reads(info).segment(segment_id)
    if row is not None and row["built_in"]:
        raise ApiError(BAD_INPUT, "built-in segments cannot be changed", field="segmentId")


@strawberry.type
class SegmentMutation:
    @strawberry.mutation(description="Define a segment; its membership is evaluated over every "
                                     "customer and then maintained as events arrive.")
    async def define_segment(self, info: Info[Context, None], input: DefineSegmentInput
                             ) -> SegmentPayload:
        require_recorder(info.context)
        rule = _parsed(input.rule)
        app = info.context.services.app
        by = info.context.principal.actor
        try:
            segment_id, position = await to_thread.run_sync(
                lambda: app.define_segment(input.name, input.description, rule, by,
                                           datetime.now(UTC), input.auto_tag))
        except DomainError as error:
            raise ApiError(error.code, error.message, field=error.field) from None
        return SegmentPayload(segment_id=strawberry.ID(str(segment_id)),
                              position=strawberry.ID(str(position)),
                              projected=await _projected(info, position,
                                                         input.wait_for_projection,
                                                         input.timeout_ms))

    @strawberry.mutation(description="Record a new version of a segment's rule (or its name "
                                     "or description); membership is re-evaluated.")
    async def revise_segment(self, info: Info[Context, None], input: ReviseSegmentInput
                             ) -> SegmentPayload:
        def revise(app: Any, segment_id: UUID, by: str) -> int | None:
            rule = _parsed(input.rule) if input.rule is not None else app.segment(segment_id).rule
            position: int | None = app.revise_segment(segment_id, rule, by, datetime.now(UTC),
                                                      input.name, input.description)
            return position

        return await _change(info, input.segment_id, input.wait_for_projection,
                             input.timeout_ms, revise)

    @strawberry.mutation(description="Make a segment an auto-tag rule (members get the tag once, "
                                     "those already in included), or stop it with null.")
    async def set_segment_auto_tag(self, info: Info[Context, None],
                                   input: SetSegmentAutoTagInput) -> SegmentPayload:
        return await _change(info, input.segment_id, input.wait_for_projection,
                             input.timeout_ms, lambda app, sid, by: app.set_segment_auto_tag(
                                 sid, input.tag, by, datetime.now(UTC)))

    @strawberry.mutation(description="Stop maintaining a segment: every member leaves; its "
                                     "ledger stays readable.")
    async def archive_segment(self, info: Info[Context, None], input: ArchiveSegmentInput
                              ) -> SegmentPayload:
        return await _change(info, input.segment_id, input.wait_for_projection,
                             input.timeout_ms, lambda app, sid, by: app.archive_segment(
                                 sid, by, datetime.now(UTC)))


async def _change(info: Info[Context, None], segment: strawberry.ID, wait: bool,
                  timeout_ms: int, command: Callable[[Any, UUID, str], int | None]
                  ) -> SegmentPayload:
    """A change of an existing, user-defined segment through the application."""
    require_recorder(info.context)
    segment_id = to_uuid(segment, "segmentId")
    await _built_in(info, segment_id)
    app = info.context.services.app
    by = info.context.principal.actor
    try:
        position = await to_thread.run_sync(lambda: command(app, segment_id, by))
    except DomainError as error:
        code = NOT_FOUND if error.code == "UNKNOWN_SEGMENT" else error.code
        raise ApiError(code, error.message, field=error.field) from None
    return SegmentPayload(segment_id=segment,
                          position=strawberry.ID(str(position)) if position else None,
                          projected=await _projected(info, position, wait, timeout_ms))
