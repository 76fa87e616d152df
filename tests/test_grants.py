"""No escalation, proven by enumeration (issue #10): a principal grants only what it holds.

Every granting operation is discovered from the live app, the mutations of the GraphQL
schema and the Starlette route table of `create_app(...)`, and has a row in `GRANTING`
(driven below) or in `NOT_GRANTING` (with the reason it grants nothing). A new mutation or
writing route fails `test_every_granting_operation_is_enumerated` until it is classified, and
a structural check keeps the classification honest: a mutation taking scopes, pixels, a role
or a password, or answering a secret or token, is granting; so is a writing route about keys,
users or sessions.

`test_grants_only_narrow` runs, for each principal shape (org-wide, one-pixel and two-pixel
keys of several rate tiers; a user of each role, org-wide and restricted to two pixels),
every granting operation on both surfaces with every kind of request: all pixels, its own
pixels, a subset, a foreign pixel, own and foreign, another organization's pixel; scopes,
roles and rate tiers within and beyond. Each case is refused (403/404) or granted as the
oracle `_expect_*` says, and a grant's grantee has measured powers (its `viewer` scopes and
rate tier, its reachable `pixels`, for a user its role's scopes, tier and pixelIds) within
the grantor's measured powers.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from graphql import (
    GraphQLInputObjectType,
    GraphQLNamedType,
    GraphQLObjectType,
    get_named_type,
)
from starlette.routing import Route

from gateway.app import create_app
from gateway.auth.principal import system_principal
from gateway.auth.scopes import ROLES, SCOPES, expand_scopes
from gateway.auth.tiers import RATE_TIERS, ROLE_TIERS, tier_rank
from gateway.schema import build_schema
from gateway.services import keys as key_service
from gateway.services import users as user_service
from gateway.settings import Settings
from tests.support import Harness
from tests.support_auth import PASSWORD, add_user, flush_background

# -- the table of granting operations ------------------------------------------------------

# operation -> (family, surface). Each family has a case generator below.
GRANTING: dict[str, tuple[str, str]] = {
    "Mutation.createApiKey": ("create key", "graphql"),
    "Mutation.updateApiKey": ("update key", "graphql"),
    "Mutation.rotateApiKey": ("rotate key", "graphql"),
    "Mutation.createUser": ("create user", "graphql"),
    "Mutation.login": ("log in", "graphql"),
    "POST /accounts/api/api-keys": ("create key", "rest"),
    "PATCH /accounts/api/api-keys/{key_id}": ("update key", "rest"),
    "POST /accounts/api/api-keys/{key_id}/rotate": ("rotate key", "rest"),
    "POST /accounts/api/users": ("create user", "rest"),
    "POST /accounts/api/auth/login": ("log in", "rest"),
}

NOT_GRANTING: dict[str, str] = {
    "Mutation.revokeApiKey": "revoking only takes power away (visibility: test below)",
    "Mutation.logout": "ends the caller's own session",
    "Mutation.trackEvents": "writes events",
    "Mutation.createDashboardView": "dashboard data",
    "Mutation.updateDashboardView": "dashboard data",
    "Mutation.deleteDashboardView": "dashboard data",
    "Mutation.copyDashboardView": "dashboard data",
    "Mutation.createDashboardViewFromPreset": "dashboard data",
    "Mutation.createAlert": "alert data",
    "Mutation.updateAlert": "alert data",
    "Mutation.deleteAlert": "alert data",
    "Mutation.createWebhook": "its secret signs our deliveries; it authenticates nobody here",
    "Mutation.updateWebhook": "its secret signs our deliveries; it authenticates nobody here",
    "Mutation.deleteWebhook": "alert data",
    "POST /graphql": "the GraphQL transport: its mutations are enumerated from the schema",
    "POST /accounts/api/api-keys/{key_id}/revoke": "revoking only takes power away",
    "POST /accounts/api/auth/logout": "ends the caller's own session",
    "POST /db-mgmt/api/query": "a read",
    "POST /db-mgmt/api/query-attribution": "a read",
    "POST /db-mgmt/api/query-cohort-analysis": "a read",
    "POST /tr/api/events": "writes events",
    "POST /accounts/api/dashboard/views": "dashboard data",
    "POST /accounts/api/dashboard/views/from-preset": "dashboard data",
    "PATCH /accounts/api/dashboard/views/{id}": "dashboard data",
    "DELETE /accounts/api/dashboard/views/{id}": "dashboard data",
    "POST /accounts/api/dashboard/views/{id}/copy": "dashboard data",
    "POST /api/v2/alerts": "alert data",
    "PUT /api/v2/alerts/{id}": "alert data",
    "DELETE /api/v2/alerts/{id}": "alert data",
    "POST /api/v2/webhooks": "alert data",
    "PUT /api/v2/webhooks/{id}": "alert data",
    "DELETE /api/v2/webhooks/{id}": "alert data",
}

# Look granting to the detector below, but only take power away or end the caller's own.
LOOKS_GRANTING_BUT_IS_NOT = {
    "Mutation.revokeApiKey", "Mutation.logout",
    "POST /accounts/api/api-keys/{key_id}/revoke", "POST /accounts/api/auth/logout",
}
_GRANTING_INPUTS = {"scopes", "pixelIds", "role", "password"}
_GRANTING_OUTPUTS = {"secret", "token"}
_GRANTING_PATH = re.compile(r"api-key|user|auth|login|session|token|credential",
                            re.IGNORECASE)


def _fields(named: GraphQLNamedType, depth: int) -> set[str]:
    if depth == 0 or not isinstance(named, GraphQLInputObjectType | GraphQLObjectType):
        return set()
    found = set(named.fields)
    for f in named.fields.values():
        found |= _fields(get_named_type(f.type), depth - 1)
    return found


def _discover() -> tuple[set[str], set[str]]:
    """(every mutation and writing route, those that look granting) of the live app."""
    schema = build_schema()._schema
    assert schema.mutation_type is not None
    every: set[str] = set()
    looks: set[str] = set()
    for name, f in schema.mutation_type.fields.items():
        every.add(f"Mutation.{name}")
        inputs = set(f.args)
        for arg in f.args.values():
            inputs |= _fields(get_named_type(arg.type), 3)
        if inputs & _GRANTING_INPUTS or _fields(get_named_type(f.type), 2) & _GRANTING_OUTPUTS:
            looks.add(f"Mutation.{name}")
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", secret="x" * 32))
    for route in app.routes:
        assert isinstance(route, Route), route
        for method in sorted((route.methods or set()) - {"GET", "HEAD"}):
            every.add(f"{method} {route.path}")
            if _GRANTING_PATH.search(route.path):
                looks.add(f"{method} {route.path}")
    return every, looks


def test_every_granting_operation_is_enumerated() -> None:
    """Issue #10: every mutation and writing route is classified; what looks granting (takes
    scopes, pixels, a role or a password, answers a secret or token, or is a key, user or
    session route) is in `GRANTING` or explicitly acknowledged as taking power away."""
    every, looks = _discover()
    assert set(GRANTING) & set(NOT_GRANTING) == set()
    assert every - set(GRANTING) - set(NOT_GRANTING) == set(), "classify the new operations"
    assert (set(GRANTING) | set(NOT_GRANTING)) - every == set(), "stale rows"
    assert set(NOT_GRANTING) >= LOOKS_GRANTING_BUT_IS_NOT
    assert looks - set(GRANTING) - LOOKS_GRANTING_BUT_IS_NOT == set(), "granting ones left out"
    assert set(GRANTING) - looks == set(), "the detector should see every granting row"


# -- the world: pixels A, B, C of the organization, X of another ---------------------------

@dataclass(frozen=True)
class Powers:
    scopes: frozenset[str]
    pixels: frozenset[str]  # reachable now
    every: bool  # every pixel, future ones too
    tier: str  # the rate tier (issue #12)

    def within(self, other: Powers) -> bool:
        return (self.scopes <= other.scopes and self.pixels <= other.pixels
                and (other.every or not self.every)
                and tier_rank(self.tier) <= tier_rank(other.tier))


@dataclass(frozen=True)
class Shape:
    name: str
    pixels: tuple[str, ...] | None  # symbolic (A, B, C); None = every pixel
    scopes: tuple[str, ...] = ()  # a key's
    role: str | None = None  # a user's
    tier: str = "standard"  # a key's rate tier (a user's is its role's)


FULL = tuple(sorted(SCOPES))
SOME = ("keys:admin", "users:admin", "analytics:read", "dashboards:read")
SHAPES = [
    Shape("org-wide key", None, FULL, tier="enterprise"),
    Shape("one-pixel key", ("A",), FULL),
    Shape("two-pixel key", ("A", "B"), FULL, tier="premium"),
    Shape("two-pixel key with some scopes", ("A", "B"), SOME, tier="premium"),
    *(Shape(f"org-wide {role}", None, role=role) for role in ROLES),
    *(Shape(f"two-pixel {role}", ("A", "B"), role=role) for role in ROLES),
]

POWERS = "{ viewer { scopes pixelIds rateTier } pixels { id } }"
CREATE_KEY = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }"
UPDATE_KEY = ("mutation($id: ID!, $i: UpdateApiKeyInput!) { updateApiKey(id: $id, input: $i) "
              "{ id } }")
ROTATE_KEY = "mutation($id: ID!) { rotateApiKey(id: $id) { secret } }"
REVOKE_KEY = "mutation($id: ID!) { revokeApiKey(id: $id) { status } }"
CREATE_USER = "mutation($i: CreateUserInput!) { createUser(input: $i) { role pixelIds } }"
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
KEYS = "/accounts/api/api-keys"


class World:
    def __init__(self, h: Harness) -> None:
        self.h = h
        self.ids: dict[str, str] = {}
        self._emails = itertools.count()

    async def arrange(self) -> None:
        self.ids["A"] = self.h.pixel_id
        for name in ("B", "C"):
            self.ids[name] = await self.h.create_pixel(name=name)
        other = await self.h.create_organization("Other")
        self.ids["X"] = await self.h.create_pixel(other, name="X")

    @property
    def org_pixels(self) -> frozenset[str]:
        return frozenset(self.ids[n] for n in ("A", "B", "C"))

    def real(self, pixels: tuple[str, ...] | None) -> list[str] | None:
        return None if pixels is None else [self.ids[p] for p in pixels]

    def email(self) -> str:
        return f"u{next(self._emails)}@example.com"

    async def powers(self, headers: dict[str, str]) -> Powers:
        body = await self.h.graphql(POWERS, headers=headers)
        assert "errors" not in body, body
        viewer = body["data"]["viewer"]
        return Powers(frozenset(viewer["scopes"]),
                      frozenset(p["id"] for p in body["data"]["pixels"]),
                      viewer["pixelIds"] is None, viewer["rateTier"].lower())

    def user_powers(self, role: str, pixel_ids: list[str] | None) -> Powers:
        return Powers(expand_scopes(ROLES[role]),
                      self.org_pixels if pixel_ids is None else frozenset(pixel_ids),
                      pixel_ids is None, ROLE_TIERS[role])

    async def target(self, pixels: tuple[str, ...] | None, scopes: tuple[str, ...],
                     tier: str = "standard") -> key_service.CreatedKey:
        """A key made by the operator, to update or rotate."""
        return await key_service.create_key(
            self.h.state.db, self.h.state.settings, system_principal(self.h.organization_id),
            name="target", scopes=list(scopes), pixel_ids=self.real(pixels), now=self.h.clock(),
            rate_tier=tier)

    async def login(self, surface: str, email: str) -> str:
        if surface == "rest":
            response = await self.h.client.post("/accounts/api/auth/login",
                                                json={"email": email, "password": PASSWORD})
            assert response.status_code == 200, response.text
            token = str(response.json()["token"])
        else:
            body = await self.h.graphql(LOGIN, {"e": email, "p": PASSWORD})
            assert "errors" not in body, body
            token = str(body["data"]["login"]["token"])
        self.h.client.cookies.clear()  # the header alone authenticates
        return token


@dataclass(frozen=True)
class Grantor:
    """A principal shape made real: its credential and its measured powers."""

    shape: Shape
    headers: dict[str, str]
    powers: Powers
    pixels: frozenset[str] | None  # its restriction (real ids)
    email: str | None = None  # a user's

    def holds(self, scope: str) -> bool:
        return scope in self.powers.scopes

    def reaches(self, pixels: list[str] | None) -> bool:
        if self.pixels is None:
            return True
        return pixels is not None and set(pixels) <= self.pixels


async def _grantor(w: World, shape: Shape) -> Grantor:
    pixels = w.real(shape.pixels)
    email = None
    if shape.role is None:
        headers = {"x-api-key": await w.h.mint(*shape.scopes, pixels=pixels,
                                               rate_tier=shape.tier)}
        expected = Powers(expand_scopes(shape.scopes),
                          w.org_pixels if pixels is None else frozenset(pixels), pixels is None,
                          shape.tier)
    else:
        email = w.email()
        await add_user(w.h, email, shape.role, pixel_ids=pixels)
        headers = {"authorization": f"Bearer {await w.login('rest', email)}"}
        expected = w.user_powers(shape.role, pixels)
    powers = await w.powers(headers)
    assert powers == expected, (shape, powers)
    return Grantor(shape, headers, powers, None if pixels is None else frozenset(pixels), email)


# -- outcomes ---------------------------------------------------------------------------------

GRANTED, REFUSED, HIDDEN = "granted", "refused", "hidden"


@dataclass(frozen=True)
class Outcome:
    kind: str  # GRANTED, REFUSED (403/404) or HIDDEN (404: not within the caller's reach)
    detail: Any
    grantee: Powers | None = None


def _rest_outcome(status: int, body: Any) -> tuple[str, Any]:
    if status in (200, 201):
        return GRANTED, body
    return {403: REFUSED, 404: HIDDEN}.get(status, f"unexpected {status}"), body


def _graphql_outcome(body: dict[str, Any]) -> tuple[str, Any]:
    errors = body.get("errors")
    if not errors:
        return GRANTED, body["data"]
    code = errors[0]["extensions"]["code"]
    return {"INSUFFICIENT_SCOPE": REFUSED, "NOT_FOUND": HIDDEN}.get(code, code), errors


async def _send(w: World, g: Grantor, surface: str, query: str, variables: dict[str, Any],
                method: str, path: str, body: dict[str, Any] | None) -> tuple[str, Any]:
    if surface == "graphql":
        return _graphql_outcome(await w.h.graphql(query, variables, headers=g.headers))
    response = await w.h.client.request(method, path, json=body, headers=g.headers)
    return _rest_outcome(response.status_code, response.json())


def _ok(expected: str, kind: str) -> bool:
    """REFUSED admits 403 and 404 (a pixel of another organization is NotFound); HIDDEN is
    exactly NotFound."""
    return kind == expected or (expected == REFUSED and kind == HIDDEN)


# -- the oracle ------------------------------------------------------------------------------

def _can_grant_pixels(w: World, g: Grantor, requested: list[str] | None) -> bool:
    if requested is None:
        return g.pixels is None
    return set(requested) <= w.org_pixels and g.reaches(requested)


def _can_grant_scopes(g: Grantor, scopes: list[str]) -> bool:
    return expand_scopes(scopes) <= g.powers.scopes


def _can_grant_tier(g: Grantor, tier: str | None) -> bool:
    return tier is None or tier_rank(tier) <= tier_rank(g.powers.tier)


def _with_tier(data: dict[str, Any], surface: str) -> dict[str, Any]:
    """A request naming `rateTier` as each surface spells it (GraphQL: the enum's name)."""
    tier = data.get("rateTier")
    return data if tier is None or surface == "rest" else {**data, "rateTier": tier.upper()}


def _can_grant_role(g: Grantor, role: str) -> bool:
    return (ROLES[role] <= g.powers.scopes and (role != "owner" or g.shape.role == "owner")
            and _can_grant_tier(g, ROLE_TIERS[role]))


PIXEL_REQUESTS: dict[str, tuple[str, ...] | str | None] = {
    "all pixels": None, "own pixels": "own", "a subset": ("A",), "a foreign pixel": ("C",),
    "own and foreign": ("A", "C"), "another organization's pixel": ("X",),
}
SCOPE_REQUESTS = {"a subset": ["analytics:read"], "beyond some": ["alerts:write"],
                  "every scope": list(FULL)}


def _pixel_requests(w: World, g: Grantor) -> dict[str, list[str] | None]:
    """The requests, one per kind relative to the grantor: for an org-wide grantor "own" is
    "all", and a "foreign" pixel of the organization is just a subset."""
    found: dict[str, list[str] | None] = {}
    kinds: set[str] = set()
    for label, symbolic in PIXEL_REQUESTS.items():
        if symbolic == "own":
            value = None if g.pixels is None else sorted(g.pixels)
        else:
            value = w.real(symbolic)  # type: ignore[arg-type]  # every other symbolic request is a real() name
        if value is None:
            kind = "all"
        elif not set(value) <= w.org_pixels:
            kind = "another organization"
        elif g.pixels is not None and set(value) == g.pixels:
            kind = "own"
        elif g.reaches(value):
            kind = "subset"
        else:
            kind = "beyond" if set(value) & (g.pixels or set()) else "foreign"
        if kind not in kinds:
            kinds.add(kind)
            found[label] = value
    return found


Case = tuple[str, str, Callable[[], Awaitable[Outcome]]]  # label, expected kind, run


def _create_key_cases(w: World, g: Grantor, surface: str) -> list[Case]:
    def case(label: str, pixels: list[str] | None, scopes: list[str],
             tier: str | None = None) -> Case:
        allowed = (g.holds("keys:admin") and _can_grant_scopes(g, scopes)
                   and _can_grant_pixels(w, g, pixels) and _can_grant_tier(g, tier))

        async def run() -> Outcome:
            data = _with_tier({"name": "granted", "scopes": scopes, "pixelIds": pixels,
                               **({} if tier is None else {"rateTier": tier})}, surface)
            kind, detail = await _send(w, g, surface, CREATE_KEY, {"i": data}, "POST", KEYS,
                                       data)
            if kind != GRANTED:
                return Outcome(kind, detail)
            secret = (detail["createApiKey"]["secret"] if surface == "graphql"
                      else detail["key"])
            return Outcome(kind, detail, await w.powers({"x-api-key": secret}))
        return label, GRANTED if allowed else REFUSED, run

    cases = [case(f"pixels: {k}", v, ["analytics:read"])
             for k, v in _pixel_requests(w, g).items()]
    cases += [case(f"scopes: {k}", w.real(("A",)), v) for k, v in SCOPE_REQUESTS.items()]
    cases += [case(f"tier: {t}", w.real(("A",)), ["analytics:read"], t) for t in RATE_TIERS]
    return cases


TARGETS: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...], str]] = {
    "a one-pixel key": (("A",), ("analytics:read",), "standard"),
    "a two-pixel key": (("A", "B"), ("analytics:read",), "standard"),
    "an org-wide key": (None, ("analytics:read",), "standard"),
    "a foreign pixel's key": (("C",), ("analytics:read",), "standard"),
    "a one-pixel key with more scopes": (("A",), ("alerts:write",), "standard"),
    "a one-pixel premium key": (("A",), ("analytics:read",), "premium"),
    "a one-pixel enterprise key": (("A",), ("analytics:read",), "enterprise"),
}


