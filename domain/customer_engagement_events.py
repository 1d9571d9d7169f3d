"""Customer events of engagement: tags, groups, messages, follow-ups, chat scripts,
sensitive words, content, activities, live streams, store visits and survey answers.

Each is ``Customer.<Name>`` by topic and by name (see :func:`domain.customer_state.customer_event`).
"""

from __future__ import annotations

from typing import Any

from domain.customer_state import CustomerEvent, CustomerFact, CustomerState, customer_event


# -- tags and groups ----------------------------------------------------------
@customer_event
class Tagged(CustomerEvent):
    """v2 added ``reason`` (why: ``manual``, ``rule:<id>``, ``wecom``…; v1 were manual)."""

    class_version = 2

    tag: str
    reason: str

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["reason"] = "manual"

    def apply(self, customer: CustomerState) -> None:
        customer.tags.add(self.tag)


@customer_event
class Untagged(CustomerEvent):
    """v2 added ``reason``, as :class:`Tagged`."""

    class_version = 2

    tag: str
    reason: str

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["reason"] = "manual"

    def apply(self, customer: CustomerState) -> None:
        customer.tags.discard(self.tag)


@customer_event
class GroupJoined(CustomerEvent):
    group_id: str

    def apply(self, customer: CustomerState) -> None:
        customer.groups.add(self.group_id)


@customer_event
class GroupLeft(CustomerEvent):
    group_id: str

    def apply(self, customer: CustomerState) -> None:
        customer.groups.discard(self.group_id)

# -- operation: interaction and content -----------------------------------------
@customer_event
class MessageReceived(CustomerFact):
    """A message from the customer to a staff member: kind and length only (a ``text``
    reported with it is sealed in the vault as ``message:<this event's version>``)."""

    staff_id: str
    message_kind: str
    text_length: int


@customer_event
class MessageSent(CustomerFact):
    staff_id: str
    message_kind: str
    text_length: int


@customer_event
class HolidayGreetingSent(CustomerFact):
    """The staff member sent the customer a holiday greeting (节日问候), e.g. ``spring_festival``."""

    staff_id: str
    occasion: str


@customer_event
class FollowUpRecorded(CustomerFact):
    """The staff member recorded a follow-up with the customer (跟进记录): ``call``, ``visit``…"""

    staff_id: str
    follow_up_kind: str


@customer_event
class ScriptUsed(CustomerFact):
    """A staff member used a chat script (话术) with this customer."""

    staff_id: str
    script_id: str
    script_version: int | None


@customer_event
class SensitiveWordsFound(CustomerFact):
    """A message hit the sensitive-word lexicon: which terms, never the text.

    ``side``: ``staff`` (the staff member's message, a ``MessageSent``) or ``customer``
    (the customer's, a ``MessageReceived``, in a chat ``staff_id`` serves). The text is
    sealed in the vault under this customer's key, field ``message_ref``
    (``message:<version of the message event>``), for managers to review; erasing the
    customer's key makes it unreadable. ``hits``: ``{category, term_id, term}`` each.
    v2 added ``side`` (every v1 hit was a staff message's).
    """

    class_version = 2

    staff_id: str
    message_kind: str
    hits: list[dict[str, str]]
    message_ref: str
    lexicon_version: int
    side: str

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["side"] = "staff"


@customer_event
class ContentViewed(CustomerFact):
    """v2 added ``seconds`` (time on the content; unknown for v1), v3 ``topic``."""

    class_version = 3

    content_id: str
    channel: str
    seconds: int | None
    topic: str | None

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["seconds"] = None

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        state["topic"] = None


@customer_event
class ContentForwarded(CustomerFact):
    content_id: str
    channel: str


@customer_event
class ContentCommented(CustomerFact):
    content_id: str
    channel: str
    text_length: int


@customer_event
class ActivityJoined(CustomerFact):
    activity_id: str
    activity_kind: str


@customer_event
class LiveStreamWatched(CustomerFact):
    stream_id: str
    watch_seconds: int


@customer_event
class StoreVisited(CustomerFact):
    store_id: str


@customer_event
class SurveyAnswered(CustomerFact):
    """The customer answered a satisfaction survey (docs/funnels.md, *Satisfaction*):
    ``survey_kind`` ``csat`` (score 1-5) or ``nps`` (score 0-10), about the service of
    ``staff_id`` (None: no staff member named). No free text is kept."""

    survey_kind: str
    score: int
    staff_id: str | None
