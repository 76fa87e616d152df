"""SecretBox (gateway/secret_box.py): AES-GCM sealing of webhook secrets under a key derived
from GATEWAY_SECRET (issue #10)."""

from __future__ import annotations

import base64

import pytest

from gateway.secret_box import SEALED_PREFIX, SealedSecretError, SecretBox

SERVER = "server-secret-" + "z" * 32


def test_seal_opens_only_with_the_same_key_purpose_and_context() -> None:
    """issue #10: a sealed value is `v1:` + base64(nonce + ciphertext + tag), differs on
    every seal, and opens only under the same server secret, purpose and row."""
    box = SecretBox(SERVER, purpose="webhook signing secret")
    sealed = box.seal("whsec-ünïcode-0123", context="row-1")
    assert sealed.startswith(SEALED_PREFIX) and "whsec" not in sealed
    assert len(base64.urlsafe_b64decode(sealed[3:])) == 12 + len("whsec-ünïcode-0123".encode()) + 16
    assert box.seal("whsec-ünïcode-0123", context="row-1") != sealed  # a fresh nonce
    assert box.open(sealed, context="row-1") == "whsec-ünïcode-0123"
    for other, context in ((SecretBox("another-" + "z" * 32, purpose="webhook signing secret"),
                            "row-1"),
                           (SecretBox(SERVER, purpose="something else"), "row-1"),
                           (box, "row-2")):
        with pytest.raises(SealedSecretError) as refused:
            other.open(sealed, context=context)
        assert "whsec" not in str(refused.value)


@pytest.mark.parametrize("stored", [
    "whsec-clear-text", "v1:", "v1:!!!not-base64", "v1:" + base64.urlsafe_b64encode(
        b"x" * 40).decode(), "v1:ünï"])
def test_anything_else_does_not_open(stored: str) -> None:
    """issue #10: clear text, truncated, garbled or forged values raise SealedSecretError."""
    box = SecretBox(SERVER, purpose="webhook signing secret")
    with pytest.raises(SealedSecretError):
        box.open(stored, context="row-1")


def test_a_tampered_value_does_not_open() -> None:
    box = SecretBox(SERVER, purpose="webhook signing secret")
    raw = bytearray(base64.urlsafe_b64decode(box.seal("whsec-0123456789", context="r")[3:]))
    raw[20] ^= 1
    with pytest.raises(SealedSecretError):
        box.open("v1:" + base64.urlsafe_b64encode(bytes(raw)).decode(), context="r")