def _change_cases(w: World, g: Grantor, surface: str, family: str) -> list[Case]:
    """update and rotate: a target key within reach or not, holding more or not; for update,
    every pixel and scope request on a one-pixel key."""
    def case(label: str, target: str, change: dict[str, Any] | None) -> Case:
        pixels, scopes, tier = TARGETS[target]
        if not g.holds("keys:admin"):
            expected = REFUSED
        elif not g.reaches(w.real(pixels)):
            expected = HIDDEN
        elif not _can_grant_scopes(g, list(scopes)) or not _can_grant_tier(g, tier):
            expected = REFUSED
        elif change is not None and "pixelIds" in change:
            expected = GRANTED if _can_grant_pixels(w, g, change["pixelIds"]) else REFUSED
        elif change is not None and "scopes" in change:
            expected = GRANTED if _can_grant_scopes(g, change["scopes"]) else REFUSED
        elif change is not None and "rateTier" in change:
            expected = GRANTED if _can_grant_tier(g, change["rateTier"]) else REFUSED
        else:
            expected = GRANTED

        async def run() -> Outcome:
            made = await w.target(pixels, scopes, tier)
            key_id = made.row.id
            if change is None:
                kind, detail = await _send(w, g, surface, ROTATE_KEY, {"id": key_id}, "POST",
                                           f"{KEYS}/{key_id}/rotate", None)
            else:
                sent = _with_tier(change, surface)
                kind, detail = await _send(w, g, surface, UPDATE_KEY, {"id": key_id, "i": sent},
                                           "PATCH", f"{KEYS}/{key_id}", sent)
            if kind != GRANTED:
                return Outcome(kind, detail)
            secret = made.secret
            if change is None:
                secret = (detail["rotateApiKey"]["secret"] if surface == "graphql"
                          else detail["key"])
            return Outcome(kind, detail, await w.powers({"x-api-key": secret}))
        return label, expected, run

    if family == "rotate key":
        return [case(f"target: {t}", t, None) for t in TARGETS]
    cases = [case(f"target: {t}; rename", t, {"name": "renamed"}) for t in TARGETS]
    cases += [case(f"pixels: {k}", "a one-pixel key", {"pixelIds": v})
              for k, v in _pixel_requests(w, g).items()]
    cases += [case(f"tier: {t}", "a one-pixel key", {"rateTier": t}) for t in RATE_TIERS]
    cases += [case(f"scopes: {k}", "a one-pixel key", {"scopes": v})
              for k, v in SCOPE_REQUESTS.items()]
    return cases


