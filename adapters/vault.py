"""Personal-data vault crypto and the blind-index key, derived from one deployment secret.

* Each subject (customer or staff member) gets a random 256-bit data key,
  stored only wrapped (AES-256-GCM) under the master key. Erasing a subject
  deletes its wrapped key: its sealed values become unreadable noise, while
  the event history stays untouched.
* Each value is sealed with AES-256-GCM under the subject's key; the subject
  id and field name are the associated data, so a ciphertext cannot be moved
  to another subject or field.
* Identities are matched through an HMAC-SHA256 blind index keyed by a
  separate derived key.
"""

from __future__ import annotations

import os
from uuid import UUID

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE = 12


def derive_key(secret: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"siyu/v1",
                info=purpose.encode()).derive(secret)


class AesGcmVault:
    def __init__(self, secret: bytes) -> None:
        self._master = AESGCM(derive_key(secret, "vault-master"))

    def new_wrapped_key(self) -> bytes:
        nonce = os.urandom(NONCE)
        return nonce + self._master.encrypt(nonce, AESGCM.generate_key(256), b"siyu-data-key")

    def _unwrap(self, wrapped: bytes) -> AESGCM:
        return AESGCM(self._master.decrypt(wrapped[:NONCE], wrapped[NONCE:], b"siyu-data-key"))

    def seal(self, wrapped_key: bytes, subject_id: UUID, field: str, value: str) -> bytes:
        nonce = os.urandom(NONCE)
        aad = f"{subject_id}:{field}".encode()
        return nonce + self._unwrap(wrapped_key).encrypt(nonce, value.encode(), aad)

    def open(self, wrapped_key: bytes, subject_id: UUID, field: str, sealed: bytes) -> str:
        aad = f"{subject_id}:{field}".encode()
        return self._unwrap(wrapped_key).decrypt(sealed[:NONCE], sealed[NONCE:], aad).decode()
