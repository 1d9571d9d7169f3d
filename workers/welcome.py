"""The ``send_welcome`` actor: one welcome message per outbox row, whatever the redeliveries.

A message carries only the outbox key. Handling it:

1. row ``sent``/``failed`` → nothing to do (a redelivery);
2. no gateway answer stored yet → count the attempt, call the gateway (no transaction open),
   store its answer on the row — "already used" counts as sent, a permanent failure as
   failed, a transient failure raises :class:`TransientSendError` and Dramatiq retries
   with exponential backoff; the last allowed attempt records the failure instead;
3. record the stored answer on the customer (``record_welcome_outcome``, once per key),
   then mark the row.

A crash anywhere repeats at most the step it interrupted: a repeated gateway call gets
"already used" for a code that went through, and the outcome is recorded once per key.

**Never after the code's lifetime.** WeCom accepts a ``welcome_code`` within 20 seconds of
the add (:data:`workers.outbox.WELCOME_CODE_LIFETIME`); past that, no call is made and the
row fails ``welcome code expired`` (rows older than that when projected never get a
message at all).

**Which text.** The channel code the customer added through (the add's ``state``) gives
its own welcome text (template id ``channel-code:<code id>:r<revision>``); otherwise the
text of the most specific channel in ``templates`` the add's channel is within
(:func:`domain.channels.most_specific`: ``qr`` covers ``qr:store-shanghai-01``), else
``default``. Texts hold no personal data (no names, no codes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import psycopg

from adapters.wecom_client import OutboundGateway, Outcome
from application.app import Siyu
from domain.channels import most_specific
from workers.outbox import (
    FAILED,
    PENDING,
    SENT,
    WELCOME_CODE_LIFETIME,
    OutboxRow,
    OutboxStore,
)

log = logging.getLogger(__name__)

ACTOR_NAME = "send_welcome"
DEFAULT_QUEUE = "welcome"


@dataclass(frozen=True, slots=True)
class WelcomeTemplate:
    template_id: str
    text: str


DEFAULT_CHANNEL = "default"
WELCOME_CODE_EXPIRED = "welcome code expired"

#: Welcome texts per acquisition channel (and every channel under it) when the channel code
#: gives none; ``default`` for any other channel.
#: (Chinese copy takes full-width punctuation, hence the RUF001 waivers.)
TEMPLATES: Mapping[str, WelcomeTemplate] = {
    "qr": WelcomeTemplate(
        "welcome-qr-v1", "欢迎添加！扫码好友专享：回复“福利”领取新人券。"),  # noqa: RUF001
    "mini_program": WelcomeTemplate(
        "welcome-mini-program-v1", "欢迎从小程序来到这里！有任何问题随时问我。"),  # noqa: RUF001
    "live": WelcomeTemplate(
        "welcome-live-v1", "感谢从直播间添加！直播专属优惠稍后发给你。"),  # noqa: RUF001
    DEFAULT_CHANNEL: WelcomeTemplate(
        "welcome-default-v1", "你好，很高兴认识你！有任何需要随时联系我。"),  # noqa: RUF001
}


def choose_template(channel: str,
                    templates: Mapping[str, WelcomeTemplate] = TEMPLATES) -> WelcomeTemplate:
    """The template of the most specific channel ``channel`` is within, else ``default``."""
    found = most_specific(channel, [c for c in templates if c != DEFAULT_CHANNEL])
    return templates[found] if found is not None else templates[DEFAULT_CHANNEL]


def template_for(app: Siyu, row: OutboxRow,
                 templates: Mapping[str, WelcomeTemplate] = TEMPLATES) -> WelcomeTemplate:
    """The channel code's own text (read fresh: it may have changed), else the channel's."""
    code = app.channel_codes.for_state(row.state, fresh=True)
    if code is not None and code.welcome_text:
        return WelcomeTemplate(f"channel-code:{code.id}:r{code.revision}", code.welcome_text)
    return choose_template(row.channel, templates)


class TransientSendError(Exception):
    """The gateway could not answer now; retrying later is safe (single-use code)."""


#: Exceptions worth a retry: the gateway's transient answers and a database that is away.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (TransientSendError, psycopg.OperationalError)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Dramatiq retry options; backoff doubles from ``min_backoff`` up to ``max_backoff`` (ms)."""

    max_retries: int = 5
    min_backoff: int = 1_000
    max_backoff: int = 30_000
    time_limit: int = 60_000

    @property
    def max_attempts(self) -> int:
        """Gateway calls per row: the first try and every retry."""
        return self.max_retries + 1

    def retry_when(self, retries: int, error: BaseException) -> bool:
        return isinstance(error, TRANSIENT_ERRORS) and retries < self.max_retries


