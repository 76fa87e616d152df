"""The adapter every REST surface is built from: one mechanism, copied by each surface.

A route is `surface.route(method, path, call, twin="Mutation.updateWebhook")`. `call(ctx,
request)` does three things and nothing else:

1. turns the request into the resolver's typed arguments: the strawberry input types GraphQL
   uses (`AnalyticsQueryInput`, `CreateApiKeyInput`, …), or, where the vendor's body is a
   document the service validates in the body's own terms (ClickStack alerts and webhooks,
   Upstack views), the typed draft of `gateway/drafts.py` that the GraphQL resolver builds
   from its input too;
2. calls that resolver, the function the GraphQL field `twin` calls, with
   `RestInfo(ctx)` as its `info` (both satisfy `gateway.context.ResolverInfo`, so mypy checks
   REST's calls like GraphQL's);
3. shapes the result (the GraphQL type) into the vendor's JSON.

Scope checks, validation and business rules stay in the service behind the resolver, so both
surfaces answer the same decision with the same error code. `gateway/rest` imports nothing from
services, storage or the engine (tests/test_layers.py); every route names its GraphQL `twin`
and every write route has a mutation (tests/rest/test_twins.py); a new route's scenario goes
through tests/support_parity.py, which runs it on both surfaces and compares answers and
error codes. Errors are `GatewayError`s rendered by the surface's one `render` function with
the status from its table, so a surface is a table, not a branch per handler.

Why direct calls, not stored GraphQL operations executed on the schema: measured with
benchmarks/catalog.py (`--rounds 1 --seconds 3`: wrk, loopback, one uvicorn worker, 32
connections; a shared 2-core machine, so compare within a run). On the measures catalog (55
measures, ~800 fields), req/s, three runs:

    direct resolver call                 1,007     674   1,329
    stored operation, result cache on    1,289     552   1,117
    stored operation, result cache off       -      54      98

With the GraphQL result cache answering (only the pure catalog can be cached) the two are
within this machine's noise. Every other route (alerts, views, keys, queries: per pixel, never
cached) pays full execution, and there the stored operation serves ~1/13 of the direct call:
graphql-core executes each field at a few µs, work the direct call skips without losing a
check, because the same resolver and service run either way. A stored operation would also
need each request as GraphQL variables and the answer picked back out of `data`: two more
shapes per route. So a route calls the resolver; the stored-operation variant lives on only in
benchmarks/_apps.py, to keep measuring the choice.

Contracts: every route declares, next to itself, what `GET /openapi.json` documents
(gateway/openapi.py): the `scope` it needs (checked against the one scope table here, and
against the guard itself by tests/test_authorization_matrix.py), the `response` body type
(a TypedDict that the route's body-shaping function returns, so mypy holds the function to
the document), the `body` and `query` types it reads, and its success `status`. The surface
declares its error body type (`error_body`, what its `render` returns) and the path
`prefixes` it owns (an unknown path under them answers in its dialect: gateway/http_errors.py).
Rate limits: a surface declares its policy (`rate_limit=RatePolicy(name, dialect)`: the row
of `Settings.rate_limits` it pays into and the headers it speaks, gateway/rate_policy.py), a
route may name another row of the same dialect (`rate_limit="databuddy.query"`). Every
request pays one unit right after authentication; every response after that carries the
dialect's headers, errors included, and past the limit the surface's own 429 body.

Bodies: `read_json` takes JSON sent as JSON (`application/json` or `application/*+json`, any
parameters), else 415 UNSUPPORTED_MEDIA_TYPE. `unknown_fields` lists the fields a body may
not carry, each as a field error naming it; the adapter hands them to the service (in the
draft, or as `body_errors`), which reports them after its scope check (a caller without the
scope gets 403, not a lesson in our field names), with its own field errors.

Costs: a route's analytics query is admitted to the request's cost ledger by its service
(gateway/cost.py) before it runs; the answer then carries `X-Query-Cost` (estimated ms of
server time charged), and a refusal (QUERY_TOO_COSTLY) `X-Query-Cost` and `X-Query-Budget`.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import orjson
from starlette._utils import get_route_path  # what Route.matches reads (root_path applied)
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth.scopes import SCOPES
from gateway.context import Context, build_context
from gateway.errors import (
    FieldError,
    GatewayError,
    InvalidInput,
    PayloadTooLarge,
    QueryTooCostly,
    RateLimited,
    UnsupportedMediaType,
)
from gateway.limits import parse_int
from gateway.rate_policy import RatePolicy
from gateway.request_id import request_id_of

__all__ = ["ANY_CREDENTIAL", "BUDGET_HEADER", "COST_HEADER", "Call", "Contract", "JSONBody",
           "RestInfo", "Surface", "SurfaceRoute", "error_headers", "is_json_media_type",
           "query_int", "read_json", "resolver_info", "retry_after_headers", "unknown_fields"]

log = logging.getLogger("gateway.rest")

Call = Callable[[Context, Request], Awaitable[Any]]

# `scope=` of a route any valid credential may call, whatever its scopes; `scope=None` is a
# route that needs no credential at all (login).
ANY_CREDENTIAL: Final = "*"


@dataclass(frozen=True)
class Contract:
    """What a route documents (`GET /openapi.json`): the scope it needs (a name of
    gateway/auth/scopes.py, `ANY_CREDENTIAL`, or None for none), its success `status` and
    body type, and the body and query parameter types it reads (TypedDicts; None: none)."""

    scope: str | None
    # Type expressions (a TypedDict, `A | list[A]`, `Page[AlertBody]`): Any, as mypy has
    # no type for "a type form".
    response: Any
    body: Any = None
    query: Any = None
    status: int = 200
    summary: str = ""


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


# The estimated server time (ms) a request was charged for (gateway/cost.py): on every
# answer that ran an analytics query, and on a QUERY_TOO_COSTLY refusal with the budget.
COST_HEADER = "X-Query-Cost"
BUDGET_HEADER = "X-Query-Budget"


def retry_after_headers(exc: GatewayError) -> dict[str, str]:
    """`Retry-After` (seconds) for a RateLimited error; the same on every surface."""
    return {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else {}


def error_headers(exc: GatewayError) -> dict[str, str]:
    """The headers an error carries on every surface: `Retry-After` for RATE_LIMITED,
    `X-Query-Cost` and `X-Query-Budget` (ms) for QUERY_TOO_COSTLY."""
    if isinstance(exc, QueryTooCostly):
        return {COST_HEADER: str(exc.cost_ms), BUDGET_HEADER: str(exc.budget_ms)}
    return retry_after_headers(exc)


class RestInfo(NamedTuple):
    """The `info` a REST route hands to the resolver it adapts: the request's Context, which
    is all a resolver may read of its info (`gateway.context.ResolverInfo`). Immutable (a
    tuple: one is made per resolver call)."""

    context: Context


def resolver_info(ctx: Context) -> RestInfo:
    """The `info` argument for calling a resolver from a route."""
    return RestInfo(ctx)


class Surface:
    """One product's REST dialect: statuses per error code, the error body, and its rate
    limit policy (the numbers' row and the headers).

    >>> upstack = Surface("upstack", render=render, error_body=UpstackError,
    ...                   prefixes=("/db-mgmt/",), rate_limit=RatePolicy("upstack", X_RATELIMIT))
    >>> routes = [upstack.route("GET", "/db-mgmt/api/measures", list_measures,
    ...                         twin="Query.measures", scope=ANY_CREDENTIAL,
    ...                         response=MeasuresBody)]
    """

    def __init__(self, name: str, *, render: Callable[[GatewayError, int], Any],
                 error_body: Any, rate_limit: RatePolicy, title: str = "",
                 prefixes: Sequence[str] = (), statuses: Mapping[str, int] | None = None,
                 headers: Callable[[GatewayError], Mapping[str, str]] | None = None) -> None:
        self.name = name
        self.title = title or name
        self.error_body = error_body  # the type `render` returns (gateway/openapi.py)
        self.prefixes = tuple(prefixes)  # paths this surface owns (gateway/http_errors.py)
        self.rate_limit = rate_limit
        self._render = render
        self._statuses = dict(statuses or {})
        self._headers = headers

    def status_of(self, exc: GatewayError | type[GatewayError]) -> int:
        return self._statuses.get(exc.code, exc.status)

    def error_response(self, exc: GatewayError) -> Response:
        status = self.status_of(exc)
        headers = error_headers(exc)
        if self._headers:
            headers.update(self._headers(exc))
        return JSONBody(self._render(exc, status), status_code=status, headers=headers)

    def route(self, method: str, path: str, call: Call, *, twin: str, scope: str | None,
              response: Any, body: Any = None, query: Any = None, status: int = 200,
              rate_limit: str | None = None) -> SurfaceRoute:
        """`twin` names the GraphQL field ("Query.alerts", "Mutation.updateWebhook") whose
        resolver `call` calls: the same operation, checks and errors on both surfaces. The
        rest is the route's `Contract` (module docstring); `call`'s docstring, if any, is
        its summary. `rate_limit` names this route's own row of `Settings.rate_limits`
        (default: the surface's). ValueError for a scope the scope table does not know."""
        if scope is not None and scope != ANY_CREDENTIAL and scope not in SCOPES:
            raise ValueError(f"{method} {path}: unknown scope {scope!r}")
        contract = Contract(scope=scope, response=response, body=body, query=query,
                            status=status, summary=(call.__doc__ or "").strip())
        surface = self
        policy = self.rate_limit if rate_limit is None else self.rate_limit.named(rate_limit)

        async def endpoint(request: Request) -> Response:
            ctx: Context | None = None
            try:
                ctx = await build_context(request)
                await ctx.enter(policy)
                body = await call(ctx, request)
            except GatewayError as exc:
                response = surface.error_response(exc)
                if ctx is not None:
                    ctx.note_error(exc)
                    ctx.apply_rate_headers(response)
                return response
            except ClientDisconnect:
                raise  # nobody to answer; BodyLimitMiddleware logs it on one line
            except Exception:  # one record, naming the id the response's X-Request-Id has
                request_id = request_id_of(request.scope)
                log.exception("unhandled error on %s %s (request %s)", method, path,
                              request_id, extra={"request_id": request_id})
                response = surface.error_response(GatewayError())
                if ctx is not None:
                    ctx.apply_rate_headers(response)
                return response
            response = body if isinstance(body, Response) else JSONBody(body, status_code=status)
            ctx.apply_cookies(response)
            ctx.apply_rate_headers(response)
            if ctx.charged_ms:
                response.headers[COST_HEADER] = str(ctx.charged_ms)
            return response

        endpoint.__name__ = f"{self.name}_{method.lower()}_{path.strip('/').replace('/', '_')}"
        return SurfaceRoute(path, endpoint, methods=[method], surface=self, twin=twin,
                            contract=contract, rate_limit=policy)


class SurfaceRoute(Route):
    """A route that knows its surface, so an error raised before routing (a body refused by
    the middleware) can still answer in the dialect of the route addressed, its GraphQL
    twin (tests check each write has one), its `Contract` (the OpenAPI document) and its rate
    limit policy (`create_app` checks each has numbers)."""

    def __init__(self, path: str, endpoint: Callable[[Request], Awaitable[Response]], *,
                 methods: list[str], surface: Surface, contract: Contract,
                 twin: str | None = None, rate_limit: RatePolicy | None = None) -> None:
        super().__init__(path, endpoint, methods=methods)
        self.app = _serve(endpoint)
        self.surface = surface
        self.twin = twin
        self.contract = contract
        self.rate_limit = rate_limit or surface.rate_limit
        self._static = not self.param_convertors  # no `{param}`: the path is the pattern

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """Starlette's answer, by string comparison for a path without parameters: its
        regular expression, the parameter dict and their copies cost ~0.5 µs a route, and a
        request tries each route ahead of its own (dozens, for the later REST routes)."""
        if not self._static or scope["type"] != "http":
            return super().matches(scope)
        if get_route_path(scope) != self.path:
            return Match.NONE, {}
        child = {"endpoint": self.endpoint, "path_params": dict(scope.get("path_params", {}))}
        if self.methods and scope["method"] not in self.methods:
            return Match.PARTIAL, child
        return Match.FULL, child


def _serve(endpoint: Callable[[Request], Awaitable[Response]]) -> ASGIApp:
    """A surface endpoint as an ASGI app: Starlette's `request_response` without its
    exception-handler wrapper (two closures per request and one more call per message sent,
    ~1 µs on the catalog route). The wrapper has nothing to do here: an endpoint answers
    every error itself, and the one exception it lets through (`ClientDisconnect`) has no
    handler."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await endpoint(Request(scope, receive, send))
        await response(scope, receive, send)

    return app


def is_json_media_type(content_type: str | None) -> bool:
    """`application/json` or `application/<anything>+json`, with any parameters (charset)."""
    if content_type is None:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json"))


def query_int(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    """The query parameter `name` as an integer in [low, high], `default` when absent.

    Every REST paging parameter goes through here: ASCII digits only (`int()` and
    `str.isdigit` take '²' and other Unicode digits), bounded before it reaches SQL, a
    negative refused rather than clamped; InvalidInput at `name` otherwise."""
    raw = request.query_params.get(name)
    return default if raw is None else parse_int(raw, name, low=low, high=high)


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request body as JSON. Raises PayloadTooLarge past `max_bytes`,
    UnsupportedMediaType unless the Content-Type says JSON (a missing one included: every
    documented example sends it, and a typeless or text/plain body is what a browser can send
    cross-site without a preflight), InvalidInput when missing or malformed."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"Request body exceeds {max_bytes} bytes")
    content_type = request.headers.get("content-type")
    if not is_json_media_type(content_type):
        sent = "none was sent" if content_type is None else f"got {content_type[:100]!r}"
        raise UnsupportedMediaType(f"Content-Type must be application/json ({sent})")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"Request body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:
        raise InvalidInput.field("request body is required", "body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _loads_wide(raw, exc)


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:20]}... is out of range")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads_wide(raw: bytes, exc: orjson.JSONDecodeError) -> Any:
    """Valid JSON that orjson cannot represent (an integer past 64 bits or a float past
    double range) is still valid JSON: parse it with the standard library, whose integers are
    unbounded, so the one field holding the number is refused by the field's own range check
    and the rest of a batch survives (issue #10). Anything else stays malformed."""
    try:
        return json.loads(raw, parse_float=_finite, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as wide:
        raise InvalidInput.field(f"malformed JSON: {exc}", "body") from wide


def unknown_fields(body: Mapping[str, Any], allowed: Collection[str], *,
                   ignored: Collection[str] = (),
                   where: tuple[str | int, ...] = ()) -> list[FieldError]:
    """One field error per key of `body` that is neither `allowed` nor `ignored` (documented
    fields a client may send back, e.g. the read-only `createdAt` of an echoed response; the
    caller does not read them). Paths are `where + (key,)`; long keys are cut to 100."""
    names = ", ".join(sorted(allowed))
    return [FieldError(f"unknown field {k[:100]!r} (allowed: {names})", (*where, k[:100]))
            for k in body if k not in allowed and k not in ignored]
