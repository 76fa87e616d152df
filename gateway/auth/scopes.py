"""The one table of scopes: canonical names, what each implies, and the aliases accepted.

Upstack's names are canonical and are the only ones the API reports. Aliases (Upstack's legacy
`db_query`/`attribution_query`, Databuddy's names) are expanded when a key is created and again
at request time, so keys stored with an alias keep working without a rotation.

    scope              implies
    analytics:read     -
    dashboards:read    -
    dashboards:write   dashboards:read
    events:write       -
    keys:read          -
    keys:admin         keys:read          create, rotate, revoke, update keys
    alerts:read        -                  alerts, their state and history; webhooks
    alerts:write       alerts:read        create, update, delete alerts and webhooks
    users:admin        audit:read         users and their roles
    audit:read         -                  the audit log

Roles (users of browser apps) map to scopes in `ROLES`, ordered by rank (`ROLE_RANK`).

Adding a scope: one row in `SCOPES`; a new alias: one row in `ALIASES`.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.errors import InvalidInput

__all__ = [
    "ALIASES",
    "ROLES",
    "ROLE_RANK",
    "SCOPES",
    "canonical_scopes",
    "expand_scopes",
    "is_known_scope",
]

# canonical name -> (description, scopes it implies)
SCOPES: dict[str, tuple[str, frozenset[str]]] = {
    "analytics:read": ("Run analytics queries, attribution and cohorts", frozenset()),
    "dashboards:read": ("List and read dashboard views", frozenset()),
    "dashboards:write": (
        "Create, update, copy and delete dashboard views",
        frozenset({"dashboards:read"}),
    ),
    "events:write": ("Send server-side tracking events", frozenset()),
    "keys:read": ("List and read API keys", frozenset()),
    "keys:admin": ("Create, rotate, revoke and update API keys", frozenset({"keys:read"})),
    "alerts:read": ("List and read alerts, their state and history, and webhooks", frozenset()),
    "alerts:write": (
        "Create, update and delete alerts and webhooks",
        frozenset({"alerts:read"}),
    ),
    "users:admin": ("Manage users and read the audit log", frozenset({"audit:read"})),
    "audit:read": ("Read the audit log", frozenset()),
}

# role -> canonical scopes it grants, highest rank first. A user reaches every pixel of its
# organization unless restricted to some (`UserRow.pixel_ids`). Only an owner may create or
# promote owners (see gateway/auth/grants.py).
ROLES: dict[str, frozenset[str]] = {
    "owner": frozenset(SCOPES),
    "admin": frozenset(SCOPES),
    "member": frozenset({"analytics:read", "dashboards:write", "events:write", "keys:admin"}),
    "viewer": frozenset({"analytics:read", "dashboards:read"}),
}
ROLE_RANK: dict[str, int] = {role: len(ROLES) - i for i, role in enumerate(ROLES)}

# alias -> canonical scopes it stands for
ALIASES: dict[str, frozenset[str]] = {
    # Upstack keys minted before May 2026.
    "db_query": frozenset({"analytics:read"}),
    "attribution_query": frozenset({"analytics:read"}),
    # Databuddy names that mean the same thing here.
    "read:data": frozenset({"analytics:read"}),
    "read:analytics": frozenset({"analytics:read"}),
    "write:data": frozenset({"events:write"}),
    "track:events": frozenset({"events:write"}),
    "admin:apikeys": frozenset({"keys:admin"}),
    "admin:users": frozenset({"users:admin"}),
    # Databuddy names with no counterpart here are rejected as unknown, not silently mapped:
    # read:experiments, read:export, write:custom-sql, write:otel, admin:organizations,
    # admin:websites, read:websites, manage:websites, rate:* (the rate tier is a key field).
}


def is_known_scope(name: str) -> bool:
    return name in SCOPES or name in ALIASES


def expand_scopes(names: Iterable[str]) -> frozenset[str]:
    """Canonical scopes granted by `names`, implications included. Unknown names grant nothing."""
    granted: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in ALIASES:
            pending.extend(ALIASES[name])
        elif name in SCOPES and name not in granted:
            granted.add(name)
            pending.extend(SCOPES[name][1])
    return frozenset(granted)


def canonical_scopes(names: Iterable[str], *, field: str = "scopes") -> list[str]:
    """Validate requested scope names and return them canonical, sorted, without duplicates.

    Implied scopes are not added (a key asking for `dashboards:write` stores just that); raises
    `InvalidInput` naming the first unknown scope.
    """
    result: set[str] = set()
    for index, name in enumerate(names):
        if name in SCOPES:
            result.add(name)
        elif name in ALIASES:
            result.update(ALIASES[name])
        else:
            known = ", ".join(sorted(SCOPES))
            raise InvalidInput.field(f"unknown scope {name!r} (known: {known})", field, index)
    return sorted(result)
