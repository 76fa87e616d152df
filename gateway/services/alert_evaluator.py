"""The alert evaluator: runs inside every gateway process, one evaluation per alert window.

Each pass (`evaluate_due(now)`), for every enabled alert:
1. Its window is the last complete interval: [end - interval, end), `end` being `now`
   rounded down to the interval on the UTC epoch (a 1h alert looks at 10:00-11:00 at 11:00:20;
   `gateway.periods.interval_window`). A window already evaluated is skipped.
2. Claim: INSERT a lease row (alert, window start); the unique constraint lets exactly one
   process win, so several gateway processes never evaluate or notify the same window twice.
3. Compute the measure's period value over the window with the query engine.
   A failure is recorded (history entry ERROR, executionErrors QUERY_ERROR), the state is left
   alone and the lease released, so the window is retried on the next pass. A query past its
   time limit (QueryTimeout) is logged and its window skipped: recorded the same way, but as
   QUERY_TIMEOUT (ClickStack's type), with the lease kept and the window counted as done, so
   the next pass moves on instead of spending the time limit on it again and again (the
   next window is evaluated when it completes). Refused for want of a slot (RateLimited,
   another query of the pixel holds them): retried next pass, like any failure.
4. Compare: `above` breaches when value >= threshold (ClickStack's inclusive rule), `below`
   when value < threshold. No value (no data, or a ratio with a zero denominator) breaches
   nothing. New state ALERT or OK, recorded with a history entry.
5. On a state change (OK -> ALERT fires, ALERT -> OK resolves) POST the notification to the
   alert's channel (see `webhook_delivery`) through the egress guard (`gateway/egress.py`:
   the target is resolved, checked and connected to by address at every attempt), signed
   with the webhook's secret, opened just for that. The outcome goes into the history
   entry, and a failed delivery into executionErrors (WEBHOOK_ERROR). Clients see only
   `delivered` or `failed`: a refused target, an unknown host, a refused connection, a
   timeout and a non-2xx answer all read the same (`DELIVERY_FAILED`, and the full retry
   budget as `attempts`), so the history is no probe of what the gateway's network can
   reach; the detail goes to the server log.

`run(clock)` repeats passes every `alert_tick_seconds`; an exception in a pass is logged and
the loop goes on. Alerts are evaluated one after another within a pass.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from gateway.egress import EgressGuard
from gateway.engine import EngineQuery, TimeRange, run_query
from gateway.errors import QueryTimeout
from gateway.periods import interval_window
from gateway.secret_box import SealedSecretError
from gateway.services.webhook_delivery import Delivery, deliver
from gateway.services.webhooks import open_secret, webhook_secret_box
from gateway.settings import Settings
from gateway.storage import Database
from gateway.storage import alerts as store
from gateway.storage.dashboard_tables import AlertHistoryRow, AlertRow

__all__ = ["DELIVERY_FAILED", "AlertEvaluator", "Evaluation"]

log = logging.getLogger("gateway.alerts")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LEASE_RETENTION = timedelta(days=2)  # longer than the longest interval (1d)
# What clients read about any failed delivery (history `error`, executionErrors `message`).
DELIVERY_FAILED = "webhook delivery failed"


@dataclass(frozen=True)
class Evaluation:
    """What one claimed window produced (returned for tests and logs)."""

    alert_id: str
    window_start: datetime
    state: str
    value: float | None
    notified: bool
    delivery: Delivery | None


class AlertEvaluator:
    """Evaluates due alerts against one database. Several instances (processes) may share
    the database; leases keep their work disjoint. `egress` defaults to the guard of
    `settings`; `transport` is the network edge under it (tests pass a MockTransport: every
    request still goes through the guard first).

    >>> evaluator = AlertEvaluator(db, settings)
    >>> await evaluator.evaluate_due(datetime.now(UTC))
    """

    def __init__(self, db: Database, settings: Settings, *, owner: str | None = None,
                 egress: EgressGuard | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.db = db
        self.settings = settings
        self.owner = owner or uuid.uuid4().hex
        self._egress = egress or EgressGuard.for_settings(settings)
        self._secrets = webhook_secret_box(settings.secret)
        self._transport = transport
        self._sleep = sleep

    async def evaluate_due(self, now: datetime) -> list[Evaluation]:
        """One pass at time `now`; returns the windows this instance evaluated."""
        async with self.db.session() as session:
            alerts = await store.enabled_alerts(session)
            # Only the latest complete window is ever claimed, so old leases guard nothing.
            await store.prune_leases(session, now - LEASE_RETENTION)
            await session.commit()
        done: list[Evaluation] = []
        # trust_env off: no proxy or .netrc credentials from the environment.
        async with httpx.AsyncClient(transport=self._egress.transport(self._transport),
                                     trust_env=False) as client:
            for alert in alerts:
                try:
                    result = await self._evaluate(client, alert, now)
                except Exception:  # one alert's bug must not stop the others
                    log.exception("alert %s: evaluation failed", alert.id)
                    continue
                if result is not None:
                    done.append(result)
        return done

    async def run(self, clock: Callable[[], datetime]) -> None:
        """Pass after pass until cancelled; a failing pass is logged, never fatal."""
        while True:
            await asyncio.sleep(self.settings.alert_tick_seconds)
            try:
                await self.evaluate_due(clock())
            except Exception:  # the loop outlives any failing pass
                log.exception("alert evaluator pass failed")

    async def _evaluate(self, client: httpx.AsyncClient, alert: AlertRow,
                        now: datetime) -> Evaluation | None:
        start, end = interval_window(alert.interval, now)
        if alert.last_window_end is not None and alert.last_window_end >= end:
            return None
        async with self.db.session() as session:
            if not await store.claim_window(session, alert.id, start, self.owner, now):
                return None
        try:
            value = await self._compute(alert, start, end)
        except QueryTimeout as exc:
            log.warning("alert %s: the query of window %s ran past its time limit (%g s); "
                        "window skipped", alert.id, start.isoformat(), exc.timeout_seconds)
            await self._record_error(alert, start, end, now, exc, skip=True)
            return None
        except Exception as exc:  # noqa: BLE001  recorded as QUERY_ERROR, retried next pass
            log.warning("alert %s: query failed: %s", alert.id, type(exc).__name__)
            await self._record_error(alert, start, end, now, exc)
            return None
        above = alert.threshold_type == "above"
        breached = value is not None and (
            value >= alert.threshold if above else value < alert.threshold)
        state = "ALERT" if breached else "OK"
        previous = alert.state if alert.state in ("OK", "ALERT") else "OK"
        delivery = None
        if state != previous:
            delivery = await self._notify(client, alert, state, previous, value, start, end)
        failed = delivery is not None and not delivery.ok
        errors = [{"timestamp": now.isoformat(), "type": "WEBHOOK_ERROR",
                   "message": DELIVERY_FAILED}] if failed else []
        attempts = 0 if delivery is None else delivery.attempts
        async with self.db.session() as session:
            await store.insert_history(session, AlertHistoryRow(
                alert_id=alert.id, window_start=start, window_end=end, state=state, value=value,
                notified=delivery is not None,
                delivery_status=None if delivery is None else
                ("failed" if failed else "delivered"),
                # A failed delivery shows its full retry budget, whatever stopped it.
                attempts=max(1, self.settings.webhook_attempts) if failed else attempts,
                error=DELIVERY_FAILED if failed else None, created_at=now))
            await store.update_alert_state(session, alert.id, state=state, value=value,
                                           window_end=end, errors=errors)
            await session.commit()
        return Evaluation(alert.id, start, state, value, delivery is not None, delivery)

    async def _compute(self, alert: AlertRow, start: datetime, end: datetime) -> float | None:
        result = await run_query(self.db, EngineQuery(
            pixel_id=alert.pixel_id, measures=(alert.measure,), range=TimeRange(start, end),
            granularity="none"))
        value = result.totals.get(alert.measure)
        return None if value is None else float(value)

    async def _record_error(self, alert: AlertRow, start: datetime, end: datetime,
                            now: datetime, exc: Exception, *, skip: bool = False) -> None:
        """Record a failed window; `skip`: as done (lease kept, next pass moves on), else
        released for the next pass to retry."""
        message = f"{type(exc).__name__}: {exc}"[:2000]
        async with self.db.session() as session:
            await store.insert_history(session, AlertHistoryRow(
                alert_id=alert.id, window_start=start, window_end=end, state="ERROR",
                value=None, error=message, created_at=now))
            await store.update_alert_state(
                session, alert.id, state=alert.state, value=alert.last_value,
                window_end=end if skip else alert.last_window_end or start,
                errors=[{"timestamp": now.isoformat(),
                         "type": "QUERY_TIMEOUT" if skip else "QUERY_ERROR",
                         "message": message}])
            if not skip:
                await store.release_window(session, alert.id, start)
            await session.commit()

    async def _notify(self, client: httpx.AsyncClient, alert: AlertRow, state: str,
                      previous: str, value: float | None, start: datetime,
                      end: datetime) -> Delivery:
        delivery = await self._deliver(client, alert, state, previous, value, start, end)
        if not delivery.ok:  # the detail stays here: clients see DELIVERY_FAILED
            log.warning("alert %s: delivery to %s failed after %d attempt(s): %s", alert.id,
                        f"webhook {alert.webhook_id}" if alert.webhook_id else "inline url",
                        delivery.attempts, delivery.error)
        return delivery

    async def _deliver(self, client: httpx.AsyncClient, alert: AlertRow, state: str,
                       previous: str, value: float | None, start: datetime,
                       end: datetime) -> Delivery:
        url, secret = alert.url, None
        if alert.webhook_id is not None:
            async with self.db.session() as session:
                hook = await store.find_webhook(session, alert.webhook_id)
            if hook is None:
                return Delivery(ok=False, attempts=0, error="webhook no longer exists")
            try:
                url, secret = hook.url, open_secret(self._secrets, hook)
            except SealedSecretError:  # never sent unsigned to a receiver that checks
                return Delivery(ok=False, attempts=0, error="the webhook's sealed secret "
                                "does not open (GATEWAY_SECRET changed?); set a new secret")
        if url is None:  # the alerts service gives every alert a webhook or a url
            return Delivery(ok=False, attempts=0, error="the alert has no webhook and no url")
        payload = notification_payload(alert, state, previous, value, start, end)
        key = hashlib.sha256(f"{payload['eventId']}:{start.isoformat()}:{state}".encode())
        return await deliver(
            client, url, payload, secret=secret, idempotency_key=key.hexdigest(),
            attempts=self.settings.webhook_attempts, backoff=self.settings.webhook_backoff_seconds,
            attempt_timeout=self.settings.webhook_timeout_seconds, sleep=self._sleep)


def _ms(value: datetime) -> int:
    return int((value - _EPOCH).total_seconds() * 1000)


def notification_payload(alert: AlertRow, state: str, previous: str, value: float | None,
                         start: datetime, end: datetime) -> dict[str, Any]:
    """The JSON body POSTed on a state change (ClickStack's generic-webhook variables, plus
    the numbers a receiver needs to act without calling back)."""
    label = alert.name or alert.measure
    relation = "meets or exceeds" if alert.threshold_type == "above" else "falls below"
    if state == "ALERT":
        title = f"Alert for \"{label}\" - {value} {relation} {alert.threshold}"
    else:
        title = f"Resolved: \"{label}\" - {value} is back within {alert.threshold}"
    return {
        "eventId": hashlib.sha256(f"{alert.id}:channel".encode()).hexdigest()[:32],
        "alertId": alert.id,
        "name": alert.name,
        "title": title,
        "message": alert.message,
        "state": state,
        "previousState": previous,
        "measure": alert.measure,
        "value": value,
        "threshold": alert.threshold,
        "thresholdType": alert.threshold_type,
        "interval": alert.interval,
        "pixelId": alert.pixel_id,
        "dashboardId": alert.dashboard_id,
        "tileId": alert.tile_id,
        "startTime": _ms(start),
        "endTime": _ms(end),
    }