@dataclass(slots=True)
class WelcomeDeps:
    app: Siyu
    store: OutboxStore
    gateway: OutboundGateway
    templates: Mapping[str, WelcomeTemplate] = field(default_factory=lambda: TEMPLATES)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    lifetime: timedelta = WELCOME_CODE_LIFETIME


def send_welcome(deps: WelcomeDeps, key: str) -> None:
    """Handle one ``send_welcome`` message (see the module docstring)."""
    row = deps.store.get(key)
    if row is None:
        log.warning("welcome %s: no such outbox row; dropped", key)
        return
    if row.status != PENDING:
        log.info("welcome %s: already %s; nothing to do", key, row.status)
        return
    if row.outcome is None:
        row = _ask_gateway(deps, row)
        if row is None:
            return
    _record(deps, row)


def _ask_gateway(deps: WelcomeDeps, row: OutboxRow) -> OutboxRow | None:
    key = row.outbox_key
    if row.attempts >= deps.retry.max_attempts:
        # Attempts were spent by earlier deliveries that crashed or gave up: stop here.
        return _answer(deps, key, FAILED, None, f"gave up after {row.attempts} attempts")
    if row.occurred_at is not None and deps.clock() > row.occurred_at + deps.lifetime:
        return _answer(deps, key, FAILED, None, WELCOME_CODE_EXPIRED)  # no call: WeCom refuses
    template = template_for(deps.app, row, deps.templates)
    claimed = deps.store.begin_attempt(key, template.template_id)
    if claimed is None:  # answered concurrently, or completed meanwhile
        current = deps.store.get(key)
        return current if current and current.status == PENDING and current.outcome else None
    result = deps.gateway.send_welcome(claimed.welcome_code, template.text)
    log.info("welcome %s: attempt %d: %s (%s)", key, claimed.attempts, result.outcome.value,
             result.reason)
    if result.outcome is Outcome.TRANSIENT_FAILURE:
        if claimed.attempts < deps.retry.max_attempts:
            raise TransientSendError(f"welcome {key}: {result.reason}")
        return _answer(deps, key, FAILED, None,
                       f"gave up after {claimed.attempts} attempts: {result.reason}")
    if result.delivered:
        return _answer(deps, key, SENT, result.message_id, None)
    return _answer(deps, key, FAILED, None, result.reason)


def _answer(deps: WelcomeDeps, key: str, outcome: str, message_id: str | None,
            failure: str | None) -> OutboxRow | None:
    row = deps.store.record_answer(key, outcome=outcome, answered_at=deps.clock(),
                                   gateway_message_id=message_id, failure=failure)
    return row if row and row.status == PENDING and row.outcome else None


def _record(deps: WelcomeDeps, row: OutboxRow) -> None:
    recorded = deps.app.customers.record_welcome_outcome(
        row.customer_id, row.outbox_key, row.staff_id,
        template_id=row.template_id or "",
        gateway_message_id=row.gateway_message_id,
        failure=row.failure if row.outcome == FAILED else None,
        occurred_at=row.answered_at or deps.clock(),
    )
    deps.store.complete(row.outbox_key)
    log.info("welcome %s: %s on customer %s%s", row.outbox_key, row.outcome, row.customer_id,
             "" if recorded else " (outcome was already recorded)")


def declare_welcome_actor(broker: dramatiq.Broker, deps: WelcomeDeps, *,
                          queue_name: str = DEFAULT_QUEUE) -> dramatiq.Actor[[str], None]:
    """Declare ``send_welcome(outbox_key)`` on ``broker`` with its retry policy."""

    def send_welcome_message(outbox_key: str) -> None:
        send_welcome(deps, outbox_key)

    policy = deps.retry
    options: dict[str, Any] = {
        "max_retries": policy.max_retries,
        "min_backoff": policy.min_backoff,
        "max_backoff": policy.max_backoff,
        "retry_when": policy.retry_when,
        "time_limit": policy.time_limit,
    }
    declare = dramatiq.actor(broker=broker, actor_name=ACTOR_NAME, queue_name=queue_name,
                             **options)
    return declare(send_welcome_message)
