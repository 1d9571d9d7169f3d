"""A campaign's confirmation deadline for WeCom mass sends: set, changed, refused."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.campaign import Campaign, CampaignStateError
from domain.errors import InvalidInput

AT = datetime(2026, 12, 1, 4, tzinfo=UTC)


def campaign() -> Campaign:
    return Campaign.draft("c", "staff:m", "wecom_mass", uuid4(),
                          [{"variant_id": "a", "text": "hi"}], "staff:m", AT)


def test_a_deadline_is_recorded_once_and_a_repeat_changes_nothing() -> None:
    c = campaign()
    assert c.confirm_hours is None
    assert c.set_confirmation_deadline(8, "staff:m", AT) is True
    assert c.set_confirmation_deadline(8, "staff:m", AT) is False
    assert c.confirm_hours == 8
    last = c.collect_events()[-1]
    assert isinstance(last, Campaign.ConfirmationDeadlineSet)
    assert (last.hours, last.by, last.occurred_at) == (8, "staff:m", AT)


@pytest.mark.parametrize("hours", [0, -1, 721, True], ids=["zero", "negative", "too-long", "bool"])
def test_a_deadline_out_of_range_is_refused(hours: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        campaign().set_confirmation_deadline(hours, "staff:m", AT)
    assert refused.value.field == "hours"


def test_a_cancelled_campaign_s_deadline_cannot_change() -> None:
    c = campaign()
    c.cancel("no longer needed", "staff:m", AT)
    with pytest.raises(CampaignStateError):
        c.set_confirmation_deadline(8, "staff:m", AT)
