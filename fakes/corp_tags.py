"""The fake's corp customer tags (企业客户标签), as WeCom's 「管理企业标签」 page documents them.

* ``POST /cgi-bin/externalcontact/get_corp_tag_list`` (``tag_id``, ``group_id``: lists of ids)
  → ``tag_group``: ``group_id``, ``group_name``, ``create_time``, ``order`` and ``tag`` (``id``,
  ``name``, ``create_time``, ``order``). Both filters empty: every live group with its live
  tags; ``group_id`` given: those live groups with their live tags (``tag_id`` is then
  ignored); only ``tag_id``: those tags in their groups, deleted ones too, and only then with
  ``deleted`` on groups and tags (WeCom: 「是否已经被删除, 只在指定tag_id进行查询时返回」).
  Groups and tags come larger ``order`` first (WeCom: 「order值大的排序靠前」), then oldest.
* ``add_corp_tag`` (``group_id`` — then ``group_name`` and the group's ``order`` are ignored —
  or ``group_name``: a live group of that name gets the tags, else a new group; ``order``;
  ``tag``: ``[{name, order}]``, at least one: no empty group) → the group with the tags created
  by this call. Names are 1-30 characters (40072 otherwise); a tag named twice in one call is
  created once; a name the group already has is 40071; an unknown or deleted ``group_id`` 40068.
* ``edit_corp_tag`` (``id`` of a tag or a group, ``name``, ``order``): a group cannot take
  another live group's name, nor a tag another tag's of its group (40071); unknown id 40068.
* ``del_corp_tag`` (``tag_id``, ``group_id``; not both empty: 40058): an unknown id is 40068 and
  nothing is deleted; a group whose last tag is deleted is deleted with it.
* Every answer needs a live access token (40014 / 42001 otherwise).

Not reproduced: the corp's limit of 3,000 tags (WeCom documents no errcode for it) and
「应用仅能编辑和删除本应用创建的标签」 (the fake has one application). Control API (not WeCom's):
``POST /fake/corp_tags/faults`` ``{"kind": "lost_reply"|"http_500"|"busy", "count"}``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fakes.wecom_endpoint import wecom_endpoint

NAME_MAX = 30
Answer = tuple[int, dict[str, Any]]
_OK = {"errcode": 0, "errmsg": "ok"}
_FAULTS: dict[str, Answer] = {"http_500": (500, {"error": "internal server error"}),
                              "busy": (200, {"errcode": -1, "errmsg": "system busy"})}


def _error(code: int, message: str) -> Answer:
    return 200, {"errcode": code, "errmsg": message}


@dataclass
class Tag:
    tag_id: str
    name: str
    order: int
    created_at: int
    deleted: bool = False


@dataclass
class Group:
    group_id: str
    name: str
    order: int
    created_at: int
    tags: list[Tag] = field(default_factory=list)
    deleted: bool = False


@dataclass
class FakeCorpTags:
    """The corp's tag library; thread-safe."""

    groups: list[Group] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    _faults: deque[str] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self._lock:
            self.groups.clear()
            self.calls.clear()
            self._faults.clear()

    def inject(self, kind: str, count: int = 1) -> None:
        if kind not in (*_FAULTS, "lost_reply"):
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self._faults.extend([kind] * count)

    def call(self, method: str, body: Any) -> Answer:
        with self._lock:
            self.calls[method] = self.calls.get(method, 0) + 1
            fault = self._faults.popleft() if self._faults else None
            if fault in _FAULTS:
                return _FAULTS[fault]
            handler: Callable[[dict[str, Any]], Answer] = getattr(self, "_" + method)
            answer = handler(body if isinstance(body, dict) else {})
            return (502, {"error": "bad gateway"}) if fault == "lost_reply" else answer

    # -- look-ups ------------------------------------------------------------------------
    def _live_groups(self) -> list[Group]:
        return [g for g in self.groups if not g.deleted]

    def _group(self, group_id: str) -> Group | None:
        return next((g for g in self.groups if g.group_id == group_id), None)

    def _tag(self, tag_id: str) -> tuple[Group, Tag] | None:
        return next(((g, t) for g in self.groups for t in g.tags if t.tag_id == tag_id), None)

    @staticmethod
    def _ids(body: dict[str, Any], key: str) -> list[str] | None:
        value = body.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return None
        return list(value)

    @staticmethod
    def _name_ok(name: Any) -> bool:
        return isinstance(name, str) and 1 <= len(name) <= NAME_MAX

    @staticmethod
    def _order(value: Any) -> int:
        return value if isinstance(value, int) and 0 <= value < 2 ** 32 else 0

    @staticmethod
    def _sorted(items: list[Any]) -> list[Any]:
        return sorted(items, key=lambda i: (-i.order, i.created_at))

    def _render(self, group: Group, tags: list[Tag], deleted: bool = False
                ) -> dict[str, Any]:
        """A group as listed; ``deleted`` flags only on a query by ``tag_id``."""
        flag: dict[str, Any] = {"deleted": group.deleted} if deleted else {}
        return {"group_id": group.group_id, "group_name": group.name,
                "create_time": group.created_at, "order": group.order, **flag,
                "tag": [{"id": t.tag_id, "name": t.name, "create_time": t.created_at,
                         "order": t.order, **({"deleted": t.deleted} if deleted else {})}
                        for t in self._sorted(tags)]}

    # -- the API ---------------------------------------------------------------------------
    def _list(self, body: dict[str, Any]) -> Answer:
        tag_ids, group_ids = self._ids(body, "tag_id"), self._ids(body, "group_id")
        if tag_ids is None or group_ids is None:
            return _error(40058, "invalid Request Parameter")
        by_tag = bool(tag_ids) and not group_ids
        if by_tag:
            found = [(g, [t for t in g.tags if t.tag_id in tag_ids])
                     for g in self._sorted(self.groups)]
        else:
            found = [(g, [t for t in g.tags if not t.deleted])
                     for g in self._sorted(self._live_groups())
                     if not group_ids or g.group_id in group_ids]
        return 200, {**_OK, "tag_group": [self._render(g, tags, by_tag) for g, tags in found
                                          if tags or not by_tag]}

    def _add(self, body: dict[str, Any]) -> Answer:
        wanted = body.get("tag")
        if not isinstance(wanted, list) or not wanted or not all(
                isinstance(t, dict) for t in wanted):
            return _error(40058, "invalid Request Parameter")  # no empty group
        if not all(self._name_ok(t.get("name")) for t in wanted):
            return _error(40072, "invalid tag name size")
        now = int(self.clock())
        group_id = body.get("group_id")
        group: Group | None
        if group_id:
            group = self._group(str(group_id))
            if group is None or group.deleted:
                return _error(40068, "invalid tagid")
        else:
            name = body.get("group_name")
            if not self._name_ok(name):
                return _error(40072, "invalid group name size")
            group = next((g for g in self._live_groups() if g.name == name), None)
            if group is None:
                group = Group("et" + secrets.token_hex(12), str(name),
                              self._order(body.get("order")), now)
                self.groups.append(group)
        held = {t.name for t in group.tags if not t.deleted}
        names: dict[str, int] = {}
        for t in wanted:
            names.setdefault(str(t["name"]), self._order(t.get("order")))
        if held & set(names):
            if not group.tags:
                self.groups.remove(group)
            return _error(40071, "tag name exists")
        created = [Tag("et" + secrets.token_hex(12), n, o, now) for n, o in names.items()]
        group.tags.extend(created)
        return 200, {**_OK, "tag_group": self._render(group, created)}

    def _edit(self, body: dict[str, Any]) -> Answer:
        target, name = str(body.get("id") or ""), body.get("name")
        if name is not None and not self._name_ok(name):
            return _error(40072, "invalid name size")
        group = self._group(target)
        if group is not None and not group.deleted:
            if name is not None and any(g.name == name and g is not group
                                        for g in self._live_groups()):
                return _error(40071, "group name exists")
            group.name = str(name) if name is not None else group.name
            group.order = self._order(body["order"]) if "order" in body else group.order
            return 200, dict(_OK)
        found = self._tag(target)
        if found is None or found[1].deleted:
            return _error(40068, "invalid tagid")
        owner, tag = found
        if name is not None and any(t.name == name and t is not tag and not t.deleted
                                    for t in owner.tags):
            return _error(40071, "tag name exists")
        tag.name = str(name) if name is not None else tag.name
        tag.order = self._order(body["order"]) if "order" in body else tag.order
        return 200, dict(_OK)

    def _delete(self, body: dict[str, Any]) -> Answer:
        tag_ids, group_ids = self._ids(body, "tag_id"), self._ids(body, "group_id")
        if tag_ids is None or group_ids is None or not (tag_ids or group_ids):
            return _error(40058, "invalid Request Parameter")
        groups = [self._group(g) for g in group_ids]
        tags = [self._tag(t) for t in tag_ids]
        if any(g is None or g.deleted for g in groups) or any(
                t is None or t[1].deleted for t in tags):
            return _error(40068, "invalid tagid")
        for group in (g for g in groups if g is not None):
            group.deleted = True
            for tag in group.tags:
                tag.deleted = True
        for found in (t for t in tags if t is not None):
            found[1].deleted = True
            if all(t.deleted for t in found[0].tags):
                found[0].deleted = True
        return 200, dict(_OK)


def routes(state: FakeCorpTags, token_error: Callable[[str], dict[str, Any] | None]
           ) -> list[Route]:
    """WeCom's corp-tag API and its control API, over ``state``."""

    def api(method: str) -> Callable[[Request], Any]:
        return wecom_endpoint(state.call, method, token_error)

    async def faults(request: Request) -> JSONResponse:
        body = await request.json()
        try:
            state.inject(str(body.get("kind")), int(body.get("count", 1)))
        except (ValueError, TypeError, AttributeError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"ok": True})

    base = "/cgi-bin/externalcontact/"
    return [
        *(Route(f"{base}{name}", api(method), methods=["POST"])
          for name, method in (("get_corp_tag_list", "list"), ("add_corp_tag", "add"),
                               ("edit_corp_tag", "edit"), ("del_corp_tag", "delete"))),
        Route("/fake/corp_tags/faults", faults, methods=["POST"]),
    ]
