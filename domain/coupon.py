"""Coupons with redemption codes (核销码), verified once.

Issuing a coupon makes a random redemption code (``secrets``, ~60 bits). The
code is a bearer secret: it is never stored in clear in an event or a log. The
coupon's stream id *is* a keyed hash of the code (HMAC with the deployment's
blind-index key, :func:`coupon_id_for`), so a code presented at a store finds
its coupon and nothing else does; the clear code is sealed in the holder's
personal-data vault (``coupon:<coupon id>``) so the customer can show it again.

Verification appends ``Coupon.Redeemed`` to the coupon's stream: two
simultaneous verifications of one code write the same stream version, the
event store's uniqueness refuses the second, which is decided again and sees
the coupon redeemed (``COUPON_ALREADY_REDEEMED``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError, InvalidInput

#: Crockford base32 without I, L, O, U: easy to read out and type at a till.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12
_SEPARATORS = re.compile(r"[\s\-]")
MAX_VALUE_FEN = 10**9


class UnknownRedemptionCode(DomainError):
    code = "UNKNOWN_REDEMPTION_CODE"


class CouponAlreadyRedeemed(DomainError):
    code = "COUPON_ALREADY_REDEEMED"


class CouponExpired(DomainError):
    code = "COUPON_EXPIRED"


def new_redemption_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def format_code(code: str) -> str:
    """For display: ``ABCD-EFGH-JKMN`` (the separators are ignored when verifying)."""
    return "-".join(code[n:n + 4] for n in range(0, len(code), 4))


def normalise_code(raw: str) -> str | None:
    """The canonical code (upper case, no separators), or None if it cannot be one."""
    code = _SEPARATORS.sub("", raw).upper()
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        return None
    return code


def coupon_id_for(key: bytes, code: str) -> UUID:
    """The coupon's id: a keyed hash of its (normalised) redemption code."""
    digest = hmac.new(key, b"redemption-code\x00" + code.encode(), hashlib.sha256).digest()
    return UUID(bytes=digest[:16], version=4)


def check_terms(value_fen: int, valid_days: int | None) -> None:
    if isinstance(value_fen, bool) or not 1 <= value_fen <= MAX_VALUE_FEN:
        raise InvalidInput(f"valueFen must be 1 to {MAX_VALUE_FEN}", field="valueFen")
    if valid_days is not None and not 1 <= valid_days <= 3650:
        raise InvalidInput("validDays must be 1-3650", field="validDays")


class Coupon(Aggregate):
    """One issued coupon: its holder, value, expiry and redemption."""

    class Issued(Aggregate.Created):
        """A coupon with a redemption code (its stream id is a keyed hash of the code)."""

        customer_id: str
        value_fen: int
        expires_at: datetime | None
        source: str  # "manual", or "referral:<campaign id>"
        by: str
        occurred_at: datetime

    class Redeemed(Aggregate.Event):
        """The redemption code was verified (核销), once."""

        store_id: str | None
        by: str
        occurred_at: datetime

        def apply(self, coupon: Coupon) -> None:
            coupon.redeemed_at = self.occurred_at
            coupon.store_id = self.store_id

    @classmethod
    def issue(cls, coupon_id: UUID, customer_id: UUID, value_fen: int, valid_days: int | None,
              source: str, by: str, occurred_at: datetime) -> Coupon:
        check_terms(value_fen, valid_days)
        expires = None if valid_days is None else occurred_at + timedelta(days=valid_days)
        return cls(id=coupon_id, customer_id=str(customer_id), value_fen=value_fen,
                   expires_at=expires, source=source, by=by, occurred_at=occurred_at)

    @event(Issued)
    def __init__(self, id: UUID, customer_id: str, value_fen: int, expires_at: datetime | None,
                 source: str, by: str, occurred_at: datetime) -> None:
        self.customer_id = customer_id
        self.value_fen = value_fen
        self.expires_at = expires_at
        self.source = source
        self.issued_at = occurred_at
        self.redeemed_at: datetime | None = None
        self.store_id: str | None = None

    def redeem(self, store_id: str | None, by: str, occurred_at: datetime) -> None:
        if self.redeemed_at is not None:
            raise CouponAlreadyRedeemed("this coupon was already redeemed", field="code")
        if self.expires_at is not None and occurred_at >= self.expires_at:
            raise CouponExpired("this coupon has expired", field="code")
        self.trigger_event(self.Redeemed, store_id=store_id, by=by, occurred_at=occurred_at)
