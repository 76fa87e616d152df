"""Sealing small secrets at rest: AES-256-GCM under a key derived from GATEWAY_SECRET.

Webhook signing secrets must stay readable (the evaluator computes HMACs with them), so a
hash will not do; sealing them means a copy of the database file alone does not give them
away. The key is HKDF-SHA256(GATEWAY_SECRET) with an `info` naming the purpose, so it is
never the key that hashes API keys or signs login tokens.

    box = SecretBox(settings.secret, purpose="webhook signing secret")
    stored = box.seal("whsec-0123", context=row.id)   # "v1:" + base64(nonce + ct + tag)
    box.open(stored, context=row.id)                  # "whsec-0123"

`context` is bound as associated data: a sealed value copied onto another row does not open.
The `v1:` prefix names the format (algorithm and key derivation), so a later format can be
told apart and rows re-sealed. Changing GATEWAY_SECRET makes stored values unopenable
(`SealedSecretError`); their owners set a new secret.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SEALED_PREFIX", "SealedSecretError", "SecretBox"]

SEALED_PREFIX = "v1:"
_NONCE_BYTES = 12  # GCM's standard nonce; random per seal (at most a few thousand seals per key)


class SealedSecretError(ValueError):
    """A stored value that does not open: another key (GATEWAY_SECRET changed), another row,
    or not a sealed value. The message never contains the value."""


class SecretBox:
    """Seals and opens short strings under a key derived from the server secret."""

    def __init__(self, server_secret: str, *, purpose: str) -> None:
        if not server_secret:
            raise ValueError("SecretBox needs the server secret")
        self._purpose = purpose.encode()
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"gateway/secret-box/v1/" + self._purpose).derive(server_secret.encode())
        self._aead = AESGCM(key)

    def _aad(self, context: str) -> bytes:
        return self._purpose + b"\x00" + context.encode()

    def seal(self, plain: str, *, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plain.encode(), self._aad(context))
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, stored: str, *, context: str) -> str:
        """The clear text of `seal(...)`'s output; raises SealedSecretError otherwise."""
        if not stored.startswith(SEALED_PREFIX):
            raise SealedSecretError("not a sealed value")
        try:
            raw = base64.urlsafe_b64decode(stored[len(SEALED_PREFIX):].encode("ascii"))
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:],
                                       self._aad(context))
            return plain.decode()
        except (InvalidTag, ValueError, UnicodeError) as exc:
            raise SealedSecretError("sealed value does not open under this key") from exc
