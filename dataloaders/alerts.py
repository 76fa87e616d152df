"""Alert history by alert id, batched: one query however many alerts a page lists."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader

from gateway.services.alerts import history_of_alerts

if TYPE_CHECKING:
    from gateway.auth.principal import Principal
    from gateway.storage import Database
    from gateway.storage.dashboard_tables import AlertHistoryRow

__all__ = ["HISTORY_LIMIT", "make_alert_history_loader"]

# Newest entries kept per alert in one load; the GraphQL field slices further.
HISTORY_LIMIT = 100


def make_alert_history_loader(db: Database, principal: Callable[[], Principal | None]
                              ) -> DataLoader[str, list[AlertHistoryRow]]:
    """History of the request pixel's alerts (alerts:read); another pixel's alert has none."""

    async def load(ids: list[str]) -> list[list[AlertHistoryRow]]:
        found = await history_of_alerts(db, principal(), ids, HISTORY_LIMIT)
        return [found.get(i, []) for i in ids]

    return DataLoader(load_fn=load)
