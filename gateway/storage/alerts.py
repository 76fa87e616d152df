"""Queries for webhooks, alerts, alert history and evaluation leases."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.storage.dashboard_tables import AlertHistoryRow, AlertLeaseRow, AlertRow, WebhookRow

__all__ = [
    "claim_window",
    "count_alerts",
    "delete_alert",
    "delete_alerts_of_view",
    "delete_webhook",
    "enabled_alerts",
    "find_alert",
    "find_webhook",
    "find_webhooks",
    "history_of",
    "insert_history",
    "list_alerts",
    "list_webhooks",
    "prune_leases",
    "release_window",
    "seal_clear_secrets",
    "sync_tile_alerts",
    "update_alert_state",
    "webhook_in_use",
]


# --- webhooks -----------------------------------------------------------------------------

async def find_webhook(session: AsyncSession, webhook_id: str) -> WebhookRow | None:
    return await session.get(WebhookRow, webhook_id)


async def find_webhooks(session: AsyncSession, ids: Sequence[str]) -> dict[str, WebhookRow]:
    result = await session.execute(select(WebhookRow).where(col(WebhookRow.id).in_(list(ids))))
    return {r.id: r for r in result.scalars()}


async def list_webhooks(session: AsyncSession, pixel_id: str, *, limit: int,
                        offset: int) -> tuple[list[WebhookRow], int]:
    where = col(WebhookRow.pixel_id) == pixel_id
    total = (await session.execute(select(func.count()).select_from(WebhookRow).where(where))
             ).scalar_one()
    result = await session.execute(
        select(WebhookRow).where(where)
        .order_by(col(WebhookRow.created_at), col(WebhookRow.id)).limit(limit).offset(offset))
    return list(result.scalars()), int(total)


async def webhook_in_use(session: AsyncSession, webhook_id: str) -> bool:
    result = await session.execute(
        select(func.count()).select_from(AlertRow).where(col(AlertRow.webhook_id) == webhook_id))
    return bool(result.scalar_one())


async def delete_webhook(session: AsyncSession, webhook_id: str) -> None:
    await session.execute(delete(WebhookRow).where(col(WebhookRow.id) == webhook_id))


async def seal_clear_secrets(session: AsyncSession, seal: Callable[[str, str], str]) -> int:
    """Replace every clear-text `secret` by `seal(webhook_id, secret)` in `sealed_secret`;
    returns how many rows changed. The caller commits. On SQLite the bytes the rewrite frees
    (a cell moved within its page, an overflow page) are zeroed (secure_delete), so the
    clear text does not linger in free space; `Database.checkpoint()` after the commit
    leaves no older page copy in the WAL either."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    result = await session.execute(select(WebhookRow).where(col(WebhookRow.secret).is_not(None)))
    rows = list(result.scalars())
    if not rows:
        return 0
    if sqlite:
        await session.execute(text("PRAGMA secure_delete=ON"))
    for row in rows:
        if row.secret:
            row.sealed_secret = seal(row.id, row.secret)
        row.secret = None
    await session.flush()
    if sqlite:  # the pages are zeroed already; the pooled connection goes back as it was
        await session.execute(text("PRAGMA secure_delete=OFF"))
    return len(rows)


# --- alerts -------------------------------------------------------------------------------

async def find_alert(session: AsyncSession, alert_id: str) -> AlertRow | None:
    return await session.get(AlertRow, alert_id)


async def list_alerts(session: AsyncSession, pixel_id: str, *, limit: int,
                      offset: int) -> list[AlertRow]:
    result = await session.execute(
        select(AlertRow).where(col(AlertRow.pixel_id) == pixel_id)
        .order_by(col(AlertRow.created_at), col(AlertRow.id)).limit(limit).offset(offset))
    return list(result.scalars())


async def count_alerts(session: AsyncSession, pixel_id: str) -> int:
    result = await session.execute(
        select(func.count()).select_from(AlertRow).where(col(AlertRow.pixel_id) == pixel_id))
    return int(result.scalar_one())


async def enabled_alerts(session: AsyncSession) -> list[AlertRow]:
    result = await session.execute(
        select(AlertRow).where(col(AlertRow.enabled).is_(True)).order_by(col(AlertRow.id)))
    return list(result.scalars())


