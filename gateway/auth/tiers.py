"""Rate tiers: how much of each surface's rate limit a credential gets (issue #12).

A key carries one tier (`rateTier`: standard, premium, enterprise, in that order; Databuddy's
`rate:*` scopes name the same three). The numbers are settings: each surface's limit is the
standard tier's, and a tier multiplies it (`Settings.rate_tiers`, gateway/settings.py).

A tier is a power like a scope, so granting only narrows (gateway/auth/grants.py): a key
mints and edits only keys of its own tier or a lower one. Users hold the tier of their role
(owners and admins administer everything, so they hold the highest), and the local operator
(the CLI) holds every tier.
"""

from __future__ import annotations

__all__ = ["DEFAULT_TIER", "RATE_TIERS", "ROLE_TIERS", "TOP_TIER", "tier_rank"]

RATE_TIERS = ("standard", "premium", "enterprise")  # lowest first
DEFAULT_TIER = RATE_TIERS[0]
TOP_TIER = RATE_TIERS[-1]

# role -> the tier its users are limited by and may grant (gateway/auth/scopes.py ROLES).
ROLE_TIERS = {"owner": TOP_TIER, "admin": TOP_TIER, "member": DEFAULT_TIER,
              "viewer": DEFAULT_TIER}

_RANK = {tier: rank for rank, tier in enumerate(RATE_TIERS)}


def tier_rank(tier: str) -> int:
    """0 for the lowest tier; a name not in RATE_TIERS ranks above every tier (so nobody
    holds it and nobody can grant it)."""
    return _RANK.get(tier, len(RATE_TIERS))
