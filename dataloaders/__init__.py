"""Per-request DataLoaders: built fresh for every request (`Context.loaders`), never shared,
so nothing cached outlives the request that loaded it.

Each loader reads through a service function that takes the request's principal (scope and
pixel checked there), so no unchecked row reaches a GraphQL type, whoever calls `load`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from dataloaders.alerts import make_alert_history_loader
from dataloaders.dashboards import make_view_loader, make_widget_data_loader
from dataloaders.pixels import make_pixel_loader

if TYPE_CHECKING:
    from gateway.auth.principal import Principal
    from gateway.cost import CostLedger
    from gateway.storage import Database

__all__ = ["Loaders"]


T = TypeVar("T")


class _PerRequest(Generic[T]):
    """A `Loaders` attribute made by `make(loaders)` on first use, then kept for the
    request."""

    def __init__(self, make: Callable[[Loaders], T]) -> None:
        self._make = make

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> _PerRequest[T]: ...
    @overload
    def __get__(self, obj: Loaders, owner: type[Any]) -> T: ...

    def __get__(self, obj: Loaders | None, owner: type[Any]) -> _PerRequest[T] | T:
        if obj is None:
            return self
        made = self._make(obj)
        obj.__dict__[self._name] = made  # later reads find it before the descriptor
        return made


class Loaders:
    """The loaders of one request, each made on first use (most requests use none, and
    making all of them was a tenth of the catalog route's time). Add one per entity.
    `principal` returns the request's caller (raising its credential's error), read when a
    batch loads; `cost` is the request's cost ledger (gateway/cost.py)."""

    db: Database
    principal: Callable[[], Principal | None]
    cost: CostLedger | None

    pixel = _PerRequest(lambda o: make_pixel_loader(o.db, o.principal))
    dashboard_view = _PerRequest(lambda o: make_view_loader(o.db, o.principal))
    widget_data = _PerRequest(lambda o: make_widget_data_loader(o.db, o.principal, o.cost))
    alert_history = _PerRequest(lambda o: make_alert_history_loader(o.db, o.principal))

    def __init__(self, db: Database, principal: Callable[[], Principal | None], *,
                 cost: CostLedger | None = None) -> None:
        self.db = db
        self.principal = principal
        # The request's cost ledger: the widget-data loader admits each engine query to it.
        self.cost = cost
