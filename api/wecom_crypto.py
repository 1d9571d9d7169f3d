"""WeCom's callback crypto (企业微信 回调加解密), as documented for WXBizMsgCrypt.

* ``msg_signature`` = SHA1 of the sorted concatenation of token, timestamp,
  nonce and the encrypted payload.
* The payload is AES-256-CBC with key = base64(EncodingAESKey + "="), IV = the
  key's first 16 bytes, PKCS#7 padding to 32-byte blocks; the plaintext is 16
  random bytes, the message length (4 bytes, big-endian), the message, and the
  receiver id (the corp id), which must match.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32


class CallbackRefused(Exception):
    """The callback is not from WeCom, or not for us (never says more than why)."""


def signature(token: str, timestamp: str, nonce: str, payload: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, payload])).encode(),
                        usedforsecurity=False).hexdigest()


class WeComCrypto:
    def __init__(self, token: str, encoding_aes_key: str, corp_id: str) -> None:
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error as error:
            raise ValueError("WECOM_ENCODING_AES_KEY is not 43 base64 characters") from error
        if len(key) != 32:
            raise ValueError("WECOM_ENCODING_AES_KEY must decode to 32 bytes")
        self.token = token
        self.corp_id = corp_id
        self._key = key

    def check(self, msg_signature: str, timestamp: str, nonce: str, payload: str) -> None:
        expected = signature(self.token, timestamp, nonce, payload)
        if not hmac.compare_digest(expected, msg_signature.lower()):
            raise CallbackRefused("bad signature")

    def decrypt(self, payload: str) -> str:
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise CallbackRefused("payload is not base64") from None
        if not data or len(data) % 16:
            raise CallbackRefused("payload is not whole AES blocks")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise CallbackRefused("bad padding")
        body = plain[16:-pad]
        if len(body) < 4:
            raise CallbackRefused("truncated payload")
        (length,) = struct.unpack(">I", body[:4])
        message, receiver = body[4:4 + length], body[4 + length:]
        if len(message) != length or receiver.decode(errors="replace") != self.corp_id:
            raise CallbackRefused("payload is for another receiver")
        try:
            return message.decode()
        except UnicodeDecodeError:
            raise CallbackRefused("payload is not UTF-8") from None

    def encrypt(self, message: str, nonce16: bytes | None = None) -> str:
        """The inverse, as WeCom does it: used by tests, benchmarks and the fake gateway."""
        body = (nonce16 or os.urandom(16)) + struct.pack(">I", len(message.encode()))
        body += message.encode() + self.corp_id.encode()
        pad = BLOCK - len(body) % BLOCK
        body += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).encryptor()
        return base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()
