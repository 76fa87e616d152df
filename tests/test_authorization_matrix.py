"""The authorization matrix (issue #3): every root GraphQL field and every REST route, read
from the live schema and the app's routes, is guarded. For each one:

1. no credential                           -> AUTH_REQUIRED / 401
2. a key without the required scope        -> INSUFFICIENT_SCOPE / 403
3. a credential naming another org's pixel -> ACCESS_DENIED / 401 (never its data)
4. a key of another organization           -> NOT_FOUND / 404, for rows that name an object
5. the right credential                    -> success

A field or route without a row in `ROWS` fails `test_guard`; adding one is one line here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from gateway.app import create_app
from gateway.pages import Pages
from gateway.schema import build_schema
from gateway.settings import Settings
from tests.support import Harness
from tests.support_auth import PASSWORD, add_user, login

PUBLIC = "public"  # no credential needed
ANY = "any"  # any valid credential, whatever its scopes


class World:
    """What sample requests refer to, arranged lazily in the test's own harness."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self._key_id: str | None = None
        self._user: str | None = None

    @property
    def pixel(self) -> str:
        return self.h.pixel_id

    async def key_id(self) -> str:
        """A key of the organization to read, rotate, revoke or update."""
        if self._key_id is None:
            secret = await self.h.mint("analytics:read", name="target")
            from gateway.auth.principal import system_principal
            from gateway.services.keys import list_org_keys

            rows = await list_org_keys(self.h.state.db, system_principal(self.h.organization_id))
            self._key_id = next(r.id for r in rows if secret.startswith(r.prefix + r.start))
        return self._key_id

    async def user(self) -> str:
        if self._user is None:
            self._user = "ada@example.com"
            await add_user(self.h, self._user, "member")
        return self._user


@dataclass(frozen=True)
class Sample:
    """One request: a GraphQL document and variables, or a REST method, path and body."""

    query: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    method: str = "POST"
    path: str = "/graphql"
    json: Any = None


@dataclass(frozen=True)
class Row:
    scope: str  # the scope whose absence is refused, or PUBLIC / ANY
    sample: Callable[[World], Awaitable[Sample]]
    extra: tuple[str, ...] = ()  # other scopes the sample needs on the right key
    credential: str = "key"  # "key", or "user" for a login session
    names_object: bool = False  # the sample names an object of the organization


def gql(query: str, variables: Callable[[World], Awaitable[dict[str, Any]]] | None = None
        ) -> Callable[[World], Awaitable[Sample]]:
    async def build(w: World) -> Sample:
        return Sample(query=query, variables=await variables(w) if variables else {})
    return build


def rest(method: str, path: str, body: Callable[[World], Awaitable[Any]] | None = None
         ) -> Callable[[World], Awaitable[Sample]]:
    async def build(w: World) -> Sample:
        real = path.replace("{key_id}", await w.key_id()) if "{key_id}" in path else path
        for name, make in (("{view_id}", _view_id), ("{alert_id}", _alert_id),
                           ("{webhook_id}", _webhook_id)):
            if name in real:
                real = real.replace(name, await make(w))
        return Sample(method=method, path=real, json=await body(w) if body else None)
    return build


async def _key(w: World) -> dict[str, Any]:
    return {"id": await w.key_id()}


async def _new_key(w: World) -> dict[str, Any]:
    return {"name": "n", "scopes": ["keys:read"], "pixelIds": [w.pixel]}


async def _new_user(w: World) -> dict[str, Any]:
    # Within the (one-pixel) caller's reach: a restricted key makes only restricted users
    # (issue #10; tests/test_grants.py enumerates the rest).
    return {"email": "new@example.com", "password": PASSWORD, "role": "viewer",
            "pixelIds": [w.pixel]}


async def _login(w: World) -> dict[str, Any]:
    return {"email": await w.user(), "password": PASSWORD}


async def _rename(w: World) -> dict[str, Any]:
    return {"name": "renamed"}


