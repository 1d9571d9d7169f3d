"""Settings read from the environment: campaign rates (``SIYU_CAMPAIGN_RATES``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from siyu.cli import main
from siyu.settings import SettingsError, from_env, parse_campaign_rates
from siyu.worker_process import options_for
from workers import features
from workers.polling import PollingLoop


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"SIYU_DATA_DIR": str(tmp_path), "SIYU_SECRET": "s" * 32, **values}


def test_campaign_rates_are_read_per_channel_and_reach_the_worker_options(
        tmp_path: Path) -> None:
    # Given rates for two channels, with spaces around the parts
    settings = from_env(env(tmp_path, SIYU_CAMPAIGN_RATES=" mini_program=200, wecom_mass = 2.5 "))
    # Then each channel has its rate, and the worker's options carry them
    assert dict(settings.campaign_rates) == {"mini_program": 200.0, "wecom_mass": 2.5}
    assert dict(options_for(settings).campaign_rates) == {"mini_program": 200.0,
                                                          "wecom_mass": 2.5}


def test_no_campaign_rates_means_no_limit(tmp_path: Path) -> None:
    assert dict(from_env(env(tmp_path)).campaign_rates) == {}
    assert dict(from_env(env(tmp_path, SIYU_CAMPAIGN_RATES="")).campaign_rates) == {}
    assert dict(options_for(from_env(env(tmp_path))).campaign_rates) == {}


@pytest.mark.parametrize(("value", "message"), [
    ("mini_program", "is not CHANNEL=SENDS_PER_SECOND"),
    ("mini_program=", "is not CHANNEL=SENDS_PER_SECOND"),
    ("=200", "is not CHANNEL=SENDS_PER_SECOND"),
    ("email=10", "unknown channel 'email'"),
    ("sms=10,sms=20", "channel 'sms' is given twice"),
    ("sms=fast", "the rate of 'sms' is not a number: 'fast'"),
    ("sms=0", "must be a positive number"),
    ("sms=-5", "must be a positive number"),
    ("sms=inf", "must be a positive number"),
    ("sms=nan", "must be a positive number"),
])
def test_a_malformed_campaign_rate_is_refused_naming_the_variable(value: str,
                                                                  message: str) -> None:
    with pytest.raises(SettingsError, match="SIYU_CAMPAIGN_RATES") as error:
        parse_campaign_rates(value)
    assert message in str(error.value)


def test_the_command_line_stops_with_the_settings_error_and_no_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a malformed rate in the environment
    for name, value in env(tmp_path, SIYU_CAMPAIGN_RATES="mini_program=lots").items():
        monkeypatch.setenv(name, value)
    # When any command starts / Then it exits with a usage error that names the variable
    with pytest.raises(SystemExit) as stopped:
        main(["worker"])
    assert stopped.value.code == 2
    assert "SIYU_CAMPAIGN_RATES: the rate of 'mini_program' is not a number" in \
        capsys.readouterr().err


def test_sms_goes_to_the_local_fake_unless_a_provider_is_configured_with_its_credentials(
        tmp_path: Path) -> None:
    assert from_env(env(tmp_path)).sms_api_base is None  # the main job's fake
    configured = from_env(env(tmp_path, SMS_API_BASE="https://sms.tencentcloudapi.com",
                              SMS_SECRET_ID="AKIDx", SMS_SECRET_KEY="k", SMS_SDK_APP_ID="1400",
                              SMS_SIGN_NAME="思域", SMS_REGION="ap-beijing"))
    assert (configured.sms_api_base, configured.sms_secret_id, configured.sms_sdk_app_id,
            configured.sms_sign_name, configured.sms_region) == (
        "https://sms.tencentcloudapi.com", "AKIDx", "1400", "思域", "ap-beijing")
    with pytest.raises(SettingsError, match="SMS_SECRET_KEY is required with SMS_API_BASE"):
        from_env(env(tmp_path, SMS_API_BASE="https://sms.tencentcloudapi.com",
                     SMS_SECRET_ID="AKIDx", SMS_SDK_APP_ID="1400", SMS_SIGN_NAME="s"))


def test_wecom_tag_ids_map_each_platform_tag_and_a_malformed_map_is_refused(
        tmp_path: Path) -> None:
    settings = from_env(env(tmp_path, SIYU_WECOM_TAG_IDS=" VIP=etVIP, 金卡 = etGold "))
    assert dict(settings.wecom_tag_ids) == {"VIP": "etVIP", "金卡": "etGold"}
    assert dict(from_env(env(tmp_path)).wecom_tag_ids) == {}
    for bad in ("VIP", "VIP=", "=etVIP", "VIP=a,VIP=b"):
        with pytest.raises(SettingsError, match="SIYU_WECOM_TAG_IDS"):
            from_env(env(tmp_path, SIYU_WECOM_TAG_IDS=bad))


@pytest.mark.parametrize(("name", "value"), [
    ("SIYU_PORT", "eighty"), ("SIYU_PORT", "70000"), ("SIYU_PORT", "0"),
    ("SIYU_PG_PORT", "-1"), ("SIYU_FAKE_GATEWAY_PORT", "8001.5"),
    ("SIYU_TICK_MINUTES", "0"), ("SIYU_CHAT_TIMEOUT_MINUTES", "half an hour"),
    ("SIYU_CHAT_ESCALATION_MINUTES", ""), ("SIYU_REPORT_HOUR", "24"),
    ("SIYU_CUSTOMER_TOKEN_MINUTES", "2h"), ("SIYU_GROUP_SYNC_MINUTES", "0"),
])
def test_a_malformed_whole_number_is_refused_naming_the_variable(
        tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name) as error:
        from_env(env(tmp_path, **{name: value}))
    assert repr(value.strip()) in str(error.value)


def test_the_group_directory_is_listed_every_ten_minutes_unless_set(tmp_path: Path) -> None:
    assert options_for(from_env(env(tmp_path))).group_sync_interval == 600.0
    settings = from_env(env(tmp_path, SIYU_GROUP_SYNC_MINUTES="3"))
    assert options_for(settings).group_sync_interval == 180.0
    # and the worker's sync loop polls at that interval
    feature = features.group_directory(None, None, None, "corp",  # type: ignore[arg-type]
                                       options_for(settings))
    loop = feature.loops["group-directory-sync"]
    assert isinstance(loop, PollingLoop) and loop.poll_interval == 180.0
