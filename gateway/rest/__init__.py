"""REST compatibility: each product's documented paths over the same resolvers and services.

A product module (`upstack.py`, later `databuddy.py`, `dashtray.py`, `clickstack.py`) holds:
- a `Surface`: its table of code -> status and its one error-body function;
- its routes, each a few lines: path -> resolver call (or stored operation) -> body shape.
Wire spellings (`x-api-key`, `startTime`, `pagination.has_more`) live only in these modules.
"""

from gateway.rest.base import Surface, operation, read_json, resolver_info

__all__ = ["Surface", "operation", "read_json", "resolver_info"]
