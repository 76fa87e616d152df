"""`GET /openapi.json`: the OpenAPI 3.1 document of every REST route, made from the routes.

Nothing here is written per route. The document is built from the route table the app
serves: every `SurfaceRoute` (gateway/rest/base.py) and the `Contract` it declares next to
itself (scope, body, query and response types), and every surface's error body type, so a
new route or a new surface is documented by being served (tests/test_openapi.py fails when
a served route is missing). The types are TypedDicts (the response types are what the
routes' body functions return, checked by mypy) and the enums GraphQL uses; pydantic turns
them into JSON Schema (draft 2020-12, which OpenAPI 3.1 uses), shared under
`components/schemas`.

Per operation: `security` names the credential schemes with the route's scope (OpenAPI 3.1
lets any scheme carry required scopes), `x-scope` spells it, `x-graphql-twin` names the
GraphQL field with the same resolver; responses are the success body and one entry per
error status the surface can answer, with that surface's error body and the codes behind
the status. The document is built once per app, on first request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from gateway import __version__
from gateway.auth.authenticate import SESSION_COOKIE
from gateway.auth.csrf import CSRF_HEADER
from gateway.auth.scopes import SCOPES
from gateway.errors import GatewayError, MethodNotAllowed, RateLimited, all_error_classes
from gateway.rest.base import ANY_CREDENTIAL, Surface, SurfaceRoute

__all__ = ["OpenAPIDocument", "build_openapi"]

_PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
_CREDENTIALS = ("apiKey", "bearer", "session")
_SECURITY_SCHEMES = {
    "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key",
               "description": "An API key (Upstack's header)."},
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "An API key, or a login token (ClickStack's header)."},
    "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                "description": "The session cookie set by POST /accounts/api/auth/login; "
                               f"writes also send the `{CSRF_HEADER}` header."},
    "pixelId": {"type": "apiKey", "in": "header", "name": "x-pixel-id",
                "description": "The pixel (site) the request acts on; needed when the "
                               "credential reaches more than one pixel."},
}


class _Schemas(GenerateJsonSchema):
    """pydantic's generator without the per-field `title`s it derives from field names
    (noise in a document whose field names are the wire names)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _security(scope: str | None) -> list[dict[str, list[str]]]:
    if scope is None:
        return []
    scopes = [] if scope == ANY_CREDENTIAL else [scope]
    return [entry for name in _CREDENTIALS
            for entry in ({name: scopes}, {name: scopes, "pixelId": []})]


def _scope_text(scope: str | None) -> str:
    if scope is None:
        return "No credential needed."
    if scope == ANY_CREDENTIAL:
        return "Any valid credential, whatever its scopes."
    return f"Scope `{scope}`: {SCOPES[scope][0]}."


def _error_statuses(surface: Surface) -> dict[int, list[str]]:
    """status -> the codes this surface answers with it."""
    found: dict[int, list[str]] = {}
    classes: list[type[GatewayError]] = [GatewayError, *all_error_classes()]
    for cls in classes:
        if cls is MethodNotAllowed:  # answers a method no operation documents
            continue
        found.setdefault(surface.status_of(cls), []).append(cls.code)
    return {status: sorted(codes) for status, codes in sorted(found.items())}


def _query_parameters(query: Any) -> list[dict[str, Any]]:
    if query is None:
        return []
    schema = TypeAdapter(query).json_schema(schema_generator=_Schemas)
    required = set(schema.get("required", ()))
    return [{"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in schema.get("properties", {}).items()]


def _operation_ids(routes: Sequence[SurfaceRoute]) -> list[str]:
    seen: dict[str, int] = {}
    ids = []
    for route in routes:
        field = (route.twin or route.name).rpartition(".")[2]
        base = f"{route.surface.name}_{field}"
        seen[base] = seen.get(base, 0) + 1
        ids.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    return ids


def build_openapi(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the `SurfaceRoute`s among `routes`."""
    served = [r for r in routes if isinstance(r, SurfaceRoute)]
    surfaces = {r.surface.name: r.surface for r in served}
    inputs: list[tuple[str, Any, TypeAdapter[Any]]] = []
    for i, route in enumerate(served):
        inputs.append((f"response:{i}", "serialization", TypeAdapter(route.contract.response)))
        if route.contract.body is not None:
            inputs.append((f"body:{i}", "validation", TypeAdapter(route.contract.body)))
    for name, surface in surfaces.items():
        inputs.append((f"error:{name}", "serialization", TypeAdapter(surface.error_body)))
    made, defs = TypeAdapter.json_schemas(inputs, ref_template="#/components/schemas/{model}",
                                          schema_generator=_Schemas)
    schema = {key: value for (key, _), value in made.items()}

    errors: dict[str, Any] = {}  # components/responses: one per surface and status
    for name, surface in surfaces.items():
        for status, codes in _error_statuses(surface).items():
            entry: dict[str, Any] = {
                "description": "Error codes: " + ", ".join(f"`{c}`" for c in codes),
                "content": {"application/json": {"schema": schema[f"error:{name}"]}}}
            if RateLimited.code in codes:
                entry["headers"] = {"Retry-After": {"schema": {"type": "integer"},
                                                    "description": "Seconds to wait"}}
            errors[f"{name}_{status}"] = entry

    paths: dict[str, dict[str, Any]] = {}
    for i, (route, operation_id) in enumerate(zip(served, _operation_ids(served), strict=True)):
        contract, surface = route.contract, route.surface
        responses: dict[str, Any] = {str(contract.status): {
            "description": "Success",
            "content": {"application/json": {"schema": schema[f"response:{i}"]}}}}
        for status in _error_statuses(surface):
            responses[str(status)] = {"$ref": f"#/components/responses/{surface.name}_{status}"}
        path_params = [{"name": name, "in": "path", "required": True,
                        "schema": {"type": "string"}}
                       for name in _PATH_PARAM.findall(route.path)]
        operation: dict[str, Any] = {
            "operationId": operation_id,
            "tags": [surface.title],
            "summary": contract.summary or operation_id,
            "description": f"{_scope_text(contract.scope)} GraphQL twin: `{route.twin}`.",
            "x-scope": contract.scope,
            "x-graphql-twin": route.twin,
            "security": _security(contract.scope),
            "parameters": path_params + _query_parameters(contract.query),
            "responses": responses,
        }
        if contract.body is not None:
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": schema[f"body:{i}"]}}}
        for method in sorted((route.methods or set()) - {"HEAD"}):
            paths.setdefault(route.path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "the gateway: REST surfaces", "version": __version__,
                 "description": "The REST paths of the products this gateway speaks, over "
                                "the same resolvers as its GraphQL API (`/graphql`). "
                                "Browsable at `/docs`."},
        "tags": [{"name": s.title} for s in surfaces.values()],
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {}), "responses": errors,
                       "securitySchemes": _SECURITY_SCHEMES},
    }


class OpenAPIDocument:
    """The `GET /openapi.json` endpoint over one app's routes; built and encoded once."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._routes = routes
        self._encoded: bytes | None = None

    def encoded(self) -> bytes:
        if self._encoded is None:
            self._encoded = orjson.dumps(build_openapi(self._routes))
        return self._encoded

    async def endpoint(self, request: Request) -> Response:
        return Response(self.encoded(), media_type="application/json")