KEY = "id name prefix start status"
ROWS: dict[str, Row] = {
    # GraphQL root fields
    "Query._service": Row(PUBLIC, gql("{ _service { sdl } }")),
    "Query._entities": Row(ANY, gql(
        '{ _entities(representations: [{__typename: "Measure", key: "orders"}]) '
        "{ ... on Measure { key } } }")),
    "Query.measures": Row(ANY, gql("{ measures { key } }")),
    "Query.measure": Row(ANY, gql('{ measure(key: "orders") { key } }')),
    "Query.viewer": Row(ANY, gql("{ viewer { kind } }")),
    "Query.pixels": Row(ANY, gql("{ pixels { id } }")),
    "Query.apiKeys": Row("keys:read", gql("{ apiKeys { id } }")),
    "Query.apiKey": Row("keys:read", gql(f"query($id: ID!) {{ apiKey(id: $id) {{ {KEY} }} }}",
                                         _key), names_object=True),
    "Query.users": Row("users:admin", gql("{ users { id } }")),
    "Query.auditLog": Row("audit:read", gql("{ auditLog { entries { action } } }")),
    "Mutation.createApiKey": Row("keys:admin", gql(
        "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }",
        lambda w: _wrap("i", _new_key(w)))),
    "Mutation.rotateApiKey": Row("keys:admin", gql(
        "mutation($id: ID!) { rotateApiKey(id: $id) { secret } }", _key),
        extra=("analytics:read",), names_object=True),
    "Mutation.revokeApiKey": Row("keys:admin", gql(
        "mutation($id: ID!) { revokeApiKey(id: $id) { status } }", _key), names_object=True),
    "Mutation.updateApiKey": Row("keys:admin", gql(
        'mutation($id: ID!) { updateApiKey(id: $id, input: {name: "x"}) { name } }', _key),
        extra=("analytics:read",), names_object=True),
    "Mutation.createUser": Row("users:admin", gql(
        "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
        lambda w: _wrap("i", _new_user(w))), extra=("analytics:read", "dashboards:read")),
    "Mutation.login": Row(PUBLIC, gql(
        "mutation($email: String!, $password: String!) { login(email: $email, "
        "password: $password) { token } }", _login)),
    "Mutation.logout": Row(ANY, gql("mutation { logout }"), credential="user"),
    # REST routes
    "GET /health": Row(PUBLIC, rest("GET", "/health")),
    # An operator's endpoint: no credential, but loopback clients or GATEWAY_METRICS_TOKEN
    # only (the harness calls from 127.0.0.1); tests/test_observe.py proves that guard.
    "GET /metrics": Row(PUBLIC, rest("GET", "/metrics")),
    "GET /graphql": Row(PUBLIC, rest("GET", "/graphql")),  # transport: fields are rows above
    "POST /graphql": Row(PUBLIC, gql("{ __typename }")),
    # issue #17: the API document, the docs page and the pages' assets
    "GET /openapi.json": Row(PUBLIC, rest("GET", "/openapi.json")),
    "GET /docs": Row(PUBLIC, rest("GET", "/docs")),
    "GET /static/{digest}/{name}": Row(PUBLIC, rest("GET", Pages().url("graphiql.min.css"))),
    "GET /db-mgmt/api/measures": Row(ANY, rest("GET", "/db-mgmt/api/measures")),
    "GET /accounts/api/api-keys": Row("keys:read", rest("GET", "/accounts/api/api-keys")),
    "POST /accounts/api/api-keys": Row("keys:admin", rest("POST", "/accounts/api/api-keys",
                                                          _new_key)),
    "GET /accounts/api/api-keys/{key_id}": Row(
        "keys:read", rest("GET", "/accounts/api/api-keys/{key_id}"), names_object=True),
    "PATCH /accounts/api/api-keys/{key_id}": Row(
        "keys:admin", rest("PATCH", "/accounts/api/api-keys/{key_id}", _rename),
        extra=("analytics:read",), names_object=True),
    "POST /accounts/api/api-keys/{key_id}/rotate": Row(
        "keys:admin", rest("POST", "/accounts/api/api-keys/{key_id}/rotate"),
        extra=("analytics:read",), names_object=True),
    "POST /accounts/api/api-keys/{key_id}/revoke": Row(
        "keys:admin", rest("POST", "/accounts/api/api-keys/{key_id}/revoke"),
        names_object=True),
    "GET /accounts/api/users": Row("users:admin", rest("GET", "/accounts/api/users")),
    "POST /accounts/api/users": Row("users:admin", rest("POST", "/accounts/api/users",
                                                        _new_user),
                                    extra=("analytics:read", "dashboards:read")),
    "POST /accounts/api/auth/login": Row(PUBLIC, rest("POST", "/accounts/api/auth/login",
                                                      _login)),
    "POST /accounts/api/auth/logout": Row(ANY, rest("POST", "/accounts/api/auth/logout"),
                                          credential="user"),
    "GET /accounts/api/audit-log": Row("audit:read", rest("GET", "/accounts/api/audit-log")),
}


