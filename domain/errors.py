"""Domain errors: every expected refusal is a subclass of :class:`DomainError`.

Each error carries a stable ``code`` (part of the public API: GraphQL puts it in
``extensions.code``) and, where one input field is at fault, the ``field`` name.
"""

from __future__ import annotations


class DomainError(Exception):
    code = "DOMAIN_ERROR"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    code = "INVALID_INPUT"


class UnknownEventType(DomainError):
    code = "UNKNOWN_EVENT_TYPE"


class MissingField(DomainError):
    code = "MISSING_FIELD"


class InvalidIdentity(DomainError):
    code = "INVALID_IDENTITY"


class InvalidAmount(DomainError):
    code = "INVALID_AMOUNT"


class InvalidTime(DomainError):
    code = "INVALID_TIME"


class UnknownOrder(DomainError):
    code = "UNKNOWN_ORDER"


class OrderAlreadyPaid(DomainError):
    code = "ORDER_ALREADY_PAID"


class RefundExceedsPayment(DomainError):
    code = "REFUND_EXCEEDS_PAYMENT"


class IdentityTaken(DomainError):
    code = "IDENTITY_TAKEN"


class UnknownStaff(DomainError):
    code = "UNKNOWN_STAFF"


class StaffAlreadyLeft(DomainError):
    code = "STAFF_ALREADY_LEFT"


class InvalidRole(DomainError):
    code = "INVALID_ROLE"


class OrderAlreadyPlaced(DomainError):
    code = "ORDER_ALREADY_PLACED"


class OrderNotCancellable(DomainError):
    code = "ORDER_NOT_CANCELLABLE"


class CouponAlreadyIssued(DomainError):
    code = "COUPON_ALREADY_ISSUED"


class CouponNotRedeemable(DomainError):
    code = "COUPON_NOT_REDEEMABLE"


class InsufficientPoints(DomainError):
    code = "INSUFFICIENT_POINTS"


class SelfReferral(DomainError):
    code = "SELF_REFERRAL"


class UnknownInviter(DomainError):
    code = "UNKNOWN_INVITER"


class CannotMerge(DomainError):
    code = "CANNOT_MERGE"


class NotMerged(DomainError):
    code = "NOT_MERGED"


class UnknownCustomer(DomainError):
    code = "UNKNOWN_CUSTOMER"


class UnknownSegment(DomainError):
    code = "UNKNOWN_SEGMENT"


class UnknownTagGroup(DomainError):
    code = "UNKNOWN_TAG_GROUP"


class TagGroupArchived(DomainError):
    code = "TAG_GROUP_ARCHIVED"


class TagInOtherGroup(DomainError):
    code = "TAG_IN_OTHER_GROUP"


class ExclusiveTagConflict(DomainError):
    """Two tags of one exclusive group given at once: a customer holds at most one."""

    code = "EXCLUSIVE_TAG_CONFLICT"


class NotOwnedByGiver(DomainError):
    """A handover names a customer the giving staff member does not own now."""

    code = "NOT_OWNED_BY_GIVER"



class UnknownTerm(DomainError):
    code = "UNKNOWN_TERM"


class UnknownAlert(DomainError):
    code = "UNKNOWN_ALERT"


class AlertClosed(DomainError):
    """The alert was resolved: it can be neither acknowledged nor resolved again."""

    code = "ALERT_CLOSED"


class UnknownScript(DomainError):
    code = "UNKNOWN_SCRIPT"


class ScriptArchived(DomainError):
    code = "SCRIPT_ARCHIVED"


class CustomerErased(DomainError):
    """The customer's personal data was erased (PIPL): nothing more is done for them."""

    code = "CUSTOMER_ERASED"


class LoginFailed(DomainError):
    """A WeChat login code was refused (invalid, used or expired)."""

    code = "LOGIN_FAILED"


class UnknownMomentTask(DomainError):
    code = "UNKNOWN_MOMENT_TASK"


class MomentDailyLimit(DomainError):
    """A moment task would show some customers more moments of the brand in a day than
    WeCom allows (:data:`domain.moment_task.PER_CUSTOMER_DAY`)."""

    code = "MOMENT_DAILY_LIMIT"


class MomentTaskClosed(DomainError):
    """The moment task cannot take this change in its state (cancelled, refused, or with
    WeCom still creating it)."""

    code = "MOMENT_TASK_CLOSED"
