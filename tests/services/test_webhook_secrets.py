"""Webhook signing secrets are sealed at rest and still sign (issue #10): AES-GCM under a
key derived from GATEWAY_SECRET, in `webhook.sealed_secret`; clear-text rows of older
databases are sealed when the gateway starts; a value that does not open is never
replaced by an unsigned delivery."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from gateway.secret_box import SealedSecretError
from gateway.services.alert_evaluator import AlertEvaluator
from gateway.services.webhooks import webhook_secret_box
from gateway.settings import Settings
from gateway.storage.events import insert_events
from tests.support import Clock, Harness, open_harness
from tests.support_alerts import Dns, Receiver, valid_signature
from tests.support_db import stored_bytes

T0 = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
DUE = T0 + timedelta(hours=1, seconds=1)
SECRET = "whsec-sealed-0123456789"
LEGACY = "legacy-clear-secret-42"


@pytest.fixture
def settings(new_database: Callable[..., str]) -> Settings:
    """The receiver is on loopback: private targets allowed, as for an on-premise one."""
    return Settings(database_url=new_database(),
                    secret="test-secret-" + "x" * 32, alerts_enabled=False,
                    webhook_backoff_seconds=0.01, webhook_allow_private=True)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _stored(h: Harness) -> list[tuple[Any, ...]]:
    async with h.state.db.engine.connect() as conn:
        result = await conn.execute(text("SELECT id, secret, sealed_secret FROM webhook"))
        return [tuple(r) for r in result]


async def _firing_alert(h: Harness, key: str, url: str, secret: str) -> str:
    hook = await h.client.post("/api/v2/webhooks", json={"name": "ops", "url": url,
                                                         "secret": secret}, headers=_auth(key))
    assert hook.status_code == 200, hook.text
    assert secret not in hook.text and hook.json()["data"]["hasSecret"] is True
    created = await h.client.post("/api/v2/alerts", json={
        "source": "measure", "measure": "core.revenue", "threshold": 100,
        "thresholdType": "above", "interval": "1h",
        "channel": {"type": "webhook", "webhookId": hook.json()["data"]["id"]}},
        headers=_auth(key))
    assert created.status_code == 200, created.text
    at = T0 + timedelta(minutes=5)
    async with h.state.db.session() as session:
        await insert_events(session, [{
            "pixel_id": h.pixel_id, "name": "purchase", "ts": int(at.timestamp() * 1000),
            "received_at": int(at.timestamp() * 1000), "revenue": 500, "order_id": "o1",
            "user_id": "u1"}])
        await session.commit()
    return str(hook.json()["data"]["id"])


async def test_secret_is_sealed_in_the_file_and_still_signs(harness: Harness) -> None:
    """issue #10: the database file (and its WAL) never holds the secret's bytes; the
    delivery's signature verifies with it; no API answer returns it."""
    key = await harness.mint("alerts:write")
    async with Receiver() as receiver:
        hook_id = await _firing_alert(harness, key, receiver.url, SECRET)
        [(row_id, clear, sealed)] = await _stored(harness)
        assert row_id == hook_id and clear is None and sealed.startswith("v1:")
        assert SECRET.encode() not in await stored_bytes(harness.state.settings.database_url)
        evaluator = AlertEvaluator(harness.state.db, harness.state.settings)
        [result] = await evaluator.evaluate_due(DUE)
        assert result.delivery is not None and result.delivery.ok
        assert valid_signature(SECRET, receiver.requests[0])
    put = await harness.client.put(f"/api/v2/webhooks/{hook_id}", json={
        "name": "ops", "url": receiver.url, "secret": "whsec-rotated-987654"},
        headers=_auth(key))
    listed = await harness.client.get("/api/v2/webhooks", headers=_auth(key))
    gql = await harness.graphql("{ webhooks { id hasSecret } }", key=key)
    fields = await harness.graphql('{ __type(name: "Webhook") { fields { name } } }', key=key)
    for shown in (put.text, listed.text, str(gql)):
        assert "whsec-" not in shown and "v1:" not in shown
    assert {f["name"] for f in fields["data"]["__type"]["fields"]} == {
        "id", "name", "service", "url", "description", "hasSecret", "createdAt", "updatedAt"}
    assert b"whsec-rotated-987654" not in await stored_bytes(harness.state.settings.database_url)


async def test_clear_text_rows_are_sealed_on_start(harness: Harness, settings: Settings,
                                                   clock: Clock, dns: Dns) -> None:
    """issue #10: a row written clear by an older gateway signs as it is until the next
    start, which seals it and leaves no copy of the clear text in the file."""
    key = await harness.mint("alerts:write")
    async with Receiver() as receiver:
        hook_id = await _firing_alert(harness, key, receiver.url, SECRET)
        async with harness.state.db.engine.begin() as conn:  # what an older version stored
            await conn.execute(text("UPDATE webhook SET secret = :s, sealed_secret = NULL"),
                               {"s": LEGACY})
        assert LEGACY.encode() in await stored_bytes(settings.database_url)
        evaluator = AlertEvaluator(harness.state.db, settings)
        [result] = await evaluator.evaluate_due(DUE)
        assert result.delivery is not None and result.delivery.ok
        assert valid_signature(LEGACY, receiver.requests[0])

        async with open_harness(settings, clock, resolver=dns) as restarted:
            [(row_id, clear, sealed)] = await _stored(restarted)
            assert row_id == hook_id and clear is None and sealed.startswith("v1:")
            assert LEGACY.encode() not in await stored_bytes(settings.database_url)
            hooks = await restarted.client.get("/api/v2/webhooks", headers=_auth(key))
            assert hooks.json()["data"][0]["hasSecret"] is True
            # The next state change (ALERT -> OK) is signed with the same secret.
            again = AlertEvaluator(restarted.state.db, settings)
            [resolved] = await again.evaluate_due(DUE + timedelta(hours=1))
            assert resolved.delivery is not None and resolved.delivery.ok
            assert valid_signature(LEGACY, receiver.requests[1])


async def test_a_secret_that_does_not_open_is_never_sent_unsigned(
        harness: Harness, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """issue #10: under another GATEWAY_SECRET (or copied onto another row) a sealed secret
    does not open; the delivery fails, nothing is sent, and the log says why."""
    key = await harness.mint("alerts:write")
    async with Receiver() as receiver:
        await _firing_alert(harness, key, receiver.url, SECRET)
        other = AlertEvaluator(harness.state.db, replace(settings, secret="another-" + "y" * 32))
        with caplog.at_level(logging.WARNING, logger="gateway.alerts"):
            [result] = await other.evaluate_due(DUE)
        assert result.delivery is not None and not result.delivery.ok
        assert receiver.requests == []
        assert "does not open" in caplog.text and SECRET not in caplog.text

        second = await harness.client.post("/api/v2/webhooks", json={
            "name": "two", "url": receiver.url, "secret": "whsec-second-000000"},
            headers=_auth(key))
        async with harness.state.db.engine.begin() as conn:  # row 1's value onto row 2
            await conn.execute(text(
                "UPDATE webhook SET sealed_secret = (SELECT sealed_secret FROM webhook "
                "WHERE id != :id) WHERE id = :id"), {"id": second.json()["data"]["id"]})
        rows = {r[0]: r[2] for r in await _stored(harness)}
        assert len(set(rows.values())) == 1  # the same sealed bytes on both rows
        box = webhook_secret_box(settings.secret)
        with pytest.raises(SealedSecretError):
            box.open(rows[second.json()["data"]["id"]], context=second.json()["data"]["id"])
