"""GraphQL for privacy (PIPL): ``eraseCustomer``, ``exportMyData`` and ``customerDataExport``.

Erasure and the export of another customer's data are for company managers and privacy
officers (staff role ``privacy_officer``); a customer token exports its own data. The
export holds every stored event of the person and every vault value, decrypted, with
their consents (purpose and wording version), as JSON and as CSV. Logs carry ids only.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import UTC, datetime
from enum import Enum
from typing import Any, cast
from uuid import UUID

import strawberry
from anyio import to_thread
from strawberry.scalars import JSON
from strawberry.types import Info

from api.context import Context
from api.errors import NOT_FOUND, ApiError, forbidden
from api.types import to_uuid
from application.privacy import PersonalExport
from domain.errors import DomainError

log = logging.getLogger(__name__)

PRIVACY_OFFICER = "privacy_officer"
#: Staff roles that may erase customers and export anyone's data.
PRIVACY_ROLES = frozenset({"private_domain_manager", PRIVACY_OFFICER})  # not department managers
#: Events of a customer's stream that concern the staff, not the customer (supervision).
STAFF_ONLY_EVENTS = frozenset({"Customer.SensitiveWordsFound"})
#: Vault fields that concern the staff (texts of supervised staff messages).
STAFF_ONLY_FIELD_PREFIX = "message:"
CSV_COLUMNS = ("section", "stream_id", "version", "type", "occurred_at", "recorded_at", "by",
               "data")


@strawberry.enum(description="Why a customer is erased (docs/privacy.md).")
class ErasureReason(Enum):
    CUSTOMER_REQUEST = "customer_request"
    PURPOSE_FULFILLED = "purpose_fulfilled"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    LEGAL_ORDER = "legal_order"


@strawberry.input
class EraseCustomerInput:
    customer_id: strawberry.ID
    reason: ErasureReason
    ticket: str | None = strawberry.field(
        default=None, description="The privacy team's case reference (1-64 of A-Z a-z 0-9 "
                                  "-_.:/#); never personal data.")


@strawberry.type
class EraseCustomerPayload:
    customer_id: strawberry.ID = strawberry.field(
        description="The erased customer (the survivor, if the id given was merged into it).")
    erased_streams: int = strawberry.field(
        description="Streams whose keys were destroyed: the customer and those merged into it.")
    position: strawberry.ID | None


@strawberry.type(description="A consent the customer holds now.")
class ConsentRecord:
    purpose: str
    wording_version: str


@strawberry.type(description="Everything stored about one person (PIPL Art. 45).")
class PersonalDataExport:
    customer_id: strawberry.ID
    erased: bool
    exported_at: datetime
    consents: list[ConsentRecord]
    document: JSON = strawberry.field(description="The whole export as one JSON object: "
                                                  "events, personal data, consents.")
    csv: str = strawberry.field(description="The same as CSV: one line per event, per "
                                            "personal-data field and per consent.")


#: Event fields that point at an identity: shown as "erased" once the customer is erased.
IDENTITY_POINTERS = ("blind_index", "blind_indexes")


def erased_placeholders(data: dict[str, Any]) -> dict[str, Any]:
    """An erased customer's event data as the history shows it: no identity pointers."""
    for name in IDENTITY_POINTERS:
        if isinstance(data.get(name), list):
            data[name] = ["erased"] * len(data[name])
        elif name in data:
            data[name] = "erased"
    return data


def _is_privacy_staff(info: Info[Context, None]) -> bool:
    principal = info.context.principal
    return principal.kind == "staff" and principal.role in PRIVACY_ROLES


def _document(export: PersonalExport, at: datetime, staff_view: bool) -> dict[str, Any]:
    events = [e for e in export.events if staff_view or e.type not in STAFF_ONLY_EVENTS]
    personal = {subject: {k: v for k, v in fields.items()
                          if staff_view or not k.startswith(STAFF_ONLY_FIELD_PREFIX)}
                for subject, fields in export.personal.items()}
    return {
        "customerId": str(export.customer_id),
        "streams": [str(s) for s in export.streams],
        "erased": export.erased,
        "exportedAt": at.isoformat(),
        "consents": [{"purpose": p, "wordingVersion": v}
                     for p, v in sorted(export.consents.items())],
        "personalData": personal,
        "events": [{"streamId": str(e.stream_id), "version": e.version, "type": e.type,
                    "occurredAt": e.occurred_at.isoformat() if e.occurred_at else None,
                    "recordedAt": e.recorded_at.isoformat(), "by": e.by, "data": e.data}
                   for e in events],
    }


