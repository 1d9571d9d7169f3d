"""Channel codes (渠道活码): create, change and delete them; attribute friend adds to them.

Commands record the decision (:class:`domain.channel_code.ChannelCode`); the worker
``workers.channel_codes`` tells WeCom (``add_contact_way`` …) outside any transaction and
records its answer here. Members are given as WeCom UserIDs, each checked against the
staff member it names (fresh from the store): a UserID that is no current member is
refused (``NOT_A_MEMBER``).

Ingestion asks :meth:`ChannelCodes.attribute` which code a friend add's ``state`` names:
the add is then recorded on the code's channel (so the customer's first channel, the
friend relation, the channel KPIs, segments' ``joinedVia`` and SOP triggers all see it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from uuid import UUID

from application.unit_of_work import EventStore, UnitOfWork
from domain.channel_code import ChannelCode, NotAMember, UnknownChannelCode, is_code_state
from domain.staff import Staff

#: Who records WeCom's answers.
BY_WECOM = "service:wecom"


class ChannelCodes:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    # -- decisions ---------------------------------------------------------------------
    def create(self, name: str, channel: str, members: Mapping[str, str],
               welcome_text: str | None, tags: Sequence[str], skip_verify: bool, by: str,
               occurred_at: datetime) -> tuple[UUID, int | None]:
        """A new code; ``members``: WeCom UserID -> staff id. Returns its id and position."""
        checked = self._members(members)

        def decide(unit: UnitOfWork[ChannelCode]) -> UUID:
            code = unit.add(ChannelCode.create(name, channel, checked, welcome_text, tags,
                                               skip_verify, by, occurred_at))
            return code.id

        return self.store.transact(ChannelCode, decide)

    def change(self, code_id: UUID, name: str | None, members: Mapping[str, str] | None,
               welcome_text: str | None, tags: Sequence[str] | None,
               skip_verify: bool | None, by: str, occurred_at: datetime) -> int | None:
        checked = None if members is None else self._members(members)

        def decide(unit: UnitOfWork[ChannelCode]) -> None:
            self._code(code_id, unit).change(name, checked, welcome_text, tags, skip_verify,
                                             by, occurred_at)

        return self.store.transact(ChannelCode, decide)[1]

    def delete(self, code_id: UUID, by: str, occurred_at: datetime) -> int | None:
        def decide(unit: UnitOfWork[ChannelCode]) -> None:
            self._code(code_id, unit).delete(by, occurred_at)

        return self.store.transact(ChannelCode, decide)[1]

    def get(self, code_id: UUID) -> ChannelCode:
        code = self.store.find(code_id, ChannelCode, fresh=True)
        if code is None:
            raise UnknownChannelCode(f"no channel code {code_id}", field="codeId")
        return code

    # -- WeCom's answers (the worker) --------------------------------------------------
    def record_registered(self, code_id: UUID, config_id: str, qr_code: str | None,
                          revision: int, occurred_at: datetime) -> int | None:
        return self._answer(code_id, lambda c: c.registered(config_id, qr_code, revision,
                                                             BY_WECOM, occurred_at))

    def record_refused(self, code_id: UUID, reason: str, occurred_at: datetime) -> int | None:
        return self._answer(code_id, lambda c: c.registration_refused(reason, BY_WECOM,
                                                                       occurred_at))

    def record_updated(self, code_id: UUID, revision: int, occurred_at: datetime
                       ) -> int | None:
        return self._answer(code_id, lambda c: c.wecom_updated(revision, BY_WECOM,
                                                                occurred_at))

    def record_removed(self, code_id: UUID, occurred_at: datetime) -> int | None:
        return self._answer(code_id, lambda c: c.wecom_removed(BY_WECOM, occurred_at))

    # -- attribution (ingestion) -------------------------------------------------------
    def for_state(self, state: str | None, *, fresh: bool = False) -> ChannelCode | None:
        """The code whose contact way carries ``state`` (None: no code of ours). Cached
        reads suit attribution (a code's channel never changes); ``fresh`` for its text."""
        if state is None or not is_code_state(state):
            return None
        return self.store.find(ChannelCode.create_id(state), ChannelCode, fresh=fresh)

    def channels_for(self, states: Iterable[str | None]) -> dict[str, str]:
        """state -> the code's channel, for the states that name one of our codes."""
        found: dict[str, str] = {}
        for state in set(states):
            code = self.for_state(state)
            if code is not None and state is not None:
                found[state] = code.channel
        return found

    # -- helpers -----------------------------------------------------------------------
    def _members(self, members: Mapping[str, str]) -> dict[str, str]:
        """Each UserID must be the ``wecom_user_id`` of a current staff member."""
        checked: dict[str, str] = {}
        for user_id, staff_id in members.items():
            try:
                staff = self.store.find(UUID(str(staff_id)), Staff, fresh=True)
            except ValueError:
                staff = None
            if staff is None or staff.left_at is not None or staff.wecom_user_id != user_id:
                raise NotAMember(f"{user_id!r} is not the WeCom UserID of a current staff "
                                 "member", field="userIds")
            checked[user_id.strip()] = str(staff.id)
        return checked

    def _code(self, code_id: UUID, unit: UnitOfWork[ChannelCode]) -> ChannelCode:
        held = unit.held(code_id, ChannelCode)
        if held is not None:
            return held
        return unit.add(self.get(code_id))

    def _answer(self, code_id: UUID, apply: Callable[[ChannelCode], bool]) -> int | None:
        def decide(unit: UnitOfWork[ChannelCode]) -> None:
            apply(self._code(code_id, unit))

        return self.store.transact(ChannelCode, decide)[1]
