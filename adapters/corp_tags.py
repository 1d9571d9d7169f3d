"""Client of WeCom's corp customer tags (企业客户标签, 「管理企业标签」).

WeCom: ``get_corp_tag_list`` (``tag_id`` / ``group_id`` filters; none: every live group with
its live tags) answers ``tag_group`` — each group's ``group_id``, ``group_name``, ``order``,
``tag`` (``id``, ``name``, ``order``), ``deleted`` flags only to a query by ``tag_id`` —;
``add_corp_tag`` adds tags to a group (by ``group_id``, or ``group_name``: that group, or a
new one) and answers the group with the tags it created; ``edit_corp_tag`` renames /
reorders a tag or a group by ``id``; ``del_corp_tag`` deletes tags or groups (a group
without tags goes with them).

Brands manage their tag library in WeCom's admin console; the platform reads it
(:meth:`WeComCorpTags.listing`, by :mod:`workers.corp_tags`) to know each platform tag's
WeCom tag id. ``add_corp_tag`` is not idempotent (an answer lost after WeCom created the tags
leaves them created): a caller lists before it adds again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from adapters.contact_ways import Answer, classified_call
from adapters.wecom_client import WeComSession

PATH = "/cgi-bin/externalcontact/"


@dataclass(frozen=True, slots=True)
class CorpTag:
    """One tag of the corp's library, with its group."""

    tag_id: str
    name: str
    group_id: str
    group_name: str
    order: int = 0
    group_order: int = 0
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class TagAnswer:
    answer: Answer
    reason: str  # machine-readable, no personal data
    tags: tuple[CorpTag, ...] = ()


class CorpTagGateway(Protocol):
    def listing(self, tag_ids: Sequence[str] = (), group_ids: Sequence[str] = ()
                ) -> TagAnswer: ...


def _tags(groups: Any) -> tuple[CorpTag, ...]:
    """The tags of a ``tag_group`` list (one group object for ``add_corp_tag``)."""
    found: list[CorpTag] = []
    for group in groups if isinstance(groups, list) else [groups]:
        if not isinstance(group, dict) or not isinstance(group.get("group_id"), str):
            continue
        for tag in group.get("tag") or []:
            if isinstance(tag, dict) and isinstance(tag.get("id"), str):
                found.append(CorpTag(
                    tag["id"], str(tag.get("name", "")), group["group_id"],
                    str(group.get("group_name", "")), int(tag.get("order") or 0),
                    int(group.get("order") or 0),
                    bool(tag.get("deleted")) or bool(group.get("deleted"))))
    return tuple(found)


class WeComCorpTags:
    """The corp-tag client over one :class:`WeComSession` (token cached and refreshed)."""

    def __init__(self, base_url: str, corp_id: str, corp_secret: str, *,
                 timeout: float = 5.0, transport: httpx.BaseTransport | None = None,
                 clock: Any = time.time) -> None:
        self._session = WeComSession(base_url, {"corpid": corp_id, "corpsecret": corp_secret},
                                     timeout=timeout, transport=transport)
        self._clock = clock

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> WeComCorpTags:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, name: str, payload: dict[str, Any]) -> tuple[TagAnswer, Any]:
        result, body = classified_call(self._session, PATH + name, payload)
        return TagAnswer(result.answer, result.reason), body

    def listing(self, tag_ids: Sequence[str] = (), group_ids: Sequence[str] = ()
                ) -> TagAnswer:
        """The corp's tags (all live ones without filters; deleted ones are answered only to a
        query by ``tag_ids``, with ``deleted`` set)."""
        payload: dict[str, Any] = {}
        if tag_ids:
            payload["tag_id"] = list(tag_ids)
        if group_ids:
            payload["group_id"] = list(group_ids)
        answer, body = self._call("get_corp_tag_list", payload)
        if answer.answer is not Answer.DONE:
            return answer
        groups = body.get("tag_group")
        if not isinstance(groups, list):
            return TagAnswer(Answer.UNKNOWN, "reply without tag_group")
        return TagAnswer(Answer.DONE, "ok", _tags(groups))

    def add(self, tags: Sequence[str], *, group_id: str | None = None,
            group_name: str | None = None, order: int = 0) -> TagAnswer:
        """Add ``tags`` to the group ``group_id``, or to the group named ``group_name`` (a new
        one if none is live). Not idempotent: list before adding again after UNKNOWN."""
        payload: dict[str, Any] = {"tag": [{"name": t} for t in tags]}
        if group_id:
            payload["group_id"] = group_id
        else:
            payload.update(group_name=group_name, order=order)
        answer, body = self._call("add_corp_tag", payload)
        if answer.answer is not Answer.DONE:
            return answer
        return TagAnswer(Answer.DONE, "ok", _tags(body.get("tag_group")))

    def edit(self, tag_or_group_id: str, *, name: str | None = None,
             order: int | None = None) -> TagAnswer:
        payload: dict[str, Any] = {"id": tag_or_group_id}
        if name is not None:
            payload["name"] = name
        if order is not None:
            payload["order"] = order
        return self._call("edit_corp_tag", payload)[0]

    def delete(self, tag_ids: Sequence[str] = (), group_ids: Sequence[str] = ()
               ) -> TagAnswer:
        return self._call("del_corp_tag", {"tag_id": list(tag_ids),
                                           "group_id": list(group_ids)})[0]
