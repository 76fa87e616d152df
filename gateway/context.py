"""Per-process state and the per-request `Context` both surfaces hand to resolvers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import strawberry
from starlette.requests import Request
from starlette.responses import Response

from gateway.auth.authenticate import Authenticator, Credentials, KeyCache, read_credentials
from gateway.auth.principal import Principal
from gateway.errors import GatewayError, InvalidApiKey
from gateway.settings import Settings
from gateway.storage import Database

if TYPE_CHECKING:
    from dataloaders import Loaders

__all__ = ["AppState", "Context", "DirectInfo", "Info", "build_context"]


@dataclass
class AppState:
    """What lives as long as the process: built by the app's lifespan."""

    settings: Settings
    db: Database
    authenticators: Sequence[Authenticator]
    key_cache: KeyCache
    clock: Callable[[], datetime]
    schema: Any = None  # the strawberry schema, for REST routes that run stored operations


@dataclass
class Context:
    """One request's context: settings, database, principal, loaders and clock."""

    request: Request
    response: Response | None
    state: AppState
    credentials: Credentials
    loaders: Loaders
    _principal: Principal | None = None
    _auth_error: GatewayError | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.state.settings

    @property
    def db(self) -> Database:
        return self.state.db

    def now(self) -> datetime:
        return self.state.clock()

    @property
    def principal(self) -> Principal | None:
        """The caller, None when no credential was sent; raises the credential's error when
        one was sent but is bad (a bad key never degrades to anonymous)."""
        if self._auth_error is not None:
            raise self._auth_error
        return self._principal


@dataclass(frozen=True)
class DirectInfo:
    """The part of `strawberry.Info` our resolvers use, for REST routes that call a resolver
    directly instead of executing a document."""

    context: Context


Info = strawberry.Info[Context, None]


async def build_context(request: Request, response: Response | None = None) -> Context:
    from dataloaders import Loaders

    state: AppState = request.app.state.gateway
    credentials = read_credentials(request.headers, request.cookies)
    ctx = Context(request=request, response=response, state=state, credentials=credentials,
                  loaders=Loaders(state.db))
    if credentials.token is None and credentials.cookie_token is None:
        return ctx
    try:
        for authenticator in state.authenticators:
            principal = await authenticator.authenticate(credentials)
            if principal is not None:
                ctx._principal = principal
                return ctx
        if credentials.token is not None:
            raise InvalidApiKey("Invalid API key")
    except GatewayError as exc:
        ctx._auth_error = exc
    return ctx