def _create_user_cases(w: World, g: Grantor, surface: str) -> list[Case]:
    def case(label: str, role: str, pixels: list[str] | None) -> Case:
        allowed = (g.holds("users:admin") and _can_grant_role(g, role)
                   and _can_grant_pixels(w, g, pixels))

        async def run() -> Outcome:
            data = {"email": w.email(), "password": PASSWORD, "role": role, "pixelIds": pixels}
            kind, detail = await _send(w, g, surface, CREATE_USER, {"i": data}, "POST",
                                       "/accounts/api/users", data)
            if kind != GRANTED:
                return Outcome(kind, detail)
            made = detail["createUser"] if surface == "graphql" else detail["user"]
            return Outcome(kind, detail, w.user_powers(made["role"], made["pixelIds"]))
        return label, GRANTED if allowed else REFUSED, run

    cases = [case(f"role: {role}", role, w.real(("A",))) for role in ROLES]
    cases += [case(f"pixels: {k}", "viewer", v) for k, v in _pixel_requests(w, g).items()
              if v != w.real(("A",))]
    return cases


def _login_cases(w: World, g: Grantor, surface: str) -> list[Case]:
    """A login hands the session exactly the user's powers: role scopes, pixel restriction
    (`_grantor` checks that equality on the REST login that made the grantor's credential;
    argon2 is slow, so that login is this case on REST)."""
    email = g.email
    if email is None:
        return []  # keys do not log in

    async def run() -> Outcome:
        if surface == "rest":
            return Outcome(GRANTED, None, g.powers)
        token = await w.login(surface, email)
        return Outcome(GRANTED, None, await w.powers({"authorization": f"Bearer {token}"}))
    return [("the user's own login", GRANTED, run)]


