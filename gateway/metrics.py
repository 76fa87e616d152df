"""Prometheus metrics of one app, served at `GET /metrics` (issue #17).

    gateway_http_requests_total{method, route, status}           counter
    gateway_http_request_duration_seconds{method, route, status} histogram
    gateway_graphql_operations_total{operation, outcome}         counter
    gateway_engine_query_duration_seconds{served}                histogram
    gateway_engine_statements_total{source}                      counter
    gateway_engine_rows_read_total{source}                       counter
    gateway_events_ingested_total{outcome}                       counter
    gateway_rollup_folded_events_total                           counter
    gateway_rollup_lag_events                                    gauge (read at scrape)
    gateway_rate_limited_total{kind}                             counter
    gateway_build_info{version}                                  gauge, 1

Labels are bounded, so a client cannot grow the series without limit:

- `route` is the route's template (`/accounts/api/dashboard/views/{id}`), `unmatched` for a
  path no route serves; `method` is one of the HTTP methods or `other`; `status` is the class
  (`2xx` … `5xx`);
- `operation` is the GraphQL operation name for the first `MAX_OPERATION_NAMES` distinct
  names a process sees, `other` after that, `anonymous` for unnamed operations and `invalid`
  for a request with no executable operation;
- `served` is where an engine query's answer came from: `rollups` (every statement read a
  rollup), `events` (none did) or `mixed`; `source` is `rollups` or `events`;
- `outcome` of an event: `accepted`, `duplicate` or `rejected` (every event a request sends
  to ingestion past its scope check counts once); of an operation: `ok` or `error`;
- `kind` of a rate-limit refusal: `http_429` (a response with that status, any surface) or
  `graphql_error` (a `RATE_LIMITED` error in a GraphQL answer, whose HTTP status is 200).

`rows_read` counts the rows the engine's statements aggregated: raw events for `events`,
hourly rollup rows for `rollups` (each statement carries a `count(*)`; the percentile fetch
counts the values it fetched), so the two say how much work the rollups saved.

Processes: with one process the metrics live in this object's own registry (plus the
process and platform collectors). Under `gateway serve --workers N` (N > 1) a scrape reaches
one worker at random, so per-process figures would jump between scrapes: `serve` then points
prometheus_client's multiprocess mode at a fresh directory (`PROMETHEUS_MULTIPROC_DIR`,
read by `Settings`) and every worker answers with the sum over all workers. prometheus_client
decides the mode when it is first imported, so the variable must be set before the workers
start; an operator running several uvicorn or gunicorn workers directly sets it themselves.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from gateway import __version__

__all__ = ["MAX_OPERATION_NAMES", "Metrics", "route_label", "status_class"]

# Distinct GraphQL operation names kept as labels per process; later names count as "other".
MAX_OPERATION_NAMES = 100
# A GraphQL name (the spec's), at most 64 characters: an `operationName` sent in the body
# that names no operation of the document is not echoed into a label.
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
# HTTP latency: the catalog answers in about a millisecond, an analytics query in tens.
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_ENGINE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)


def status_class(status: int) -> str:
    return _STATUS_CLASSES[status // 100 - 1] if 100 <= status < 600 else "5xx"


def route_label(scope: MutableMapping[str, Any]) -> str:
    """The template of the route that handled the request (Starlette puts the route in the
    scope when it matches the path, for a wrong method too), else `unmatched`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def multiprocess_active() -> bool:
    """Whether prometheus_client stores values in files (it chose at import time)."""
    return values.ValueClass is not values.MutexValue


