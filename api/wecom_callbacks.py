"""``/callbacks/wecom``: WeCom's external-contact and customer-group callbacks, recorded as events.

GET verifies the URL (answers the decrypted ``echostr``); POST checks the
signature and the timestamp window, decrypts, parses the XML (no DTDs), maps
it to ingestion items and records them as ``service:wecom``. Event ids come
from the callback's content, so a callback delivered twice records once.
A refused callback is logged by reason only — never its payload.
"""

from __future__ import annotations

import hashlib
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from api.context import Services
from api.wecom_crypto import CallbackRefused, WeComCrypto
from application.app import Siyu
from domain.ingestion import EventItem

log = logging.getLogger(__name__)

BY = "service:wecom"
MAX_BODY = 64 * 1024
#: How far a callback's timestamp may be from now (replays are refused).
WINDOW_SECONDS = 300
EXTERNAL_PREFIXES = ("wm", "wo")  # WeCom external contact ids; staff user ids are anything else


def unmapped_staff_id(user_id: str) -> str:
    """How a WeCom member with no staff record (no ``wecomUserId``) appears as ``staffId``."""
    return f"wecom_user:{user_id}"


def parse_xml(text: str) -> dict[str, Any]:
    """Flat fields of a WeCom XML message; ``MemChangeList`` items as a list."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise CallbackRefused("XML with a DTD")
    try:
        root = ET.fromstring(text)  # noqa: S314 - no DTD allowed (checked above)
    except ET.ParseError:
        raise CallbackRefused("malformed XML") from None
    fields: dict[str, Any] = {}
    for child in root:
        if child.tag == "MemChangeList":
            fields["MemChangeList"] = [item.text.strip() for item in child
                                       if item.text and item.text.strip()]
        else:
            fields[child.tag] = (child.text or "").strip()
    return fields


def _event_id(corp: str, fields: dict[str, Any], member: str = "") -> str:
    keys = ("Event", "ChangeType", "CreateTime", "UserID", "ExternalUserID", "ChatId",
            "UpdateDetail", "FailReason", "State")
    raw = "|".join([corp, *(str(fields.get(k, "")) for k in keys), member])
    return "wecom:" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def _when(fields: dict[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(int(fields.get("CreateTime", "")), UTC)
    except (ValueError, OverflowError, OSError):
        raise CallbackRefused("bad CreateTime") from None


#: change_external_contact ChangeType -> (ingestion type, extra fields from the XML)
_CONTACT: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "add_external_contact": ("FRIEND_ADDED", lambda f: {
        "channel": "wecom", "state": f.get("State") or None,
        "welcome_code": f.get("WelcomeCode") or None}),
    "add_half_external_contact": ("HALF_FRIEND_ADDED", lambda f: {
        "channel": "wecom", "state": f.get("State") or None,
        "welcome_code": f.get("WelcomeCode") or None}),
    "edit_external_contact": ("FRIEND_EDITED", lambda f: {}),
    "del_external_contact": ("FRIEND_DELETED", lambda f: {"deleted_by": "staff"}),
    "del_follow_user": ("FRIEND_DELETED", lambda f: {"deleted_by": "customer"}),
    "transfer_fail": ("TRANSFER_FAILED", lambda f: {"reason": f.get("FailReason") or "unknown"}),
}


def callback_items(corp: str, fields: dict[str, Any], staff_id: str | None = None
                   ) -> list[EventItem]:
    """The customer events a decrypted callback stands for (none for other callbacks).

    ``staff_id`` is the staff member whose ``wecomUserId`` is the callback's UserID.
    """
    event, change = fields.get("Event"), fields.get("ChangeType")
    namespace = f"wecom_external:{corp}"
    if event == "change_external_contact" and change in _CONTACT:
        external, user = fields.get("ExternalUserID"), fields.get("UserID")
        if not external or not user:
            raise CallbackRefused("contact change without ExternalUserID or UserID")
        kind, extra = _CONTACT[change]
        return [EventItem(_event_id(corp, fields), kind, (namespace, external), _when(fields),
                          staff_id=staff_id or unmapped_staff_id(user), **extra(fields))]
    if event == "change_external_chat" and change == "update":
        group_kind = {"add_member": "GROUP_JOINED", "del_member": "GROUP_LEFT"}.get(
            str(fields.get("UpdateDetail")))
        chat = fields.get("ChatId")
        if group_kind is None or not chat:
            return []
        return [EventItem(_event_id(corp, fields, member), group_kind, (namespace, member),
                          _when(fields), channel="wecom_group", group_id=chat)
                for member in fields.get("MemChangeList", [])
                if member.startswith(EXTERNAL_PREFIXES)]
    return []


DirectoryChange = Callable[[Siyu], bool]


def directory_change(corp: str, fields: dict[str, Any]) -> DirectoryChange | None:
    """A group created/dismissed or a tag-library change, as an application call (or None)."""
    event, change = fields.get("Event"), str(fields.get("ChangeType"))
    key = _event_id(corp, {**fields, "Id": fields.get("Id", "")}) + ":dir"
    if event == "change_external_chat" and change in ("create", "dismiss"):
        chat = fields.get("ChatId")
        if not chat:
            raise CallbackRefused("group change without ChatId")
        owner = fields.get("Owner") or None
        at = _when(fields)
        return lambda app: app.customers.record_group_change(corp, chat, change, owner, key, at)
    if event == "change_external_tag" and change in ("create", "update", "delete", "shuffle"):
        tag_id, tag_type = fields.get("Id") or "", fields.get("TagType") or "tag"
        at = _when(fields)
        key = "wecom:" + hashlib.sha256(
            f"{corp}|tag|{change}|{tag_id}|{tag_type}|{fields.get('CreateTime')}".encode()
        ).hexdigest()[:40]
        return lambda app: app.customers.record_tag_change(corp, tag_id, tag_type, change, key, at)
    return None


class WeComCallbacks:
    """The endpoint; ``crypto`` is None when WeCom is not configured (then: 404)."""

    def __init__(self, crypto: WeComCrypto | None, services: Callable[[], Services],
                 clock: Callable[[], float] = time.time) -> None:
        self.crypto = crypto
        self.services = services
        self.clock = clock

    def _verify(self, request: Request, payload: str) -> WeComCrypto:
        if self.crypto is None:
            raise CallbackRefused("not configured")
        params = request.query_params
        timestamp, nonce = params.get("timestamp", ""), params.get("nonce", "")
        if not timestamp.isdigit() or abs(self.clock() - int(timestamp)) > WINDOW_SECONDS:
            raise CallbackRefused("timestamp outside the window")
        self.crypto.check(params.get("msg_signature", ""), timestamp, nonce, payload)
        return self.crypto

    async def _staff(self, user_id: Any) -> str | None:
        if not user_id:
            return None
        found = await self.services().read_models.staff_for_wecom_user(str(user_id))
        return None if found is None else str(found)

    async def handle(self, request: Request) -> Response:
        try:
            if request.method == "GET":
                echo = request.query_params.get("echostr", "")
                return PlainTextResponse(self._verify(request, echo).decrypt(echo))
            body = await request.body()
            if len(body) > MAX_BODY:
                raise CallbackRefused("body too large")
            envelope = parse_xml(body.decode(errors="replace"))
            encrypted = str(envelope.get("Encrypt", ""))
            crypto = self._verify(request, encrypted)
            fields = parse_xml(crypto.decrypt(encrypted))
            staff_id = await self._staff(fields.get("UserID"))
            items = callback_items(crypto.corp_id, fields, staff_id)
            directory = directory_change(crypto.corp_id, fields)
        except CallbackRefused as refused:
            status = 404 if str(refused) == "not configured" else 403
            log.warning("WeCom callback refused: %s", refused)
            return PlainTextResponse(f"refused: {refused}", status_code=status)
        if directory is not None:
            app = self.services().app
            await to_thread.run_sync(directory, app)
            return PlainTextResponse("success")
        if not items:
            log.info("WeCom callback %s/%s acknowledged, nothing to record",
                     fields.get("Event"), fields.get("ChangeType"))
            return PlainTextResponse("success")
        result = await self.services().batcher.record(items, BY)
        for outcome in result.outcomes:
            if outcome.error is not None:
                log.warning("WeCom callback item refused: %s on %s", outcome.error.code,
                            outcome.error.field)
        return PlainTextResponse("success")
