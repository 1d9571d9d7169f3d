"""Channels nest: ``qr:store-shanghai-01`` is within ``qr``; segments match whole."""

from __future__ import annotations

import pytest

from domain.channels import ancestors, check_channel, most_specific, within, within_any
from domain.errors import InvalidInput


@pytest.mark.parametrize(("channel", "ancestor", "expected"), [
    ("qr:store-shanghai-01", "qr", True),
    ("qr:store-shanghai-01", "qr:store-shanghai-01", True),
    ("qr", "qr", True),
    ("qr", "qr:store-shanghai-01", False),
    ("qr:store-shanghai-01", "qr:store", False),
    ("qrcode", "qr", False),
    ("live:douyin:1212", "live", True),
    (None, "qr", False),
], ids=["child", "itself", "same", "parent-not-within-child", "partial-segment",
        "prefix-not-segment", "grandchild", "no-channel"])
def test_a_channel_is_within_itself_and_its_ancestors_only(
        channel: str | None, ancestor: str, expected: bool) -> None:
    assert within(channel, ancestor) is expected


def test_the_most_specific_setting_wins() -> None:
    candidates = ["default", "qr", "qr:store-shanghai-01", "live"]
    assert most_specific("qr:store-shanghai-01", candidates) == "qr:store-shanghai-01"
    assert most_specific("qr:store-beijing-02", candidates) == "qr"
    assert most_specific("mini_program", candidates) is None
    assert within_any("qr:x", ["live", "qr"]) and not within_any("wecom", ["qr"])
    assert ancestors("qr:a:b") == ["qr", "qr:a", "qr:a:b"]


@pytest.mark.parametrize("bad", ["", "QR", "qr:", ":qr", "qr::a", "qr a", "x" * 65],
                         ids=["empty", "upper", "trailing", "leading", "empty-segment",
                              "space", "too-long"])
def test_a_code_channel_must_be_a_channel_path(bad: str) -> None:
    with pytest.raises(InvalidInput):
        check_channel(bad)
    assert check_channel(" qr:store-shanghai-01 ") == "qr:store-shanghai-01"
