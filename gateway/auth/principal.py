"""Who is calling: the principal resolved once per request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Principal", "system_principal"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    `scopes` are canonical and already expanded (aliases and implications applied).
    `pixel_ids` is None when the credential reaches every pixel of its organization.
    `pixel_id` is the pixel this request targets (`x-pixel-id`, or the only one reachable),
    None when the request named none and the credential reaches several.
    """

    kind: Literal["api_key", "user", "system"]
    organization_id: str
    scopes: frozenset[str]
    pixel_ids: frozenset[str] | None
    pixel_id: str | None
    key_id: str | None = None
    user_id: str | None = None
    # A logged-in user's token id (JWT `jti`), what logout revokes; and the user's role.
    session_id: str | None = None
    role: str | None = None
    # What the audit log and errors may show: key prefix + start, or the user's email.
    label: str = ""
    # The rate tier the caller is limited by and may grant (gateway/auth/tiers.py).
    rate_tier: str = "standard"

    def can_reach(self, pixel_id: str) -> bool:
        """Whether the credential's pixel restriction admits `pixel_id` (same organization is
        checked by the caller that knows the pixel's organization)."""
        return self.pixel_ids is None or pixel_id in self.pixel_ids


def system_principal(organization_id: str) -> Principal:
    """The local operator (the `gateway` CLI, which holds the database itself): every scope,
    every pixel and tier of one organization. Never produced from a request."""
    from gateway.auth.scopes import SCOPES
    from gateway.auth.tiers import TOP_TIER

    return Principal(kind="system", organization_id=organization_id,
                     scopes=frozenset(SCOPES), pixel_ids=None, pixel_id=None, label="cli",
                     rate_tier=TOP_TIER)
