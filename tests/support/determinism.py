"""Recording times and new ids drawn from fixed sequences: two runs of the same input store
byte-identical logs, so two write paths can be compared row for row."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import eventsourcing.domain as domain_module
import pytest


def fixed_clock_and_ids(patch: pytest.MonkeyPatch, at: datetime) -> None:
    """The library's recording time is ``at`` plus a microsecond per event, and its new ids
    count up from 1, while ``patch`` lasts."""
    ticks = iter(range(10**6))
    ids = iter(range(1, 10**6))
    patch.setattr(domain_module, "datetime_now_with_tzinfo",
                  lambda: at + timedelta(microseconds=next(ticks)))
    patch.setattr(domain_module, "uuid4", lambda: UUID(int=next(ids)))
