"""The daily report job (数据日报): yesterday's figures for each staff member and manager.

:class:`DailyReportScheduler` (a thread of the worker that projects, like the clock
scheduler) enqueues ``build_daily_reports(day)`` once the Shanghai clock has passed
``hour`` o'clock, for the previous calendar day (the private domain works every day).
The actor, under a PostgreSQL advisory lock per day (two schedulers, a redelivery: the
second build waits and finds the work done):

1. reads ``daily_report_activity`` for the day and the day before — per staff member
   for each active front-line member, the team's totals for each manager, with the
   breakdown per front-line member employed that day;
2. records each ``DailyReport`` once (its id derives from recipient and day);
3. sends every report not sent yet through the gateway (a WeCom application message;
   its duplicate check absorbs a repeat) and records the outcome.

Each report also carries the progress of the period's targets up to the day (a staff
member's own targets; for managers, every department's), graded as :mod:`domain.target`
grades them: 未达成 missed / 达成 met / 超额达成 exceeded, trial targets marked.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import dramatiq
from psycopg_pool import ConnectionPool

from adapters.wecom_client import Outcome, StaffMessageGateway
from application.app import Siyu
from domain.daily_report import MEASURES, DailyReport
from domain.staff import MANAGER_ROLES
from domain.target import achievement, grade, shown
from projections.daily_report import SHANGHAI
from projections.daily_report import queries as report_queries
from projections.staff_directory import queries as staff_directory_queries
from projections.targets import queries as target_queries
from workers.polling import keep_running
from workers.welcome import RetryPolicy, TransientSendError

log = logging.getLogger(__name__)

ACTOR_NAME = "build_daily_reports"
REPORT_QUEUE = "siyu_reports"
LABELS = {"new_friends": "新增好友", "deleted_by_customer": "被删", "deleted_by_staff": "主动删除",
          "messages_received": "收到消息", "messages_sent": "发送消息", "orders": "订单",
          "gmv_fen": "GMV(分)"}


GRADE_LABELS = {"missed": "未达成", "met": "达成", "exceeded": "超额达成"}


def report_day(now: datetime, hour: int) -> date | None:
    """The day to report at ``now``: yesterday in Shanghai, once it is past ``hour`` there."""
    local = now.astimezone(SHANGHAI)
    return local.date() - timedelta(days=1) if local.hour >= hour else None


def report_text(report: DailyReport) -> str:
    parts = [f"[数据日报] {report.day}"]
    for measure in MEASURES:
        now, before = report.figures.get(measure, 0), report.previous.get(measure, 0)
        parts.append(f"{LABELS[measure]} {now} ({now - before:+d})")
    for target in report.targets:
        ratio = target["ratio"]
        share = "-" if ratio is None else f"{Decimal(ratio) * 100:.0f}%"
        grade_label = GRADE_LABELS.get(target["grade"] or "", "无数据")
        trial = " 试行" if target["trial"] else ""
        parts.append(f"目标 {target['kpi']} {_figure(target['actual'])}/{target['target']} "
                     f"({share} {grade_label}{trial})")
    return " | ".join(parts)


def _figure(actual: str | None) -> str:
    """A KPI value as the message shows it (exact values keep 4 decimal places at most)."""
    if actual is None:
        return "-"
    text = f"{shown(Decimal(actual)):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class ReportStore:
    def __init__(self, pool: ConnectionPool[Any], *, chat_timeout_seconds: int = 1800) -> None:
        self.pool = pool
        self.chat_timeout_seconds = chat_timeout_seconds

    def recipients(self, day: date) -> list[tuple[str, str, str | None]]:
        """(staff id, scope, WeCom UserID) of members employed on ``day``."""
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), SHANGHAI)
        start = end - timedelta(days=1)
        rows = staff_directory_queries.employed_between(self.pool, start, end)
        return [(r[0], "manager" if r[1] in MANAGER_ROLES else "staff", r[2]) for r in rows]

    def activity(self, day: date) -> dict[str, dict[str, int]]:
        return report_queries.activity(self.pool, day)

    def target_progress(self, day: date, scope: str, subject: str | None
                        ) -> list[dict[str, Any]]:
        """Live targets whose period holds ``day``, with the actual from its start to ``day``."""
        rows = target_queries.live_targets_with_actuals(self.pool, day, scope, subject,
                                                        self.chat_timeout_seconds)
        out: list[dict[str, Any]] = []
        for kpi, target_scope, target_subject, value, met_at, exceeded_at, trial, actuals in rows:
            raw = actuals.get(kpi)
            actual = None if raw is None else Decimal(str(raw))
            ratio = achievement(kpi, Decimal(value), actual)
            graded = grade(ratio, Decimal(met_at), Decimal(exceeded_at))
            out.append({"kpi": kpi, "subject": f"{target_scope}:{target_subject}",
                        "target": str(value), "actual": None if actual is None else str(actual),
                        "ratio": None if ratio is None else str(shown(ratio)),
                        "grade": None if graded is None else graded.value, "trial": bool(trial)})
        return out

    def lock(self, day: date) -> Any:
        """A connection holding the day's advisory lock (release by closing the context)."""
        return _DayLock(self.pool, day)


