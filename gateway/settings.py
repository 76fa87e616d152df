"""Settings: one frozen object, read from the environment once by the entrypoint.

`Settings.from_environ(os.environ)` is the only code in the project that reads environment
variables. Everything else receives the object (or the values it needs) as an argument, so
tests build a `Settings(...)` directly and never patch globals.

    GATEWAY_DATABASE_URL     sqlite+aiosqlite:///./gateway.db (or postgresql+asyncpg://...)
    GATEWAY_SECRET           HMAC/JWT secret, at least 32 bytes; when unset a random one is
                             generated and kept in a file next to a SQLite database (see
                             `secret_file`)
    GATEWAY_HOST / _PORT     127.0.0.1 / 8000
    GATEWAY_KEY_PREFIX       upstack_
    GATEWAY_GRAPHIQL         1 (serve GraphiQL on GET /graphql from a browser)
    GATEWAY_LOG_LEVEL        info
    GATEWAY_GRAPHQL_RESULT_CACHE  1 (cache results of catalog-only operations)
    GATEWAY_ANONYMOUS_INTROSPECTION     0         introspection without a credential
    GATEWAY_GRAPHQL_MAX_DOCUMENT_BYTES  102400    a GraphQL document, refused before parsing
    GATEWAY_GRAPHQL_DOCUMENT_CACHE_BYTES 8388608  parsed + validated documents (estimated)
    GATEWAY_GRAPHQL_RESULT_CACHE_BYTES  8388608   cached catalog results (estimated)
    GATEWAY_QUERY_COST_BUDGET_MS        1000      estimated server time one request may ask
                                                  for (gateway/cost.py); past it 400 /
                                                  QUERY_TOO_COSTLY, before anything runs
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
    GATEWAY_QUERY_TIMEOUT_SECONDS       5     an analytics query's time limit (504 QUERY_TIMEOUT)
    GATEWAY_QUERY_CONCURRENCY           4     analytics queries running at once in a process
    GATEWAY_QUERY_PIXEL_CONCURRENCY     2     ... of them for one pixel
    GATEWAY_QUERY_CONNECTIONS           3     database connections one running query uses
    GATEWAY_QUERY_QUEUE_SECONDS         5     wait for a free slot before 429 RATE_LIMITED
    GATEWAY_QUERY_QUEUE_DEPTH           16    queries of one pixel waiting; more: 429 at once
    GATEWAY_WEBHOOK_ALLOW_PRIVATE       0  (1: webhooks may target private addresses)
    GATEWAY_WEBHOOK_ALLOW_NETWORKS      "" (comma-separated CIDRs webhooks may target)
    GATEWAY_CORS_ORIGINS     "" (comma-separated origins, scheme://host[:port], browser
                             pages on which may call the API with credentials; `*`: any
                             origin, without credentials; gateway/cors.py)
    GATEWAY_ACCESS_LOG       1  one line per request on the `gateway.access` logger
    GATEWAY_METRICS          1  serve GET /metrics (Prometheus) and record the metrics
    GATEWAY_METRICS_TOKEN    "" bearer token /metrics asks for; unset: loopback clients only
    PROMETHEUS_MULTIPROC_DIR "" prometheus_client's multiprocess directory (set by `gateway
                                serve --workers N`; gateway/metrics.py)

The client CLI (`gateway client ...`, gateway/cli/client.py) reads its own few variables
through `ClientEnvironment.from_environ`:

    GATEWAY_URL              base URL of the gateway
    GATEWAY_KEY (or KEY)     the API key
    GATEWAY_PIXEL (or PIXEL) the pixel id
    XDG_CONFIG_HOME, HOME    where ~/.config/gateway/client.toml is
    GATEWAY_RATE_LIMITS      "" (overrides of RATE_LIMITS: "clickstack=200/60,graphql=6000/60",
                             units per seconds of the standard tier, by policy name)
    GATEWAY_RATE_TIERS       "" (overrides of RATE_TIERS' factors: "premium=4,enterprise=50")
    GATEWAY_AUTH_FAILURE_LIMIT / _SECONDS     20 / 60   failed authentications with a header
                             credential per client address, then 429 before any key look-up
    GATEWAY_REDIS_URL        unset (redis://host:6379/0: one limiter shared by every process)
    GATEWAY_REDIS_KEY_PREFIX gateway:rl: (prefix of the limiter's Redis keys)
    GATEWAY_REDIS_TIMEOUT    0.25 (seconds a limiter call may take before deciding locally)
    GATEWAY_REDIS_RETRY_SECONDS 5 (while Redis is unreachable: seconds between attempts)

Rate limits (README, "Rate limits"): `RATE_LIMITS` is the one table of numbers, units per
period (seconds) of the standard tier, by policy name; a surface or route names its row
(gateway/rate_policy.py). A request costs one unit, the cost budget charges its estimate on
top (`Context.charge`). `RATE_TIERS` multiplies a row for a key's tier.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from gateway.auth.tiers import RATE_TIERS
from gateway.files import ensure_private, write_private_once
from gateway.ratelimit import MAX_TICKS
from gateway.storage.heavy import HeavyLimits

__all__ = ["ANONYMOUS_POLICY", "DEFAULT_DATABASE_URL", "MIN_SECRET_BYTES", "RATE_LIMITS",
           "RATE_TIERS_FACTORS", "ClientEnvironment", "Settings", "SettingsError"]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./gateway.db"
# The secret keys HMAC-SHA256 (key hashes, JWTs): shorter than the hash's 32 bytes it is the
# weakest link, and a short one can be guessed offline from any token.
MIN_SECRET_BYTES = 32

_TRUE = {"1", "true", "yes", "on"}
_ORIGIN = re.compile(r"https?://[^/\s:]+(:[0-9]{1,5})?")

# Requests without a credential, per client address, on every surface together.
ANONYMOUS_POLICY = "anonymous"

# The rate limits, one row per policy: (units, seconds) for the standard tier. One unit is
# one request; the cost budget charges more for costly ones. Vendors' own numbers where they
# publish them; ours where they do not (README, "Rate limits", says why each).
RATE_LIMITS: dict[str, tuple[int, float]] = {
    "upstack": (1200, 60.0),           # ours: 20/s sustained, a minute's burst
    "graphql": (3000, 60.0),           # ours: in units, GraphQL requests are cost-charged
    "clickstack": (100, 60.0),         # HyperDX: 100 per minute per key
    "databuddy": (300, 60.0),          # Databuddy's routes without a row of their own
    "databuddy.query": (120, 60.0),    # Databuddy: /v1/query
    "databuddy.compile": (300, 60.0),  # Databuddy: /v1/query/compile
    "databuddy.custom": (60, 60.0),    # Databuddy: /v1/query/custom
    "dashtray": (1000, 3600.0),        # Dashtray: 1,000 per hour per project
    ANONYMOUS_POLICY: (120, 60.0),     # ours, per client address
}
# What a key's tier multiplies its rows by (gateway/auth/tiers.py).
RATE_TIERS_FACTORS: dict[str, float] = {"standard": 1.0, "premium": 5.0, "enterprise": 20.0}
_HEAVY = HeavyLimits()


class SettingsError(ValueError):
    """A setting the gateway refuses to start with (the CLI prints it and exits 2)."""


def _origins(value: str) -> tuple[str, ...]:
    """GATEWAY_CORS_ORIGINS: origins as a browser sends them (no path, no trailing slash),
    or `*`. SettingsError for anything else, since a typo would fail silently in browsers."""
    found = []
    for item in value.split(","):
        origin = item.strip().rstrip("/").lower()
        if not origin:
            continue
        if origin != "*" and not _ORIGIN.fullmatch(origin):
            raise SettingsError(f"GATEWAY_CORS_ORIGINS: {item.strip()!r} is not an origin "
                                "(scheme://host[:port], e.g. https://app.example.com) or *")
        found.append(origin)
    return tuple(found)


def _check_secret(value: str, source: str) -> None:
    size = len(value.encode())
    if size < MIN_SECRET_BYTES:
        raise SettingsError(
            f"{source} is {size} bytes; it must be at least {MIN_SECRET_BYTES} (generate one: "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))')")


def _pairs(text: str, variable: str) -> list[tuple[str, str]]:
    pairs = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise SettingsError(f"{variable}: expected name=value, got {item!r}")
        pairs.append((name.strip(), value.strip()))
    return pairs


def _rate_rows(text: str) -> dict[str, tuple[int, float]]:
    """`GATEWAY_RATE_LIMITS`: "name=units/seconds,…" over the RATE_LIMITS rows."""
    rows = {}
    for name, value in _pairs(text, "GATEWAY_RATE_LIMITS"):
        if name not in RATE_LIMITS:
            raise SettingsError(f"GATEWAY_RATE_LIMITS: no policy {name!r} (there are: "
                                f"{', '.join(RATE_LIMITS)})")
        units, sep, seconds = value.partition("/")
        try:
            rows[name] = (int(units), float(seconds) if sep else 60.0)
        except ValueError:
            raise SettingsError(f"GATEWAY_RATE_LIMITS: {name}={value!r} is not "
                                "units/seconds (e.g. 600/60)") from None
    return rows


def _tier_factors(text: str) -> dict[str, float]:
    """`GATEWAY_RATE_TIERS`: "tier=factor,…" over the RATE_TIERS_FACTORS."""
    factors = {}
    for name, value in _pairs(text, "GATEWAY_RATE_TIERS"):
        try:
            factors[name] = float(value)
        except ValueError:
            raise SettingsError(f"GATEWAY_RATE_TIERS: {name}={value!r} is not a number") from None
    return factors


def _check_rates(rows: dict[str, tuple[int, float]], tiers: dict[str, float]) -> None:
    if set(tiers) != set(RATE_TIERS):
        raise SettingsError(f"rate tiers are {', '.join(RATE_TIERS)}; got {', '.join(tiers)}")
    for tier, factor in tiers.items():
        if not factor > 0:
            raise SettingsError(f"the {tier} rate tier's factor must be above 0")
    for name, (units, seconds) in rows.items():
        if units < 1 or not seconds > 0:
            raise SettingsError(f"rate limit {name}: units must be >= 1, seconds > 0")
        # The limiter's arithmetic stays exact below MAX_TICKS (gateway/ratelimit.py).
        if units * max(tiers.values()) * seconds * 1_000_000 >= MAX_TICKS:
            raise SettingsError(f"rate limit {name}: {units} per {seconds:g} s is too many "
                                "units over too long a period")


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
    # The cost budget (gateway/cost.py): the estimated server time, in ms, one request may
    # ask for. A GraphQL operation is costed before execution, each analytics query before it
    # runs (REST too); past the budget the answer is QUERY_TOO_COSTLY. What a request spends
    # is also charged against its rate limit.
    query_cost_budget_ms: int = 1_000
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
    # Origins whose pages may call the API from a browser, credentials included (their
    # cookie writes pass the CSRF origin check); "*" lets any origin read, without
    # credentials. Empty: no CORS headers at all (gateway/cors.py).
    cors_origins: tuple[str, ...] = ()
    # Lifetime of a login token (JWT) and its session row; short, as tokens are bearer tokens.
    session_seconds: int = 1800
    # SQLite: how long a write waits for another writer's lock before it fails (503
    # STORAGE_UNAVAILABLE for ingestion). Other processes (the CLI, more workers) hold it only
    # for one group commit or fold batch.
    sqlite_busy_timeout_seconds: float = 10.0
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
    # Rate limits (module docstring; gateway/rate_policy.py, gateway/ratelimit.py).
    rate_limits: dict[str, tuple[int, float]] = field(
        default_factory=lambda: dict(RATE_LIMITS))
    rate_tiers: dict[str, float] = field(default_factory=lambda: dict(RATE_TIERS_FACTORS))
    # Key guessing: failed authentications with a header credential per client address.
    auth_failure_limit: int = 20
    auth_failure_seconds: float = 60.0
    # Redis shares one limiter between processes; without it each process limits alone.
    redis_url: str | None = None
    redis_key_prefix: str = "gateway:rl:"
    redis_timeout_seconds: float = 0.25
    redis_retry_seconds: float = 5.0
    # Heavy work (analytics queries: REST, GraphQL, widgets, alerts; gateway/storage/heavy.py).
    # A query's statements run under `query_timeout_seconds`, then are cancelled in the
    # database (504 QUERY_TIMEOUT). At most `query_concurrency` queries run at once in a
    # process, `query_pixel_concurrency` of them for one pixel, each on at most
    # `query_connections` connections at once; the connection pool is sized so that heavy
    # work leaves connections free for everything else. A query waits `query_queue_seconds`
    # for its slot, behind at most `query_queue_depth` others of its pixel, then is refused
    # with 429 RATE_LIMITED and Retry-After.
    # The defaults' home is HeavyLimits (one home per bound).
    query_timeout_seconds: float = _HEAVY.timeout_seconds
    query_concurrency: int = _HEAVY.concurrency
    query_pixel_concurrency: int = _HEAVY.pixel_concurrency
    query_connections: int = _HEAVY.connections
    query_queue_seconds: float = _HEAVY.queue_seconds
    query_queue_depth: int = _HEAVY.queue_depth
    # argon2id cost of new password hashes (gateway/auth/passwords.py): memory in KiB,
    # passes, lanes. The defaults are RFC 9106's second recommended option and argon2-cffi's
    # own (64 MiB, 3 passes, 4 lanes). Not read from the environment: lowering them weakens
    # every password stored afterwards. The test suite lowers them (tests/conftest.py) so a
    # user costs a millisecond, not a third of a second. A stored hash carries its own
    # parameters: changing these never locks anyone out.
    password_memory_kib: int = 64 * 1024
    password_passes: int = 3
    password_lanes: int = 4
    # Operations (gateway/observe.py, gateway/metrics.py): the access log (one line per
    # request on the `gateway.access` logger), the metrics and who may read them: with a
    # token, whoever sends `Authorization: Bearer <token>`; without, loopback clients only.
    access_log: bool = True
    metrics: bool = True
    metrics_token: str = field(default="", repr=False)
    # prometheus_client's multiprocess directory (several worker processes): the metrics are
    # summed over the processes writing there.
    metrics_multiprocess_dir: str = ""

    def __post_init__(self) -> None:
        if self.secret:  # empty: generated by `with_secret`
            _check_secret(self.secret, "GATEWAY_SECRET")
        _check_rates(self.rate_limits, self.rate_tiers)
        if not self.query_timeout_seconds > 0:
            raise SettingsError("GATEWAY_QUERY_TIMEOUT_SECONDS must be above 0")
        for name, value in (("CONCURRENCY", self.query_concurrency),
                            ("PIXEL_CONCURRENCY", self.query_pixel_concurrency),
                            ("CONNECTIONS", self.query_connections)):
            if value < 1:
                raise SettingsError(f"GATEWAY_QUERY_{name} must be at least 1")
        if not self.query_queue_seconds >= 0 or self.query_queue_depth < 0:
            raise SettingsError("GATEWAY_QUERY_QUEUE_SECONDS and GATEWAY_QUERY_QUEUE_DEPTH "
                                "must be at least 0")

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
            query_cost_budget_ms=int(environ.get("GATEWAY_QUERY_COST_BUDGET_MS",
                                                 defaults.query_cost_budget_ms)),
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
            query_timeout_seconds=float(environ.get("GATEWAY_QUERY_TIMEOUT_SECONDS",
                                                    defaults.query_timeout_seconds)),
            query_concurrency=int(environ.get("GATEWAY_QUERY_CONCURRENCY",
                                              defaults.query_concurrency)),
            query_pixel_concurrency=int(environ.get("GATEWAY_QUERY_PIXEL_CONCURRENCY",
                                                    defaults.query_pixel_concurrency)),
            query_connections=int(environ.get("GATEWAY_QUERY_CONNECTIONS",
                                              defaults.query_connections)),
            query_queue_seconds=float(environ.get("GATEWAY_QUERY_QUEUE_SECONDS",
                                                  defaults.query_queue_seconds)),
            query_queue_depth=int(environ.get("GATEWAY_QUERY_QUEUE_DEPTH",
                                              defaults.query_queue_depth)),
            webhook_allow_private=environ.get("GATEWAY_WEBHOOK_ALLOW_PRIVATE", "0").lower()
            in _TRUE,
            webhook_allow_networks=tuple(
                n.strip() for n in environ.get("GATEWAY_WEBHOOK_ALLOW_NETWORKS", "").split(",")
                if n.strip()),
            cors_origins=_origins(environ.get("GATEWAY_CORS_ORIGINS", "")),
            access_log=environ.get("GATEWAY_ACCESS_LOG", "1").lower() in _TRUE,
            metrics=environ.get("GATEWAY_METRICS", "1").lower() in _TRUE,
            metrics_token=environ.get("GATEWAY_METRICS_TOKEN", ""),
            metrics_multiprocess_dir=environ.get("PROMETHEUS_MULTIPROC_DIR", ""),
            rate_limits={**RATE_LIMITS, **_rate_rows(environ.get("GATEWAY_RATE_LIMITS", ""))},
            rate_tiers={**RATE_TIERS_FACTORS,
                        **_tier_factors(environ.get("GATEWAY_RATE_TIERS", ""))},
            auth_failure_limit=int(environ.get("GATEWAY_AUTH_FAILURE_LIMIT",
                                               defaults.auth_failure_limit)),
            auth_failure_seconds=float(environ.get("GATEWAY_AUTH_FAILURE_SECONDS",
                                                   defaults.auth_failure_seconds)),
            redis_url=environ.get("GATEWAY_REDIS_URL") or None,
            redis_key_prefix=environ.get("GATEWAY_REDIS_KEY_PREFIX", defaults.redis_key_prefix),
            redis_timeout_seconds=float(environ.get("GATEWAY_REDIS_TIMEOUT",
                                                    defaults.redis_timeout_seconds)),
            redis_retry_seconds=float(environ.get("GATEWAY_REDIS_RETRY_SECONDS",
                                                  defaults.redis_retry_seconds)),
        )

    def with_secret(self) -> Settings:
        """Return settings whose `secret` is set.

        A configured secret wins. Otherwise a SQLite database keeps a generated secret in a
        `<database>.secret` file beside it (mode 0600, created atomically, narrowed to 0600
        with a warning if it was wider), so keys minted by the CLI keep working for the server
        started later. A server database without a configured secret gets a process-local
        random one, which only suits throwaway runs. SettingsError when the file holds a
        secret shorter than `MIN_SECRET_BYTES`.
        """
        if self.secret:
            return self
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

    @property
    def heavy_limits(self) -> HeavyLimits:
        """The bounds on analytics queries these settings ask for (gateway/storage/heavy.py)."""
        return HeavyLimits(
            timeout_seconds=self.query_timeout_seconds, concurrency=self.query_concurrency,
            pixel_concurrency=self.query_pixel_concurrency, connections=self.query_connections,
            queue_seconds=self.query_queue_seconds, queue_depth=self.query_queue_depth)

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


@dataclass(frozen=True)
class ClientEnvironment:
    """What the client CLI takes from the environment (empty: not set). `config_home` is
    `$XDG_CONFIG_HOME`, else `$HOME/.config`."""

    url: str = ""
    key: str = ""
    pixel: str = ""
    config_home: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ClientEnvironment:
        home = environ.get("XDG_CONFIG_HOME") or (
            str(Path(environ["HOME"]) / ".config") if environ.get("HOME") else "")
        return cls(url=environ.get("GATEWAY_URL", ""),
                   key=environ.get("GATEWAY_KEY") or environ.get("KEY", ""),
                   pixel=environ.get("GATEWAY_PIXEL") or environ.get("PIXEL", ""),
                   config_home=home)
