"""GraphQL for segments (分层): members, ledger, sizes, reasons; the mutations are in
:mod:`api.segment_mutations`, the rule input in :mod:`api.segment_rule_input`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, Any, cast
from uuid import UUID

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from api import policy
from api.context import Context
from api.customer_types import Customer
from api.errors import BAD_INPUT, NOT_FOUND, ApiError
from api.read_models import decode_cursor, encode_cursor
from api.segment_rule_input import SegmentRuleInput, parsed_rule
from api.types import PageInfo, TimeBasis, to_uuid
from projections.segments import library
from projections.segments.evaluation import explain
from projections.segments.queries import SegmentReads, decode_member_cursor, encode_member_cursor

MAX_PAGE = 200
MAX_SERIES_POINTS = 1000


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
    PRODUCT = "PRODUCT"


@strawberry.type(description="One entry or exit, with the rule version and its cause.")
class SegmentLedgerEntry:
    segment_id: strawberry.ID
    customer_id: strawberry.ID
    change: SegmentChange
    at: datetime = strawberry.field(description="When the platform evaluated the change (UTC).")
    occurred_at: datetime = strawberry.field(
        description="Business time of its cause (the event's occurredAt; a tick's time).")
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
                   occurred_at=row["occurred_at"],
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
        rows, more = await reads(info).members(self.row["segment_id"], _size(first), cursor,
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
                      after: str | None = None,
                      basis: TimeBasis = TimeBasis.BUSINESS) -> SegmentLedgerConnection:
        policy.require(info.context.principal, "Segment.entries")
        return await _ledger(info, self.row["segment_id"],
                             to_uuid(customer_id, "customerId") if customer_id else None,
                             change, since, until, first, after, basis)

    @strawberry.field(description="Members at a past instant (actual history, see docs/bi.md), "
                                  "by business time unless `basis: RECORDED`.")
    async def size_at(self, info: Info[Context, None], at: datetime,
                      basis: TimeBasis = TimeBasis.BUSINESS) -> int:
        points = await reads(info).size_series(self.row["segment_id"], at, at, 1, basis.value)
        return int(points[0]["size"]) if points else 0

    @strawberry.field(description="Members at `from`, `from + everyHours`, … up to `to` "
                                  f"(at most {MAX_SERIES_POINTS} points).")
    async def size_series(self, info: Info[Context, None],
                          from_: Annotated[datetime, strawberry.argument(name="from")],
                          to: datetime,
                          every_hours: int = 24,
                          basis: TimeBasis = TimeBasis.BUSINESS) -> list[SegmentSizePoint]:
        if every_hours < 1 or to < from_:
            raise ApiError(BAD_INPUT, "everyHours must be >= 1 and `to` after `from`",
                           field="everyHours")
        if (to - from_) / timedelta(hours=every_hours) > MAX_SERIES_POINTS:
            raise ApiError(BAD_INPUT, f"at most {MAX_SERIES_POINTS} points", field="everyHours")
        rows = await reads(info).size_series(self.row["segment_id"], from_, to, every_hours,
                                             basis.value)
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
def reads(info: Info[Context, None]) -> SegmentReads:
    return SegmentReads(info.context.services.read_models.pool)


def _size(first: int) -> int:
    if not 1 <= first <= MAX_PAGE:
        raise ApiError(BAD_INPUT, f"first must be between 1 and {MAX_PAGE}", field="first")
    return first




async def _ledger(info: Info[Context, None], segment_id: UUID | None, customer_id: UUID | None,
                  change: SegmentChange | None, since: datetime | None, until: datetime | None,
                  first: int, after: str | None, basis: TimeBasis) -> SegmentLedgerConnection:
    before = None
    if after is not None:
        try:
            before = decode_cursor("l", after)
        except ValueError:
            raise ApiError(BAD_INPUT, "after is not a cursor of this list", field="after") from None
    rows, more = await reads(info).entries(segment_id, customer_id,
                                            change.value if change else None, since, until,
                                            _size(first), before, basis.value)
    edges = [SegmentLedgerEdge(cursor=encode_cursor("l", r["entry_id"]),
                               node=SegmentLedgerEntry.from_row(r)) for r in rows]
    return SegmentLedgerConnection(edges=edges, page_info=PageInfo(
        has_next_page=more, end_cursor=edges[-1].cursor if edges else None))


async def _segment_row(info: Info[Context, None], segment_id: strawberry.ID) -> dict[str, Any]:
    row = await reads(info).segment(to_uuid(segment_id, "segmentId"))
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
        rows = await reads(info).segments(include_archived, include_built_in)
        return [Segment(row=r) for r in rows]

    @strawberry.field(description="One segment by id.")
    async def segment(self, info: Info[Context, None], id: strawberry.ID) -> Segment | None:
        row = await reads(info).segment(to_uuid(id, "id"))
        return None if row is None else Segment(row=row)

    @strawberry.field(description="Why a customer is or is not in a segment: every predicate "
                                  "with what the profile shows, and the last ledger entry.")
    async def segment_explanation(self, info: Info[Context, None], segment_id: strawberry.ID,
                                  customer_id: strawberry.ID) -> SegmentExplanation:
        segment = await _segment_row(info, segment_id)
        cid = to_uuid(customer_id, "customerId")
        profile = await info.context.services.read_models.profile(cid)
        if profile is None or not info.context.principal.may_see(
                profile["customer_id"], list(profile["current_staff_ids"])):
            raise ApiError(NOT_FOUND, "no such customer", field="customerId")
        root = profile["customer_id"]
        full = await _full_profile(info, root)
        now = datetime.now(UTC)
        products = await library.current(info.context.services.read_models.pool,
                                         [segment["rule"]])
        tree = explain(library.resolved(segment["rule"], products), full, now)
        predicates: list[PredicateResult] = []
        _flatten(tree, "", predicates)
        segment_reads = reads(info)
        membership = await segment_reads.is_member(segment["segment_id"], root)
        last, _ = await segment_reads.entries(segment["segment_id"], root, None, None, None, 1, None)
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
        if not 0 <= sample <= MAX_PAGE:
            raise ApiError(BAD_INPUT, f"sample must be 0-{MAX_PAGE}", field="sample")
        size, ids = await reads(info).preview(parsed_rule(rule), datetime.now(UTC), sample)
        return SegmentPreview(size=size, sample_customer_ids=[strawberry.ID(str(i)) for i in ids])

    @strawberry.field(description="The segment ledger across segments or for one customer, "
                                  "newest first (managers and service principals).")
    async def segment_ledger(self, info: Info[Context, None],
                             segment_id: strawberry.ID | None = None,
                             customer_id: strawberry.ID | None = None,
                             change: SegmentChange | None = None, since: datetime | None = None,
                             until: datetime | None = None, first: int = 50,
                             after: str | None = None,
                             basis: TimeBasis = TimeBasis.BUSINESS) -> SegmentLedgerConnection:
        return await _ledger(info, to_uuid(segment_id, "segmentId") if segment_id else None,
                             to_uuid(customer_id, "customerId") if customer_id else None,
                             change, since, until, first, after, basis)


async def _full_profile(info: Info[Context, None], customer_id: UUID) -> dict[str, Any]:
    row = await reads(info).full_profile(customer_id)
    if row is None:
        raise ApiError(NOT_FOUND, "no such customer", field="customerId")
    return row


