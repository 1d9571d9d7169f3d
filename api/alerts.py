"""Alerts and the sensitive-word lexicon over GraphQL.

Managers and service principals manage the lexicon (front-line staff may not read it:
knowing the terms is knowing how to dodge them) and see every alert; a front-line staff
member sees the alerts addressed to them. Whoever may see an alert may acknowledge or
resolve it (who and when are recorded). ``sensitiveMessage`` decrypts the message behind
a sensitive-word alert, for managers only (not even service principals); it answers a
null text once the customer's key is erased. Reads come from ``staff_alert``,
``sensitive_term`` and ``sensitive_category``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from api import policy
from api.commands import run_command
from api.context import Context
from api.errors import BAD_INPUT, NOT_FOUND, ApiError
from api.projection_wait import caught_up
from api.read_models import decode_cursor, encode_cursor
from api.types import PageInfo, to_uuid
from projections.staff_alerts import queries
from projections.vault import queries as vault_queries

log = logging.getLogger(__name__)

MAX_PAGE = 200
VIEW = "staff_alert"
SENSITIVE_KINDS = ("sensitive_word", "customer_sensitive_word")
Row = dict[str, Any]


@strawberry.enum
class AlertKind(Enum):
    WIN_BACK = "win_back"
    CHAT_TIMEOUT = "chat_timeout"
    CHAT_TIMEOUT_ESCALATED = "chat_timeout_escalated"
    SENSITIVE_WORD = "sensitive_word"
    CUSTOMER_SENSITIVE_WORD = "customer_sensitive_word"
    PROJECTION_QUARANTINED = "projection_quarantined"


@strawberry.enum
class AlertStatus(Enum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@strawberry.type(description="A lexicon term that a staff message matched.")
class SensitiveHit:
    category: str
    term_id: str
    term: str


@strawberry.type(description="A front-line alert: a win-back task, a chat timeout, a "
                             "sensitive word. Never holds message text.")
class StaffAlert:
    id: strawberry.ID
    kind: AlertKind
    status: AlertStatus
    staff_id: strawberry.ID = strawberry.field(
        description="The staff member whose customer or message it concerns.")
    customer_id: strawberry.ID | None
    recipients: list[strawberry.ID]
    hits: list[SensitiveHit]
    message_ref: str | None = strawberry.field(
        description="Vault reference of the message (sensitive words): see sensitiveMessage.")
    unanswered_since: datetime | None = strawberry.field(
        description="Chat timeouts: when the unanswered customer message arrived.")
    raised_at: datetime
    delivered_to: list[strawberry.ID]
    failed_to: list[strawberry.ID]
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution_note: str | None

    @classmethod
    def from_row(cls, row: Row) -> StaffAlert:
        context = row["context"] or {}
        since = context.get("since")
        return cls(
            id=strawberry.ID(str(row["alert_id"])), kind=AlertKind(row["kind"]),
            status=AlertStatus(row["status"]), staff_id=strawberry.ID(row["staff_id"]),
            customer_id=None if row["customer_id"] is None else strawberry.ID(
                str(row["customer_id"])),
            recipients=[strawberry.ID(r) for r in row["recipients"]],
            hits=[SensitiveHit(category=h["category"], term_id=h["term_id"], term=h["term"])
                  for h in context.get("hits") or []],
            message_ref=row["message_ref"],
            unanswered_since=None if since is None else datetime.fromisoformat(since),
            raised_at=row["raised_at"],
            delivered_to=[strawberry.ID(r) for r in row["delivered_to"]],
            failed_to=[strawberry.ID(r) for r in row["failed_to"]],
            acknowledged_by=row["acknowledged_by"], acknowledged_at=row["acknowledged_at"],
            resolved_by=row["resolved_by"], resolved_at=row["resolved_at"],
            resolution_note=row["resolution_note"])


@strawberry.type
class StaffAlertEdge:
    cursor: str
    node: StaffAlert


@strawberry.type
class StaffAlertConnection:
    edges: list[StaffAlertEdge]
    page_info: PageInfo


@strawberry.type
class SensitiveCategory:
    code: str
    label: str
    built_in: bool


@strawberry.type
class SensitiveTerm:
    term_id: str
    category: str
    term: str
    added_by: str
    added_at: datetime
    removed_at: datetime | None

    @classmethod
    def from_row(cls, row: Row) -> SensitiveTerm:
        return cls(term_id=row["term_id"], category=row["category"], term=row["term"],
                   added_by=row["added_by"], added_at=row["added_at"],
                   removed_at=row["removed_at"])


@strawberry.type(description="The sensitive-word lexicon (敏感词库).")
class SensitiveLexicon:
    version: int = strawberry.field(description="The lexicon's version (0: never edited).")
    categories: list[SensitiveCategory]
    terms: list[SensitiveTerm]


@strawberry.type(description="The text behind a sensitive-word alert, decrypted for review.")
class SensitiveMessage:
    alert_id: strawberry.ID
    customer_id: strawberry.ID
    message_ref: str
    text: str | None = strawberry.field(
        description="Null once the customer's personal data is erased.")


@strawberry.input
class DefineSensitiveCategoryInput:
    category: str = strawberry.field(description="Code: lower-case letters, digits, '_'.")
    label: str


@strawberry.input
class AddSensitiveTermsInput:
    category: str
    terms: list[str]


@strawberry.input
class RemoveSensitiveTermInput:
    term_id: str


@strawberry.input
class AcknowledgeAlertInput:
    alert_id: strawberry.ID


@strawberry.input
class ResolveAlertInput:
    alert_id: strawberry.ID
    note: str = ""


@strawberry.type
class LexiconPayload:
    lexicon: SensitiveLexicon
    added: list[SensitiveTerm]
    projected: bool


@strawberry.type
class AlertPayload:
    alert: StaffAlert | None
    projected: bool



async def _run(command: Callable[[], Any]) -> Any:
    return await run_command(command, {"UNKNOWN_ALERT": NOT_FOUND, "INVALID_INPUT": BAD_INPUT})



async def _lexicon(info: Info[Context, None], include_removed: bool) -> SensitiveLexicon:
    categories = await queries.categories(info.context.services.read_models.pool)
    terms = await queries.terms(info.context.services.read_models.pool, include_removed=include_removed)
    version = max([r["version"] for r in categories + terms], default=0)
    return SensitiveLexicon(
        version=version,
        categories=[SensitiveCategory(code=r["category"], label=r["label"],
                                      built_in=r["built_in"]) for r in categories],
        terms=[SensitiveTerm.from_row(r) for r in terms])


async def _visible_alert(info: Info[Context, None], alert_id: UUID) -> Row:
    row = await queries.alert(info.context.services.read_models.pool, alert_id)
    principal = info.context.principal
    if not row or not (principal.sees_everyone or any(
            policy.staff_scope(principal).covers_staff(str(r)) for r in row["recipients"])):
        raise ApiError(NOT_FOUND, "no such alert among yours", field="alertId")
    return row


@strawberry.type
class AlertQuery:
    @strawberry.field(description="The sensitive-word lexicon (managers, service).")
    async def sensitive_lexicon(self, info: Info[Context, None], include_removed: bool = False
                                ) -> SensitiveLexicon:
        return await _lexicon(info, include_removed)

    @strawberry.field(description="Alerts, newest first: every alert for managers and service "
                                  "principals, one's own for front-line staff.")
    async def staff_alerts(self, info: Info[Context, None], status: AlertStatus | None = None,
                           kind: AlertKind | None = None, staff_id: strawberry.ID | None = None,
                           first: int = 50, after: str | None = None) -> StaffAlertConnection:
        principal = info.context.principal
        if not 1 <= first <= MAX_PAGE:
            raise ApiError(BAD_INPUT, f"first must be between 1 and {MAX_PAGE}", field="first")
        try:
            before = None if after is None else decode_cursor("a", after)
        except ValueError:
            raise ApiError(BAD_INPUT, "after is not a cursor of this list", field="after") from None
        recipient = None if principal.sees_everyone else principal.subject_id
        rows = await queries.alerts(
            info.context.services.read_models.pool, status=status and status.value, kind=kind and kind.value,
            staff_id=staff_id, recipient=recipient, before=before, limit=first + 1)
        edges = [StaffAlertEdge(cursor=encode_cursor("a", r["position"]),
                                node=StaffAlert.from_row(r)) for r in rows[:first]]
        return StaffAlertConnection(edges=edges, page_info=PageInfo(
            has_next_page=len(rows) > first, end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="One alert (NOT_FOUND unless it is visible to you).")
    async def staff_alert(self, info: Info[Context, None], id: strawberry.ID) -> StaffAlert:
        return StaffAlert.from_row(await _visible_alert(info, to_uuid(id, "id")))

    @strawberry.field(description="The message behind a sensitive-word alert, decrypted: "
                                  "managers only. The review is logged (ids, never the text).")
    async def sensitive_message(self, info: Info[Context, None], alert_id: strawberry.ID
                                ) -> SensitiveMessage:
        principal = info.context.principal
        row = await _visible_alert(info, to_uuid(alert_id, "alertId"))
        if row["kind"] not in SENSITIVE_KINDS or row["message_ref"] is None:
            raise ApiError(BAD_INPUT, "this alert has no message to review", field="alertId")
        customer_id, ref = row["customer_id"], row["message_ref"]
        sealed = await vault_queries.sealed(info.context.services.read_models.pool, customer_id, ref)
        text = None
        if sealed:
            text = info.context.services.vault.open(sealed[0], customer_id, ref, sealed[1])
        log.info("sensitive message of alert %s reviewed by %s", row["alert_id"],
                 principal.actor)
        return SensitiveMessage(alert_id=strawberry.ID(str(row["alert_id"])),
                                customer_id=strawberry.ID(str(customer_id)), message_ref=ref,
                                text=text)


@strawberry.type
class AlertMutation:
    @strawberry.mutation(description="Define (or relabel) a custom sensitive-word category.")
    async def define_sensitive_category(self, info: Info[Context, None],
                                        input: DefineSensitiveCategoryInput) -> LexiconPayload:
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.supervision.define_category(
            input.category, input.label, by, datetime.now(UTC)))
        projected = await caught_up(info, VIEW, position)
        return LexiconPayload(lexicon=await _lexicon(info, False), added=[],
                              projected=projected)

    @strawberry.mutation(description="Add terms to a category (terms it holds are skipped).")
    async def add_sensitive_terms(self, info: Info[Context, None],
                                  input: AddSensitiveTermsInput) -> LexiconPayload:
        app, by = info.context.services.app, info.context.principal.actor
        added, position = await _run(lambda: app.supervision.add_terms(
            input.category, input.terms, by, datetime.now(UTC)))
        projected = await caught_up(info, VIEW, position)
        lexicon = await _lexicon(info, False)
        ids = {t.term_id for t in added}
        return LexiconPayload(lexicon=lexicon, projected=projected,
                              added=[t for t in lexicon.terms if t.term_id in ids])

    @strawberry.mutation(description="Add the built-in categories' starter terms (辱骂, 私单, "
                                     "飞单 phrases) the lexicon lacks; a second call adds none.")
    async def add_starter_sensitive_terms(self, info: Info[Context, None]) -> LexiconPayload:
        app, by = info.context.services.app, info.context.principal.actor
        added, position = await _run(lambda: app.supervision.add_starter_terms(
            by, datetime.now(UTC)))
        projected = await caught_up(info, VIEW, position)
        lexicon = await _lexicon(info, False)
        ids = {t.term_id for t in added}
        return LexiconPayload(lexicon=lexicon, projected=projected,
                              added=[t for t in lexicon.terms if t.term_id in ids])

    @strawberry.mutation(description="Remove a term (hits recorded with it keep it).")
    async def remove_sensitive_term(self, info: Info[Context, None],
                                    input: RemoveSensitiveTermInput) -> LexiconPayload:
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.supervision.remove_term(input.term_id, by,
                                                                datetime.now(UTC)))
        projected = await caught_up(info, VIEW, position)
        return LexiconPayload(lexicon=await _lexicon(info, False), added=[],
                              projected=projected)

    @strawberry.mutation(description="Acknowledge an alert (a no-op if it was).")
    async def acknowledge_alert(self, info: Info[Context, None], input: AcknowledgeAlertInput
                                ) -> AlertPayload:
        aid = to_uuid(input.alert_id, "alertId")
        await _visible_alert(info, aid)
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.supervision.acknowledge_alert(aid, by, datetime.now(UTC)))
        projected = await caught_up(info, VIEW, position)
        return AlertPayload(alert=StaffAlert.from_row(await _visible_alert(info, aid)),
                            projected=projected)

    @strawberry.mutation(description="Resolve an alert, with an optional note.")
    async def resolve_alert(self, info: Info[Context, None], input: ResolveAlertInput
                            ) -> AlertPayload:
        aid = to_uuid(input.alert_id, "alertId")
        await _visible_alert(info, aid)
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.supervision.resolve_alert(aid, input.note, by, datetime.now(UTC)))
        projected = await caught_up(info, VIEW, position)
        return AlertPayload(alert=StaffAlert.from_row(await _visible_alert(info, aid)),
                            projected=projected)
