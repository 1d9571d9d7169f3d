"""The ``ChannelCode`` aggregate: a channel QR code (渠道活码), WeCom's 「联系我」 contact way.

A code belongs to one acquisition channel (:mod:`domain.channels`), is served by staff
members (their WeCom UserIDs), and says what happens to a customer who adds a member
through it: the welcome text they get and the tags they are given. WeCom tells which code
a friend add came through by the ``State`` of the add callback — the ``state`` the
platform gave the contact way when it created it. A code's stream id derives from its
state (:meth:`ChannelCode.create_id`), so the add is attributed to the code with one read.

The platform decides, then WeCom is told (never inside a transaction): ``Created`` /
``Changed`` / ``Deleted`` are the decisions; ``Registered`` (``add_contact_way`` answered a
``config_id``), ``RegistrationRefused``, ``WeComUpdated`` (``update_contact_way``) and
``WeComRemoved`` (``del_contact_way``) are WeCom's answers, recorded by the worker that
calls it. The channel of a code never changes: a printed code keeps its attribution.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.channels import check_channel
from domain.errors import DomainError, InvalidInput
from domain.tag_group import check_tags

_NAMESPACE = uuid5(NAMESPACE_URL, "siyu:channel-code")
#: WeCom: the contact way's ``state`` is at most 30 characters; ours are ``cc`` + 24 hex.
STATE_PREFIX = "cc"
STATE_LENGTH = 26
#: WeCom: ``remark`` at most 30 characters; at most 100 members per contact way.
NAME_MAX = 30
MEMBERS_MAX = 100
#: WeCom ``send_welcome_msg``: ``text.content`` at most 4000 bytes.
WELCOME_MAX_BYTES = 4000


class UnknownChannelCode(DomainError):
    code = "UNKNOWN_CHANNEL_CODE"


class NotAMember(DomainError):
    """A WeCom UserID that is no (current) staff member of the brand."""

    code = "NOT_A_MEMBER"


class ChannelCodeDeleted(DomainError):
    code = "CHANNEL_CODE_DELETED"


def new_state() -> str:
    return STATE_PREFIX + secrets.token_hex((STATE_LENGTH - len(STATE_PREFIX)) // 2)


def is_code_state(value: str | None) -> bool:
    return (value is not None and len(value) == STATE_LENGTH
            and value.startswith(STATE_PREFIX))


def check_name(name: str) -> str:
    label = name.strip()
    if not 0 < len(label) <= NAME_MAX:
        raise InvalidInput(f"name must be 1-{NAME_MAX} characters", field="name")
    return label


def check_members(user_ids: Sequence[str]) -> list[str]:
    members = sorted({u.strip() for u in user_ids if u.strip()})
    if not 0 < len(members) <= MEMBERS_MAX:
        raise InvalidInput(f"a code needs 1-{MEMBERS_MAX} members", field="userIds")
    return members


def check_code_tags(tags: Sequence[str]) -> list[str]:
    """The tags a code gives (none is fine)."""
    return check_tags(tags) if tags else []


def check_welcome(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    if len(text.encode()) > WELCOME_MAX_BYTES:
        raise InvalidInput(f"welcomeText is at most {WELCOME_MAX_BYTES} bytes (WeCom)",
                           field="welcomeText")
    return text.strip()


class ChannelCode(Aggregate):
    """One channel QR code; see the module docstring."""

    class Created(Aggregate.Created):
        state: str
        name: str
        channel: str
        user_ids: list[str]
        staff_ids: list[str]
        welcome_text: str | None
        tags: list[str]
        skip_verify: bool
        by: str
        occurred_at: datetime

    class Changed(Aggregate.Event):
        """Members, welcome text, tags or name changed (``revision`` counts changes)."""

        name: str
        user_ids: list[str]
        staff_ids: list[str]
        welcome_text: str | None
        tags: list[str]
        skip_verify: bool
        revision: int
        by: str
        occurred_at: datetime

    class Deleted(Aggregate.Event):
        by: str
        occurred_at: datetime

    class Registered(Aggregate.Event):
        """WeCom created the contact way (``add_contact_way``, carrying the code as of change
        number ``revision``): its id and QR code URL."""

        config_id: str
        qr_code: str | None
        revision: int
        by: str
        occurred_at: datetime

    class RegistrationRefused(Aggregate.Event):
        """WeCom refused to create the contact way (e.g. a member without 客户联系)."""

        reason: str
        by: str
        occurred_at: datetime

    class WeComUpdated(Aggregate.Event):
        """``update_contact_way`` applied the code's change number ``revision``."""

        revision: int
        by: str
        occurred_at: datetime

    class WeComRemoved(Aggregate.Event):
        """``del_contact_way`` removed the contact way: its QR code no longer adds anyone."""

        by: str
        occurred_at: datetime

    @staticmethod
    def create_id(state: str) -> UUID:
        return uuid5(_NAMESPACE, state)

    @classmethod
    def create(cls, name: str, channel: str, members: dict[str, str],
               welcome_text: str | None, tags: Sequence[str], skip_verify: bool, by: str,
               occurred_at: datetime) -> ChannelCode:
        """``members``: WeCom UserID -> staff id (checked by the caller against the staff)."""
        user_ids = check_members(list(members))
        return cls(state=new_state(), name=check_name(name),
                   channel=check_channel(channel), user_ids=user_ids,
                   staff_ids=[members[u] for u in user_ids],
                   welcome_text=check_welcome(welcome_text), tags=check_code_tags(tags),
                   skip_verify=skip_verify, by=by, occurred_at=occurred_at)

    @event(Created)
    def __init__(self, state: str, name: str, channel: str, user_ids: list[str],
                 staff_ids: list[str], welcome_text: str | None, tags: list[str],
                 skip_verify: bool, by: str, occurred_at: datetime) -> None:
        self.state = state
        self.name = name
        self.channel = channel
        self.user_ids = user_ids
        self.staff_ids = staff_ids
        self.welcome_text = welcome_text
        self.tags = tags
        self.skip_verify = skip_verify
        self.revision = 0
        self.config_id: str | None = None
        self.refused: str | None = None
        self.synced_revision = 0
        self.deleted = False
        self.removed = False

    # -- decisions ---------------------------------------------------------------------
    def change(self, name: str | None, members: dict[str, str] | None,
               welcome_text: str | None, tags: Sequence[str] | None,
               skip_verify: bool | None, by: str, occurred_at: datetime) -> bool:
        """Change what is given (None: keep); False (no event) when nothing changes.
        ``welcome_text`` "" removes the code's own text (the channel's applies)."""
        if self.deleted:
            raise ChannelCodeDeleted("the channel code was deleted", field="codeId")
        user_ids = self.user_ids if members is None else check_members(list(members))
        staff_ids = (self.staff_ids if members is None
                     else [members[u] for u in user_ids])
        label = self.name if name is None else check_name(name)
        text = self.welcome_text if welcome_text is None else check_welcome(welcome_text)
        labels = self.tags if tags is None else check_code_tags(tags)
        skip = self.skip_verify if skip_verify is None else skip_verify
        if (label, user_ids, staff_ids, text, labels, skip) == (
                self.name, self.user_ids, self.staff_ids, self.welcome_text, self.tags,
                self.skip_verify):
            return False
        self._changed(name=label, user_ids=user_ids, staff_ids=staff_ids, welcome_text=text,
                      tags=labels, skip_verify=skip, revision=self.revision + 1, by=by,
                      occurred_at=occurred_at)
        return True

    def delete(self, by: str, occurred_at: datetime) -> bool:
        if self.deleted:
            return False
        self._deleted(by=by, occurred_at=occurred_at)
        return True

    # -- WeCom's answers ---------------------------------------------------------------
    def registered(self, config_id: str, qr_code: str | None, revision: int, by: str,
                   occurred_at: datetime) -> bool:
        if self.config_id is not None:
            return False
        self._registered(config_id=config_id, qr_code=qr_code, revision=revision, by=by,
                         occurred_at=occurred_at)
        return True

    def registration_refused(self, reason: str, by: str, occurred_at: datetime) -> bool:
        if self.config_id is not None or self.refused is not None:
            return False
        self._refused(reason=reason[:200], by=by, occurred_at=occurred_at)
        return True

    def wecom_updated(self, revision: int, by: str, occurred_at: datetime) -> bool:
        if revision <= self.synced_revision:
            return False
        self._wecom_updated(revision=revision, by=by, occurred_at=occurred_at)
        return True

    def wecom_removed(self, by: str, occurred_at: datetime) -> bool:
        if self.removed:
            return False
        self._wecom_removed(by=by, occurred_at=occurred_at)
        return True

    @property
    def wecom_work(self) -> str | None:
        """What WeCom must still be told: ``add``, ``update``, ``delete`` or None."""
        if self.deleted:
            return "delete" if self.config_id is not None and not self.removed else None
        if self.config_id is None:
            return None if self.refused is not None else "add"
        return "update" if self.synced_revision < self.revision else None

    # -- events (assign only) ----------------------------------------------------------
    @event(Changed)
    def _changed(self, name: str, user_ids: list[str], staff_ids: list[str],
                 welcome_text: str | None, tags: list[str], skip_verify: bool,
                 revision: int, by: str, occurred_at: datetime) -> None:
        self.name, self.user_ids, self.staff_ids = name, user_ids, staff_ids
        self.welcome_text, self.tags, self.skip_verify = welcome_text, tags, skip_verify
        self.revision = revision

    @event(Deleted)
    def _deleted(self, by: str, occurred_at: datetime) -> None:
        self.deleted = True

    @event(Registered)
    def _registered(self, config_id: str, qr_code: str | None, revision: int, by: str,
                    occurred_at: datetime) -> None:
        self.config_id = config_id
        self.synced_revision = revision

    @event(RegistrationRefused)
    def _refused(self, reason: str, by: str, occurred_at: datetime) -> None:
        self.refused = reason

    @event(WeComUpdated)
    def _wecom_updated(self, revision: int, by: str, occurred_at: datetime) -> None:
        self.synced_revision = revision

    @event(WeComRemoved)
    def _wecom_removed(self, by: str, occurred_at: datetime) -> None:
        self.removed = True
