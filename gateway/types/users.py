"""Users and login results as clients see them (never a password hash)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gateway.storage.models import UserRow

__all__ = ["LoginPayload", "User"]


@strawberry.type(description="A person who logs in to browser apps.")
class User:
    id: strawberry.ID
    organization_id: strawberry.ID
    email: str
    role: str = strawberry.field(description="owner, admin, member or viewer.")
    pixel_ids: list[strawberry.ID] | None = strawberry.field(
        description="Pixels the user's sessions may touch; null means every pixel of the "
        "organization.")
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def from_row(cls, row: UserRow) -> User:
        return cls(id=strawberry.ID(row.id), organization_id=strawberry.ID(row.organization_id),
                   email=row.email, role=row.role,
                   pixel_ids=None if row.pixel_ids is None else [
                       strawberry.ID(p) for p in row.pixel_ids],
                   created_at=row.created_at,
                   last_login_at=row.last_login_at)


@strawberry.type(description="A login: the token is also set as an HttpOnly cookie.")
class LoginPayload:
    token: str = strawberry.field(description="Send as `Authorization: Bearer <token>`.")
    csrf_token: str = strawberry.field(
        description="Echo in `x-csrf-token` on writes authenticated by the cookie.")
    expires_at: datetime
    user: User