# Objects of issues #4-#6, made through their REST routes with an all-powerful key of the
# organization and remembered on the World.
async def _admin_post(w: World, path: str, body: dict[str, Any]) -> str:
    key = await w.h.mint("dashboards:write", "alerts:write", name="arranger")
    response = await w.h.client.post(path, json=body, headers={"x-api-key": key})
    assert response.status_code == 200, response.text
    data = response.json()
    return str(data["data"]["id"] if "data" in data else data["id"])


async def _remembered(w: World, name: str, path: str, body: dict[str, Any]) -> str:
    if name not in w.__dict__:
        w.__dict__[name] = await _admin_post(w, path, body)
    return str(w.__dict__[name])


async def _view_id(w: World) -> str:
    return await _remembered(w, "view", "/accounts/api/dashboard/views", {"name": "target"})


async def _webhook_id(w: World) -> str:
    return await _remembered(w, "webhook", "/api/v2/webhooks",
                             {"name": "target", "url": "https://example.test/hook"})


async def _alert_id(w: World) -> str:
    return await _remembered(w, "alert", "/api/v2/alerts", _ALERT)


_ALERT = {"source": "measure", "measure": "core.revenue", "threshold": 100,
          "thresholdType": "above", "interval": "1h",
          "channel": {"type": "webhook", "url": "https://example.test/inline"}}
_RANGE = {"start": "2026-11-01", "end": "2026-11-07"}


def _ids(make: Callable[[World], Awaitable[str]]) -> Callable[[World], Awaitable[dict[str, Any]]]:
    async def build(w: World) -> dict[str, Any]:
        return {"id": await make(w)}
    return build


async def _static(value: Any) -> Any:
    return value


def body(value: Any) -> Callable[[World], Awaitable[Any]]:
    return lambda w: _static(value)


async def _alert_update(w: World) -> dict[str, Any]:
    return {"id": await _alert_id(w), "i": dict(_ALERT.items())}


