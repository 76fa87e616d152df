"""Per-process state and the per-request `Context` both surfaces hand to resolvers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import strawberry
from starlette.requests import Request
from starlette.responses import Response

from gateway.audit import AuditLog, AuditTrail
from gateway.auth.authenticate import (
    SESSION_COOKIE,
    Authenticator,
    Credentials,
    KeyCache,
    audit_organization_of,
    credential_label,
    read_credentials,
)
from gateway.auth.csrf import CSRF_COOKIE, check_csrf
from gateway.auth.principal import Principal
from gateway.auth.throttle import LoginThrottle
from gateway.auth.usage import KeyUsage
from gateway.cost import CostLedger
from gateway.egress import EgressGuard
from gateway.errors import (
    AccessDenied,
    CsrfFailed,
    GatewayError,
    InsufficientScope,
    InvalidApiKey,
    InvalidSession,
    RateLimited,
)
from gateway.rate_policy import AuthFailures, RateMeter, RatePolicy, Rates
from gateway.request_id import request_id_of
from gateway.secret_box import SecretBox
from gateway.settings import Settings
from gateway.storage import Database

if TYPE_CHECKING:
    from dataloaders import Loaders
    from gateway.metrics import Metrics

# Where build_context leaves the request's Credentials in the ASGI scope.
CREDENTIALS_KEY = "gateway.credentials"

__all__ = ["CREDENTIALS_KEY", "AppState", "Context", "Info", "ResolverInfo", "build_context"]


@dataclass
class AppState:
    """What lives as long as the process: built by the app's lifespan."""

    settings: Settings
    db: Database
    authenticators: Sequence[Authenticator]
    key_cache: KeyCache
    clock: Callable[[], datetime]
    login_throttle: LoginThrottle
    # Checks every outbound target (webhook URLs) and seals webhook secrets.
    egress: EgressGuard
    webhook_secrets: SecretBox
    # The rate limiter with its numbers, and the key-guessing throttle (gateway/rate_policy.py).
    rates: Rates
    auth_failures: AuthFailures
    schema: Any = None  # the strawberry schema (its caches, for tests and the benchmarks)
    audit: AuditLog | None = None
    key_usage: KeyUsage | None = None
    metrics: Metrics | None = None  # None: GATEWAY_METRICS=0


