"""The measures catalog: ungated (any active credential may read it, whatever its scopes),
so discovery works for keys minted only to send events."""

from __future__ import annotations

import difflib

from gateway.auth.policy import require_authenticated
from gateway.auth.principal import Principal
from gateway.catalog import CATALOG, Catalog, MeasureDefinition
from gateway.errors import NotFound

__all__ = ["find_measure", "get_measure", "list_measures", "suggest_measures"]


def list_measures(principal: Principal | None, *, category: str | None = None,
                  search: str | None = None, catalog: Catalog = CATALOG
                  ) -> tuple[MeasureDefinition, ...]:
    """`Catalog.listing` for any authenticated caller: measures in catalog order, optionally
    of one category and/or matching `search`; the same tuple for the same arguments."""
    require_authenticated(principal)
    return catalog.listing(category, search)


def suggest_measures(name: str, catalog: Catalog = CATALOG, n: int = 3) -> list[str]:
    """Closest measure keys to a misspelt key or title, for error messages."""
    keys = [m.key for m in catalog]
    titles = {m.title.casefold(): m.key for m in catalog}
    close = difflib.get_close_matches(name, keys, n=n, cutoff=0.5)
    for title in difflib.get_close_matches(name.casefold(), list(titles), n=n, cutoff=0.5):
        if titles[title] not in close:
            close.append(titles[title])
    return close[:n]


def find_measure(principal: Principal | None, key_or_title: str,
                 catalog: Catalog = CATALOG) -> MeasureDefinition | None:
    """A measure by key, else by case-insensitive title; None when neither matches."""
    require_authenticated(principal)
    return catalog.resolve(key_or_title)


def get_measure(principal: Principal | None, key_or_title: str,
                catalog: Catalog = CATALOG) -> MeasureDefinition:
    """Like `find_measure`, but raises NotFound with suggestions."""
    found = find_measure(principal, key_or_title, catalog)
    if found is None:
        hint = suggest_measures(key_or_title, catalog)
        extra = f"; did you mean {', '.join(hint)}?" if hint else ""
        raise NotFound(f"Unknown measure {key_or_title!r}{extra}")
    return found
