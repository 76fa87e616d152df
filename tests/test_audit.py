"""The audit log: every authentication attempt, denial and admin action, written in the
background without blocking requests and without losing entries under load (issue #3)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from gateway.app import create_app
from gateway.audit import AuditEntry, AuditLog
from gateway.settings import Settings
from gateway.storage import Database
from gateway.storage.models import AuditRow
from tests.support import Clock, Harness, assert_graphql_error
from tests.support_auth import add_user, login
from tests.support_db import stored_bytes

AUDIT = ("query($action: String, $principal: String, $after: String, $first: Int!) { "
         "auditLog(action: $action, principal: $principal, after: $after, first: $first) { "
         "nextCursor entries { action outcome principalLabel principalKind target detail ip "
         "userAgent requestId } } }")


async def _count(db: Database, **where: str) -> int:
    stmt = select(func.count()).select_from(AuditRow)
    for column, value in where.items():
        stmt = stmt.where(getattr(AuditRow, column) == value)
    async with db.session() as session:
        return int((await session.execute(stmt)).scalar_one())


async def test_no_entry_is_lost_under_concurrent_load(new_database: Callable[..., str]) -> None:
    """600 concurrent requests (successes, bad keys, denials) give exactly their 600 entries,
    written by the background task and the flush at shutdown."""
    settings = Settings(database_url=new_database(),
                        secret="s" * 40, audit_flush_seconds=0.01)
    app = create_app(settings, clock=Clock())
    async with app.router.lifespan_context(app):
        h = Harness(client=httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                             base_url="http://t"),
                    state=app.state.gateway, clock=Clock())
        h.organization_id = await h.create_organization()
        h.pixel_id = await h.create_pixel()
        good = await h.mint("analytics:read")
        narrow = await h.mint("events:write")
        bad = good[:-3] + "abc"  # fails the checksum: an auth failure without organization

        async def one(i: int) -> int:
            key, path = [(good, "/db-mgmt/api/measures"), (bad, "/db-mgmt/api/measures"),
                         (narrow, "/accounts/api/api-keys")][i % 3]
            response = await h.client.get(path, headers={"x-api-key": key,
                                                         "user-agent": f"load/{i}"})
            return response.status_code

        statuses = await asyncio.gather(*(one(i) for i in range(600)))
        assert sorted(set(statuses)) == [200, 401, 403]
        await h.client.aclose()
    db = Database(settings.database_url)
    try:
        assert await _count(db) == 600 + 200  # every request, plus the denial of each narrow one
        assert await _count(db, action="auth.success") == 400
        assert await _count(db, action="auth.failure") == 200
        assert await _count(db, action="access.denied") == 200
    finally:
        await db.dispose()


async def test_entries_carry_who_what_where_and_never_the_secret(harness: Harness,
                                                                 settings: Settings) -> None:
    admin = await harness.mint("keys:admin", "users:admin", "analytics:read", pixels=None)
    made = await harness.client.post("/accounts/api/api-keys", headers={
        "x-api-key": admin, "user-agent": "ops-console/1", "x-request-id": "req-42"},
        json={"name": "etl", "scopes": ["analytics:read"]})
    secret = made.json()["key"]
    await harness.client.get("/db-mgmt/api/measures", headers={"x-api-key": secret})
    body = await harness.graphql(AUDIT, {"action": "key.create", "first": 10}, key=admin)
    entry = body["data"]["auditLog"]["entries"][0]
    assert entry["principalLabel"] == admin[:14] and entry["principalKind"] == "api_key"
    assert entry["userAgent"] == "ops-console/1" and entry["requestId"] == "req-42"
    assert entry["ip"] == "127.0.0.1" and entry["target"].startswith(secret[:14])
    used = await harness.graphql(AUDIT, {"action": "auth.success", "principal": secret[:14],
                                         "first": 10}, key=admin)
    assert len(used["data"]["auditLog"]["entries"]) == 1
    db_file = await stored_bytes(settings.database_url)
    assert secret.encode() not in db_file and admin.encode() not in db_file


async def test_failures_denials_and_user_actions_are_recorded(harness: Harness) -> None:
    reader = await harness.mint("audit:read", pixels=None)
    revoked = await harness.mint("analytics:read")
    admin = await harness.mint("keys:admin", "analytics:read")
    keys = (await harness.graphql("{ apiKeys { id prefix start } }", key=admin))["data"]
    key_id = next(k["id"] for k in keys["apiKeys"] if revoked.startswith(k["prefix"] + k["start"]))
    await harness.graphql('mutation($id: ID!) { revokeApiKey(id: $id) { id } }', {"id": key_id},
                          key=admin)
    await harness.graphql("{ pixels { id } }", key=revoked)  # auth failure, org known
    await harness.graphql("{ users { id } }", key=admin)  # denied scope
    await add_user(harness, "ada@example.com", "viewer")
    await login(harness, "ada@example.com", "wrong password!")
    await login(harness, "ada@example.com")
    page = await harness.graphql(AUDIT, {"first": 100}, key=reader)
    seen = {(e["action"], e["outcome"]) for e in page["data"]["auditLog"]["entries"]}
    assert {("key.revoke", "success"), ("auth.failure", "failure"),
            ("access.denied", "denied"), ("user.login", "failure"),
            ("user.login", "success")} <= seen
    failure = next(e for e in page["data"]["auditLog"]["entries"]
                   if e["action"] == "auth.failure")
    assert failure["principalLabel"] == revoked[:14] and "revoked" in failure["detail"]


async def test_audit_log_pages_and_needs_its_scope(harness: Harness) -> None:
    reader = await harness.mint("audit:read", pixels=None)
    for _ in range(5):
        await harness.graphql("{ pixels { id } }", key=reader)
    first = await harness.graphql(AUDIT, {"first": 2}, key=reader)
    cursor = first["data"]["auditLog"]["nextCursor"]
    second = await harness.graphql(AUDIT, {"first": 2, "after": cursor}, key=reader)
    assert cursor and len(second["data"]["auditLog"]["entries"]) == 2
    assert first["data"]["auditLog"]["entries"] != second["data"]["auditLog"]["entries"]
    rest = await harness.client.get("/accounts/api/audit-log", params={"limit": 2},
                                    headers={"x-api-key": reader})
    assert rest.status_code == 200 and len(rest.json()["entries"]) == 2
    assert rest.json()["nextCursor"]
    assert_graphql_error(await harness.graphql(AUDIT, {"first": 2},
                                               key=await harness.mint("analytics:read")),
                         "INSUFFICIENT_SCOPE")


async def test_a_failing_write_keeps_the_entries(new_database: Callable[..., str]) -> None:
    """A storage failure never drops entries: they stay buffered for the next flush."""
    db = Database(new_database(migrated=False))  # not migrated: no table
    log = AuditLog(db)
    log.record(AuditEntry(at=datetime.now(UTC), organization_id=None, action="auth.success",
                           outcome="success"))
    with pytest.raises(DBAPIError, match=r"no such table|does not exist"):
        await log.flush()
    assert log.pending == 1
    await db.dispose()


async def test_recording_is_synchronous_and_cheap(harness: Harness, clock: Clock) -> None:
    """`record` does no I/O: it only appends (the writer task does the rest)."""
    audit = harness.state.audit
    assert audit is not None
    before = audit.pending
    audit.record(AuditEntry(at=clock(), organization_id=None, action="auth.success",
                             outcome="success"))
    assert audit.pending == before + 1


def test_entry_fields_match_the_insert_columns() -> None:
    from gateway.storage.audit import AUDIT_COLUMNS

    assert AuditEntry._fields == AUDIT_COLUMNS
    assert set(AUDIT_COLUMNS) == set(AuditRow.model_fields) - {"id"}


async def test_a_batch_is_written_whole_and_in_order(new_database: Callable[..., str]) -> None:
    """A batch larger than one INSERT statement (multi-row, `_ROWS_PER_STATEMENT` rows) is
    written completely, in recording order (ids follow it), with the timestamps SQLAlchemy
    itself would have stored, whatever zone they were recorded in (issue #11)."""
    from datetime import timedelta, timezone

    from gateway.storage.audit import _ROWS_PER_STATEMENT, _sqlite_at

    db = Database(new_database())
    log = AuditLog(db, batch_size=1000)
    start = datetime(2026, 11, 20, 12, 0, 0, 123456, tzinfo=UTC)
    east = timezone(timedelta(hours=5, minutes=30))
    n = 2 * _ROWS_PER_STATEMENT + 7
    for i in range(n):
        at = start + timedelta(seconds=i, microseconds=-123456 * (i % 2))  # whole seconds too
        log.record(AuditEntry(at=at.astimezone(east) if i % 3 else at, organization_id=None,
                              action="auth.success", outcome="success", target=f"t{i}"))
    assert await log.flush() == n
    async with db.session() as session:
        rows = (await session.execute(select(AuditRow).order_by(AuditRow.id))).scalars().all()
    assert [r.target for r in rows] == [f"t{i}" for i in range(n)]
    assert [r.at for r in rows] == [
        start + timedelta(seconds=i, microseconds=-123456 * (i % 2)) for i in range(n)]
    if db.is_sqlite:  # the SQLite fast path formats timestamps itself: as SQLAlchemy would
        processor = AuditRow.__table__.c.at.type.dialect_impl(
            db.engine.dialect).bind_processor(db.engine.dialect)
        for at in (start, start.replace(microsecond=0), start.astimezone(east),
                   datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)):
            assert _sqlite_at(at) == processor(at)
    await db.dispose()
