"""WeCom callback crypto, without a server."""

from __future__ import annotations

import base64

import pytest

from api.wecom_crypto import CallbackRefused, WeComCrypto, signature

AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")


def crypto(corp: str = "ww-test") -> WeComCrypto:
    return WeComCrypto("tok", AES_KEY, corp)


def test_a_payload_encrypted_as_wecom_does_decrypts_to_the_message() -> None:
    message = "<xml><Event>change_external_contact</Event><X>你好</X></xml>"
    assert crypto().decrypt(crypto().encrypt(message)) == message


def test_the_signature_covers_token_timestamp_nonce_and_payload() -> None:
    payload = crypto().encrypt("<xml/>")
    good = signature("tok", "1700000000", "n1", payload)
    crypto().check(good, "1700000000", "n1", payload)
    for bad in (signature("tok", "1700000001", "n1", payload),
                signature("other", "1700000000", "n1", payload), "0" * 40):
        with pytest.raises(CallbackRefused, match="signature"):
            crypto().check(bad, "1700000000", "n1", payload)


def test_a_payload_for_another_corp_is_refused() -> None:
    with pytest.raises(CallbackRefused, match="receiver"):
        crypto("ww-test").decrypt(crypto("ww-other").encrypt("<xml/>"))


@pytest.mark.parametrize("payload", ["not base64!", base64.b64encode(b"short").decode(),
                                     base64.b64encode(bytes(32)).decode()])
def test_garbage_is_refused_not_crashed_on(payload: str) -> None:
    with pytest.raises(CallbackRefused):
        crypto().decrypt(payload)


def test_a_tampered_ciphertext_is_refused() -> None:
    raw = bytearray(base64.b64decode(crypto().encrypt("<xml><a>1</a></xml>")))
    raw[-1] ^= 0x55  # the padding block
    with pytest.raises(CallbackRefused):
        crypto().decrypt(base64.b64encode(bytes(raw)).decode())


def test_a_bad_aes_key_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="ENCODING_AES_KEY"):
        WeComCrypto("tok", "too-short", "ww")
