"""Alerts and webhooks through GraphQL: same services as the ClickStack routes (issue #6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from gateway.services.alert_evaluator import AlertEvaluator
from tests.support import Harness, assert_graphql_error

CREATE_HOOK = """mutation($input: WebhookInput!) { createWebhook(input: $input) {
  id name url hasSecret } }"""
CREATE_ALERT = """mutation($input: AlertInput!) { createAlert(input: $input) {
  id state measure threshold thresholdType interval enabled channel { type webhookId url } } }"""


async def _hook(h: Harness, key: str) -> str:
    body = await h.graphql(CREATE_HOOK, {"input": {"name": "ops", "url": "https://e.test/h",
                                                   "secret": "0123456789abcdef"}}, key=key)
    assert body["data"]["createWebhook"]["hasSecret"] is True
    return str(body["data"]["createWebhook"]["id"])


def _input(hook: str, **extra: Any) -> dict[str, Any]:
    return {"measure": "Revenue", "threshold": 10, "thresholdType": "above", "interval": "15m",
            "channel": {"webhookId": hook}, **extra}


async def test_create_list_update_delete(harness: Harness) -> None:
    key = await harness.mint("alerts:write")
    hook = await _hook(harness, key)
    created = await harness.graphql(CREATE_ALERT, {"input": _input(hook)}, key=key)
    alert = created["data"]["createAlert"]
    assert alert["state"] == "OK" and alert["measure"] == "core.revenue"
    assert alert["channel"] == {"type": "webhook", "webhookId": hook, "url": None}
    listed = await harness.graphql("{ alerts { id state history { state } } }", key=key)
    assert listed["data"]["alerts"] == [{"id": alert["id"], "state": "OK", "history": []}]
    updated = await harness.graphql(
        """mutation($id: ID!, $input: AlertInput!) { updateAlert(id: $id, input: $input) {
             enabled state interval } }""",
        {"id": alert["id"], "input": _input(hook, enabled=False, interval="1d")}, key=key)
    assert updated["data"]["updateAlert"] == {"enabled": False, "state": "DISABLED",
                                              "interval": "1d"}
    in_use = await harness.graphql("mutation($id: ID!) { deleteWebhook(id: $id) }",
                                   {"id": hook}, key=key)
    assert_graphql_error(in_use, "CONFLICT")
    gone = await harness.graphql("mutation($id: ID!) { deleteAlert(id: $id) }",
                                 {"id": alert["id"]}, key=key)
    assert gone["data"]["deleteAlert"] == alert["id"]


async def test_errors_and_scopes(harness: Harness) -> None:
    key = await harness.mint("alerts:write")
    hook = await _hook(harness, key)
    bad = await harness.graphql(CREATE_ALERT, {"input": _input(hook, interval="2m")}, key=key)
    assert_graphql_error(bad, "INVALID_INPUT")
    assert bad["errors"][0]["extensions"]["details"][0]["path"] == ["interval"]
    reader = await harness.mint("alerts:read")
    denied = await harness.graphql(CREATE_ALERT, {"input": _input(hook)}, key=reader)
    assert_graphql_error(denied, "INSUFFICIENT_SCOPE")
    missing = await harness.graphql('{ alert(id: "nope") { id } }', key=reader)
    assert_graphql_error(missing, "NOT_FOUND")


async def test_history_of_many_alerts_is_one_query(harness: Harness) -> None:
    """Listing alerts with their history loads all histories in one statement."""
    key = await harness.mint("alerts:write")
    hook = await _hook(harness, key)
    for _ in range(6):
        await harness.graphql(CREATE_ALERT, {"input": _input(hook, interval="1h")}, key=key)
    evaluator = AlertEvaluator(harness.state.db, harness.state.settings)
    for hours in (1, 2, 3):
        await evaluator.evaluate_due(datetime(2026, 11, 20, 10, tzinfo=UTC)
                                     + timedelta(hours=hours, seconds=1))
    await harness.graphql("{ viewer { kind } }", key=key)  # warm the key cache
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = harness.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        body = await harness.graphql("{ alerts { id history(limit: 2) { state value } } }",
                                     key=key)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    alerts = body["data"]["alerts"]
    assert len(alerts) == 6 and all(len(a["history"]) == 2 for a in alerts)
    history_selects = [s for s in statements if "alert_history" in s]
    assert len(history_selects) == 1, statements
