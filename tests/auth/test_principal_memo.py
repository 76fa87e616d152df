"""A cached key's principal is built once per requested pixel (`KeyRecord.principals`), and
every request still checks expiry, notes lastUsedAt and writes its audit row (issue #11)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from gateway.auth.authenticate import ApiKeyAuthenticator, Credentials
from gateway.storage.models import AuditRow
from tests.support import Harness, assert_upstack_error
from tests.support_auth import flush_background

PATH = "/db-mgmt/api/measures"
KEY = "query($id: ID!) { apiKey(id: $id) { lastUsedAt } }"


def _authenticator(harness: Harness) -> ApiKeyAuthenticator:
    found = harness.state.authenticators[0]
    assert isinstance(found, ApiKeyAuthenticator)
    return found


async def test_each_hit_checks_expiry_notes_use_and_is_audited(harness: Harness) -> None:
    admin = await harness.mint("keys:admin")
    key = await harness.mint("events:write", expires_at=harness.clock() + timedelta(hours=1))
    headers = harness.headers(key, harness.pixel_id)
    for _ in range(3):
        assert (await harness.client.get(PATH, headers=headers)).status_code == 200
        harness.clock.advance(minutes=10)
    used_at = harness.clock() - timedelta(minutes=10)
    await flush_background(harness)
    key_id = next(k["id"] for k in (await harness.graphql(
        "{ apiKeys { id prefix start } }", key=admin))["data"]["apiKeys"]
        if key.startswith(k["prefix"] + k["start"]))
    got = await harness.graphql(KEY, {"id": key_id}, key=admin)
    assert got["data"]["apiKey"]["lastUsedAt"] == used_at.isoformat()  # the last hit's time
    async with harness.state.db.session() as session:
        rows = (await session.execute(select(AuditRow).where(
            AuditRow.principal_id == key_id, AuditRow.action == "auth.success"))).scalars().all()
    assert len(rows) == 3
    harness.clock.advance(minutes=30)  # past expiry, the principal still memoized
    assert_upstack_error(await harness.client.get(PATH, headers=headers), 401,
                         message="expired")


async def test_one_principal_per_requested_pixel_and_refusals_not_kept(
        harness: Harness) -> None:
    authenticator = _authenticator(harness)
    key = await harness.mint("analytics:read", pixels=None)
    named = Credentials(key, harness.pixel_id)
    first = await authenticator.authenticate(named)
    assert first is not None and first is await authenticator.authenticate(named)
    other_org = await harness.create_organization("Other")
    foreign = await harness.create_pixel(other_org)
    for _ in range(2):  # a refused pixel is refused every time, never memoized
        response = await harness.client.get(PATH, headers=harness.headers(key, foreign))
        assert_upstack_error(response, 401, message="cannot access")


async def test_an_unrestricted_key_naming_no_pixel_sees_a_new_pixel(harness: Harness) -> None:
    """Its target is the organization's only pixel, which a new pixel changes: looked up on
    every request, not memoized."""
    authenticator = _authenticator(harness)
    key = await harness.mint("analytics:read", pixels=None)
    unnamed = Credentials(key, None)
    only = await authenticator.authenticate(unnamed)
    assert only is not None and only.pixel_id == harness.pixel_id
    await harness.create_pixel(name="second site")
    again = await authenticator.authenticate(unnamed)
    assert again is not None and again.pixel_id is None
