"""The channels the platform sends on, and a channel's caps per customer (day, week, month).

Shared by the contact policy (:mod:`domain.restraint`) and the holiday calendar
(:mod:`domain.holidays`)."""

from __future__ import annotations

from dataclasses import dataclass

WECOM_MASS = "wecom_mass"
CHANNELS = frozenset({WECOM_MASS, "mini_program", "sms"})


@dataclass(frozen=True, slots=True)
class Caps:
    day: int | None = 1
    week: int | None = 2
    month: int | None = 6
