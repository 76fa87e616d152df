"""Storage: SQLModel tables, the async engine, migrations and queries.

Knows nothing above it: no principals, scopes or HTTP. Services call the query functions in
the modules here with an `AsyncSession` from `Database.session()`.
"""

from gateway.storage.engine import Database

__all__ = ["Database"]
