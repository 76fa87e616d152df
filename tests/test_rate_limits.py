"""Rate limits through the real app, in-process limiter (issue #12).

Each surface answers its dialect's headers on every response after authentication (errors
included) and, past the limit, 429 with `Retry-After` and its own body; the numbers follow
the key's tier, per key (or user) and pixel, anonymous requests per client address; failed
authentications are throttled per address before any key look-up; `Context.charge` spends
more units and the headers show the final state. The clock is the harness's (frozen unless
advanced), so nothing here sleeps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import strawberry
from starlette.requests import Request
from starlette.routing import Route

from gateway.app import create_app
from gateway.auth.principal import system_principal
from gateway.auth.tiers import RATE_TIERS
from gateway.context import Context, Info
from gateway.graphql_view import GatewayGraphQL
from gateway.rest import databuddy, upstack
from gateway.rest.base import ANY_CREDENTIAL
from gateway.services import keys as key_service
from gateway.settings import Settings, SettingsError
from tests.support import Clock, Harness, open_harness, wrong_key
from tests.support_auth import PASSWORD, add_user, login

MEASURES = "/db-mgmt/api/measures"
ALERTS = "/api/v2/alerts"
VIEWER = {"query": "{ viewer { kind } }"}


@asynccontextmanager
async def limited(settings: Settings, clock: Clock, *, tiers: dict[str, float] | None = None,
                  **rows: tuple[int, float]) -> AsyncIterator[Harness]:
    """The app with these rows of the rate limit table (and tier factors)."""
    changed = dataclasses.replace(settings, rate_limits={**settings.rate_limits, **rows},
                                  rate_tiers={**settings.rate_tiers, **(tiers or {})})
    async with open_harness(changed, clock, tenant=True) as h:
        yield h


def _numbers(response: httpx.Response, prefix: str = "x-") -> tuple[int, int, int]:
    h = response.headers
    return (int(h[f"{prefix}ratelimit-limit"]), int(h[f"{prefix}ratelimit-remaining"]),
            int(h[f"{prefix}ratelimit-reset"]))


def _epoch(clock: Clock) -> int:
    return int(clock().timestamp())


def _client(h: Harness, address: str) -> httpx.AsyncClient:
    """A client of the same app from another address."""
    assert h.app is not None
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=h.app, client=(address, 4000)),
                             base_url="http://testserver")


async def test_each_surface_answers_in_its_dialect(settings: Settings, clock: Clock) -> None:
    """Issue #12: Upstack and GraphQL send X-RateLimit-Limit/Remaining/Reset (reset: epoch
    seconds); ClickStack sends RateLimit-Limit/Remaining/Reset (reset: seconds from now, as
    HyperDX does) and no X- headers. Reset is when the bucket is full again."""
    async with limited(settings, clock, upstack=(5, 60.0), clickstack=(4, 60.0),
                       graphql=(3, 60.0)) as h:
        key = await h.mint("analytics:read", "alerts:read")
        now = _epoch(clock)
        up = await h.client.get(MEASURES, headers=h.headers(key))
        assert up.status_code == 200
        assert _numbers(up) == (5, 4, now + 12)
        assert "ratelimit-limit" not in up.headers
        cs = await h.client.get(ALERTS, headers={"authorization": f"Bearer {key}"})
        assert cs.status_code == 200, cs.text
        assert _numbers(cs, "") == (4, 3, 15)
        assert "x-ratelimit-limit" not in cs.headers
        gql = await h.client.post("/graphql", json=VIEWER, headers=h.headers(key))
        assert gql.status_code == 200 and "errors" not in gql.json()
        assert _numbers(gql) == (3, 2, now + 20)
        up = await h.client.get(MEASURES, headers=h.headers(key))  # its own bucket
        assert _numbers(up) == (5, 3, now + 24)


async def test_errors_after_authentication_carry_the_headers(settings: Settings,
                                                             clock: Clock) -> None:
    """Issue #12: a 403, a 404, a 400 after authentication carry the headers (the request
    paid its unit); a bad credential (401) is not authenticated and carries none."""
    async with limited(settings, clock, upstack=(9, 60.0), clickstack=(9, 60.0)) as h:
        key = await h.mint("analytics:read", "alerts:read")
        denied = await h.client.get("/accounts/api/api-keys", headers=h.headers(key))
        assert denied.status_code == 403 and _numbers(denied)[1] == 8
        bad = await h.client.post("/db-mgmt/api/query", headers=h.headers(key), json={})
        assert bad.status_code == 400 and _numbers(bad)[1] == 7
        missing = await h.client.get(f"{ALERTS}/{'0' * 24}",
                                     headers={"authorization": f"Bearer {key}"})
        assert missing.status_code == 404 and _numbers(missing, "")[1] == 8
        wrong = await h.client.get(MEASURES, headers=h.headers(wrong_key(key)))
        assert wrong.status_code == 401
        assert "x-ratelimit-limit" not in wrong.headers


async def _databuddy_route(h: Harness) -> None:
    """A Databuddy route naming its own row, as `/v1/query` will (the surface has no routes
    yet): the mechanism, in the real app."""
    async def call(ctx: Context, request: Request) -> dict[str, Any]:
        return {"success": True, "kind": ctx.principal.kind if ctx.principal else None}

    assert h.app is not None
    h.app.router.routes.append(databuddy.surface.route(
        "GET", "/v1/test-query", call, twin="Query.measures", scope=ANY_CREDENTIAL,
        response=dict, rate_limit="databuddy.query"))


async def test_past_the_limit_each_surface_answers_429_in_its_body(settings: Settings,
                                                                  clock: Clock) -> None:
    """Issue #12: the N+1th request is 429 with Retry-After (whole seconds until one unit
    fits) in the surface's body: Upstack and ClickStack `{"message"}`, Databuddy
    `{"success": false, "error", "code": "RATE_LIMITED", limit, remaining, reset,
    retryAfter}` (a route's own row: `databuddy.query`), GraphQL HTTP 429 with
    `extensions.code` RATE_LIMITED and the numbers, no `data`."""
    async with limited(settings, clock, upstack=(2, 60.0), clickstack=(2, 60.0),
                       graphql=(2, 60.0), databuddy=(50, 60.0),
                       **{"databuddy.query": (2, 60.0)}) as h:
        await _databuddy_route(h)
        key = await h.mint("analytics:read", "alerts:read")
        now = _epoch(clock)
        calls = {
            "upstack": lambda: h.client.get(MEASURES, headers=h.headers(key)),
            "clickstack": lambda: h.client.get(ALERTS, headers={"authorization": f"Bearer {key}"}),
            "databuddy": lambda: h.client.get("/v1/test-query", headers=h.headers(key)),
            "graphql": lambda: h.client.post("/graphql", json=VIEWER, headers=h.headers(key)),
        }
        for name, call in calls.items():
            for _ in range(2):
                assert (await call()).status_code == 200, name
            refused = await call()
            assert refused.status_code == 429, (name, refused.text)
            assert refused.headers["retry-after"] == "30", name
            body = refused.json()
            if name == "clickstack":
                assert _numbers(refused, "") == (2, 0, 60)
            else:
                assert _numbers(refused) == (2, 0, now + 60), name
            if name in ("upstack", "clickstack"):
                assert set(body) == {"message"} and "Rate limit exceeded" in body["message"]
            elif name == "databuddy":
                assert body == {"success": False, "error": body["error"], "code": "RATE_LIMITED",
                                "limit": 2, "remaining": 0, "reset": now + 60, "retryAfter": 30}
            else:
                assert "data" not in body
                assert body["errors"][0]["extensions"] == {
                    "code": "RATE_LIMITED", "retryAfter": 30, "limit": 2, "remaining": 0,
                    "reset": now + 60}
        clock.advance(seconds=30)  # one unit has drained
        assert (await calls["upstack"]()).status_code == 200
        assert (await calls["upstack"]()).status_code == 429


async def test_a_refused_request_is_not_executed(settings: Settings, clock: Clock) -> None:
    """Issue #12: past the limit nothing runs: a GraphQL mutation and a REST write refused
    with 429 create nothing."""
    async with limited(settings, clock, graphql=(1, 60.0), upstack=(1, 60.0)) as h:
        key = await h.mint("keys:admin", "dashboards:write", "dashboards:read", pixels=None)
        create = {"query": 'mutation { createApiKey(input: {name: "x", scopes: '
                           '["keys:read"]}) { secret } }'}
        assert "errors" not in (await h.client.post("/graphql", json=create,
                                                    headers=h.headers(key))).json()
        refused = await h.client.post("/graphql", json=create, headers=h.headers(key))
        assert refused.status_code == 429
        made = await h.client.post("/accounts/api/dashboard/views", json={"name": "v"},
                                   headers=h.headers(key))
        assert made.status_code == 200
        again = await h.client.post("/accounts/api/dashboard/views", json={"name": "w"},
                                    headers=h.headers(key))
        assert again.status_code == 429
        clock.advance(minutes=1)
        listed = (await h.client.get("/accounts/api/dashboard/views",
                                     headers=h.headers(key))).json()
        assert [v["name"] for v in listed["views"]] == ["v"]
        keys = (await h.client.post("/graphql", json={"query": "{ apiKeys { name } }"},
                                    headers=h.headers(key))).json()
        assert sorted(k["name"] for k in keys["data"]["apiKeys"]) == ["test key", "x"]


@pytest.mark.parametrize(("tier", "limit"), [("standard", 10), ("premium", 50),
                                             ("enterprise", 200)])
async def test_a_key_s_tier_multiplies_its_limits(settings: Settings, clock: Clock, tier: str,
                                                  limit: int) -> None:
    """Issue #12: the standard tier gets the row's number, premium and enterprise their
    factor of it (5 and 20 by default); exactly that many requests pass."""
    async with limited(settings, clock, upstack=(10, 60.0)) as h:
        key = await h.mint("analytics:read", rate_tier=tier)
        statuses = [(await h.client.get(MEASURES, headers=h.headers(key))).status_code
                    for _ in range(limit + 1)]
        assert statuses == [200] * limit + [429]


async def test_tier_factors_and_users_tiers(settings: Settings, clock: Clock) -> None:
    """Issue #12: GATEWAY_RATE_TIERS' factors apply; a logged-in user is limited by its
    role's tier (owner and admin: enterprise; member and viewer: standard), per user."""
    async with limited(settings, clock, tiers={"premium": 2.5, "enterprise": 7.0},
                       graphql=(4, 60.0)) as h:
        premium = await h.mint("analytics:read", rate_tier="premium")
        first = await h.client.post("/graphql", json=VIEWER, headers=h.headers(premium))
        assert _numbers(first)[:2] == (10, 9)
        for email, role, limit in (("a@example.com", "admin", 28), ("v@example.com", "viewer", 4)):
            await add_user(h, email, role)
            token = (await login(h, email)).json()["token"]
            h.client.cookies.clear()
            answer = await h.client.post("/graphql", json={"query": "{ viewer { rateTier } }"},
                                         headers={"authorization": f"Bearer {token}"})
            assert _numbers(answer)[:2] == (limit, limit - 1), role
            assert answer.json()["data"]["viewer"]["rateTier"] == (
                "ENTERPRISE" if role == "admin" else "STANDARD")


async def test_buckets_are_per_key_and_per_pixel(settings: Settings, clock: Clock) -> None:
    """Issue #12: one key's requests to two pixels pay into two buckets; another key has
    its own."""
    async with limited(settings, clock, upstack=(3, 60.0)) as h:
        second = await h.create_pixel(name="second")
        wide = await h.mint("analytics:read", pixels=[h.pixel_id, second])
        other = await h.mint("analytics:read")
        for _ in range(3):
            ok = await h.client.get(MEASURES, headers=h.headers(wide, h.pixel_id))
            assert ok.status_code == 200
        assert (await h.client.get(MEASURES, headers=h.headers(wide, h.pixel_id))
                ).status_code == 429
        on_second = await h.client.get(MEASURES, headers=h.headers(wide, second))
        assert on_second.status_code == 200 and _numbers(on_second)[1] == 2
        assert _numbers(await h.client.get(MEASURES, headers=h.headers(other)))[1] == 2


async def test_anonymous_requests_are_limited_per_client_address(settings: Settings,
                                                                 clock: Clock) -> None:
    """Issue #12: requests without a credential share the `anonymous` row per client
    address (every surface together; IPv6 per /64); other addresses, and credentialed
    requests from the same address, are not affected."""
    async with limited(settings, clock, anonymous=(3, 60.0)) as h:
        typename = {"query": "{ __typename }"}
        answers = [await h.client.post("/graphql", json=typename) for _ in range(2)]
        assert [a.status_code for a in answers] == [200, 200]
        assert _numbers(answers[1])[:2] == (3, 1)
        wrong = await h.client.post("/accounts/api/auth/login",  # Upstack, same bucket
                                    json={"email": "x@example.com", "password": "y" * 12})
        assert wrong.status_code == 401 and _numbers(wrong)[1] == 0
        refused = await h.client.post("/graphql", json=typename)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "20"
        key = await h.mint("analytics:read")
        assert (await h.client.get(MEASURES, headers=h.headers(key))).status_code == 200
        async with _client(h, "203.0.113.9") as elsewhere:
            assert (await elsewhere.post("/graphql", json=typename)).status_code == 200
        for address, status in (("2001:db8:1:2::1", 200), ("2001:db8:1:2::2", 200),
                                ("2001:db8:1:2:ffff::3", 200), ("2001:db8:1:2::4", 429),
                                ("2001:db8:1:3::1", 200)):
            async with _client(h, address) as v6:
                assert (await v6.post("/graphql", json=typename)).status_code == status, address


async def test_failed_authentications_are_throttled_per_address_before_any_look_up(
        settings: Settings, clock: Clock) -> None:
    """Issue #12: after N failed authentications in the window (bad, revoked or unknown
    keys, a pixel the key cannot reach), the address is answered 429 before the key is
    looked up (so even a valid key is refused there, while it works from elsewhere) until a
    failure's worth has drained. Concurrent guesses cannot slip past: exactly as many as
    are left are answered 401."""
    throttled = dataclasses.replace(settings, auth_failure_limit=3, auth_failure_seconds=60.0)
    async with open_harness(throttled, clock, tenant=True) as h:
        key = await h.mint("analytics:read")
        revoked = await key_service.create_key(  # looked up, then refused
            h.state.db, h.state.settings, system_principal(h.organization_id), name="gone",
            scopes=["analytics:read"], pixel_ids=None, now=clock())
        await key_service.revoke_key(h.state.db, h.state.settings,
                                     system_principal(h.organization_id), revoked.row.id,
                                     now=clock())
        guesses = [wrong_key(key), revoked.secret, "upstack_nonsense"]
        statuses = [(await h.client.get(MEASURES, headers=h.headers(g))).status_code
                    for g in guesses]
        assert statuses == [401, 401, 401]
        blocked = await h.client.get(MEASURES, headers=h.headers(key))
        assert blocked.status_code == 429 and blocked.headers["retry-after"] == "20"
        assert "failed authentications" in blocked.json()["message"]
        gql = await h.client.post("/graphql", json=VIEWER, headers=h.headers(key))
        assert gql.status_code == 429
        assert gql.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        anonymous = await h.client.post("/graphql", json={"query": "{ __typename }"})
        assert anonymous.status_code == 200  # no credential: nothing to guess
        async with _client(h, "198.51.100.7") as elsewhere:
            assert (await elsewhere.get(MEASURES, headers=h.headers(key))).status_code == 200
            foreign = await elsewhere.get(MEASURES, headers=h.headers(key, str(uuid.uuid4())))
            assert foreign.status_code == 401  # a pixel it cannot reach: one failure of 3
            assert (await elsewhere.get(MEASURES, headers=h.headers(key))).status_code == 200
            many = await asyncio.gather(*(elsewhere.get(MEASURES, headers=h.headers(g + "z"))
                                          for g in guesses * 4))
            assert sorted(r.status_code for r in many) == [401] * 2 + [429] * 10
        clock.advance(seconds=20)
        assert (await h.client.get(MEASURES, headers=h.headers(key))).status_code == 200
        assert (await h.client.get(MEASURES, headers=h.headers(guesses[0]))).status_code == 401
        assert (await h.client.get(MEASURES, headers=h.headers(key))).status_code == 429


async def test_concurrent_requests_are_counted_exactly(settings: Settings,
                                                       clock: Clock) -> None:
    """Issue #12: 60 concurrent requests against a limit of 25 (REST) and of 10 (GraphQL):
    exactly 25 and 10 pass, and the remaining counts they were told are each value once."""
    async with limited(settings, clock, upstack=(25, 60.0), graphql=(10, 60.0)) as h:
        key = await h.mint("analytics:read")
        rest = await asyncio.gather(*(h.client.get(MEASURES, headers=h.headers(key))
                                      for _ in range(60)))
        passed = [r for r in rest if r.status_code == 200]
        assert len(passed) == 25 and {r.status_code for r in rest} == {200, 429}
        assert sorted(_numbers(r)[1] for r in passed) == list(range(25))
        gql = await asyncio.gather(*(h.client.post("/graphql", json=VIEWER,
                                                   headers=h.headers(key))
                                     for _ in range(60)))
        assert sorted(r.status_code for r in gql) == [200] * 10 + [429] * 50


async def _charging_app(h: Harness) -> None:
    """What the cost budget does, in the real app: a REST route and a GraphQL endpoint whose
    work charges `units` more before it runs."""
    async def spend(ctx: Context, request: Request) -> dict[str, Any]:
        await ctx.charge(int(request.query_params["units"]))
        return {"spent": True}

    @strawberry.type
    class Query:
        @strawberry.field
        async def spend(self, info: Info, units: int) -> int:
            await info.context.charge(units)
            return units

    assert h.app is not None
    h.app.router.routes.append(upstack.surface.route("GET", "/test/spend", spend,
                                                     twin="Query.measures",
                                                     scope=ANY_CREDENTIAL, response=dict))
    h.app.router.routes.append(Route("/test/graphql",
                                     GatewayGraphQL(strawberry.Schema(query=Query)),
                                     methods=["POST"]))


async def test_charge_spends_more_units_and_headers_show_the_final_state(
        settings: Settings, clock: Clock) -> None:
    """Issue #12: `Context.charge(units)` spends beyond the one unit of entry, all or
    nothing: a charge that does not fit is 429 and spends nothing; the headers show the
    state after the last charge. On GraphQL a refused charge makes the response a 429."""
    async with limited(settings, clock, upstack=(10, 60.0), graphql=(10, 60.0)) as h:
        await _charging_app(h)
        key = await h.mint("analytics:read")
        ok = await h.client.get("/test/spend?units=4", headers=h.headers(key))
        assert ok.status_code == 200 and _numbers(ok)[1] == 5
        refused = await h.client.get("/test/spend?units=6", headers=h.headers(key))
        assert refused.status_code == 429 and _numbers(refused)[1] == 4
        assert refused.headers["retry-after"] == "12"
        ok = await h.client.get("/test/spend?units=3", headers=h.headers(key))
        assert ok.status_code == 200 and _numbers(ok)[1] == 0
        assert (await h.client.get("/test/spend?units=0", headers=h.headers(key))
                ).status_code == 429  # the entry unit itself no longer fits

        def spend(units: int) -> dict[str, Any]:
            return {"query": "query($u: Int!) { spend(units: $u) }", "variables": {"u": units}}

        ok = await h.client.post("/test/graphql", json=spend(6), headers=h.headers(key))
        assert ok.status_code == 200 and ok.json()["data"] == {"spend": 6}
        assert _numbers(ok)[1] == 3
        refused = await h.client.post("/test/graphql", json=spend(5), headers=h.headers(key))
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "18" and _numbers(refused)[1] == 2  # 3 short
        assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


def test_a_declared_policy_without_numbers_refuses_to_start(settings: Settings) -> None:
    """Issue #12: every policy a surface or route declares has a row, or create_app stops."""
    rows = {k: v for k, v in settings.rate_limits.items() if k != "clickstack"}
    with pytest.raises(SettingsError, match="no rate limit configured for clickstack"):
        create_app(dataclasses.replace(settings, rate_limits=rows))


def test_the_vendors_numbers_are_the_defaults() -> None:
    """Issue #12: Dashtray 1,000 an hour per project; Databuddy per minute (/v1/query 120,
    compile 300, custom 60); ClickStack 100 a minute per key; tiers 1, 5, 20."""
    rows = Settings().rate_limits
    assert rows["dashtray"] == (1000, 3600.0)
    assert (rows["databuddy.query"], rows["databuddy.compile"], rows["databuddy.custom"]) == (
        (120, 60.0), (300, 60.0), (60, 60.0))
    assert rows["clickstack"] == (100, 60.0)
    assert Settings().rate_tiers == {"standard": 1.0, "premium": 5.0, "enterprise": 20.0}


def test_rate_settings_come_from_the_environment_and_bad_ones_are_refused() -> None:
    s = Settings.from_environ({"GATEWAY_RATE_LIMITS": "clickstack=200/30, graphql=6000",
                               "GATEWAY_RATE_TIERS": "premium=4", "GATEWAY_AUTH_FAILURE_LIMIT":
                               "7", "GATEWAY_AUTH_FAILURE_SECONDS": "30",
                               "GATEWAY_REDIS_URL": "redis://127.0.0.1:6379/2"})
    assert s.rate_limits["clickstack"] == (200, 30.0) and s.rate_limits["graphql"] == (6000, 60.0)
    assert s.rate_limits["upstack"] == Settings().rate_limits["upstack"]
    assert s.rate_tiers["premium"] == 4.0 and s.rate_tiers["enterprise"] == 20.0
    assert (s.auth_failure_limit, s.auth_failure_seconds) == (7, 30.0)
    assert s.redis_url == "redis://127.0.0.1:6379/2"
    for variable, value, message in (
            ("GATEWAY_RATE_LIMITS", "nosuch=1/60", "no policy 'nosuch'"),
            ("GATEWAY_RATE_LIMITS", "upstack=many/60", "is not units/seconds"),
            ("GATEWAY_RATE_LIMITS", "upstack=0/60", "units must be >= 1"),
            ("GATEWAY_RATE_LIMITS", "upstack", "expected name=value"),
            ("GATEWAY_RATE_LIMITS", "upstack=1000000000/86400", "too many units"),
            ("GATEWAY_RATE_TIERS", "gold=3", "rate tiers are"),
            ("GATEWAY_RATE_TIERS", "premium=0", "must be above 0")):
        with pytest.raises(SettingsError, match=message):
            Settings.from_environ({variable: value})


async def test_login_and_tiers_stay_out_of_each_other(settings: Settings, clock: Clock) -> None:
    """Issue #12: the login throttle (gateway/auth/throttle.py) is untouched: a wrong password
    is 401 INVALID_CREDENTIALS, and a refused login is its RATE_LIMITED field error on
    GraphQL (HTTP 200), not the limiter's 429."""
    throttled = dataclasses.replace(settings, login_account_burst=1)
    async with open_harness(throttled, clock, tenant=True) as h:
        await add_user(h, "ada@example.com", "viewer")
        mutation = {"query": 'mutation { login(email: "ada@example.com", password: "wrong '
                             'password") { token } }'}
        first = await h.client.post("/graphql", json=mutation)
        assert first.json()["errors"][0]["extensions"]["code"] == "INVALID_CREDENTIALS"
        second = await h.client.post("/graphql", json=mutation)
        assert second.status_code == 200
        assert second.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert (await login(h, "ada@example.com", PASSWORD)).status_code == 429


async def test_rate_tiers_on_keys_over_both_surfaces(harness: Harness) -> None:
    """Issue #12: `rateTier` is the RateTier enum on GraphQL (values as in
    gateway/auth/tiers.py) and the tier's name on REST; a key grants only tiers up to its
    own, on create and update; a name that is no tier is a 400 at `rateTier`, after the scope
    check (a caller without keys:admin learns nothing of the field)."""
    enum = await harness.graphql('{ __type(name: "RateTier") { enumValues { name } } }',
                                 key=await harness.mint("analytics:read"))
    assert [v["name"].lower() for v in enum["data"]["__type"]["enumValues"]] == list(RATE_TIERS)
    premium = await harness.mint("keys:admin", "analytics:read", rate_tier="premium")
    create = ("mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) "
              "{ key { id rateTier } } }")

    def data(tier: str) -> dict[str, Any]:
        return {"i": {"name": "n", "scopes": ["analytics:read"], "pixelIds": [harness.pixel_id],
                      "rateTier": tier}}

    made = await harness.graphql(create, data("PREMIUM"), key=premium)
    assert made["data"]["createApiKey"]["key"]["rateTier"] == "PREMIUM"
    above = await harness.graphql(create, data("ENTERPRISE"), key=premium)
    assert above["errors"][0]["extensions"] == {"code": "INSUFFICIENT_SCOPE",
                                                "scope": "rate tier"}
    key_id = made["data"]["createApiKey"]["key"]["id"]
    raise_it = await harness.client.patch(f"/accounts/api/api-keys/{key_id}",
                                          json={"rateTier": "enterprise"},
                                          headers=harness.headers(premium))
    assert raise_it.status_code == 403
    lower = await harness.client.patch(f"/accounts/api/api-keys/{key_id}",
                                       json={"rateTier": "standard"},
                                       headers=harness.headers(premium))
    assert lower.status_code == 200 and lower.json()["apiKey"]["rateTier"] == "standard"
    gold = {"name": "g", "scopes": ["analytics:read"], "rateTier": "gold"}
    bad = await harness.client.post("/accounts/api/api-keys", json=gold,
                                    headers=harness.headers(premium))
    assert bad.status_code == 400 and [e["key"] for e in bad.json()["errors"]] == ["rateTier"]
    reader = await harness.mint("analytics:read")
    hidden = await harness.client.post("/accounts/api/api-keys", json=gold,
                                       headers=harness.headers(reader))
    assert hidden.status_code == 403
