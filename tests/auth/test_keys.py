"""Key hashing: the request path's `KeyHasher` is `hash_key`, digest for digest."""

from __future__ import annotations

import hmac

import pytest

from gateway.auth.keys import KeyHasher, hash_key, mint_key


@pytest.mark.parametrize("secret", [
    "",
    "s",
    "bench-secret-" + "x" * 32,
    "x" * 64,  # exactly one SHA-256 block
    "x" * 65,  # longer than a block: HMAC hashes the secret first
    "sécret-ünïcode-" * 9,
])
def test_key_hasher_is_hmac_sha256(secret: str) -> None:
    hasher = KeyHasher(secret)
    for key in (mint_key("upstack_", secret).secret, "", "upstack_short", "ключ" * 40):
        expected = hmac.new(secret.encode(), key.encode(), "sha256").hexdigest()
        assert hasher(key) == hash_key(secret, key) == expected
    # the prepared states are copied, never consumed: the same key hashes the same again
    key = mint_key("upstack_", secret).secret
    assert hasher(key) == hasher(key) == hash_key(secret, key)
