"""Whose address a request is counted against: X-Forwarded-For only through a trusted proxy."""

from __future__ import annotations

import pytest

from api.anonymous_limit import ClientAddress, trusted_networks
from api.login_gate import login_code
from siyu.settings import SettingsError, from_env

PROXIES = ClientAddress(trusted_networks(["10.0.0.0/8", "192.0.2.1"]))


def scope(peer: str, *forwarded: str) -> dict[str, object]:
    return {"client": (peer, 1234),
            "headers": [(b"x-forwarded-for", f.encode()) for f in forwarded]}


def test_a_direct_client_is_its_peer_address_whatever_it_forwards() -> None:
    assert PROXIES(scope("203.0.113.5", "198.51.100.1")) == "203.0.113.5"
    assert ClientAddress()(scope("10.0.0.1", "198.51.100.1")) == "10.0.0.1"


def test_through_trusted_proxies_the_rightmost_untrusted_hop_counts() -> None:
    assert PROXIES(scope("10.1.2.3", "198.51.100.1")) == "198.51.100.1"
    # a forged first hop does not help: the proxy appended the address it saw
    assert PROXIES(scope("10.1.2.3", "1.1.1.1, 198.51.100.1")) == "198.51.100.1"
    # two proxies in a row, and the header given twice
    assert PROXIES(scope("10.1.2.3", "198.51.100.1", "192.0.2.1")) == "198.51.100.1"
    # garbage instead of an address: the proxy's
    assert PROXIES(scope("10.1.2.3", "not-an-ip")) == "10.1.2.3"
    # no header at all: the proxy's
    assert PROXIES(scope("10.1.2.3")) == "10.1.2.3"


def test_trusted_proxies_are_validated_at_start_up() -> None:
    assert from_env({"SIYU_TRUSTED_PROXIES": "10.0.0.0/8, ::1",
                     "SIYU_SECRET": "x" * 44}).trusted_proxies == ("10.0.0.0/8", "::1")
    with pytest.raises(SettingsError, match="SIYU_TRUSTED_PROXIES"):
        from_env({"SIYU_TRUSTED_PROXIES": "proxy.internal", "SIYU_SECRET": "x" * 44})


def test_the_gate_reads_the_login_code_from_the_parsed_request() -> None:
    inline = b'{"query": "mutation { loginWithWeChat(code: \\"abc\\") { token } }"}'
    assert login_code(inline) == "abc"
    given = (b'{"query": "mutation($c: String!) { loginWithWeChat(code: $c) { token } }", '
             b'"variables": {"c": "xyz"}}')
    assert login_code(given) == "xyz"
    assert login_code(b'{"query": "{ me { id } }"}') is None
