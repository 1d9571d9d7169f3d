"""Unit tests of the actor's policy: templates per channel, which errors are retried."""

from __future__ import annotations

import re

import psycopg
import pytest

from workers.welcome import (
    DEFAULT_CHANNEL,
    TEMPLATES,
    RetryPolicy,
    TransientSendError,
    WelcomeTemplate,
    choose_template,
)


@pytest.mark.parametrize("channel", ["qr", "mini_program", "live"])
def test_each_known_channel_gets_its_own_template(channel: str) -> None:
    # Given / When a channel with a template of its own
    template = choose_template(channel)
    # Then that template is chosen, not the default
    assert template is TEMPLATES[channel]
    assert template is not TEMPLATES[DEFAULT_CHANNEL]


@pytest.mark.parametrize("channel", ["unknown", "", "offline_store"])
def test_an_unknown_channel_gets_the_default_template(channel: str) -> None:
    # Given / When a channel without a template / Then the default one
    assert choose_template(channel) is TEMPLATES[DEFAULT_CHANNEL]


def test_a_given_template_table_replaces_the_built_in_one() -> None:
    # Given a deployment's own table
    table = {"qr": WelcomeTemplate("mine-qr", "Hi!"), "default": WelcomeTemplate("mine", "Hey")}
    # When / Then it is used, with its own default
    assert choose_template("qr", table).template_id == "mine-qr"
    assert choose_template("h5", table).template_id == "mine"


def test_templates_hold_no_placeholders_for_personal_data() -> None:
    # Given the built-in templates / Then they are plain text: no names, codes or ids filled in
    for template in TEMPLATES.values():
        assert not re.search(r"[{}%$]", template.text)
        assert template.template_id and template.text


def test_only_transient_errors_are_retried_and_only_up_to_max_retries() -> None:
    # Given a policy of three retries
    policy = RetryPolicy(max_retries=3)
    # Then transient gateway errors and a database that is away are retried …
    assert policy.retry_when(0, TransientSendError("busy"))
    assert policy.retry_when(2, psycopg.OperationalError("gone"))
    # … but not past the limit
    assert not policy.retry_when(3, TransientSendError("busy"))
    # … and bugs never are
    assert not policy.retry_when(0, KeyError("oops"))
    assert not policy.retry_when(0, ValueError("oops"))
    # And the gateway is called at most once per try
    assert policy.max_attempts == 4
