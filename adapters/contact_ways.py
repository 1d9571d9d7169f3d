"""Client of WeCom's 「联系我」 contact-way API (渠道活码): add, update, delete, find by state.

WeCom: ``add_contact_way`` (``type`` 1 = one member / 2 = several, ``scene`` 2 = QR code,
``remark`` and ``state`` ≤ 30 characters, ≤ 100 members) answers a ``config_id`` (keep it:
without it a contact way cannot be changed or deleted) and a ``qr_code`` URL;
``update_contact_way`` / ``del_contact_way`` take the ``config_id``; ``list_contact_way``
lists the config ids created in a time window (cursor-paged, ≤ 1000 a page) and
``get_contact_way`` gives one's fields, its ``state`` among them.

``add_contact_way`` is not idempotent: an answer lost after WeCom created the contact way
would make a blind retry create a second one. :meth:`WeComContactWays.find` lists the
contact ways created since the code was decided and reads each one's ``state`` — the
platform's states are unique — so the caller reconciles before it adds again.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from adapters.wecom_client import TokenRefused, WeComSession

PATH = "/cgi-bin/externalcontact/"
#: Answers that say the request was not carried out and a retry may help.
TRANSIENT = frozenset({-1, 45009, 45011, 45033, 40014, 42001})


class Answer(enum.Enum):
    DONE = "done"
    REFUSED = "refused"  # permanent: bad member, bad parameter, no permission
    UNKNOWN = "unknown"  # no answer (5xx, lost reply, network): may or may not have happened
    RETRY = "retry"  # not carried out (busy, rate limit): try again later


@dataclass(frozen=True, slots=True)
class ContactWayResult:
    answer: Answer
    reason: str  # machine-readable, no personal data
    config_id: str | None = None
    qr_code: str | None = None


@dataclass(frozen=True, slots=True)
class ContactWaySpec:
    """What a channel code asks of WeCom (a QR code, ``scene`` 2)."""

    remark: str
    state: str
    user_ids: Sequence[str]
    skip_verify: bool

    def payload(self) -> dict[str, Any]:
        # type 2 (多人) even for one member: update_contact_way cannot change the type, and a
        # type 1 (单人) way can never be given a second member.
        return {"type": 2, "scene": 2, "style": 1,
                "remark": self.remark[:30], "skip_verify": self.skip_verify,
                "state": self.state, "user": list(self.user_ids)}


class ContactWayGateway(Protocol):
    def add(self, spec: ContactWaySpec) -> ContactWayResult: ...

    def update(self, config_id: str, spec: ContactWaySpec) -> ContactWayResult: ...

    def delete(self, config_id: str) -> ContactWayResult: ...

    def find(self, state: str, since: float) -> ContactWayResult: ...


def classify(status_code: int, body: Any) -> ContactWayResult:
    if status_code >= 500 or status_code in (408, 429):
        return ContactWayResult(Answer.UNKNOWN, f"http {status_code}")
    if status_code >= 400 or not isinstance(body, dict):
        return ContactWayResult(Answer.UNKNOWN, f"http {status_code}: malformed reply")
    errcode = body.get("errcode", 0)
    if errcode == 0:
        qr = body.get("qr_code")
        config = body.get("config_id")
        return ContactWayResult(Answer.DONE, "ok", config if isinstance(config, str) else None,
                                qr if isinstance(qr, str) else None)
    if errcode in TRANSIENT:
        return ContactWayResult(Answer.RETRY, f"errcode {errcode}")
    return ContactWayResult(Answer.REFUSED, f"errcode {errcode}")


def classified_call(session: WeComSession, path: str, payload: dict[str, Any], *,
                    get: bool = False) -> tuple[ContactWayResult, Any]:
    """One call of a WeCom ``externalcontact`` API through ``session``, classified, and the
    reply's body (None without a reply): a refused token is ``RETRY``; a network failure
    ``UNKNOWN`` (the request may have been processed); a reply as :func:`classify` says.
    The contact-way, moment, corp-tag and group-chat clients all call through it."""
    try:
        reply = session.call(path, payload, get=get)
    except TokenRefused as refused:
        return ContactWayResult(Answer.RETRY, f"token refused: errcode {refused.errcode}"), None
    except httpx.HTTPError as error:
        return ContactWayResult(Answer.UNKNOWN, f"network: {type(error).__name__}"), None
    return classify(reply.status_code, reply.body), reply.body


class WeComContactWays:
    """The contact-way client over one :class:`WeComSession` (token cached and refreshed)."""

    def __init__(self, base_url: str, corp_id: str, corp_secret: str, *,
                 timeout: float = 5.0, transport: httpx.BaseTransport | None = None,
                 clock: Any = time.time) -> None:
        self._session = WeComSession(base_url, {"corpid": corp_id, "corpsecret": corp_secret},
                                     timeout=timeout, transport=transport)
        self._clock = clock

    def close(self) -> None:
        self._session.close()

    def _post(self, name: str, payload: dict[str, Any]) -> tuple[ContactWayResult, Any]:
        return classified_call(self._session, PATH + name, payload)

    def add(self, spec: ContactWaySpec) -> ContactWayResult:
        return self._post("add_contact_way", spec.payload())[0]

    def update(self, config_id: str, spec: ContactWaySpec) -> ContactWayResult:
        payload = {k: v for k, v in spec.payload().items() if k not in ("type", "scene")}
        result = self._post("update_contact_way", {"config_id": config_id, **payload})[0]
        return result if result.answer is not Answer.DONE else ContactWayResult(
            Answer.DONE, "ok", config_id)

    def delete(self, config_id: str) -> ContactWayResult:
        return self._post("del_contact_way", {"config_id": config_id})[0]

    def find(self, state: str, since: float) -> ContactWayResult:
        """The contact way created since ``since`` (epoch seconds) that carries ``state``:
        DONE with its config id and QR code, REFUSED ("not found") when none does."""
        cursor: str | None = None
        while True:
            page: dict[str, Any] = {"start_time": int(since), "end_time": int(self._clock()) + 1,
                                    "limit": 1000}
            if cursor:
                page["cursor"] = cursor
            listed, body = self._post("list_contact_way", page)
            if listed.answer is not Answer.DONE:
                return listed
            for entry in body.get("contact_way", []):
                config_id = entry.get("config_id") if isinstance(entry, dict) else None
                if not isinstance(config_id, str):
                    continue
                got, detail = self._post("get_contact_way", {"config_id": config_id})
                if got.answer is not Answer.DONE:
                    return got
                way = detail.get("contact_way", {})
                if isinstance(way, dict) and way.get("state") == state:
                    qr = way.get("qr_code")
                    return ContactWayResult(Answer.DONE, "found", config_id,
                                            qr if isinstance(qr, str) and qr else None)
            cursor = body.get("next_cursor")
            if not cursor:
                return ContactWayResult(Answer.REFUSED, "not found")