VIEWS = "/accounts/api/dashboard/views"
ROWS.update({
    # issue #5: analytics
    "Query.analytics": Row("analytics:read", gql(
        '{ analytics(input: {measures: ["core.revenue"], dateRange: {preset: "last_7_days"}})'
        " { __typename } }")),
    "Query.attribution": Row("analytics:read", gql(
        '{ attribution(input: {dateRange: {preset: "last_7_days"}}) { dimension } }')),
    "Query.cohortAnalysis": Row("analytics:read", gql(
        '{ cohortAnalysis(input: {dateRange: {preset: "last_30_days"}}) { granularity } }')),
    "Query.analyticsFilters": Row("analytics:read", gql("{ analyticsFilters { __typename } }")),
    "POST /db-mgmt/api/query": Row("analytics:read", rest("POST", "/db-mgmt/api/query", body(
        {"measures": [{"measure": "core.revenue"}], "dateRange": _RANGE, "granularity": "day"}))),
    "POST /db-mgmt/api/query-attribution": Row("analytics:read", rest(
        "POST", "/db-mgmt/api/query-attribution", body(
            {"dimension": "utm_source", "dateRange": _RANGE, "attributionModel": "first_click",
             "attributionWindow": 30}))),
    "POST /db-mgmt/api/query-cohort-analysis": Row("analytics:read", rest(
        "POST", "/db-mgmt/api/query-cohort-analysis", body(
            {"granularity": "month", "measures": ["orders.customers_cohort"],
             "dateRange": _RANGE}))),
    "GET /db-mgmt/api/filters": Row("analytics:read", rest("GET", "/db-mgmt/api/filters")),
    # issue #4: events
    "Mutation.trackEvents": Row("events:write", gql(
        'mutation { trackEvents(events: [{name: "page_view", path: "/", anonymousId: "a"}])'
        " { accepted } }")),
    "Query.eventStats": Row("analytics:read", gql("{ eventStats { total } }")),
    "POST /tr/api/events": Row("events:write", rest("POST", "/tr/api/events", body(
        {"name": "page_view", "path": "/", "anonymous_id": "a"}))),
    # issue #6: dashboard views
    "Query.dashboardViews": Row("dashboards:read", gql("{ dashboardViews { id } }")),
    "Query.dashboardView": Row("dashboards:read", gql(
        "query($id: ID!) { dashboardView(id: $id) { id } }", _ids(_view_id)), names_object=True),
    "Mutation.createDashboardView": Row("dashboards:write", gql(
        'mutation { createDashboardView(input: {name: "v"}) { id } }')),
    "Mutation.updateDashboardView": Row("dashboards:write", gql(
        'mutation($id: ID!) { updateDashboardView(id: $id, input: {name: "x"}) { id } }',
        _ids(_view_id)), names_object=True),
    "Mutation.deleteDashboardView": Row("dashboards:write", gql(
        "mutation($id: ID!) { deleteDashboardView(id: $id) }", _ids(_view_id)),
        names_object=True),
    "Mutation.copyDashboardView": Row("dashboards:write", gql(
        "mutation($id: ID!) { copyDashboardView(id: $id) { id } }", _ids(_view_id)),
        names_object=True),
    "Mutation.createDashboardViewFromPreset": Row("dashboards:write", gql(
        'mutation { createDashboardViewFromPreset(input: {name: "p", widgets: '
        '[{measure: "core.revenue"}]}) { id } }')),
    f"GET {VIEWS}": Row("dashboards:read", rest("GET", VIEWS)),
    f"POST {VIEWS}": Row("dashboards:write", rest("POST", VIEWS, body({"name": "v"}))),
    f"POST {VIEWS}/from-preset": Row("dashboards:write", rest(
        "POST", f"{VIEWS}/from-preset", body({"name": "p",
                                                "widgets": [{"measure": "core.revenue"}]}))),
    f"GET {VIEWS}/{{id}}": Row("dashboards:read", rest("GET", f"{VIEWS}/{{view_id}}"),
                               names_object=True),
    f"PATCH {VIEWS}/{{id}}": Row("dashboards:write", rest("PATCH", f"{VIEWS}/{{view_id}}",
                                                          body({"name": "x"})),
                                 names_object=True),
    f"DELETE {VIEWS}/{{id}}": Row("dashboards:write", rest("DELETE", f"{VIEWS}/{{view_id}}"),
                                  names_object=True),
    f"POST {VIEWS}/{{id}}/copy": Row("dashboards:write",
                                     rest("POST", f"{VIEWS}/{{view_id}}/copy"),
                                     names_object=True),
    # issue #6: alerts and webhooks
    "Query.alerts": Row("alerts:read", gql("{ alerts(limit: 10, offset: 0) { id } }")),
    "Query.alert": Row("alerts:read", gql("query($id: ID!) { alert(id: $id) { id } }",
                                          _ids(_alert_id)), names_object=True),
    "Query.webhooks": Row("alerts:read", gql("{ webhooks { id } }")),
    "Mutation.createAlert": Row("alerts:write", gql(
        "mutation($i: AlertInput!) { createAlert(input: $i) { id } }",
        lambda w: _wrap("i", _static(_ALERT)))),
    "Mutation.updateAlert": Row("alerts:write", gql(
        "mutation($id: ID!, $i: AlertInput!) { updateAlert(id: $id, input: $i) { id } }",
        _alert_update), names_object=True),
    "Mutation.deleteAlert": Row("alerts:write", gql(
        "mutation($id: ID!) { deleteAlert(id: $id) }", _ids(_alert_id)), names_object=True),
    "Mutation.createWebhook": Row("alerts:write", gql(
        'mutation { createWebhook(input: {name: "w", url: "https://example.test/h"}) { id } }')),
    "Mutation.updateWebhook": Row("alerts:write", gql(
        'mutation($id: ID!) { updateWebhook(id: $id, input: {name: "w2", '
        'url: "https://example.test/h2"}) { id } }', _ids(_webhook_id)), names_object=True),
    "Mutation.deleteWebhook": Row("alerts:write", gql(
        "mutation($id: ID!) { deleteWebhook(id: $id) }", _ids(_webhook_id)), names_object=True),
    "GET /api/v2/alerts": Row("alerts:read", rest("GET", "/api/v2/alerts")),
    "POST /api/v2/alerts": Row("alerts:write", rest("POST", "/api/v2/alerts", body(_ALERT))),
    "GET /api/v2/alerts/{id}": Row("alerts:read", rest("GET", "/api/v2/alerts/{alert_id}"),
                                   names_object=True),
    "PUT /api/v2/alerts/{id}": Row("alerts:write", rest("PUT", "/api/v2/alerts/{alert_id}",
                                                        body(_ALERT)), names_object=True),
    "DELETE /api/v2/alerts/{id}": Row("alerts:write",
                                      rest("DELETE", "/api/v2/alerts/{alert_id}"),
                                      names_object=True),
    "GET /api/v2/webhooks": Row("alerts:read", rest("GET", "/api/v2/webhooks")),
    "POST /api/v2/webhooks": Row("alerts:write", rest("POST", "/api/v2/webhooks", body(
        {"name": "w", "url": "https://example.test/h"}))),
    "PUT /api/v2/webhooks/{id}": Row("alerts:write", rest(
        "PUT", "/api/v2/webhooks/{webhook_id}", body({"name": "w2",
                                                      "url": "https://example.test/h2"})),
        names_object=True),
    "DELETE /api/v2/webhooks/{id}": Row("alerts:write",
                                        rest("DELETE", "/api/v2/webhooks/{webhook_id}"),
                                        names_object=True),
})

