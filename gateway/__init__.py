"""The gateway: a GraphQL API gateway for product-analytics data.

`create_app(settings)` in `gateway.app` builds the ASGI application; `gateway.cli` is the
command line. Nothing here has import-time side effects.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
