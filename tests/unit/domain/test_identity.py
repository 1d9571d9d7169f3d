"""Identities: namespaces are checked, phone numbers normalised, blind indexes keyed."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from domain.errors import InvalidIdentity
from domain.identity import blind_index, normalise_phone, parse_identity


@pytest.mark.parametrize("raw", ["13800138000", "+8613800138000", "138 0013 8000",
                                 "008613800138000", "+86 138-0013-8000"])
def test_mainland_mobiles_normalise_to_e164(raw: str) -> None:
    assert normalise_phone(raw) == "+8613800138000"


@pytest.mark.parametrize("raw", ["12345", "abc", "23800138000", "+86123"])
def test_malformed_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidIdentity):
        normalise_phone(raw)


def test_scoped_namespaces_need_their_scope() -> None:
    with pytest.raises(InvalidIdentity) as raised:
        parse_identity("wecom_external", "wmABC")
    assert raised.value.field == "namespace"
    assert parse_identity("wecom_external:ww1", "wmABC").kind == "wecom_external"


def test_unknown_namespaces_are_refused() -> None:
    with pytest.raises(InvalidIdentity):
        parse_identity("qq", "12345")


def test_the_blind_index_depends_on_the_deployment_key() -> None:
    identity = parse_identity("phone", "13800138000")
    assert blind_index(b"k1" * 16, identity) != blind_index(b"k2" * 16, identity)
    assert blind_index(b"k1" * 16, identity) == blind_index(b"k1" * 16, identity)
    assert "13800138000" not in blind_index(b"k1" * 16, identity)


def test_full_width_digits_are_the_same_phone_number() -> None:
    def full_width(text: str) -> str:
        return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() or c == "+" else c for c in text)

    assert normalise_phone(full_width("+86 13800138000")) == "+8613800138000"
    assert normalise_phone(full_width("13800138000")) == "+8613800138000"


def test_digits_of_other_scripts_are_not_a_phone_number() -> None:
    with pytest.raises(InvalidIdentity):
        normalise_phone("+٨٦١٣٨٠٠١٣٨٠٠٠")  # Arabic-Indic digits: NFKC keeps them


@pytest.mark.parametrize("length", [0, 1, 16, 32, 63, 64, 65, 200])
def test_the_blind_index_is_the_hmac_sha256_of_the_identity_for_any_key(length: int) -> None:
    # Given a key of any length (shorter, as long as, longer than SHA-256's block)
    key = bytes(range(256))[:length]
    identity = parse_identity("wecom_external:ww7788", "wmABC-123")
    # When its blind index is taken, Then it is the standard library's HMAC, as before
    expected = hmac.new(key, b"wecom_external:ww7788\x00wmABC-123", hashlib.sha256).hexdigest()
    assert blind_index(key, identity) == expected[:40]
