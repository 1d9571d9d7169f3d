"""The ``DailyReport`` aggregate: one staff member's or manager's report (数据日报) for a day.

Its id derives from (recipient, day), so building a day's reports twice — two
schedulers, a redelivered job — records each report once, with the figures of the first
build. ``figures`` and ``previous`` (the day before) map measure names to integers
(counts; money in fen). Sending is recorded as it comes back from the gateway.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

_NS = uuid5(NAMESPACE_URL, "https://siyu.invalid/daily-report")
SCOPES = frozenset({"staff", "manager"})
MEASURES = ("new_friends", "deleted_by_customer", "deleted_by_staff", "messages_received",
            "messages_sent", "orders", "gmv_fen")


def report_id(recipient_id: str, day: date) -> UUID:
    return uuid5(_NS, f"{recipient_id}:{day.isoformat()}")


class DailyReport(Aggregate):
    class Event(Aggregate.Event):
        by: str
        occurred_at: datetime

    class Compiled(Aggregate.Created):
        """``scope``: ``staff`` (their owned customers and own chats) or ``manager`` (the team).

        v2 added ``targets``: progress of the period's targets up to the day, each
        ``{kpi, subject, target, actual, ratio, grade, trial}`` (numbers as text).
        v3 added ``members``: a manager's per-member breakdown, each
        ``{staff_id, figures, previous}`` (empty for a staff member's own report).
        """

        class_version = 3

        recipient_id: str
        scope: str
        day: str
        figures: dict[str, int]
        previous: dict[str, int]
        targets: list[dict[str, Any]]
        members: list[dict[str, Any]]
        by: str
        occurred_at: datetime

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["targets"] = []

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["members"] = []

    class Sent(Event):
        gateway_message_id: str

    class SendFailed(Event):
        reason: str

    @classmethod
    def compile(cls, recipient_id: str, scope: str, day: date, figures: dict[str, int],
                previous: dict[str, int], occurred_at: datetime,
                targets: list[dict[str, Any]] | None = None,
                members: list[dict[str, Any]] | None = None) -> DailyReport:
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {sorted(SCOPES)}")
        return cls._create(cls.Compiled, id=report_id(recipient_id, day),
                           recipient_id=recipient_id, scope=scope, day=day.isoformat(),
                           figures=dict(figures), previous=dict(previous),
                           targets=list(targets or []), members=list(members or []),
                           by="system",
                           occurred_at=occurred_at)

    @event(Compiled)
    def __init__(self, recipient_id: str, scope: str, day: str, figures: dict[str, int],
                 previous: dict[str, int], targets: list[dict[str, Any]],
                 members: list[dict[str, Any]], by: str, occurred_at: datetime) -> None:
        self.recipient_id = recipient_id
        self.scope = scope
        self.day = day
        self.figures = dict(figures)
        self.previous = dict(previous)
        self.targets = list(targets)
        self.members = list(members)
        self.outcome: str | None = None  # "sent" | "failed"

    def record_outcome(self, gateway_message_id: str | None, failure: str | None,
                       occurred_at: datetime) -> bool:
        if self.outcome is not None:
            return False
        if failure is None:
            self._sent(gateway_message_id=gateway_message_id or "", by="system",
                       occurred_at=occurred_at)
        else:
            self._failed(reason=failure, by="system", occurred_at=occurred_at)
        return True

    @event(Sent)
    def _sent(self, gateway_message_id: str, by: str, occurred_at: datetime) -> None:
        self.outcome = "sent"

    @event(SendFailed)
    def _failed(self, reason: str, by: str, occurred_at: datetime) -> None:
        self.outcome = "failed"
