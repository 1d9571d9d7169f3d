"""Service or marketing: what a message is, and what keeps marketing from posing as service.

Every message the platform sends (a campaign's, a SOP step's) has a **class**:

* ``marketing`` (the default): every rule of restraint applies (:mod:`domain.restraint`).
* ``service`` — an order notice, after-sales guidance, a change to a service the customer
  uses: the brand's marketing caps and a holiday's stricter caps and quiet hours do not
  hold it back (the seeds: service must still go out). Do-not-disturb, a withdrawn consent
  for its purpose, the night's quiet hours (deferred, never dropped) and WeCom's own
  quota (WeCom counts every ``add_msg_template``, whatever its class) still apply. A
  service message still counts toward the customer's caps: the marketing after it is the
  more restrained.

What keeps a promotion from being declared ``service`` (:func:`check_class`):

1. a **reason** from :data:`SERVICE_REASONS` and, for a campaign, a **reference** (the order
   batch, ticket or recall notice it is about: letters, digits and ``-_.:/#``) recorded in
   the event, so an audit can follow it;
2. its consent **purpose** is not ``marketing`` (by default ``service``);
3. no holdout (withholding an order notice to measure it is not a service);
4. no promotional wording: a text with a term of :data:`PROMOTIONAL_TERMS` is refused;
5. only a company manager may declare it (enforced by the API: ``SERVICE_CLASS_FORBIDDEN``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from domain.errors import InvalidInput

MARKETING, SERVICE = "marketing", "service"
MESSAGE_CLASSES = (MARKETING, SERVICE)
#: The consent purpose of a service message unless another is given.
SERVICE_PURPOSE = "service"
#: Why a message is a service: an order's progress (paid, shipped, delivered, refunded), the
#: after-sales help for something bought, a change to a service the customer uses (a store
#: closing, a recall, new opening hours).
SERVICE_REASONS = frozenset({"order_notice", "after_sales", "service_change"})
#: Wording of promotions: a service text carrying one is marketing in disguise.
PROMOTIONAL_TERMS = ("优惠", "折扣", "打折", "促销", "特价", "秒杀", "抢购", "限时", "满减",
                     "领券", "优惠券", "红包", "大促", "上新", "爆款", "拼团", "砍价",
                     "会员日", "coupon", "discount", "promo", "% off", "sale")
_REFERENCE = re.compile(r"^[A-Za-z0-9_\-.:/#]{1,64}$")
_WORD_TERMS = ("sale", "promo")  # latin words matched whole, not inside "wholesale" notices


class ServiceClassRefused(InvalidInput):
    """A message declared ``service`` that does not meet the rules."""

    code = "SERVICE_CLASS_REFUSED"


def promotional_term(text: str) -> str | None:
    """The first promotional term in ``text`` (case-insensitive), or None."""
    folded = text.casefold()
    for term in PROMOTIONAL_TERMS:
        if term in _WORD_TERMS:
            if re.search(rf"(?<![a-z]){re.escape(term)}(?![a-z])", folded):
                return term
        elif term in folded:
            return term
    return None


def check_class(message_class: str, reason: str | None, reference: str | None, *,
                purpose: str, holdout_percent: int, texts: Iterable[str],
                reference_required: bool, where: str = "") -> dict[str, Any]:
    """The class fields as recorded: ``message_class``, ``service_reason`` and
    ``service_reference`` (None for marketing). ``where`` prefixes the error's field."""
    if message_class not in MESSAGE_CLASSES:
        raise InvalidInput(f"messageClass must be one of {list(MESSAGE_CLASSES)}",
                           field=f"{where}messageClass")
    if message_class == MARKETING:
        if reason is not None or reference is not None:
            raise ServiceClassRefused("serviceReason and serviceReference are for service "
                                      "messages", field=f"{where}serviceReason")
        return {"message_class": MARKETING, "service_reason": None, "service_reference": None}
    if reason not in SERVICE_REASONS:
        raise ServiceClassRefused(f"a service message needs serviceReason, one of "
                                  f"{sorted(SERVICE_REASONS)}", field=f"{where}serviceReason")
    if (reference is not None or reference_required) \
            and (reference is None or not _REFERENCE.match(reference)):
        raise ServiceClassRefused("a service campaign needs serviceReference: the order "
                                  "batch, ticket or notice it is about (1-64 letters, "
                                  "digits or -_.:/#)", field=f"{where}serviceReference")
    if purpose == MARKETING:
        raise ServiceClassRefused("a service message's purpose cannot be marketing",
                                  field=f"{where}purpose")
    if holdout_percent:
        raise ServiceClassRefused("a service message has no holdout", field="holdoutPercent")
    for n, text in enumerate(texts):
        term = promotional_term(text)
        if term is not None:
            raise ServiceClassRefused(f"variants[{n}].text reads as marketing ({term!r}): "
                                      "send it as a marketing message",
                                      field=f"{where}variants[{n}].text")
    return {"message_class": SERVICE, "service_reason": reason, "service_reference": reference}
