"""Settings: one frozen object, read from the environment once by the entrypoint.

`Settings.from_environ(os.environ)` is the only code in the project that reads environment
variables. Everything else receives the object (or the values it needs) as an argument, so
tests build a `Settings(...)` directly and never patch globals.

    GATEWAY_DATABASE_URL     sqlite+aiosqlite:///./gateway.db (or postgresql+asyncpg://...)
    GATEWAY_SECRET           HMAC/JWT secret; when unset a random one is generated and kept
                             in a file next to a SQLite database (see `secret_file`)
    GATEWAY_HOST / _PORT     127.0.0.1 / 8000
    GATEWAY_KEY_PREFIX       upstack_
    GATEWAY_GRAPHIQL         1 (serve GraphiQL on GET /graphql from a browser)
    GATEWAY_LOG_LEVEL        info
    GATEWAY_GRAPHQL_RESULT_CACHE  1 (cache results of catalog-only operations)
    GATEWAY_ANONYMOUS_INTROSPECTION     0         introspection without a credential
    GATEWAY_GRAPHQL_MAX_DOCUMENT_BYTES  102400    a GraphQL document, refused before parsing
    GATEWAY_GRAPHQL_DOCUMENT_CACHE_BYTES 8388608  parsed + validated documents (estimated)
    GATEWAY_GRAPHQL_RESULT_CACHE_BYTES  8388608   cached catalog results (estimated)
    GATEWAY_ALERTS           1 (run the alert evaluator in this process; 0 turns it off)
    GATEWAY_ALERT_TICK       30 (seconds between evaluator passes)
    GATEWAY_SESSION_SECONDS  1800 (lifetime of a login token)
    GATEWAY_EVENTS_MAX_BATCH            1000      events per ingestion request
    GATEWAY_EVENTS_MAX_BODY_BYTES       4194304   body of POST /tr/api/events (413 past it)
    GATEWAY_EVENTS_MAX_PROPERTIES_BYTES 8192      one event's `properties`, as compact JSON
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["DEFAULT_DATABASE_URL", "Settings"]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./gateway.db"

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Everything the gateway can be configured with.

    >>> Settings(database_url="sqlite+aiosqlite:////tmp/g.db", secret="s" * 32)
    """

    database_url: str = DEFAULT_DATABASE_URL
    secret: str = field(default="", repr=False)
    host: str = "127.0.0.1"
    port: int = 8000
    key_prefix: str = "upstack_"
    graphiql: bool = True
    log_level: str = "info"
    # Largest request body any route accepts; ingestion has its own, smaller per-item limits.
    max_body_bytes: int = 5 * 1024 * 1024
    # Seconds an authenticated key stays in the per-process lookup cache. Revocation and
    # expiry never wait for it: key changes bump a cross-process signal that empties every
    # cache (gateway/auth/revocation.py), and expiry is checked against the clock on every hit.
    key_cache_seconds: float = 30.0
    # Serve operations that select only pure root fields (the catalog) from a bounded cache.
    graphql_result_cache: bool = True
    # Schema introspection (`__schema`, `__type`) for callers without a valid credential.
    # Off: anonymous requests then cost only a bounded parse and validation; a credentialed
    # caller always may, and federation's `_service { sdl }` stays open either way.
    anonymous_introspection: bool = False
    # A GraphQL document (query text) past this many UTF-8 bytes is refused unparsed.
    graphql_max_document_bytes: int = 100 * 1024
    # Byte budgets (estimated memory) of the parsed-document and catalog-result caches.
    graphql_document_cache_bytes: int = 8 * 1024 * 1024
    graphql_result_cache_bytes: int = 8 * 1024 * 1024
    # The alert evaluator: an asyncio task in each gateway process; leases in the database
    # make sure only one process evaluates an alert's window.
    alerts_enabled: bool = True
    alert_tick_seconds: float = 30.0
    # Webhook delivery: attempts per notification, first backoff (doubled each retry, capped
    # at 10 s, with jitter), and the timeout of one attempt.
    webhook_attempts: int = 3
    webhook_backoff_seconds: float = 1.0
    webhook_timeout_seconds: float = 10.0
    # Lifetime of a login token (JWT) and its session row; short, as tokens are bearer tokens.
    session_seconds: int = 1800
    # How often the background writers flush the audit log and keys' lastUsedAt.
    audit_flush_seconds: float = 0.5
    usage_flush_seconds: float = 5.0
    # Event ingestion (REST, GraphQL and `gateway import`). The body limit stays below
    # `max_body_bytes` so the ingestion route answers 413 in its product's error shape.
    events_max_batch: int = 1000
    events_max_body_bytes: int = 4 * 1024 * 1024
    events_max_properties_bytes: int = 8192

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from an environment mapping (usually `os.environ`)."""
        defaults = cls()
        return cls(
            database_url=environ.get("GATEWAY_DATABASE_URL", defaults.database_url),
            secret=environ.get("GATEWAY_SECRET", ""),
            host=environ.get("GATEWAY_HOST", defaults.host),
            port=int(environ.get("GATEWAY_PORT", defaults.port)),
            key_prefix=environ.get("GATEWAY_KEY_PREFIX", defaults.key_prefix),
            graphiql=environ.get("GATEWAY_GRAPHIQL", "1").lower() in _TRUE,
            log_level=environ.get("GATEWAY_LOG_LEVEL", defaults.log_level),
            graphql_result_cache=environ.get("GATEWAY_GRAPHQL_RESULT_CACHE", "1").lower()
            in _TRUE,
            anonymous_introspection=environ.get("GATEWAY_ANONYMOUS_INTROSPECTION", "0").lower()
            in _TRUE,
            graphql_max_document_bytes=int(environ.get(
                "GATEWAY_GRAPHQL_MAX_DOCUMENT_BYTES", defaults.graphql_max_document_bytes)),
            graphql_document_cache_bytes=int(environ.get(
                "GATEWAY_GRAPHQL_DOCUMENT_CACHE_BYTES", defaults.graphql_document_cache_bytes)),
            graphql_result_cache_bytes=int(environ.get(
                "GATEWAY_GRAPHQL_RESULT_CACHE_BYTES", defaults.graphql_result_cache_bytes)),
            alerts_enabled=environ.get("GATEWAY_ALERTS", "1").lower() in _TRUE,
            alert_tick_seconds=float(environ.get("GATEWAY_ALERT_TICK",
                                                 defaults.alert_tick_seconds)),
            session_seconds=int(environ.get("GATEWAY_SESSION_SECONDS",
                                            defaults.session_seconds)),
            events_max_batch=int(environ.get("GATEWAY_EVENTS_MAX_BATCH",
                                             defaults.events_max_batch)),
            events_max_body_bytes=int(environ.get("GATEWAY_EVENTS_MAX_BODY_BYTES",
                                                  defaults.events_max_body_bytes)),
            events_max_properties_bytes=int(environ.get(
                "GATEWAY_EVENTS_MAX_PROPERTIES_BYTES", defaults.events_max_properties_bytes)),
        )

    def with_secret(self) -> Settings:
        """Return settings whose `secret` is set.

        A configured secret wins. Otherwise a SQLite database keeps a generated secret in a
        `<database>.secret` file beside it (mode 0600), so keys minted by the CLI keep working
        for the server started later. A server database without a configured secret gets a
        process-local random one, which only suits throwaway runs.
        """
        if self.secret:
            return self
        path = self.secret_file
        if path is None:
            return replace(self, secret=secrets.token_urlsafe(48))
        if path.exists():
            return replace(self, secret=path.read_text().strip())
        path.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(value + "\n")
        return replace(self, secret=value)

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a SQLite URL, or None for other backends and `:memory:`."""
        if not self.database_url.startswith("sqlite"):
            return None
        _, _, rest = self.database_url.partition(":///")
        if not rest or rest.startswith(":memory:"):
            return None
        return Path(rest)

    @property
    def secret_file(self) -> Path | None:
        db = self.sqlite_path
        return None if db is None else db.with_name(db.name + ".secret")
