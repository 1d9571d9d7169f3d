"""The ``Target`` aggregate: a KPI target (目标) for a staff member or a department.

One target per (scope, subject, period, KPI): its id is derived from those, so
setting a target again revises it. Achievement is graded against two
thresholds of the achievement ratio, overridable per target:

* 未达成 ``missed``: ratio below ``met_at`` (default 100 %);
* 达成 ``met``: ratio at or above ``met_at``;
* 超额达成 ``exceeded``: ratio at or above ``exceeded_at`` (default 120 %).

A **trial** target (seed 000: no penalties while a scheme is being tested) is
graded like any other but kept out of rankings and penalty views.

For KPIs where more is better the ratio is actual ÷ target; where less is
better (deletions, refunds, response times, timed-out chats, sensitive-word hits —
the member's own and the customers' in the member's chats — campaign cost) it is
target ÷ actual. Ratios are capped at :data:`MAX_RATIO` (so "no refunds at all"
ranks, instead of dividing by zero) and **not rounded**: a grade and a rank are decided on
the exact ratio of the exact KPI value (99.996 % is missed, not "100.00 % met"); whoever
displays a ratio rounds it (:func:`shown`: 4 decimal places, half to even).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import Enum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError
from domain.organisation import DEPARTMENTS

_NS = uuid5(NAMESPACE_URL, "siyu:targets")

#: Every KPI of the catalogue (``staff_kpi_rollup`` columns): True where more is better.
KPI_HIGHER_IS_BETTER: dict[str, bool] = {
    "friends_new": True, "friends_deleted_by_customer": False,
    "friends_deleted_by_staff": False, "friends_net": True, "friends_total": True,
    "retained_7d": True, "retained_30d": True, "retention_7d": True, "retention_30d": True,
    "messages_received": True, "messages_sent": True, "first_responses": True,
    "first_response_median_s": False, "first_response_p90_s": False,
    "chats_timed_out": False, "orders_paid": True, "gmv_fen": True, "refunds": False,
    "refund_fen": False, "average_order_value_fen": True, "owned_customers": True,
    "converted_customers": True, "conversion_rate": True, "moments_posts": True,
    "greetings_sent": True, "follow_ups": True, "sensitive_word_hits": False,
    "customer_sensitive_word_hits": False, "customer_abuse_hits": False,
    "customer_private_order_hits": False, "customer_diverted_order_hits": False,
    "customer_custom_category_hits": False,
    "marketing_tasks_assigned": True, "marketing_tasks_completed": True,
    "marketing_task_completion_rate": True, "campaign_tasks_created": True,
    "campaign_sends_confirmed": True, "campaign_execution_rate": True,
    "campaign_cost_fen": False, "campaign_gmv_fen": True, "roi": True,
}
#: KPIs that are ratios (0..1): a target above 1 could never be reached.
RATIO_KPIS = frozenset({"retention_7d", "retention_30d", "conversion_rate",
                        "marketing_task_completion_rate", "campaign_execution_rate"})

SCOPES = ("staff", "department")
PERIOD_KINDS = ("month", "quarter")
DEFAULT_MET_AT = Decimal("1.00")
DEFAULT_EXCEEDED_AT = Decimal("1.20")
MAX_THRESHOLD = Decimal("10")
MAX_RATIO = Decimal("10")
MAX_VALUE = Decimal("1e15")
_PLACES = Decimal("0.0001")


class InvalidTarget(DomainError):
    code = "INVALID_TARGET"


class UnknownTarget(DomainError):
    code = "UNKNOWN_TARGET"


class Grade(Enum):
    MISSED = "missed"  # 未达成
    MET = "met"  # 达成
    EXCEEDED = "exceeded"  # 超额达成


def period_start(kind: str, day: date) -> date:
    """The first day of the month or quarter holding ``day``."""
    if kind == "month":
        return day.replace(day=1)
    if kind == "quarter":
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    raise InvalidTarget(f"period must be one of {list(PERIOD_KINDS)}", field="period")


def achievement(kpi: str, target: Decimal, actual: Decimal | None) -> Decimal | None:
    """The achievement ratio (see the module); None while the KPI has no value."""
    if actual is None:
        return None
    if KPI_HIGHER_IS_BETTER[kpi]:
        ratio = actual / target if target > 0 else MAX_RATIO
    else:
        ratio = target / actual if actual > 0 else MAX_RATIO
    return max(Decimal(0), min(ratio, MAX_RATIO))


def shown(ratio: Decimal) -> Decimal:
    """A ratio as displayed (4 decimal places, half to even); never graded."""
    return ratio.quantize(_PLACES, ROUND_HALF_EVEN)


def grade(ratio: Decimal | None, met_at: Decimal, exceeded_at: Decimal) -> Grade | None:
    if ratio is None:
        return None
    if ratio >= exceeded_at:
        return Grade.EXCEEDED
    if ratio >= met_at:
        return Grade.MET
    return Grade.MISSED


def _decimal(value: Decimal | float | int | str, field: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise InvalidTarget(f"{field} is not a number", field=field) from None
    if not number.is_finite():
        raise InvalidTarget(f"{field} must be a finite number", field=field)
    return number


def check_thresholds(met_at: Decimal | float | None, exceeded_at: Decimal | float | None
                     ) -> tuple[Decimal, Decimal]:
    met = DEFAULT_MET_AT if met_at is None else _decimal(met_at, "metAt")
    exceeded = DEFAULT_EXCEEDED_AT if exceeded_at is None else _decimal(exceeded_at, "exceededAt")
    if not 0 < met <= MAX_THRESHOLD:
        raise InvalidTarget(f"metAt must be above 0 and at most {MAX_THRESHOLD}", field="metAt")
    if not met <= exceeded <= MAX_THRESHOLD:
        raise InvalidTarget(f"exceededAt must be between metAt and {MAX_THRESHOLD}",
                            field="exceededAt")
    return met, exceeded


def check_value(kpi: str, value: Decimal | float | int | str) -> Decimal:
    number = _decimal(value, "value")
    if number < 0 or number > MAX_VALUE:
        raise InvalidTarget(f"value must be between 0 and {MAX_VALUE:f}", field="value")
    if number == 0 and KPI_HIGHER_IS_BETTER[kpi]:
        raise InvalidTarget("a target of 0 is met by doing nothing: give a positive value",
                            field="value")
    if kpi in RATIO_KPIS and number > 1:
        raise InvalidTarget(f"{kpi} is a ratio: the target must be at most 1", field="value")
    return number


def check_subject(scope: str, subject: str) -> str:
    if scope not in SCOPES:
        raise InvalidTarget(f"scope must be one of {list(SCOPES)}", field="scope")
    if scope == "department":
        if subject not in DEPARTMENTS:
            raise InvalidTarget(f"unknown department; expected one of {sorted(DEPARTMENTS)}",
                                field="department")
        return subject
    try:
        return str(UUID(subject))
    except ValueError:
        raise InvalidTarget("staffId is not a valid id", field="staffId") from None


def check_kpi(kpi: str) -> str:
    if kpi not in KPI_HIGHER_IS_BETTER:
        raise InvalidTarget("unknown KPI; see kpiCatalogue", field="kpi")
    return kpi


class Target(Aggregate):
    """A target value of one KPI for one subject and period; revised or removed, never lost."""

    class Set(Aggregate.Created):
        scope: str
        subject: str
        period_kind: str
        period_start: str  # ISO date, the period's first day
        kpi: str
        value: Decimal
        met_at: Decimal
        exceeded_at: Decimal
        trial: bool
        by: str
        occurred_at: datetime

    class Changed(Aggregate.Event):
        """New value, thresholds or trial flag (also: set again after removal)."""

        value: Decimal
        met_at: Decimal
        exceeded_at: Decimal
        trial: bool
        by: str
        occurred_at: datetime

    class Removed(Aggregate.Event):
        by: str
        occurred_at: datetime

    @staticmethod
    def create_id(scope: str, subject: str, period_kind: str, period_start: str, kpi: str
                  ) -> UUID:
        """One target per (scope, subject, period, KPI): setting it again revises it."""
        return uuid5(_NS, f"{scope}:{subject}:{period_kind}:{period_start}:{kpi}")

    @classmethod
    def define(cls, scope: str, subject: str, period_kind: str, day: date, kpi: str,
               value: Decimal | float | int | str, met_at: Decimal | float | None,
               exceeded_at: Decimal | float | None, trial: bool, by: str,
               occurred_at: datetime) -> Target:
        """A new target, validated; the period is the month or quarter holding ``day``."""
        subject = check_subject(scope, subject)
        start = period_start(period_kind, day)
        kpi = check_kpi(kpi)
        number = check_value(kpi, value)
        met, exceeded = check_thresholds(met_at, exceeded_at)
        return cls(scope=scope, subject=subject, period_kind=period_kind, period_start=start.isoformat(),
                   kpi=kpi, value=number, met_at=met, exceeded_at=exceeded, trial=trial, by=by,
                   occurred_at=occurred_at)

    @event(Set)
    def __init__(self, scope: str, subject: str, period_kind: str, period_start: str, kpi: str,
                 value: Decimal, met_at: Decimal, exceeded_at: Decimal, trial: bool, by: str,
                 occurred_at: datetime) -> None:
        self.scope = scope
        self.subject = subject
        self.period_kind = period_kind
        self.period_start = period_start
        self.kpi = kpi
        self.value = value
        self.met_at = met_at
        self.exceeded_at = exceeded_at
        self.trial = trial
        self.removed = False

    def revise(self, value: Decimal | float | int | str, met_at: Decimal | float | None,
               exceeded_at: Decimal | float | None, trial: bool, by: str,
               occurred_at: datetime) -> bool:
        """Set new figures; False (nothing recorded) when they are the current ones."""
        number = check_value(self.kpi, value)
        met, exceeded = check_thresholds(met_at, exceeded_at)
        if not self.removed and (number, met, exceeded, trial) == (
                self.value, self.met_at, self.exceeded_at, self.trial):
            return False
        self._changed(number, met, exceeded, trial, by, occurred_at)
        return True

    @event(Changed)
    def _changed(self, value: Decimal, met_at: Decimal, exceeded_at: Decimal, trial: bool,
                 by: str, occurred_at: datetime) -> None:
        self.value = value
        self.met_at = met_at
        self.exceeded_at = exceeded_at
        self.trial = trial
        self.removed = False

    def remove(self, by: str, occurred_at: datetime) -> bool:
        """Remove the target; False when it is removed already."""
        if self.removed:
            return False
        self._removed(by, occurred_at)
        return True

    @event(Removed)
    def _removed(self, by: str, occurred_at: datetime) -> None:
        self.removed = True
