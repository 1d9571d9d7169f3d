"""What runs without a token is limited per client address and per login code.

``loginWithWeChat``, the auth gate's refusals (a token guesser's loop) and WeCom's
callbacks are answered before anyone is authenticated: each address gets the
``anonymous`` rate (a bucket of 10 here), one login code five tries. ``X-Forwarded-For``
counts only from a configured proxy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.tokens import ensure_token_table
from fakes.wecom import RunningFakeWeCom
from siyu.api_process import create_app
from siyu.settings import Settings
from tests.conftest import SECRET

pytestmark = pytest.mark.integration

LOGIN = 'mutation($code: String!) { loginWithWeChat(code: $code) { token } }'
BAD = {"Authorization": "Bearer not-a-token"}


@contextmanager
def server(pg_url: str, tmp_path: Path, peer: str, **overrides: Any) -> Iterator[TestClient]:
    settings = replace(Settings(database_url=pg_url, broker_url=None, data_dir=tmp_path,
                                secret=SECRET), rate_limits={"anonymous": 60}, **overrides)
    ensure_token_table(pg_url)
    with TestClient(create_app(settings), follow_redirects=False, client=(peer, 40000)) as c:
        yield c


def code_of(response: Any) -> str | None:
    errors = response.json().get("errors") or [{}]
    return errors[0].get("extensions", {}).get("code")  # type: ignore[no-any-return]


def test_one_login_code_is_tried_five_times_a_minute(
        pg_url: str, tmp_path: Path, fake_wecom: RunningFakeWeCom) -> None:
    with server(pg_url, tmp_path, "203.0.113.7", fake_gateway_port=fake_wecom.port) as client:
        tries = [client.post("/graphql", json={"query": LOGIN, "variables": {"code": "replayed"}})
                 for _ in range(6)]
        other = client.post("/graphql", json={"query": LOGIN, "variables": {"code": "fresh"}})
    assert [t.status_code for t in tries] == [200] * 5 + [429], [t.text for t in tries]
    assert code_of(tries[-1]) == "RATE_LIMITED" and int(tries[-1].headers["Retry-After"]) >= 1
    assert other.status_code == 200  # another code (from the same address) still passes


def test_bad_tokens_from_one_address_are_limited_whatever_it_claims_to_forward(
        pg_url: str, tmp_path: Path) -> None:
    with server(pg_url, tmp_path, "203.0.113.8") as client, \
            server(pg_url, tmp_path, "203.0.113.9") as neighbour:
        answers = [client.post("/graphql", json={"query": "{ me { id } }"},
                               headers={**BAD, "X-Forwarded-For": f"198.51.100.{n}"})
                   for n in range(12)]
        other = neighbour.post("/graphql", json={"query": "{ me { id } }"}, headers=BAD)
    statuses = [a.status_code for a in answers]
    assert statuses[:10] == [401] * 10 and 429 in statuses[10:], statuses
    assert code_of(answers[-1]) == "RATE_LIMITED"
    assert other.status_code == 401  # another address has its own budget


def test_behind_a_trusted_proxy_the_forwarded_address_counts(
        pg_url: str, tmp_path: Path) -> None:
    with server(pg_url, tmp_path, "10.0.0.5", trusted_proxies=("10.0.0.0/8",)) as proxy:
        def ask(forwarded: str) -> int:
            return proxy.post("/graphql", json={"query": "{ me { id } }"},
                              headers={**BAD, "X-Forwarded-For": forwarded}).status_code
        # a client that forges a first hop is still known by the hop the proxy appended
        flood = [ask(f"1.2.3.{n}, 198.51.100.20") for n in range(12)]
        assert flood[:10] == [401] * 10 and 429 in flood[10:], flood
        assert ask("198.51.100.21") == 401


def test_refused_wecom_callbacks_are_limited_per_address(pg_url: str, tmp_path: Path) -> None:
    crypto = {"wecom_token": "tok", "wecom_corp_id": "ww-corp",
              "wecom_encoding_aes_key": "a" * 43}
    with server(pg_url, tmp_path, "203.0.113.10", **crypto) as client, \
            server(pg_url, tmp_path, "203.0.113.11", **crypto) as wecom:
        # an address that keeps failing the signature check is cut off after ten
        forged = [client.post("/callbacks/wecom?msg_signature=x&timestamp=1&nonce=2",
                              content=b"<xml/>").status_code for _ in range(12)]
        # another address is not
        other = wecom.post("/callbacks/wecom?msg_signature=x&timestamp=1&nonce=2",
                           content=b"<xml/>").status_code
    assert forged[:10] == [403] * 10 and 429 in forged[10:], forged
    assert other == 403
