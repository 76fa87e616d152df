"""Upstack users and browser login: `/accounts/api/users`, `/accounts/api/auth/login|logout`.

Login answers the token in the body and sets it as the HttpOnly `gateway_session` cookie
(plus the readable `gateway_csrf` cookie); logout revokes the token and clears both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Required

import strawberry
from starlette.requests import Request
from starlette.routing import Route
from typing_extensions import TypedDict

from gateway.context import Context
from gateway.rest.base import ANY_CREDENTIAL, read_json, resolver_info
from gateway.rest.upstack.surface import surface
from gateway.rest.upstack.wire import object_body, string_field, strings_field
from gateway.rest.wire import iso_offset
from gateway.types.users import User
from resolvers.users import (
    CreateUserInput,
    resolve_create_user,
    resolve_login,
    resolve_logout,
    resolve_users,
)

__all__ = ["UserBody", "routes", "user_body"]


# The roles of gateway/auth/scopes.py `ROLES` (tests/test_openapi.py keeps them equal).
Role = Literal["owner", "admin", "member", "viewer"]


class UserBody(TypedDict):
    id: str
    organizationId: str
    email: str
    role: str
    pixelIds: Sequence[str] | None  # null: every pixel
    createdAt: str
    lastLoginAt: str | None


class UserList(TypedDict):
    users: list[UserBody]


class OneUser(TypedDict):
    user: UserBody


class UserInput(TypedDict, total=False):
    email: Required[str]
    password: Required[str]
    role: Required[Role]
    pixelIds: list[str] | None


class LoginInput(TypedDict):
    email: str
    password: str


class LoginBody(TypedDict):
    token: str  # also set as the HttpOnly gateway_session cookie
    csrfToken: str  # also the gateway_csrf cookie; send it as x-csrf-token on cookie writes
    expiresAt: str
    user: UserBody


class LogoutBody(TypedDict):
    message: str


def user_body(u: User) -> UserBody:
    return {"id": u.id, "organizationId": u.organization_id, "email": u.email, "role": u.role,
            "pixelIds": u.pixel_ids, "createdAt": iso_offset(u.created_at),
            "lastLoginAt": iso_offset(u.last_login_at)}


async def list_users(ctx: Context, request: Request) -> UserList:
    """The organization's users"""
    return {"users": [user_body(u) for u in await resolve_users(resolver_info(ctx))]}


async def create_user(ctx: Context, request: Request) -> OneUser:
    """Create a user of browser apps"""
    body = object_body(await read_json(request, ctx.settings.max_body_bytes))
    pixels = strings_field(body, "pixelIds")
    data = CreateUserInput(email=string_field(body, "email", ""),
                           password=string_field(body, "password", ""),
                           role=string_field(body, "role", ""),
                           pixel_ids=None if pixels is None else [strawberry.ID(p) for p in pixels])
    return {"user": user_body(await resolve_create_user(resolver_info(ctx), data))}


async def login(ctx: Context, request: Request) -> LoginBody:
    """Log in: a session token, in the body and as cookies"""
    body = object_body(await read_json(request, ctx.settings.max_body_bytes))
    result = await resolve_login(resolver_info(ctx), email=string_field(body, "email", ""),
                                 password=string_field(body, "password", ""))
    return {"token": result.token, "csrfToken": result.csrf_token,
            "expiresAt": iso_offset(result.expires_at), "user": user_body(result.user)}


async def logout(ctx: Context, request: Request) -> LogoutBody:
    """Revoke the session and clear its cookies"""
    await resolve_logout(resolver_info(ctx))
    return {"message": "Logged out"}


def routes() -> list[Route]:
    return [
        surface.route("GET", "/accounts/api/users", list_users, twin="Query.users",
                      scope="users:admin", response=UserList),
        surface.route("POST", "/accounts/api/users", create_user, twin="Mutation.createUser",
                      status=201, scope="users:admin", body=UserInput, response=OneUser),
        surface.route("POST", "/accounts/api/auth/login", login, twin="Mutation.login",
                      scope=None, body=LoginInput, response=LoginBody),
        surface.route("POST", "/accounts/api/auth/logout", logout, twin="Mutation.logout",
                      scope=ANY_CREDENTIAL, response=LogoutBody),
    ]
