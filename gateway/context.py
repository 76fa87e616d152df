"""Per-process state and the per-request `Context` both surfaces hand to resolvers."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
from gateway.auth.revocation import KeySignal
from gateway.auth.throttle import LoginThrottle
from gateway.auth.usage import KeyUsage
from gateway.egress import EgressGuard
from gateway.errors import (
    AccessDenied,
    CsrfFailed,
    GatewayError,
    InsufficientScope,
    InvalidApiKey,
    RateLimited,
)
from gateway.secret_box import SecretBox
from gateway.settings import Settings
from gateway.storage import Database

if TYPE_CHECKING:
    from dataloaders import Loaders

__all__ = ["AppState", "Context", "Info", "ResolverInfo", "build_context"]


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
    schema: Any = None  # the strawberry schema (its caches, for tests and the benchmarks)
    audit: AuditLog | None = None
    key_usage: KeyUsage | None = None


@dataclass
class Context:
    """One request's context: settings, database, principal, loaders and clock."""

    request: Request
    response: Response | None
    state: AppState
    credentials: Credentials
    loaders: Loaders
    audit: AuditTrail
    _principal: Principal | None = None
    _auth_error: GatewayError | None = None
    _cookie_ops: list[Callable[[Response], None]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.state.settings

    @property
    def db(self) -> Database:
        return self.state.db

    @property
    def key_signal(self) -> KeySignal | None:
        """This process's key-change signal (key management announces through it)."""
        return self.state.key_cache.signal

    def now(self) -> datetime:
        return self.state.clock()

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
        self._cookie_ops.append(lambda r: r.set_cookie(
            SESSION_COOKIE, token, max_age=max_age, path="/", secure=secure, httponly=True,
            samesite="lax"))
        self._cookie_ops.append(lambda r: r.set_cookie(
            CSRF_COOKIE, csrf_token, max_age=max_age, path="/", secure=secure, httponly=False,
            samesite="lax"))
        self._apply_to_sub_response()

    def end_session(self) -> None:
        """Delete the login cookies."""
        def delete(response: Response) -> None:
            for name in (SESSION_COOKIE, CSRF_COOKIE):
                response.delete_cookie(name, path="/")

        self._cookie_ops.append(delete)
        self._apply_to_sub_response()

    def _apply_to_sub_response(self) -> None:
        if self.response is not None:  # GraphQL: Strawberry merges these headers
            self.apply_cookies(self.response)

    def apply_cookies(self, response: Response) -> None:
        """Write pending cookie changes onto `response` (REST routes call this)."""
        ops, self._cookie_ops = self._cookie_ops, []
        for op in ops:
            op(response)

    async def charge(self, units: int) -> None:
        """Charge `units` more against the caller's rate limit, beyond the one unit every
        request pays on entry. The cost budget calls this with the estimated cost of what a
        request asks for (a GraphQL document before execution, a REST analytics body before
        its query runs), so one request cannot hide a thousand aliased queries. Raises
        RateLimited past the limit. Interface for issue #12: the limiter implements it."""
        return None

    def note_error(self, error: GatewayError) -> None:
        """Audit a refused scope or pixel check (surfaces call this for every error they
        render; authentication failures were recorded when they happened). On GraphQL, a
        RateLimited error also sets `Retry-After` on the HTTP response."""
        if isinstance(error, RateLimited) and self.response is not None:
            self.response.headers["Retry-After"] = str(error.retry_after)
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


def _request_id(headers: dict[str, str]) -> str:
    sent = headers.get("x-request-id", "")
    return sent[:64] if sent.isprintable() and sent else os.urandom(12).hex()


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
    from dataloaders import Loaders

    state: AppState = request.app.state.gateway
    headers = _header_values(request)
    credentials = read_credentials(headers, request.cookies if "cookie" in headers else None)
    client = request.client
    trail = AuditTrail(state.audit, state.clock, ip=client.host if client else None,
                       user_agent=headers.get("user-agent"), request_id=_request_id(headers))
    # The loaders read the principal when a batch loads, after it is resolved below.
    ctx = Context(request=request, response=response, state=state, credentials=credentials,
                  loaders=Loaders(state.db, lambda: ctx.principal), audit=trail)
    if credentials.token is None and credentials.cookie_token is None:
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
            check_csrf(request.method, request.headers, request.cookies, _own_origin(request))
        ctx._principal = principal
        trail.record("auth.success", principal=principal)
    except GatewayError as exc:
        ctx._auth_error = exc
        denied = isinstance(exc, AccessDenied | CsrfFailed)
        trail.record("access.denied" if denied else "auth.failure",
                     "denied" if denied else "failure",
                     principal=principal,  # set when only the CSRF check failed
                     organization_id=audit_organization_of(exc),
                     label=None if principal else credential_label(credentials,
                                                                   state.settings.key_prefix),
                     detail=f"{exc.code}: {exc.message}")
    return ctx
