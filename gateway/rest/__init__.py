"""REST compatibility: each product's documented paths over the same resolvers and services.

A product module (`upstack.py`, later `databuddy.py`, `dashtray.py`, `clickstack.py`) holds:
- a `Surface`: its table of code -> status and its one error-body function;
- its routes, each a few lines: request -> the resolver's typed arguments -> the resolver its
  GraphQL twin calls -> body shape (the mechanism, and why: `gateway/rest/base.py`).
Wire spellings (`x-api-key`, `startTime`, `pagination.has_more`) live only in these modules.
"""

from gateway.rest.base import RestInfo, Surface, read_json, resolver_info

__all__ = ["RestInfo", "Surface", "read_json", "resolver_info"]