@dataclass(slots=True)
class Context:
    """One request's context: settings, database, principal, loaders and clock.

    Made for every request, so nothing in it is built before it is needed: the loaders and
    `extra` on first use, the pending cookie changes as a tuple (no list per request)."""

    request: Request
    response: Response | None
    state: AppState
    credentials: Credentials
    audit: AuditTrail
    _principal: Principal | None = None
    _loaders: Loaders | None = None
    _auth_error: GatewayError | None = None
    _cookie_ops: tuple[Callable[[Response], None], ...] = ()
    _extra: dict[str, Any] | None = None
    _cost: CostLedger | None = None
    # This request's account with the rate limiter (None: not limited), set by `enter`.
    rate: RateMeter | None = None
    _rate_written: bool = False

    @property
    def extra(self) -> dict[str, Any]:
        """Per-request scratch space for surfaces and extensions."""
        if self._extra is None:
            self._extra = {}
        return self._extra

    @property
    def cost(self) -> CostLedger:
        """What this request may spend and has been charged for (gateway/cost.py), made on
        first use (by a costed field or query): the ledger charges the limiter through
        `self.charge`, a cycle the catalog route need not make (see `loaders`)."""
        if self._cost is None:
            self._cost = CostLedger(self.state.settings.query_cost_budget_ms,
                                    charge=self.charge)
        return self._cost

    @property
    def charged_ms(self) -> int:
        """The request's cost as charged so far (0 when nothing was costed)."""
        return 0 if self._cost is None else self._cost.charged_ms

    @property
    def loaders(self) -> Loaders:
        """The request's DataLoaders, made on first use. They read the principal when a batch
        loads (after `build_context` resolved it) through a closure over this context: that
        cycle exists only once a request reads a loader, so a route that reads none (most REST
        routes) leaves nothing for the cyclic garbage collector; a cycle per request kept its
        whole Request and context alive until a collection, which cost the catalog route
        more than building them (docs/benchmarks.md)."""
        if self._loaders is None:
            from dataloaders import Loaders

            self._loaders = Loaders(self.state.db, lambda: self.principal, cost=self.cost)
        return self._loaders

    @property
    def settings(self) -> Settings:
        return self.state.settings

    @property
    def db(self) -> Database:
        return self.state.db

    def now(self) -> datetime:
        return self.state.clock()

    @property
    def request_id(self) -> str | None:
        """The request's id, as the `X-Request-Id` response header and the audit log carry it
        (what a user quotes, and what the log record of an unexpected error names)."""
        return self.audit.request_id

    @property
    def client_host(self) -> str | None:
        """The client's address as the server saw it (behind a proxy: what the server's
        proxy-header handling made of X-Forwarded-For); None on a Unix socket."""
        client = self.request.client
        return client.host if client else None

    @property
    def principal(self) -> Principal | None:
        """The caller, None when no credential was sent; raises the credential's error when
        one was sent but is bad (a bad key never degrades to anonymous)."""
        if self._auth_error is not None:
            raise self._auth_error
        return self._principal

    def start_session(self, token: str, csrf_token: str, max_age: int) -> None:
        """Set the login cookies on this request's response: the token (HttpOnly, so page
        scripts cannot read it) and the CSRF token (readable, to echo in `x-csrf-token`)."""
        secure = self.request.url.scheme == "https"
        self._cookie_ops += (
            lambda r: r.set_cookie(SESSION_COOKIE, token, max_age=max_age, path="/",
                                   secure=secure, httponly=True, samesite="lax"),
            lambda r: r.set_cookie(CSRF_COOKIE, csrf_token, max_age=max_age, path="/",
                                   secure=secure, httponly=False, samesite="lax"))
        self._apply_to_sub_response()

    def end_session(self) -> None:
        """Delete the login cookies."""
        def delete(response: Response) -> None:
            for name in (SESSION_COOKIE, CSRF_COOKIE):
                response.delete_cookie(name, path="/")

        self._cookie_ops += (delete,)
        self._apply_to_sub_response()

    def _apply_to_sub_response(self) -> None:
        if self.response is not None:  # GraphQL: Strawberry merges these headers
            self.apply_cookies(self.response)

    def apply_cookies(self, response: Response) -> None:
        """Write pending cookie changes onto `response` (REST routes call this)."""
        ops, self._cookie_ops = self._cookie_ops, ()
        for op in ops:
            op(response)

    async def enter(self, policy: RatePolicy) -> None:
        """Pay the one unit every request pays, into the caller's bucket of `policy`
        (gateway/rate_policy.py: per credential and pixel by its tier, or per address when
        anonymous); RateLimited past the limit, and at once when the address is refused for
        failed authentications. A bad credential pays nothing here (it is answered 401 and
        counted as a failure). Surfaces call this right after `build_context`."""
        error = self._auth_error
        if error is not None:
            if isinstance(error, RateLimited):
                raise error
            return
        meter = self.state.rates.meter(policy, self._principal, self.client_host)
        if meter is None:
            return
        self.rate = meter
        try:
            await meter.take(1)
        finally:
            self._write_rate_headers()

    async def charge(self, units: int) -> None:
        """Charge `units` more against the caller's rate limit, beyond the one unit every
        request pays on entry. The cost budget calls this with the estimated cost of what a
        request asks for (a GraphQL document before execution, a REST analytics body before
        its query runs), so one request cannot hide a thousand aliased queries. Raises
        RateLimited past the limit (all or nothing: a refused charge spends nothing); the
        response's rate-limit headers show the state after the last charge. On GraphQL a
        refusal also makes the response a 429 (the operation is not executed: call this
        before execution). Nothing happens for units <= 0 or a request that is not limited."""
        meter = self.rate
        if units <= 0 or meter is None:
            return
        try:
            await meter.take(units)
        except RateLimited as exc:
            if self.response is not None:
                self.response.status_code = exc.status
                self.response.headers["Retry-After"] = str(exc.retry_after)
            raise
        finally:
            self._write_rate_headers()

    def _write_rate_headers(self) -> None:
        """GraphQL: onto the sub-response Strawberry merges, replacing what an earlier
        decision of this request wrote."""
        response, meter = self.response, self.rate
        if response is None or meter is None:
            return
        raw = response.raw_headers
        if self._rate_written:
            names = meter.dialect.names
            raw[:] = [h for h in raw if h[0] not in names]
        raw.extend(meter.headers())
        self._rate_written = True

    def apply_rate_headers(self, response: Response) -> None:
        """Add the rate-limit headers of the last decision to a REST response."""
        if self.rate is not None:
            response.raw_headers.extend(self.rate.headers())

    def note_error(self, error: GatewayError) -> None:
        """Audit a refused scope or pixel check (surfaces call this for every error they
        render; authentication failures were recorded when they happened). On GraphQL, a
        RateLimited error also sets `Retry-After` on the HTTP response, and counts in the
        metrics (a REST refusal counts by its 429 status, gateway/metrics.py)."""
        if isinstance(error, RateLimited) and self.response is not None:
            self.response.headers["Retry-After"] = str(error.retry_after)
            if self.state.metrics is not None:
                self.state.metrics.observe_graphql_rate_limited()
        if error is self._auth_error:
            return
        if isinstance(error, InsufficientScope | AccessDenied | CsrfFailed):
            self.audit.record("access.denied", "denied", principal=self._principal,
                              detail=f"{error.code}: {error.message}")


