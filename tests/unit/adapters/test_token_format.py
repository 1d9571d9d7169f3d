"""Tokens are pasted on command lines: none may read as an option there."""

from __future__ import annotations

import base64

from adapters.tokens import new_token


def test_no_token_begins_with_a_dash_and_each_holds_256_random_bits() -> None:
    # Given many tokens (with URL-safe base64 alone, one in 64 began with "-")
    tokens = [new_token() for _ in range(20_000)]
    # Then none begins with "-", each decodes to 32 bytes, and none repeats
    assert not [t for t in tokens if t.startswith("-")]
    assert {len(base64.urlsafe_b64decode(t + "=")) for t in tokens} == {32}
    assert len(set(tokens)) == len(tokens)
    # and every other first character still occurs
    assert len({t[0] for t in tokens}) == 63
