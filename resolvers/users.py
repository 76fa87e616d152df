"""Users, login and logout."""

from __future__ import annotations

import strawberry

from gateway.context import Info
from gateway.services import users as service
from gateway.types.users import LoginPayload, User

__all__ = ["CreateUserInput", "UsersMutation", "UsersQuery"]


@strawberry.input
class CreateUserInput:
    email: str
    password: str
    role: str = strawberry.field(description="owner, admin, member or viewer.")
    pixel_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Restrict the user to these pixels; omit for every pixel "
        "(only a caller reaching every pixel may).")


async def resolve_users(info: Info) -> list[User]:
    ctx = info.context
    return [User.from_row(r) for r in await service.list_org_users(ctx.db, ctx.principal)]


async def resolve_create_user(info: Info, input: CreateUserInput) -> User:
    ctx = info.context
    row = await service.create_user(ctx.db, ctx.settings, ctx.principal, email=input.email,
                                    password=input.password, role=input.role, now=ctx.now(),
                                    pixel_ids=None if input.pixel_ids is None else [
                                        str(p) for p in input.pixel_ids],
                                    audit=ctx.audit)
    return User.from_row(row)


async def resolve_login(info: Info, email: str, password: str) -> LoginPayload:
    ctx = info.context
    result = await service.log_in(ctx.db, ctx.settings, email=email, password=password,
                                  now=ctx.now(), throttle=ctx.state.login_throttle,
                                  client_host=ctx.client_host, audit=ctx.audit)
    ctx.start_session(result.token, result.csrf_token, ctx.settings.session_seconds)
    return LoginPayload(token=result.token, csrf_token=result.csrf_token,
                        expires_at=result.expires_at, user=User.from_row(result.user))


async def resolve_logout(info: Info) -> bool:
    ctx = info.context
    await service.log_out(ctx.db, ctx.principal, now=ctx.now(), audit=ctx.audit)
    ctx.end_session()
    return True


@strawberry.type
class UsersQuery:
    users: list[User] = strawberry.field(
        resolver=resolve_users,
        description="Users of your organization within your pixel reach (scope users:admin).")


@strawberry.type
class UsersMutation:
    create_user: User = strawberry.field(
        resolver=resolve_create_user,
        description="Add a user to your organization (scope users:admin); never with a role "
        "above your own or pixels beyond your own.")
    login: LoginPayload = strawberry.field(
        resolver=resolve_login,
        description="Log in (no credential needed). Returns a short-lived token and sets it "
        "as an HttpOnly cookie.")
    logout: bool = strawberry.field(
        resolver=resolve_logout, description="End this login session: its token stops working.")
