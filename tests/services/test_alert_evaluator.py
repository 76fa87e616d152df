"""The alert evaluator: windows, states, history, signed webhooks with retries, leases
across processes, and the loop inside the running app (issue #6).

Time is controlled: `evaluate_due(now)` is called with chosen instants; the loop test uses
the harness clock. Webhooks go to a real HTTP server on loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.periods import interval_window as window_of
from gateway.services.alert_evaluator import AlertEvaluator
from gateway.settings import Settings
from gateway.storage import Database
from gateway.storage.events import insert_events
from tests.support import Harness
from tests.support_alerts import Receiver, valid_signature

T0 = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)  # the harness clock is 12:00
SECRET = "whsec-test-0123456789"


@pytest.fixture
def settings(new_database: Callable[..., str]) -> Settings:
    """Fast retries, and no background loop: these tests drive `evaluate_due` themselves
    (test_alert_evaluator_loop.py covers the loop). The receiver listens on loopback, so
    private targets are allowed, as an operator with an on-premise receiver would
    (tests/test_egress.py covers the guard with the setting off, issue #10)."""
    return Settings(database_url=new_database(),
                    secret="test-secret-" + "x" * 32, webhook_backoff_seconds=0.01,
                    alerts_enabled=False, webhook_allow_private=True)


async def _purchases(h: Harness, *items: tuple[datetime, float]) -> None:
    rows = [{"pixel_id": h.pixel_id, "name": "purchase", "ts": int(at.timestamp() * 1000),
             "received_at": int(at.timestamp() * 1000), "revenue": revenue,
             "order_id": f"o{at.timestamp()}-{revenue}", "user_id": "u1"}
            for at, revenue in items]
    async with h.state.db.session() as session:
        await insert_events(session, rows)
        await session.commit()


async def _alert(h: Harness, key: str, url: str, *, secret: str | None = SECRET,
                 threshold: float = 100, threshold_type: str = "above",
                 interval: str = "1h") -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {key}"}
    hook_body: dict[str, Any] = {"name": "ops", "url": url}
    if secret:
        hook_body["secret"] = secret
    hook = await h.client.post("/api/v2/webhooks", json=hook_body, headers=auth)
    assert hook.status_code == 200, hook.text
    created = await h.client.post("/api/v2/alerts", json={
        "source": "measure", "measure": "core.revenue", "threshold": threshold,
        "thresholdType": threshold_type, "interval": interval, "name": "Revenue spike",
        "message": "Revenue moved", "channel": {"type": "webhook",
                                               "webhookId": hook.json()["data"]["id"]},
    }, headers=auth)
    assert created.status_code == 200, created.text
    return created.json()["data"]  # type: ignore[no-any-return]  # response JSON is Any


def test_window_is_the_last_complete_interval() -> None:
    now = datetime(2026, 11, 20, 12, 7, 30, tzinfo=UTC)
    assert window_of("1h", now) == (T0, T0 + timedelta(hours=1))
    assert window_of("5m", now) == (datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
                                    datetime(2026, 11, 20, 12, 5, tzinfo=UTC))
    assert window_of("1d", now)[1] == datetime(2026, 11, 20, tzinfo=UTC)


async def test_fires_once_resolves_once_with_signed_payloads(harness: Harness) -> None:
    """OK -> ALERT notifies, a repeat pass in the same window does nothing, ALERT -> OK
    resolves, OK -> OK stays quiet; every window leaves a history entry."""
    key = await harness.mint("alerts:write")
    await _purchases(harness, (T0 + timedelta(minutes=10), 80), (T0 + timedelta(minutes=20), 70),
                     (T0 - timedelta(minutes=5), 999))  # outside the window
    async with Receiver() as receiver:
        alert = await _alert(harness, key, receiver.url)
        evaluator = AlertEvaluator(harness.state.db, harness.state.settings)
        first = await evaluator.evaluate_due(T0 + timedelta(hours=1, seconds=30))
        assert [(e.state, e.value, e.notified) for e in first] == [("ALERT", 150.0, True)]
        assert await evaluator.evaluate_due(T0 + timedelta(hours=1, minutes=20)) == []
        second = await evaluator.evaluate_due(T0 + timedelta(hours=2, seconds=5))
        assert [(e.state, e.notified) for e in second] == [("OK", True)]
        third = await evaluator.evaluate_due(T0 + timedelta(hours=3, seconds=5))
        assert [(e.state, e.notified) for e in third] == [("OK", False)]
        assert len(receiver.requests) == 2
        fired, resolved = receiver.requests
        assert all(valid_signature(SECRET, r) for r in receiver.requests)
        assert fired.headers["content-type"] == "application/json"
        assert fired.headers["idempotency-key"] != resolved.headers["idempotency-key"]
        body = fired.json()
        assert body["state"] == "ALERT" and body["previousState"] == "OK"
        assert body["alertId"] == alert["id"] and body["value"] == 150.0
        assert body["threshold"] == 100 and body["thresholdType"] == "above"
        assert body["startTime"] == int(T0.timestamp() * 1000)
        assert body["endTime"] == int((T0 + timedelta(hours=1)).timestamp() * 1000)
        assert body["message"] == "Revenue moved" and "Revenue spike" in body["title"]
        assert resolved.json()["state"] == "OK" and resolved.json()["value"] == 0.0
        assert SECRET not in fired.body.decode()

    gql = await harness.graphql("""query($id: ID!) { alert(id: $id) { state lastValue
      history { windowStart state value notified deliveryStatus attempts } } }""",
                                {"id": alert["id"]}, key=key)
    got = gql["data"]["alert"]
    assert got["state"] == "OK"
    assert [(h["state"], h["notified"], h["deliveryStatus"]) for h in got["history"]] == [
        ("OK", False, None), ("OK", True, "delivered"), ("ALERT", True, "delivered")]
    assert got["history"][2]["value"] == 150.0 and got["history"][2]["attempts"] == 1


async def test_below_threshold_and_unsigned_without_secret(harness: Harness) -> None:
    key = await harness.mint("alerts:write")
    await _purchases(harness, (T0 + timedelta(minutes=1), 20))
    async with Receiver() as receiver:
        await _alert(harness, key, receiver.url, secret=None, threshold=50,
                     threshold_type="below")
        evaluator = AlertEvaluator(harness.state.db, harness.state.settings)
        result = await evaluator.evaluate_due(T0 + timedelta(hours=1, minutes=1))
        assert [(e.state, e.value) for e in result] == [("ALERT", 20.0)]
        assert "x-gateway-signature-256" not in receiver.requests[0].headers


async def test_retries_with_backoff_then_records_failure(harness: Harness) -> None:
    """5xx is retried (3 attempts); a delivery that never succeeds is recorded and the
    evaluator carries on; a 4xx is not retried."""
    key = await harness.mint("alerts:write")
    await _purchases(harness, (T0 + timedelta(minutes=1), 500))
    async with Receiver(statuses=[500, 503]) as receiver:
        alert = await _alert(harness, key, receiver.url)
        evaluator = AlertEvaluator(harness.state.db, harness.state.settings)
        [ok] = await evaluator.evaluate_due(T0 + timedelta(hours=1, seconds=1))
        assert ok.delivery is not None and ok.delivery.ok and ok.delivery.attempts == 3
        assert len(receiver.requests) == 3
        assert len({r.headers["idempotency-key"] for r in receiver.requests}) == 1
    async with Receiver(statuses=[500, 500, 500]) as failing:
        auth = {"Authorization": f"Bearer {key}"}
        hooks = (await harness.client.get("/api/v2/webhooks", headers=auth)).json()["data"]
        put = await harness.client.put(f"/api/v2/webhooks/{hooks[0]['id']}",
                                       json={"name": "ops", "url": failing.url}, headers=auth)
        assert put.status_code == 200 and put.json()["data"]["hasSecret"] is True
        # The next window has no revenue: ALERT -> OK is due, and every attempt fails.
        [bad] = await evaluator.evaluate_due(T0 + timedelta(hours=2, seconds=1))
        assert bad.delivery is not None and not bad.delivery.ok and bad.delivery.attempts == 3
        assert "HTTP 500" in (bad.delivery.error or "")  # for the server log
        assert len(failing.requests) == 3
    shown = (await harness.client.get(f"/api/v2/alerts/{alert['id']}", headers=auth)).json()
    assert shown["data"]["state"] == "OK"
    [error] = shown["data"]["executionErrors"]
    # Clients read no status (issue #10: the history is no probe of the network).
    assert error == {"timestamp": error["timestamp"], "type": "WEBHOOK_ERROR",
                     "message": "webhook delivery failed"}
    async with Receiver(statuses=[404]) as gone:
        await harness.client.put(f"/api/v2/webhooks/{hooks[0]['id']}",
                                 json={"name": "ops", "url": gone.url}, headers=auth)
        await _purchases(harness, (T0 + timedelta(hours=2, minutes=1), 500))
        [four] = await evaluator.evaluate_due(T0 + timedelta(hours=3, seconds=1))
        assert four.delivery is not None and four.delivery.attempts == 1
        assert four.delivery.status_code == 404


async def test_unreachable_webhook_never_crashes_the_pass(harness: Harness) -> None:
    key = await harness.mint("alerts:write")
    await _purchases(harness, (T0 + timedelta(minutes=1), 500))
    async with Receiver() as receiver:
        dead_url = receiver.url
    await _alert(harness, key, dead_url)  # nothing listens there any more
    evaluator = AlertEvaluator(harness.state.db, harness.state.settings)
    [result] = await evaluator.evaluate_due(T0 + timedelta(hours=1, seconds=1))
    assert result.state == "ALERT" and result.delivery is not None
    assert not result.delivery.ok and "ConnectError" in (result.delivery.error or "")


async def test_two_processes_evaluate_each_window_once(harness: Harness,
                                                      settings: Settings) -> None:
    """Two evaluators on the same database file (two engines, as two processes would have):
    the lease row lets exactly one of them evaluate and notify each alert's window."""
    key = await harness.mint("alerts:write")
    await _purchases(harness, (T0 + timedelta(minutes=1), 500))
    async with Receiver() as receiver:
        alerts = [await _alert(harness, key, receiver.url) for _ in range(4)]
        other_db = Database(settings.database_url)
        try:
            a = AlertEvaluator(harness.state.db, settings, owner="process-a")
            b = AlertEvaluator(other_db, settings, owner="process-b")
            now = T0 + timedelta(hours=1, seconds=2)
            results = await asyncio.gather(a.evaluate_due(now), b.evaluate_due(now),
                                           a.evaluate_due(now), b.evaluate_due(now))
        finally:
            await other_db.dispose()
        evaluated = sorted(e.alert_id for batch in results for e in batch)
        assert evaluated == sorted(x["id"] for x in alerts)
        assert len(receiver.requests) == 4
        assert sorted(r.json()["alertId"] for r in receiver.requests) == evaluated


async def test_disabled_alert_is_not_evaluated(harness: Harness) -> None:
    key = await harness.mint("alerts:write")
    async with Receiver() as receiver:
        alert = await _alert(harness, key, receiver.url)
        body = {**{k: alert[k] for k in ("source", "measure", "threshold", "thresholdType",
                                         "interval", "channel", "name")}, "enabled": False}
        put = await harness.client.put(f"/api/v2/alerts/{alert['id']}", json=body,
                                       headers={"Authorization": f"Bearer {key}"})
        assert put.json()["data"]["state"] == "DISABLED"
        evaluator = AlertEvaluator(harness.state.db, harness.state.settings)
        assert await evaluator.evaluate_due(T0 + timedelta(hours=1, seconds=2)) == []



async def test_query_failure_is_recorded_and_the_window_retried(harness: Harness) -> None:
    """A failing engine query leaves an ERROR history entry and QUERY_ERROR, keeps the
    state, releases the lease, and the same window is evaluated on the next pass."""
    from sqlalchemy import text

    key = await harness.mint("alerts:write")
    await _purchases(harness, (T0 + timedelta(minutes=1), 500))
    async with Receiver() as receiver:
        alert = await _alert(harness, key, receiver.url)
        evaluator = AlertEvaluator(harness.state.db, harness.state.settings)
        now = T0 + timedelta(hours=1, seconds=1)
        tables = ("event", "event_rollup")  # what the alert's query reads
        async with harness.state.db.engine.begin() as conn:  # break them
            for t in tables:
                await conn.execute(text(f"ALTER TABLE {t} RENAME TO {t}_away"))
        try:
            assert await evaluator.evaluate_due(now) == []
        finally:
            async with harness.state.db.engine.begin() as conn:
                for t in tables:
                    await conn.execute(text(f"ALTER TABLE {t}_away RENAME TO {t}"))
        auth = {"Authorization": f"Bearer {key}"}
        shown = (await harness.client.get(f"/api/v2/alerts/{alert['id']}", headers=auth)).json()
        assert shown["data"]["state"] == "OK"
        assert [e["type"] for e in shown["data"]["executionErrors"]] == ["QUERY_ERROR"]
        assert receiver.requests == []
        [retried] = await evaluator.evaluate_due(now + timedelta(minutes=1))
        assert retried.window_start == T0 and retried.state == "ALERT"
        assert len(receiver.requests) == 1
    gql = await harness.graphql('query($id: ID!) { alert(id: $id) { executionErrors { type } '
                                'history { state error } } }', {"id": alert["id"]}, key=key)
    got = gql["data"]["alert"]
    assert got["executionErrors"] == []
    assert [h["state"] for h in got["history"]] == ["ALERT", "ERROR"]
    # the driver's class: a missing table is SQLite's OperationalError, PostgreSQL's
    # ProgrammingError (UndefinedTable)
    assert got["history"][1]["error"].split(":")[0] in ("OperationalError", "ProgrammingError")
