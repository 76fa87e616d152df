"""Granting only narrows: the one rule for everything that hands out power (issue #10).

A grant is what a key or a user will be able to do: scopes (for a user, its role's scopes)
and pixel reach (None = every pixel of the organization). A grantor gives only what it
holds itself, pixel reach included, so no chain of grants ever widens:

- scopes: the grant's scopes, implications expanded, are a subset of the grantor's;
- pixels: a pixel-restricted grantor cannot grant every pixel, only a non-empty subset of
  its own pixels; every pixel named must be of the grantor's organization (else NotFound);
- roles: the role's scopes as above, and only an owner (or the local operator) makes owners;
- rate tiers (issue #12): a key's tier, and a role's (owners and admins hold the highest), is
  at most the grantor's own (gateway/auth/tiers.py).

And administration sees only what lies within the administrator's reach: a key or user
whose pixel reach is not within the caller's is invisible to it (absent from lists,
NotFound by id), whatever the operation, revocation included. Changing a visible object in a
way that could hand its powers to the caller (rotating a key, editing it) also needs the
caller to hold its scopes and its rate tier (`require_holds`).

Keys (`gateway/services/keys.py`), users (`gateway/services/users.py`) and the audit log
(`gateway/services/audit.py`) all decide through this module.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from gateway.auth.principal import Principal
from gateway.auth.scopes import ROLES, canonical_scopes, expand_scopes
from gateway.auth.tiers import RATE_TIERS, ROLE_TIERS, tier_rank
from gateway.errors import InsufficientScope, InvalidInput, NotFound
from gateway.storage import Database
from gateway.storage.tenancy import find_pixels

# More pixels than any organization has is a payload, not a grant; it also keeps the pixel
# look-up under SQLite's bound-variable limit.
MAX_GRANTED_PIXELS = 1000

__all__ = ["MAX_GRANTED_PIXELS", "grantable_pixels", "grantable_role", "grantable_scopes",
           "grantable_tier", "reaches", "require_holds"]


def reaches(actor: Principal, pixel_ids: Collection[str] | None) -> bool:
    """Whether an object reaching `pixel_ids` (None: every pixel) lies within the actor's
    pixel reach. Same organization is the caller's check."""
    if actor.pixel_ids is None:
        return True
    return pixel_ids is not None and set(pixel_ids) <= actor.pixel_ids


def require_holds(actor: Principal, scopes: Iterable[str],
                  pixel_ids: Collection[str] | None, what: str = "This key", *,
                  rate_tier: str | None = None) -> None:
    """InsufficientScope unless the actor holds every power of a grant: its scopes
    (implications expanded), its pixel reach and its rate tier (None: no tier)."""
    beyond = expand_scopes(scopes) - actor.scopes
    if beyond or not reaches(actor, pixel_ids):
        raise InsufficientScope(min(beyond) if beyond else "pixel access",
                                f"{what} holds scopes or pixels you do not hold")
    if rate_tier is not None and tier_rank(rate_tier) > tier_rank(actor.rate_tier):
        raise InsufficientScope("rate tier",
                                f"{what} has the {rate_tier} rate tier, above yours "
                                f"({actor.rate_tier})")


def grantable_scopes(actor: Principal, scopes: Sequence[str]) -> list[str]:
    """`scopes` canonical (InvalidInput for an unknown name); InsufficientScope when they
    grant, implications included, anything the actor does not hold."""
    granted = canonical_scopes(scopes)
    beyond = expand_scopes(granted) - actor.scopes
    if beyond:
        raise InsufficientScope(
            min(beyond), f"You cannot grant scopes you do not hold: {', '.join(sorted(beyond))}")
    return granted


def grantable_tier(actor: Principal, tier: object) -> str:
    """`tier` when the actor may grant it: InvalidInput (at `rateTier`) for a name that is no
    tier, InsufficientScope for a tier above the actor's own."""
    if not isinstance(tier, str) or tier not in RATE_TIERS:
        raise InvalidInput.field(f"rate tier must be one of {', '.join(RATE_TIERS)}",
                                 "rateTier")
    if tier_rank(tier) > tier_rank(actor.rate_tier):
        raise InsufficientScope("rate tier", f"You cannot grant the {tier} rate tier: yours "
                                f"is {actor.rate_tier}")
    return tier


def grantable_role(actor: Principal, role: str) -> frozenset[str]:
    """The role's scopes, when the actor may grant the role."""
    if role not in ROLES:
        raise InvalidInput.field(f"role must be one of {', '.join(ROLES)}", "role")
    beyond = expand_scopes(ROLES[role]) - actor.scopes
    if beyond:
        raise InsufficientScope(min(beyond), f"You cannot grant the {role} role")
    if tier_rank(ROLE_TIERS[role]) > tier_rank(actor.rate_tier):
        raise InsufficientScope("rate tier", f"You cannot grant the {role} role: its rate tier "
                                f"({ROLE_TIERS[role]}) is above yours ({actor.rate_tier})")
    if role == "owner" and not (actor.kind == "system" or actor.role == "owner"):
        raise InsufficientScope("users:admin", "Only an owner can make owners")
    return ROLES[role]


async def grantable_pixels(db: Database, actor: Principal,
                           pixel_ids: Sequence[str] | None) -> list[str] | None:
    """The pixel reach to store (sorted, unique; None = every pixel), when the actor may
    grant it. NotFound for a pixel of another organization (or none), InsufficientScope for
    a pixel outside the actor's reach or for "every pixel" asked by a restricted actor."""
    if pixel_ids is None:
        if actor.pixel_ids is not None:
            raise InsufficientScope("pixel access", "You cannot grant access to every pixel")
        return None
    if not pixel_ids:
        raise InvalidInput.field("pixel list is empty: omit it for every pixel", "pixelIds")
    if len(pixel_ids) > MAX_GRANTED_PIXELS:
        raise InvalidInput.field(f"at most {MAX_GRANTED_PIXELS} pixels", "pixelIds")
    unique = sorted(set(pixel_ids))
    async with db.session() as session:
        rows = await find_pixels(session, unique)
    for pixel_id in pixel_ids:
        row = rows.get(pixel_id)
        if row is None or row.organization_id != actor.organization_id:
            raise NotFound(f"Pixel {pixel_id} not found")
        if not actor.can_reach(pixel_id):
            raise InsufficientScope("pixel access", f"You cannot grant access to pixel {pixel_id}")
    return unique
