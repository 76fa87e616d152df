"""Settings: one frozen object, read from the environment once by the entrypoint.

`Settings.from_environ(os.environ)` is the only code in the project that reads environment
variables. Everything else receives the object (or the values it needs) as an argument, so
tests build a `Settings(...)` directly and never patch globals.

    GATEWAY_DATABASE_URL     sqlite+aiosqlite:///./gateway.db (or postgresql+asyncpg://...)
    GATEWAY_SECRET           HMAC/JWT secret, at least 32 bytes; when unset a random one is
                             generated and kept in a file next to a SQLite database (see
                             `secret_file`). Required with any other database, and for
                             `gateway serve --workers N` (N > 1)
    GATEWAY_DB_POOL_SIZE / _MAX_OVERFLOW      5 / 5     connections per process (PostgreSQL)
    GATEWAY_DB_POOL_TIMEOUT                   10        seconds to wait for a free connection
    GATEWAY_DB_POOL_RECYCLE                   1800      seconds before a connection is renewed
    GATEWAY_DB_CONNECT_TIMEOUT                10        seconds to open a connection
    GATEWAY_DB_PGBOUNCER                      0         1: behind PgBouncer (transaction mode)
    GATEWAY_WORKER_STARTUP_SECONDS            60        `serve --workers N`: a worker's start-up
                                                        budget (and its liveness-check timeout)
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
    GATEWAY_LOGIN_ACCOUNT_BURST / _INTERVAL   10 / 60   login attempts per email, then 1 per 60 s
    GATEWAY_LOGIN_ADDRESS_BURST / _INTERVAL   20 / 6    per client address, then 1 per 6 s
    GATEWAY_LOGIN_CONCURRENCY                 0         password checks at once (0: one per core)
    GATEWAY_LOGIN_QUEUE_SECONDS               2         wait for a free check before 429
    GATEWAY_WEBHOOK_ALLOW_PRIVATE       0  (1: webhooks may target private addresses)
    GATEWAY_WEBHOOK_ALLOW_NETWORKS      "" (comma-separated CIDRs webhooks may target)
    GATEWAY_REDIS_URL        "" (redis://host:6379/0: key revocations reach every process
                             through Redis pub/sub instead of PostgreSQL LISTEN/NOTIFY)
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from gateway.files import ensure_private, write_private_once

__all__ = ["DEFAULT_DATABASE_URL", "MIN_SECRET_BYTES", "Settings", "SettingsError"]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./gateway.db"
# The secret keys HMAC-SHA256 (key hashes, JWTs): shorter than the hash's 32 bytes it is the
# weakest link, and a short one can be guessed offline from any token.
MIN_SECRET_BYTES = 32

_TRUE = {"1", "true", "yes", "on"}


class SettingsError(ValueError):
    """A setting the gateway refuses to start with (the CLI prints it and exits 2)."""


# Why a server needs its secret configured, in every refusal that says so.
_WHY_CONFIGURED = (
    "every process must hash API keys and sign login tokens with the same secret, and only "
    "a SQLite database has a place to keep a generated one; set GATEWAY_SECRET to the same "
    "value for every process (generate one: "
    "python -c 'import secrets; print(secrets.token_urlsafe(48))')")


def _check_secret(value: str, source: str) -> None:
    size = len(value.encode())
    if size < MIN_SECRET_BYTES:
        raise SettingsError(
            f"{source} is {size} bytes; it must be at least {MIN_SECRET_BYTES} (generate one: "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))')")


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
    # Webhook targets (gateway/egress.py): public addresses only, unless the operator allows
    # private ones for on-premise receivers: all of them (loopback, RFC 1918, ULA, CGNAT,
    # link-local), or just the listed networks (CIDRs). Metadata, multicast and unspecified
    # addresses stay refused either way.
    webhook_allow_private: bool = False
    webhook_allow_networks: tuple[str, ...] = ()
    # Redis, shared by every gateway process (redis://host:6379/0). When set, key changes
    # reach every process's key cache through Redis pub/sub (gateway/auth/revocation.py);
    # unset, through PostgreSQL LISTEN/NOTIFY (or a file beside a SQLite database).
    redis_url: str = ""
    # Lifetime of a login token (JWT) and its session row; short, as tokens are bearer tokens.
    session_seconds: int = 1800
    # SQLite: how long a write waits for another writer's lock before it fails (503
    # STORAGE_UNAVAILABLE for ingestion). Other processes (the CLI, more workers) hold it only
    # for one group commit or fold batch.
    sqlite_busy_timeout_seconds: float = 10.0
    # PostgreSQL connection pool, per process (gateway/storage/engine.py; sizing in
    # docs/deploy.md): `db_pool_size` kept open, up to `db_max_overflow` more under load; a
    # request waits `db_pool_timeout_seconds` for a free one before failing; connections are
    # renewed after `db_pool_recycle_seconds`. `db_pgbouncer`: the pool is PgBouncer in
    # transaction mode (no prepared statements kept per connection; no LISTEN, so key
    # revocations need `redis_url` for the key cache to be on).
    db_pool_size: int = 5
    db_max_overflow: int = 5
    db_pool_timeout_seconds: float = 10.0
    db_pool_recycle_seconds: float = 1800.0
    db_connect_timeout_seconds: float = 10.0
    db_pgbouncer: bool = False
    # `gateway serve --workers N`: how long uvicorn's supervisor waits for a worker to answer
    # its health check before killing and replacing it. uvicorn's 5 s is shorter than a
    # worker's start on a loaded machine (a spawned worker imports the whole gateway before
    # it can answer: 2-3 s on an idle 2-core box), which killed and respawned workers in a
    # loop; it is also the timeout of the periodic liveness checks afterwards.
    worker_startup_seconds: int = 60
    # How often the background writers flush the audit log and keys' lastUsedAt.
    audit_flush_seconds: float = 0.5
    usage_flush_seconds: float = 5.0
    # Event ingestion (REST, GraphQL and `gateway import`). The body limit stays below
    # `max_body_bytes` so the ingestion route answers 413 in its product's error shape.
    events_max_batch: int = 1000
    events_max_body_bytes: int = 4 * 1024 * 1024
    events_max_properties_bytes: int = 8192
    # Login throttling, per process (gateway/auth/throttle.py): per account (email) and per
    # client address a burst of attempts, then one more every interval; successes do not
    # count against the address, and reset the account. At most `login_concurrency` password
    # checks run at once (0: one per CPU core); an attempt waits `login_queue_seconds` for a
    # free one before it is refused.
    login_account_burst: int = 10
    login_account_interval_seconds: float = 60.0
    login_address_burst: int = 20
    login_address_interval_seconds: float = 6.0
    login_concurrency: int = 0
    login_queue_seconds: float = 2.0
    # argon2id cost of new password hashes (gateway/auth/passwords.py): memory in KiB,
    # passes, lanes. The defaults are RFC 9106's second recommended option and argon2-cffi's
    # own (64 MiB, 3 passes, 4 lanes). Not read from the environment: lowering them weakens
    # every password stored afterwards. The test suite lowers them (tests/conftest.py) so a
    # user costs a millisecond, not a third of a second. A stored hash carries its own
    # parameters: changing these never locks anyone out.
    password_memory_kib: int = 64 * 1024
    password_passes: int = 3
    password_lanes: int = 4

    def __post_init__(self) -> None:
        if self.secret:  # empty: generated by `with_secret`
            _check_secret(self.secret, "GATEWAY_SECRET")

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
            login_account_burst=int(environ.get("GATEWAY_LOGIN_ACCOUNT_BURST",
                                                defaults.login_account_burst)),
            login_account_interval_seconds=float(environ.get(
                "GATEWAY_LOGIN_ACCOUNT_INTERVAL", defaults.login_account_interval_seconds)),
            login_address_burst=int(environ.get("GATEWAY_LOGIN_ADDRESS_BURST",
                                                defaults.login_address_burst)),
            login_address_interval_seconds=float(environ.get(
                "GATEWAY_LOGIN_ADDRESS_INTERVAL", defaults.login_address_interval_seconds)),
            login_concurrency=int(environ.get("GATEWAY_LOGIN_CONCURRENCY",
                                              defaults.login_concurrency)),
            login_queue_seconds=float(environ.get("GATEWAY_LOGIN_QUEUE_SECONDS",
                                                  defaults.login_queue_seconds)),
            webhook_allow_private=environ.get("GATEWAY_WEBHOOK_ALLOW_PRIVATE", "0").lower()
            in _TRUE,
            webhook_allow_networks=tuple(
                n.strip() for n in environ.get("GATEWAY_WEBHOOK_ALLOW_NETWORKS", "").split(",")
                if n.strip()),
            db_pool_size=int(environ.get("GATEWAY_DB_POOL_SIZE", defaults.db_pool_size)),
            db_max_overflow=int(environ.get("GATEWAY_DB_MAX_OVERFLOW",
                                            defaults.db_max_overflow)),
            db_pool_timeout_seconds=float(environ.get("GATEWAY_DB_POOL_TIMEOUT",
                                                      defaults.db_pool_timeout_seconds)),
            db_pool_recycle_seconds=float(environ.get("GATEWAY_DB_POOL_RECYCLE",
                                                      defaults.db_pool_recycle_seconds)),
            db_connect_timeout_seconds=float(environ.get(
                "GATEWAY_DB_CONNECT_TIMEOUT", defaults.db_connect_timeout_seconds)),
            db_pgbouncer=environ.get("GATEWAY_DB_PGBOUNCER", "0").lower() in _TRUE,
            worker_startup_seconds=int(environ.get("GATEWAY_WORKER_STARTUP_SECONDS",
                                                   defaults.worker_startup_seconds)),
            redis_url=environ.get("GATEWAY_REDIS_URL", ""),
        )

    def with_secret(self) -> Settings:
        """Return settings whose `secret` is set.

        A configured secret wins. Otherwise a SQLite database keeps a generated secret in a
        `<database>.secret` file beside it (mode 0600, created atomically, narrowed to 0600
        with a warning if it was wider), so keys minted by the CLI keep working for the server
        started later; SQLite `:memory:` (one process, gone at exit) gets a random one. Any
        other database refuses to start without one (SettingsError): a secret invented per
        process would make every process refuse the others' keys. SettingsError too when
        the file holds a secret shorter than `MIN_SECRET_BYTES`.
        """
        if self.secret:
            return self
        if not self.database_url.startswith("sqlite"):
            raise SettingsError(f"GATEWAY_SECRET is required with {self.backend}: "
                                + _WHY_CONFIGURED)
        path = self.secret_file
        if path is None:
            return replace(self, secret=secrets.token_urlsafe(48))
        if path.exists():
            ensure_private(path)
            value = path.read_text().strip()
        else:
            value = write_private_once(path, secrets.token_urlsafe(48) + "\n").strip()
        _check_secret(value, f"the secret in {path}")
        return replace(self, secret=value)

    def require_configured_secret(self, why: str) -> None:
        """SettingsError unless GATEWAY_SECRET was configured (call before `with_secret`):
        for a setup of several processes, such as `why` = "--workers 2"."""
        if not self.secret:
            raise SettingsError(f"GATEWAY_SECRET is required for {why}: " + _WHY_CONFIGURED)

    @property
    def backend(self) -> str:
        """The database's product, for messages: SQLite, PostgreSQL, …"""
        scheme = self.database_url.partition(":")[0].partition("+")[0]
        return {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(scheme, scheme)

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
