"""Alert history by alert id, batched: one query however many alerts a page lists."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from gateway.storage import Database
from gateway.storage.alerts import history_of
from gateway.storage.dashboard_tables import AlertHistoryRow

__all__ = ["HISTORY_LIMIT", "make_alert_history_loader"]

# Newest entries kept per alert in one load; the GraphQL field slices further.
HISTORY_LIMIT = 100


def make_alert_history_loader(db: Database) -> DataLoader[str, list[AlertHistoryRow]]:
    """Rows unchecked: the alert they belong to was already loaded through the service."""

    async def load(ids: list[str]) -> list[list[AlertHistoryRow]]:
        async with db.session() as session:
            found = await history_of(session, ids, HISTORY_LIMIT)
        return [found[i] for i in ids]

    return DataLoader(load_fn=load)
