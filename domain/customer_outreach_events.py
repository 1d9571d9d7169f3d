"""Customer events recording the outcome of outbound messages: welcome messages,
campaign messages and SOP steps.

Each is ``Customer.<Name>`` by topic and by name (see :func:`domain.customer_state.customer_event`).
"""

from __future__ import annotations

from typing import Any

from domain.customer_state import CustomerFact, customer_event


# -- outbound outcomes ----------------------------------------------------------------
@customer_event
class WelcomeMessageSent(CustomerFact):
    staff_id: str
    template_id: str
    gateway_message_id: str


@customer_event
class WelcomeMessageFailed(CustomerFact):
    staff_id: str
    reason: str


@customer_event
class CampaignMessageSent(CustomerFact):
    """A campaign message left for this customer (direct) or its WeCom task was created."""

    campaign_id: str
    step: int
    variant_id: str
    channel: str
    gateway_message_id: str


@customer_event
class CampaignMessageDelivered(CustomerFact):
    """WeCom's final status of a mass-send message: ``sent``, ``not_friend``,
    ``quota_exceeded`` (the quota period's maximum reached) or ``expired`` (never
    confirmed). ``occurred_at``: when the member sent the task, as WeCom reports it (the
    quota period a status 3 marks); for ``expired``, when the task was given up."""

    campaign_id: str
    step: int
    status: str


@customer_event
class CampaignMessageRead(CustomerFact):
    """The customer opened a campaign message (reported by the channel or the H5 page)."""

    campaign_id: str


@customer_event
class CampaignLinkClicked(CustomerFact):
    campaign_id: str


@customer_event
class CampaignMessageFailed(CustomerFact):
    """A campaign message could not be sent: ``reason`` is machine-readable."""

    campaign_id: str
    step: int
    channel: str
    reason: str


@customer_event
class SopStepSent(CustomerFact):
    """A step of an SOP enrolment left for this customer (or its WeCom task was created).

    v2 added ``sender`` (a WeCom mass send: the staff id whose task carries it) and
    ``sender_basis`` (why that member: ``LAST_CHATTED``, ``OWNER``, ``FRIEND``); "" on other
    channels and in v1 (then: not recorded)."""

    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state.update(sender="", sender_basis="")

    sop_id: str
    enrolment_id: str
    step: int
    variant_id: str
    channel: str
    gateway_message_id: str
    sender: str
    sender_basis: str


@customer_event
class SopStepFailed(CustomerFact):
    """A step of an SOP enrolment could not be sent: ``reason`` is machine-readable."""

    sop_id: str
    enrolment_id: str
    step: int
    channel: str
    reason: str


@customer_event
class SopStepSkipped(CustomerFact):
    """A step was not sent, on purpose: a restraint rule (``DO_NOT_DISTURB``,
    ``CAP_DAY`` …), ``CONVERTED`` / ``OPTED_OUT`` seen at send time, or ``LATE``."""

    sop_id: str
    enrolment_id: str
    step: int
    reason: str
