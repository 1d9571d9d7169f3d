"""``ContactPolicy``: the brand's rules of restraint, shared by every campaign.

One aggregate (a fixed id); each change is an event, so the plan of every campaign can
be explained by the policy in force when it was launched. Defaults: per channel at most
1 message a day, 2 a week and 6 a month per customer; WeCom's mass-send quota under the
corp's rule ``month`` (as many per natural month as the month has days; ``week``: 7,
``day``: 1 — what the corp chose in WeCom's mass-send settings); quiet hours 21:00-09:00.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput
from domain.restraint import CHANNELS, WECOM_QUOTA_RULES, Caps, Policy

POLICY_ID = uuid5(NAMESPACE_URL, "https://siyu.invalid/contact-policy")
MAX_CAP = 1000


def _cap(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CAP:
        raise InvalidInput(f"{field} must be 0-{MAX_CAP} or null (no cap)", field=field)
    return value


def _clock(value: str, field: str) -> str:
    try:
        return time.fromisoformat(value).strftime("%H:%M")
    except ValueError:
        raise InvalidInput(f"{field} must be a time like 21:00", field=field) from None


class ContactPolicy(Aggregate):
    class Created(Aggregate.Created):
        pass

    class Changed(Aggregate.Event):
        """v2: WeCom's quota is the corp's rule (``wecom_quota_rule``); v1's fixed
        ``wecom_monthly_quota`` (4, WeCom's old rule) reads as the ``month`` rule."""

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.pop("wecom_monthly_quota", None)
            state["wecom_quota_rule"] = "month"

        caps: dict[str, dict[str, int | None]]
        wecom_quota_rule: str
        quiet_start: str
        quiet_end: str
        by: str
        occurred_at: datetime

        def apply(self, policy: ContactPolicy) -> None:
            policy.settings = {"caps": self.caps, "wecom_quota_rule": self.wecom_quota_rule,
                               "quiet_start": self.quiet_start, "quiet_end": self.quiet_end}

    @classmethod
    def create(cls) -> ContactPolicy:
        return cls._create(cls.Created, id=POLICY_ID)

    @event(Created)
    def __init__(self) -> None:
        self.settings: dict[str, Any] | None = None

    def change(self, caps: dict[str, dict[str, Any]], wecom_quota_rule: str,
               quiet_start: str, quiet_end: str, by: str, occurred_at: datetime) -> None:
        unknown = sorted(set(caps) - CHANNELS)
        if unknown:
            raise InvalidInput(f"unknown channel {unknown[0]!r}", field=f"caps.{unknown[0]}")
        checked = {ch: {k: _cap(v.get(k), f"caps.{ch}.{k}") for k in ("day", "week", "month")}
                   for ch, v in sorted(caps.items())}
        if wecom_quota_rule not in WECOM_QUOTA_RULES:
            raise InvalidInput(f"wecomQuotaRule must be one of {list(WECOM_QUOTA_RULES)}",
                               field="wecomQuotaRule")
        self.trigger_event(self.Changed, caps=checked, wecom_quota_rule=wecom_quota_rule,
                           quiet_start=_clock(quiet_start, "quietStart"),
                           quiet_end=_clock(quiet_end, "quietEnd"), by=by, occurred_at=occurred_at)

    def policy(self) -> Policy:
        if self.settings is None:
            return Policy()
        caps = {c: Caps() for c in CHANNELS}
        caps.update({ch: Caps(**v) for ch, v in self.settings["caps"].items()})
        return Policy(caps=caps,
                      wecom_quota_rule=self.settings.get("wecom_quota_rule", "month"),
                      quiet_start=time.fromisoformat(self.settings["quiet_start"]),
                      quiet_end=time.fromisoformat(self.settings["quiet_end"]))


def current_id() -> UUID:
    return POLICY_ID