CASES: dict[str, Callable[[World, Grantor, str], list[Case]]] = {
    "create key": _create_key_cases,
    "update key": lambda w, g, s: _change_cases(w, g, s, "update key"),
    "rotate key": lambda w, g, s: _change_cases(w, g, s, "rotate key"),
    "create user": _create_user_cases,
    "log in": _login_cases,
}


# The fast subset (-m "not slow") enumerates two shapes, a key and a user both narrowed to
# two pixels; the full suite enumerates every shape (~1 s each).
FAST_SHAPES = {"two-pixel key with some scopes", "two-pixel admin"}


@pytest.mark.parametrize("shape", [
    pytest.param(s, id=s.name, marks=() if s.name in FAST_SHAPES else pytest.mark.slow)
    for s in SHAPES])
async def test_grants_only_narrow(shape: Shape, harness: Harness) -> None:
    """Issue #10: every granting operation × this principal shape × every kind of request is
    refused (403/404) or grants no more than the grantor holds, pixel reach included."""
    assert set(CASES) == {family for family, _ in GRANTING.values()}
    w = World(harness)
    await w.arrange()
    g = await _grantor(w, shape)
    failures: list[str] = []
    granted: list[str] = []
    # The cases are independent (fresh targets, distinct emails): run them together, so the
    # argon2 hashes of the users granted overlap on the worker threads.
    limit = asyncio.Semaphore(4)

    async def check(where: str, expected: str, run: Callable[[], Awaitable[Outcome]]) -> None:
        async with limit:
            outcome = await run()
        if not _ok(expected, outcome.kind):
            failures.append(f"{where}: expected {expected}, got {outcome.kind} "
                            f"{outcome.detail}")
        elif outcome.kind == GRANTED:
            granted.append(where)
            if outcome.grantee is None or not outcome.grantee.within(g.powers):
                failures.append(f"{where}: granted {outcome.grantee}, beyond {g.powers}")

    await asyncio.gather(*(
        check(f"{operation} by {shape.name}, {label}", expected, run)
        for operation, (family, surface) in GRANTING.items()
        for label, expected, run in CASES[family](w, g, surface)))
    assert sorted(failures) == []
    assert granted or not (g.holds("keys:admin") or g.shape.role), "a vacuous enumeration"
    await _check_administration_sees_only_its_reach(w, g)