class _DayLock:
    def __init__(self, pool: ConnectionPool[Any], day: date) -> None:
        self.pool, self.day = pool, day
        self._cm: Any = None

    def __enter__(self) -> None:
        self._cm = self.pool.connection()
        conn = self._cm.__enter__()
        report_queries.lock_day(conn, self.day)  # a session lock: it outlives the transaction
        self.conn = conn

    def __exit__(self, *exc: object) -> None:
        try:
            report_queries.unlock_day(self.conn, self.day)
        finally:
            self._cm.__exit__(None, None, None)


def _sum(cells: list[dict[str, int]]) -> dict[str, int]:
    return {m: sum(c.get(m, 0) for c in cells) for m in MEASURES}


@dataclass(slots=True)
class ReportDeps:
    app: Siyu
    store: ReportStore
    gateway: StaffMessageGateway
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def build_daily_reports(deps: ReportDeps, day: date) -> int:
    """Compile and send ``day``'s reports; returns how many were sent now."""
    sent = 0
    transient: str | None = None
    with deps.store.lock(day):
        today, before = deps.store.activity(day), deps.store.activity(day - timedelta(days=1))
        empty = dict.fromkeys(MEASURES, 0)
        recipients = deps.store.recipients(day)
        team = [{"staff_id": s, "figures": today.get(s, empty), "previous": before.get(s, empty)}
                for s, scope, _ in recipients if scope == "staff"]
        for staff_id, scope, wecom_user in recipients:
            if scope == "manager":
                figures, previous = _sum(list(today.values())), _sum(list(before.values()))
            else:
                figures, previous = today.get(staff_id, empty), before.get(staff_id, empty)
            progress = (deps.store.target_progress(day, "department", None) if scope == "manager"
                        else deps.store.target_progress(day, "staff", staff_id))
            report, _ = deps.app.daily_reports.compile(
                staff_id, scope, day, figures, previous, deps.clock(), progress,
                team if scope == "manager" else None)
            if report.outcome is not None:
                continue
            result = deps.gateway.send_app_message(wecom_user or staff_id, report_text(report))
            if result.outcome is Outcome.TRANSIENT_FAILURE:
                transient = result.reason
                continue
            deps.app.daily_reports.record_outcome(report.id, result.message_id,
                                           None if result.delivered else result.reason,
                                           deps.clock())
            sent += 1
    log.info("daily reports %s: %d sent", day, sent)
    if transient is not None:
        raise TransientSendError(f"daily reports {day}: {transient}")
    return sent


def declare_report_actor(broker: dramatiq.Broker, deps: ReportDeps, *,
                         queue_name: str = REPORT_QUEUE) -> dramatiq.Actor[[str], None]:
    def build(day: str) -> None:
        build_daily_reports(deps, date.fromisoformat(day))

    policy = deps.retry
    declare = dramatiq.actor(broker=broker, actor_name=ACTOR_NAME, queue_name=queue_name,
                             max_retries=policy.max_retries, min_backoff=policy.min_backoff,
                             max_backoff=policy.max_backoff, retry_when=policy.retry_when,
                             time_limit=10 * 60_000)
    return declare(build)


class DailyReportScheduler:
    """Enqueue each day's build once per scheduler (the actor makes several harmless)."""

    def __init__(self, enqueue: Callable[[str], None], *, hour: int = 8,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 poll_interval: float = 60.0) -> None:
        if not 0 <= hour <= 23:
            raise ValueError("report hour must be 0 to 23")
        self.enqueue = enqueue
        self.hour = hour
        self.clock = clock
        self.poll_interval = poll_interval
        self.last: date | None = None
        self.stopping = threading.Event()

    def run_once(self) -> bool:
        day = report_day(self.clock(), self.hour)
        if day is None or (self.last is not None and day <= self.last):
            return False
        self.enqueue(day.isoformat())
        self.last = day
        return True

    def run_forever(self) -> None:
        keep_running("daily report scheduler", self.run_once,
                     self.stopping, self.poll_interval)

    def stop(self) -> None:
        self.stopping.set()
