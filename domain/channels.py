"""Acquisition channels (渠道) and how they nest.

A channel is a path of segments separated by ``:`` — ``qr``, ``qr:store-shanghai-01``,
``live:douyin:2026-12-12``. Each segment is lower-case letters, digits, ``_`` or ``-``
(the first starts with a letter); at most 64 characters in all.

**The matching rule.** A channel is *within* a filter channel when it is that channel or
lies under it: ``qr:store-shanghai-01`` is within ``qr`` and within itself, not within
``qr:store`` (segments match whole) nor within ``live``. Every filter by channel — an SOP
trigger's ``channels``, a segment's ``joinedVia``, welcome texts chosen per channel, the
channel KPIs' filter — uses this one rule; the most specific match wins where one
setting per channel is chosen (:func:`most_specific`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from domain.errors import InvalidInput

SEPARATOR = ":"
MAX_LENGTH = 64
_CHANNEL = re.compile(r"^[a-z][a-z0-9_\-]*(:[a-z0-9][a-z0-9_\-]*)*$")


def check_channel(value: str, field: str = "channel") -> str:
    """``value`` as a channel (trimmed); refused (``INVALID_INPUT``) if it is not one."""
    channel = value.strip()
    if not 0 < len(channel) <= MAX_LENGTH or not _CHANNEL.match(channel):
        raise InvalidInput(f"{field} must be segments of a-z, 0-9, _ or - separated by ':' "
                           f"(e.g. qr:store-shanghai-01), at most {MAX_LENGTH} characters",
                           field=field)
    return channel


def within(channel: str | None, ancestor: str) -> bool:
    """True when ``channel`` is ``ancestor`` or lies under it (``qr:a`` is within ``qr``)."""
    if channel is None:
        return False
    return channel == ancestor or channel.startswith(ancestor + SEPARATOR)


def within_any(channel: str | None, ancestors: Iterable[str]) -> bool:
    return any(within(channel, a) for a in ancestors)


def most_specific(channel: str | None, candidates: Iterable[str]) -> str | None:
    """The longest of ``candidates`` that ``channel`` is within (None: none is)."""
    found = [c for c in candidates if within(channel, c)]
    return max(found, key=len) if found else None


def ancestors(channel: str) -> list[str]:
    """``channel`` and every channel it lies under, the broadest first."""
    parts = channel.split(SEPARATOR)
    return [SEPARATOR.join(parts[:n]) for n in range(1, len(parts) + 1)]
