"""The fake's ``jscode2session`` over HTTP, through the platform's client: codes are
single-use and expire, wrong credentials and the per-user minute quota are refused."""

from __future__ import annotations

import httpx
import pytest

from adapters.wechat_login import (
    LoginRateLimited,
    LoginRefused,
    LoginUnavailable,
    WeChatLogin,
)
from fakes.wecom import FAKE_APP_ID, FAKE_APP_SECRET, RunningFakeWeCom

pytestmark = pytest.mark.integration


def _code(fake: RunningFakeWeCom, openid: str, unionid: str | None = None) -> str:
    answer = httpx.post(f"{fake.url}/fake/wechat/login",
                        json={"openid": openid, "unionid": unionid})
    code: str = answer.json()["code"]
    return code


def test_a_code_is_exchanged_once_for_the_openid_and_unionid(
    fake_wecom: RunningFakeWeCom
) -> None:
    client = WeChatLogin(fake_wecom.url, FAKE_APP_ID, FAKE_APP_SECRET)
    code = _code(fake_wecom, "oUser1", "uUnion1")
    session = client.code2session(code)
    assert (session.openid, session.unionid) == ("oUser1", "uUnion1")
    with pytest.raises(LoginRefused) as used:
        client.code2session(code)
    assert used.value.errcode == 40163
    with pytest.raises(LoginRefused) as unknown:
        client.code2session("never-issued")
    assert unknown.value.errcode == 40029
    assert client.code2session(_code(fake_wecom, "oUser2")).unionid is None
    client.close()


def test_expired_codes_wrong_secrets_quota_and_busy_are_refused_as_wechat_does(
    fake_wecom: RunningFakeWeCom
) -> None:
    state = fake_wecom.state.wechat_login
    now = [1000.0]
    state.clock = lambda: now[0]
    client = WeChatLogin(fake_wecom.url, FAKE_APP_ID, FAKE_APP_SECRET)
    # a code older than five minutes
    old = _code(fake_wecom, "oOld")
    now[0] += 301
    with pytest.raises(LoginRefused) as expired:
        client.code2session(old)
    assert expired.value.errcode == 40029
    # a wrong secret
    wrong = WeChatLogin(fake_wecom.url, FAKE_APP_ID, "not-the-secret")
    with pytest.raises(LoginUnavailable) as refused:
        wrong.code2session(_code(fake_wecom, "oX"))
    assert refused.value.errcode == 40125
    # the per-user minute quota (100), then the next minute
    state.user_rate = 3
    for _ in range(3):
        client.code2session(_code(fake_wecom, "oBusy"))
    kept = _code(fake_wecom, "oBusy")
    with pytest.raises(LoginRateLimited):
        client.code2session(kept)
    now[0] += 60
    assert client.code2session(kept).openid == "oBusy"  # a refused exchange used nothing
    # system busy, injected
    httpx.post(f"{fake_wecom.url}/fake/wechat/faults", json={"count": 1})
    with pytest.raises(LoginUnavailable) as busy:
        client.code2session(_code(fake_wecom, "oY"))
    assert busy.value.errcode == -1
    client.close()
    wrong.close()