async def _delete_dependents(session: AsyncSession, alert_ids: Any) -> None:
    await session.execute(
        delete(AlertHistoryRow).where(col(AlertHistoryRow.alert_id).in_(alert_ids)))
    await session.execute(delete(AlertLeaseRow).where(col(AlertLeaseRow.alert_id).in_(alert_ids)))


async def delete_alert(session: AsyncSession, alert_id: str) -> None:
    await _delete_dependents(session, [alert_id])
    await session.execute(delete(AlertRow).where(col(AlertRow.id) == alert_id))


async def delete_alerts_of_view(session: AsyncSession, view_id: str) -> None:
    ids = select(AlertRow.id).where(col(AlertRow.dashboard_id) == view_id)
    await _delete_dependents(session, ids)
    await session.execute(delete(AlertRow).where(col(AlertRow.dashboard_id) == view_id))


async def sync_tile_alerts(session: AsyncSession, view_id: str,
                           tiles: dict[str, str]) -> None:
    """After a view's widgets changed: delete alerts on widgets that are gone, and point the
    others at their widget's current measure (`tiles`: widget id -> measure key)."""
    result = await session.execute(select(AlertRow).where(col(AlertRow.dashboard_id) == view_id))
    for alert in result.scalars():
        if alert.tile_id not in tiles:
            await delete_alert(session, alert.id)
        elif alert.measure != tiles[alert.tile_id]:
            alert.measure = tiles[alert.tile_id]
    await session.flush()


async def update_alert_state(session: AsyncSession, alert_id: str, *, state: str,
                             value: float | None, window_end: datetime,
                             errors: list[dict[str, Any]]) -> None:
    await session.execute(
        update(AlertRow).where(col(AlertRow.id) == alert_id)
        .values(state=state, last_value=value, last_window_end=window_end,
                execution_errors=errors)
        .execution_options(synchronize_session=False))


# --- history and leases -------------------------------------------------------------------

async def insert_history(session: AsyncSession, row: AlertHistoryRow) -> None:
    session.add(row)
    await session.flush()


async def history_of(session: AsyncSession, alert_ids: Sequence[str], limit: int, *,
                     pixel_id: str) -> dict[str, list[AlertHistoryRow]]:
    """The newest `limit` entries of each of `pixel_id`'s alerts among `alert_ids`, newest
    first (one query); another pixel's alert has none."""
    own = select(AlertRow.id).where(col(AlertRow.id).in_(list(alert_ids)),
                                    AlertRow.pixel_id == pixel_id)
    ranked = (
        select(AlertHistoryRow.id, func.row_number().over(
            partition_by=AlertHistoryRow.alert_id,
            order_by=(col(AlertHistoryRow.window_start).desc(), col(AlertHistoryRow.id).desc()),
        ).label("rank"))
        .where(col(AlertHistoryRow.alert_id).in_(own))
        .subquery()
    )
    result = await session.execute(
        select(AlertHistoryRow).join(ranked, col(AlertHistoryRow.id) == ranked.c.id)
        .where(ranked.c.rank <= limit)
        .order_by(col(AlertHistoryRow.window_start).desc(), col(AlertHistoryRow.id).desc()))
    out: dict[str, list[AlertHistoryRow]] = {i: [] for i in alert_ids}
    for row in result.scalars():
        out[row.alert_id].append(row)
    return out


async def claim_window(session: AsyncSession, alert_id: str, window_start: datetime,
                       owner: str, now: datetime) -> bool:
    """Claim (alert, window) for `owner`: True for the one process whose INSERT wins."""
    try:
        await session.execute(insert(AlertLeaseRow).values(
            alert_id=alert_id, window_start=window_start, owner=owner, claimed_at=now))
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return False
    return True


async def release_window(session: AsyncSession, alert_id: str, window_start: datetime) -> None:
    """Give a window back (its evaluation failed before a result): the next tick retries."""
    await session.execute(delete(AlertLeaseRow).where(
        col(AlertLeaseRow.alert_id) == alert_id, col(AlertLeaseRow.window_start) == window_start))


async def prune_leases(session: AsyncSession, before: datetime) -> None:
    """Forget claims of windows that start before `before` (never evaluated again)."""
    await session.execute(delete(AlertLeaseRow).where(col(AlertLeaseRow.window_start) < before))
