"""One scenario, two surfaces: run it through GraphQL and through REST, compare the answers.

A REST route calls the resolver its GraphQL twin calls (gateway/rest/base.py), so the same
request must give the same answer and the same error on both. A `Scenario` names both forms of
one request and how to reduce each answer to a comparable value; `run_both` sends them with the
same credential and returns the two `Outcome`s; `assert_parity` compares them:

- success on both, with equal values (`pick_graphql(data)` == `pick_rest(json)`);
- or the same error: GraphQL's `extensions.code` is the code whose status the route's surface
  answers (its own table, `Surface.status_of`), and the field errors name the same paths,
  where the vendor's body shows them (Upstack `errors[].key`, ClickStack's one message).

    outcome = await run_both(h, key, Scenario(
        "measures", graphql="{ measures { key } }", pick_graphql=lambda d: [...],
        method="GET", path="/db-mgmt/api/measures", pick_rest=lambda b: [...]))
    assert_parity(*outcome)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import Match

from gateway import errors
from gateway.rest.base import SurfaceRoute
from tests.support import Harness

__all__ = ["Outcome", "Scenario", "assert_parity", "run_both"]


@dataclass(frozen=True)
class Scenario:
    """One request in both spellings. `pick_*` reduce a success to what must be equal."""

    name: str
    graphql: str
    method: str
    path: str
    pick_graphql: Callable[[dict[str, Any]], Any] = lambda data: data
    pick_rest: Callable[[Any], Any] = lambda body: body
    variables: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    rest_headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What one surface answered: `code` "ok" or the gateway error code (REST: as its status
    maps back, see `assert_parity`), the picked value on success, the field-error keys."""

    surface: str
    status: int
    code: str
    value: Any = None
    fields: tuple[str, ...] = ()
    raw: Any = None


def _route(h: Harness, method: str, path: str) -> SurfaceRoute:
    app = h.client._transport.app  # type: ignore[attr-defined]  # httpx's ASGITransport
    for route in app.router.routes:
        if isinstance(route, SurfaceRoute):
            match, _ = route.matches({"type": "http", "method": method,
                                          "path": path.split("?", 1)[0]})
            if match is Match.FULL:
                return route
    raise AssertionError(f"no REST route for {method} {path}")


def _rest_fields(body: Any) -> tuple[str, ...]:
    if isinstance(body, dict) and isinstance(body.get("errors"), list):  # Upstack
        return tuple(e["key"] for e in body["errors"])
    message = body.get("message", "") if isinstance(body, dict) else ""
    if message.startswith("Body validation failed: "):  # ClickStack: "key: message; …"
        parts = message.removeprefix("Body validation failed: ").split("; ")
        return tuple(p.split(": ", 1)[0] for p in parts)
    return ()


async def run_both(h: Harness, key: str, s: Scenario, *,
                   pixel: str | None = None) -> tuple[Outcome, Outcome]:
    """The scenario on GraphQL, then on REST, with the same key (and `x-pixel-id`)."""
    gql = await h.graphql(s.graphql, s.variables, key=key, pixel=pixel)
    if gql.get("errors"):
        first = gql["errors"][0]
        details = first.get("extensions", {}).get("details") or []
        graphql = Outcome("graphql", 200, first.get("extensions", {}).get("code", "?"),
                          fields=tuple(d["key"] for d in details), raw=gql)
    else:
        graphql = Outcome("graphql", 200, "ok", s.pick_graphql(gql["data"]), raw=gql)
    headers = {**h.headers(key, pixel), **s.rest_headers}
    response = await h.client.request(s.method, s.path, headers=headers,
                                      json=s.body if s.body is not None else None)
    body = response.json() if response.content else None
    if response.status_code < 300:
        rest = Outcome("rest", response.status_code, "ok", s.pick_rest(body), raw=body)
    else:
        rest = Outcome("rest", response.status_code, "error", fields=_rest_fields(body),
                       raw=body)
    route = _route(h, s.method, s.path)
    return graphql, _with_code(rest, route, graphql.code)


def _error_class(code: str) -> type[errors.GatewayError]:
    found = [c for c in _subclasses(errors.GatewayError) if c.code == code]
    assert found, f"no GatewayError has code {code!r}"
    return found[0]


def _subclasses(cls: type[errors.GatewayError]) -> list[type[errors.GatewayError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_subclasses(sub))
    return out


def _with_code(rest: Outcome, route: SurfaceRoute, graphql_code: str) -> Outcome:
    """REST bodies carry no gateway code (the vendors' do not): the REST answer has GraphQL's
    code when its status is the one the route's surface gives that code."""
    if rest.code == "ok" or graphql_code == "ok":
        return rest
    expected = route.surface.status_of(_error_class(graphql_code).__new__(
        _error_class(graphql_code)))
    code = graphql_code if rest.status == expected else f"status {rest.status}"
    return Outcome(rest.surface, rest.status, code, rest.value, rest.fields, rest.raw)


def _normal(key: str) -> str:
    """Field keys as both surfaces spell them: GraphQL may camelCase what REST snake_cases."""
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)


def assert_parity(graphql: Outcome, rest: Outcome, *, fields: bool = True) -> None:
    """Same outcome on both surfaces: equal values, or the same code (and field paths, when
    the vendor's body shows them; `fields=False` where a body spells paths its own way)."""
    assert graphql.code == rest.code, (graphql, rest)
    if graphql.code == "ok":
        assert graphql.value == rest.value, (graphql.value, rest.value)
    elif fields and rest.fields:
        assert [_normal(k) for k in graphql.fields] == [_normal(k) for k in rest.fields], (
            graphql.fields, rest.fields)