def render_csv(document: dict[str, Any]) -> str:
    """One line per event (``data`` as JSON), per personal-data field, per consent."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in document["events"]:
        writer.writerow(["event", e["streamId"], e["version"], e["type"], e["occurredAt"] or "",
                         e["recordedAt"], e["by"] or "",
                         json.dumps(e["data"], ensure_ascii=False, sort_keys=True)])
    for subject, fields in sorted(document["personalData"].items()):
        for name, value in sorted(fields.items()):
            writer.writerow(["personal_data", subject, "", name, "", "", "", value])
    for consent in document["consents"]:
        writer.writerow(["consent", document["customerId"], "", consent["purpose"], "", "", "",
                         consent["wordingVersion"]])
    return buffer.getvalue()


async def _export(info: Info[Context, None], customer_id: UUID, staff_view: bool
                  ) -> PersonalDataExport:
    app = info.context.services.app
    try:
        export = await to_thread.run_sync(lambda: app.privacy.export(customer_id))
    except DomainError as error:
        raise ApiError(NOT_FOUND, error.message, field=error.field) from None
    at = datetime.now(UTC)
    document = _document(export, at, staff_view)
    log.info("personal data exported: customer %s by %s", export.customer_id,
             info.context.principal.actor)
    return PersonalDataExport(
        customer_id=strawberry.ID(str(export.customer_id)), erased=export.erased,
        exported_at=at,
        consents=[ConsentRecord(purpose=p, wording_version=v)
                  for p, v in sorted(export.consents.items())],
        document=cast(JSON, document), csv=render_csv(document))


@strawberry.type
class PrivacyQuery:
    @strawberry.field(description="Your own data (customer tokens): every event recorded about "
                                  "you and your personal data, decrypted, with your consents.")
    async def export_my_data(self, info: Info[Context, None]) -> PersonalDataExport:
        principal = info.context.principal
        if principal.kind != "customer":
            raise forbidden("exportMyData is for customer tokens; staff use customerDataExport")
        return await _export(info, UUID(principal.subject_id), staff_view=False)

    @strawberry.field(description="One customer's data export (managers and privacy officers).")
    async def customer_data_export(self, info: Info[Context, None], customer_id: strawberry.ID
                                   ) -> PersonalDataExport:
        if not _is_privacy_staff(info):
            raise forbidden("exports of a customer's data are for managers and privacy officers")
        return await _export(info, to_uuid(customer_id, "customerId"), staff_view=True)


@strawberry.type
class PrivacyMutation:
    @strawberry.mutation(description="Erase a customer's personal data (PIPL Art. 47): their "
                                     "vault key and identities are destroyed, their history "
                                     "kept without them. Managers and privacy officers only.")
    async def erase_customer(self, info: Info[Context, None], input: EraseCustomerInput
                             ) -> EraseCustomerPayload:
        if not _is_privacy_staff(info):
            raise forbidden("erasure is for managers and privacy officers")
        customer_id = to_uuid(input.customer_id, "customerId")
        app = info.context.services.app
        by = info.context.principal.actor
        try:
            streams, position = await to_thread.run_sync(lambda: app.privacy.erase(
                customer_id, input.reason.value, input.ticket, by, datetime.now(UTC)))
        except DomainError as error:
            code = NOT_FOUND if error.code == "UNKNOWN_CUSTOMER" else error.code
            raise ApiError(code, error.message, field=error.field) from None
        revoke = info.context.services.revoke_customer_tokens
        if revoke is not None:  # their tokens end with their data (cached ones within 30 s)
            await to_thread.run_sync(lambda: [revoke(str(s)) for s in streams])
        log.info("customer %s erased by %s (%s)", streams[0], by, input.reason.value)
        return EraseCustomerPayload(
            customer_id=strawberry.ID(str(streams[0])), erased_streams=len(streams),
            position=strawberry.ID(str(position)) if position is not None else None)