class Metrics:
    """The collectors of one app and the calls that record into them.

    >>> metrics = Metrics()
    >>> metrics.observe_http("GET", "/health", 200, 0.0004)
    >>> body, content_type = metrics.exposition(accept="")
    """

    def __init__(self, *, multiprocess_dir: str = "") -> None:
        self.multiprocess_dir = multiprocess_dir if multiprocess_active() else ""
        own = None if self.multiprocess_dir else CollectorRegistry(auto_describe=True)
        if own is None:
            exposed = CollectorRegistry()
            # untyped in prometheus_client 0.26 (its __init__ has no annotations)
            MultiProcessCollector(exposed, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        else:
            exposed = own
            ProcessCollector(registry=own)
            PlatformCollector(registry=own)
        self.registry = exposed
        http = ("method", "route", "status")
        self.http_requests = Counter("gateway_http_requests", "HTTP requests answered.", http,
                                     registry=own)
        self.http_duration = Histogram(
            "gateway_http_request_duration_seconds",
            "Time from receiving a request to the end of its response.", http,
            buckets=_HTTP_BUCKETS, registry=own)
        self.graphql_operations = Counter(
            "gateway_graphql_operations", "GraphQL operations executed, by operation name.",
            ("operation", "outcome"), registry=own)
        self.engine_duration = Histogram(
            "gateway_engine_query_duration_seconds",
            "Analytics engine queries (queries, widgets, alerts), by where they were served "
            "from.", ("served",), buckets=_ENGINE_BUCKETS, registry=own)
        self.engine_statements = Counter(
            "gateway_engine_statements", "SQL statements the engine ran, by what they read.",
            ("source",), registry=own)
        self.engine_rows = Counter(
            "gateway_engine_rows_read",
            "Rows the engine's statements aggregated: raw events or hourly rollup rows.",
            ("source",), registry=own)
        self.events = Counter("gateway_events_ingested", "Events sent to ingestion.",
                              ("outcome",), registry=own)
        self.rollup_folded = Counter("gateway_rollup_folded_events",
                                     "Events folded into the rollups.", registry=own)
        self.rollup_lag = Gauge("gateway_rollup_lag_events",
                                "Stored events not yet folded into the rollups.",
                                registry=own, multiprocess_mode="mostrecent")
        self.rate_limited = Counter("gateway_rate_limited", "Requests refused by a rate "
                                    "limit.", ("kind",), registry=own)
        build = Gauge("gateway_build_info", "The gateway's version (always 1).", ("version",),
                      registry=own, multiprocess_mode="max")
        build.labels(__version__).set(1)
        # Children by label values: `labels()` validates and locks on every call.
        self._http: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._operations: dict[tuple[str, str], Any] = {}
        self._names: set[str] = set()

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._http.get(key)
        if children is None:
            labels = (method if method in _METHODS else "other", route, status_class(status))
            children = (self.http_requests.labels(*labels), self.http_duration.labels(*labels))
            self._http[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if status == 429:
            self.rate_limited.labels("http_429").inc()

    def operation_label(self, name: str | None) -> str:
        """The `operation` label of an operation called `name` (module docstring)."""
        if not name:
            return "anonymous"
        if name in self._names:
            return name
        if len(self._names) >= MAX_OPERATION_NAMES or not _NAME.fullmatch(name):
            return "other"
        self._names.add(name)
        return name

    def observe_operation(self, label: str, ok: bool) -> None:
        key = (label, "ok" if ok else "error")
        child = self._operations.get(key)
        if child is None:
            child = self._operations[key] = self.graphql_operations.labels(*key)
        child.inc()

    def observe_graphql_rate_limited(self) -> None:
        self.rate_limited.labels("graphql_error").inc()

    def observe_engine(self, seconds: float, rollup_statements: int, event_statements: int,
                       rollup_rows: int, event_rows: int) -> None:
        served = ("mixed" if rollup_statements and event_statements
                  else "rollups" if rollup_statements else "events")
        self.engine_duration.labels(served).observe(seconds)
        if rollup_statements:
            self.engine_statements.labels("rollups").inc(rollup_statements)
            self.engine_rows.labels("rollups").inc(rollup_rows)
        if event_statements:
            self.engine_statements.labels("events").inc(event_statements)
            self.engine_rows.labels("events").inc(event_rows)

    def observe_events(self, accepted: int, duplicates: int, rejected: int) -> None:
        for outcome, n in (("accepted", accepted), ("duplicate", duplicates),
                           ("rejected", rejected)):
            if n:
                self.events.labels(outcome).inc(n)

    def observe_fold(self, events: int) -> None:
        if events:
            self.rollup_folded.inc(events)

    def exposition(self, accept: str, *, rollup_lag: int | None = None) -> tuple[bytes, str]:
        """The metrics in the format `accept` asks for (Prometheus text by default, or
        OpenMetrics), and its content type. `rollup_lag` is set first when known."""
        if rollup_lag is not None:
            self.rollup_lag.set(rollup_lag)
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type