FIXED_KEYS = (("A",), ("B",), ("C",), None, ("A", "B"), ("A", "C"))
FIXED_USERS = (("C",), None)


async def _check_administration_sees_only_its_reach(w: World, g: Grantor) -> None:
    """Issue #10: listing keys and users, showing and revoking a key see only objects within
    the caller's pixel reach; the rest is absent or NotFound, and a hidden key survives."""
    fixed = [await w.target(p, ("analytics:read",)) for p in FIXED_KEYS]
    if g.holds("users:admin") and g.pixels is not None:  # users it must not see (argon2)
        await asyncio.gather(*(add_user(w.h, w.email(), "viewer", pixel_ids=w.real(p))
                               for p in FIXED_USERS))
    operator = system_principal(w.h.organization_id)
    keys = await key_service.list_org_keys(w.h.state.db, operator)
    users = await user_service.list_org_users(w.h.state.db, operator)
    visible_keys = {k.id for k in keys if g.reaches(k.pixel_ids)}
    visible_users = {u.id for u in users if g.reaches(u.pixel_ids)}
    assert visible_keys != {k.id for k in keys} or g.pixels is None  # something is hidden

    for scope, query, path, want in (("keys:read", "{ apiKeys { id } }", KEYS, visible_keys),
                                     ("users:admin", "{ users { id } }", "/accounts/api/users",
                                      visible_users)):
        body = await w.h.graphql(query, headers=g.headers)
        response = await w.h.client.get(path, headers=g.headers)
        if not g.holds(scope):
            assert body["errors"][0]["extensions"]["code"] == "INSUFFICIENT_SCOPE"
            assert response.status_code == 403
            continue
        listed = next(iter(body["data"].values()))
        assert {o["id"] for o in listed} == want, (g.shape, scope)
        listed = next(iter(response.json().values()))
        assert {o["id"] for o in listed} == want, (g.shape, scope)

    if not g.holds("keys:read"):
        return
    for made in fixed:
        key_id = made.row.id
        shown = await w.h.graphql("query($id: ID!) { apiKey(id: $id) { id } }", {"id": key_id},
                                  headers=g.headers)
        got = await w.h.client.get(f"{KEYS}/{key_id}", headers=g.headers)
        if key_id in visible_keys:
            assert "errors" not in shown and got.status_code == 200
            continue
        assert shown["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert got.status_code == 404
        if g.holds("keys:admin"):
            revoked = await w.h.graphql(REVOKE_KEY, {"id": key_id}, headers=g.headers)
            assert revoked["errors"][0]["extensions"]["code"] == "NOT_FOUND"
            response = await w.h.client.post(f"{KEYS}/{key_id}/revoke", headers=g.headers)
            assert response.status_code == 404
        await w.powers({"x-api-key": made.secret})  # still works
    if g.holds("keys:admin"):  # and a key within reach is revoked, on both surfaces
        mine = [await w.target(("A",), ("alerts:write",)) for _ in range(2)]
        body = await w.h.graphql(REVOKE_KEY, {"id": mine[0].row.id}, headers=g.headers)
        assert body["data"]["revokeApiKey"]["status"] == "REVOKED"
        response = await w.h.client.post(f"{KEYS}/{mine[1].row.id}/revoke", headers=g.headers)
        assert response.json()["apiKey"]["status"] == "revoked"


async def test_the_escalation_of_issue_10_is_refused(harness: Harness) -> None:
    """Issue #10, as reported: a key restricted to pixel B with users:admin (and every other
    scope) cannot create an organization-wide admin (REST or GraphQL), nor one reaching pixel
    A; the admin it may create (pixel B only) logs in and cannot read pixel A's views nor
    mint an all-pixel or pixel-A key. The same key with keys:admin neither lists nor revokes
    pixel A's keys."""
    pixel_a = harness.pixel_id
    pixel_b = await harness.create_pixel(name="B")
    a_key = await harness.mint("dashboards:write", "analytics:read", pixels=[pixel_a])
    made = await harness.client.post("/accounts/api/dashboard/views", json={"name": "A's"},
                                     headers={"x-api-key": a_key})
    assert made.status_code == 200, made.text
    view_id = made.json()["id"]
    # Enterprise, the admin role's tier: the tier is not what this test is about.
    attacker = {"x-api-key": await harness.mint(*FULL, pixels=[pixel_b], rate_tier="enterprise")}

    for pixels in (None, [pixel_a], [pixel_a, pixel_b]):
        body = {"email": "mallory@example.com", "password": PASSWORD, "role": "admin"}
        if pixels is not None:
            body["pixelIds"] = pixels  # type: ignore[assignment]  # a JSON body mixes str and list values
        response = await harness.client.post("/accounts/api/users", json=body, headers=attacker)
        assert response.status_code == 403, response.text
        gql = await harness.graphql(CREATE_USER, {"i": {**body, "pixelIds": pixels}},
                                    headers=attacker)
        assert gql["errors"][0]["extensions"]["code"] == "INSUFFICIENT_SCOPE"

    response = await harness.client.post(
        "/accounts/api/users", headers=attacker,
        json={"email": "mallory@example.com", "password": PASSWORD, "role": "admin",
              "pixelIds": [pixel_b]})
    assert response.status_code == 201, response.text
    assert response.json()["user"]["pixelIds"] == [pixel_b]
    w = World(harness)
    session = {"authorization": f"Bearer {await w.login('rest', 'mallory@example.com')}"}
    assert (await w.powers(session)).pixels == {pixel_b}
    views = "/accounts/api/dashboard/views"
    for path in (views, f"{views}/{view_id}"):
        response = await harness.client.get(path, headers={**session, "x-pixel-id": pixel_a})
        assert response.status_code == 401, response.text
    listed = await harness.client.get(views, headers=session)
    assert view_id not in listed.text
    for pixels in (None, [pixel_a]):
        response = await harness.client.post(KEYS, headers=session, json={
            "name": "all", "scopes": ["analytics:read"], "pixelIds": pixels})
        assert response.status_code in (403, 404), response.text

    a_key_id = next(k.id for k in await key_service.list_org_keys(
        harness.state.db, system_principal(harness.organization_id)) if k.pixel_ids == [pixel_a])
    for credential in (attacker, session):
        listed = await harness.client.get(KEYS, headers=credential)
        assert a_key_id not in listed.text
        response = await harness.client.post(f"{KEYS}/{a_key_id}/revoke", headers=credential)
        assert response.status_code == 404, response.text
    assert (await w.powers({"x-api-key": a_key})).pixels == {pixel_a}  # still works


async def test_a_restricted_audit_reader_sees_only_principals_within_its_reach(
        harness: Harness) -> None:
    """Issue #10: audit entries carry no pixel; a pixel-restricted reader sees the entries of
    keys and users within its pixel reach, not those of other pixels' or org-wide ones."""
    pixel_c = await harness.create_pixel(name="C")
    reader = await harness.mint("audit:read")
    within = await harness.mint("analytics:read", name="within")
    foreign = await harness.mint("analytics:read", pixels=[pixel_c], name="foreign")
    wide = await harness.mint("analytics:read", pixels=None, name="wide")
    for secret in (within, foreign, wide):
        assert "errors" not in await harness.graphql("{ viewer { kind } }", key=secret)
    await flush_background(harness)
    query = "{ auditLog(first: 500) { entries { principalLabel } } }"

    def labels(body: dict[str, Any]) -> set[str]:
        return {e["principalLabel"] for e in body["data"]["auditLog"]["entries"]}

    label = {k: k[:14] for k in (reader, within, foreign, wide)}  # prefix + start
    seen = labels(await harness.graphql(query, key=reader))
    assert {label[within], label[reader]} <= seen
    assert not {label[foreign], label[wide]} & seen
    everything = labels(await harness.graphql(query, key=await harness.mint(
        "audit:read", pixels=None)))
    assert {label[foreign], label[wide], label[within]} <= everything