async def _wrap(name: str, value: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    return {name: await value}


def _enumerate() -> list[str]:
    """Every root field of the live schema and every REST route of the app."""
    schema = build_schema()._schema
    names = [f"Query.{n}" for n in schema.query_type.fields]
    if schema.mutation_type is not None:
        names += [f"Mutation.{n}" for n in schema.mutation_type.fields]
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", secret="x" * 32))
    for route in app.routes:
        assert isinstance(route, Route), route
        names += [f"{m} {route.path}" for m in sorted(route.methods or ()) if m != "HEAD"]
    return names


ENUMERATED = _enumerate()


def test_no_stale_rows() -> None:
    """A row for a field or route that no longer exists is an error too."""
    assert set(ROWS) - set(ENUMERATED) == set()


async def _send(h: Harness, sample: Sample, headers: dict[str, str]) -> httpx.Response:
    if sample.query is not None:
        return await h.client.post("/graphql", headers=headers,
                                   json={"query": sample.query, "variables": sample.variables})
    return await h.client.request(sample.method, sample.path, headers=headers, json=sample.json)


def _outcome(sample: Sample, response: httpx.Response) -> str | int:
    """GraphQL: the first error's code or "ok"; REST: the status."""
    if sample.query is None:
        return response.status_code
    assert response.status_code == 200, response.text
    errors = response.json().get("errors")
    return errors[0]["extensions"]["code"] if errors else "ok"


def _expect(sample: Sample, code: str, status: int) -> str | int:
    return code if sample.query is not None else status


async def _credential(h: Harness, w: World, row: Row, scopes: tuple[str, ...],
                      organization_id: str | None = None) -> dict[str, str]:
    if row.credential == "user":
        email = await w.user()
        h.client.cookies.clear()
        token = (await login(h, email)).json()["token"]
        h.client.cookies.clear()  # the header alone authenticates
        return {"authorization": f"Bearer {token}"}
    return {"x-api-key": await h.mint(*scopes, organization_id=organization_id,
                                      pixels=None if organization_id else "default")}


@pytest.mark.parametrize("name", ENUMERATED)
async def test_guard(name: str, harness: Harness) -> None:
    row = ROWS.get(name)
    assert row is not None, f"{name} has no row in the authorization matrix: add its guard"
    w = World(harness)
    sample = await row.sample(w)
    needed = () if row.scope in (PUBLIC, ANY) else (row.scope, *row.extra)
    ok = _expect(sample, "ok", 201 if (sample.method, sample.path) in _CREATED else 200)

    if row.scope == PUBLIC:
        assert _outcome(sample, await _send(harness, sample, {})) == ok
        return
    # 1. no credential
    assert _outcome(sample, await _send(harness, sample, {})) == _expect(
        sample, "AUTH_REQUIRED", 401)
    # 2. a key without the required scope
    if row.scope != ANY:
        filler = "events:write" if row.scope != "events:write" else "analytics:read"
        wrong = {"x-api-key": await harness.mint(filler, *row.extra)}
        assert _outcome(sample, await _send(harness, sample, wrong)) == _expect(
            sample, "INSUFFICIENT_SCOPE", 403)
    # 3. the right credential naming another organization's pixel
    other_org = await harness.create_organization("Other")
    other_pixel = await harness.create_pixel(other_org)
    right = await _credential(harness, w, row, needed or ("events:write",))
    denied = await _send(harness, sample, {**right, "x-pixel-id": other_pixel})
    assert _outcome(sample, denied) == _expect(sample, "ACCESS_DENIED", 401)
    # 4. a key of another organization never reaches this organization's objects
    if row.names_object:
        theirs = await _credential(harness, w, row, needed, organization_id=other_org)
        assert _outcome(sample, await _send(harness, sample, theirs)) == _expect(
            sample, "NOT_FOUND", 404)
    # 5. the right credential
    if row.credential == "user":
        right = await _credential(harness, w, row, needed)
    assert _outcome(sample, await _send(harness, sample, right)) == ok


_CREATED = {("POST", "/accounts/api/api-keys"), ("POST", "/accounts/api/users")}