class ResolverInfo(Protocol):
    """All a resolver may read of its `info`: the request's Context.

    strawberry's Info satisfies it (GraphQL), and so does `gateway.rest.base.RestInfo` (a REST
    route calling the same resolver), so mypy checks both callers against one signature, and a
    resolver that reached for more of strawberry's Info (selected fields, path), which no REST
    route could give it, would not type-check."""

    @property
    def context(self) -> Context: ...


if TYPE_CHECKING:
    Info: TypeAlias = ResolverInfo
else:
    # At run time the annotation must be strawberry's own Info: strawberry finds the
    # parameter to inject by that type.
    Info = strawberry.Info[Context, None]


def _header_values(request: Request) -> dict[str, str]:
    """The request's headers by (lower-case) name, the first of a repeated one, as
    `request.headers.get` answers: read once, since each `get` scans every header and a
    request context asks for six (the catalog route, benchmarks/catalog.py)."""
    found: dict[str, str] = {}
    for name, value in request.scope["headers"]:
        found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


async def build_context(request: Request, response: Response | None = None) -> Context:
    """Resolve the caller once: run the authenticators, apply the CSRF rule to cookie
    credentials, and audit the attempt (success or failure) without waiting on any write."""
    state: AppState = request.app.state.gateway
    headers = _header_values(request)
    credentials = read_credentials(headers, request.cookies if "cookie" in headers else None)
    # Read once: the access log (gateway/observe.py) labels the request from these.
    request.scope[CREDENTIALS_KEY] = credentials
    client = request.scope.get("client")  # (host, port); `request.client` builds an Address
    # Positional, since keywords cost a third more on every request: the trail's (log, clock,
    # ip, user_agent, request_id) and the context's (request, response, state, credentials,
    # audit).
    trail = AuditTrail(state.audit, state.clock, client[0] if client else None,
                       headers.get("user-agent"), request_id_of(request.scope))
    ctx = Context(request, response, state, credentials, trail)
    if credentials.token is None and credentials.cookie_token is None:
        return ctx
    if credentials.token is not None:  # key guessing: refused before any look-up
        refused = state.auth_failures.refusal(ctx.client_host)
        if refused is not None:
            ctx._auth_error = refused
            return ctx
    principal: Principal | None = None
    try:
        for authenticator in state.authenticators:
            principal = await authenticator.authenticate(credentials)
            if principal is not None:
                break
        if principal is None:
            if credentials.token is not None:
                raise InvalidApiKey("Invalid API key")
            return ctx  # an unknown cookie alone is ignored, like any cookie we do not own
        if credentials.token is None:  # authenticated by the session cookie
            check_csrf(request.method, request.headers, request.cookies, _own_origin(request),
                       trusted=state.settings.cors_origins)
        ctx._principal = principal
        trail.record("auth.success", principal=principal)
    except GatewayError as exc:
        ctx._auth_error = exc
        if credentials.token is not None and isinstance(
                exc, InvalidApiKey | InvalidSession | AccessDenied):
            refused = await state.auth_failures.failed(ctx.client_host)
            if refused is not None:  # one failure too many: answered as the refusal
                ctx._auth_error = refused
        denied = isinstance(exc, AccessDenied | CsrfFailed)
        trail.record("access.denied" if denied else "auth.failure",
                     "denied" if denied else "failure",
                     principal=principal,  # set when only the CSRF check failed
                     organization_id=audit_organization_of(exc),
                     label=None if principal else credential_label(credentials,
                                                                   state.settings.key_prefix),
                     detail=f"{exc.code}: {exc.message}")
    return ctx
