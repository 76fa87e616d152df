"""Bad analytics, paging and date inputs are 400s in each surface's dialect, never 500s, and
cost bounded work (issue #10, items 3 and 7).

Filters: at most 100 conditions, 10 levels, 1,000 values per list and 5,000 in all, strings
of 1,000 characters, 64-bit integers and finite numbers (`gateway/limits.py`), refused with a
field-level INVALID_INPUT naming the bound and the path, on the three query routes, GraphQL
variables and inline literals, dashboard filters. Time zones: one check (length, IANA
spelling, ZoneInfo's every error). Dates: 2000-01-01..2100-12-31 in any zone. Paging: ASCII
digits, offset 0..10^9, negatives refused. Date-times whose offset leaves datetime's range.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from gateway.errors import InvalidInput
from tests.support import Harness, assert_graphql_error, assert_upstack_error
from tests.support_inputs import Raw, dumps, leaf, module_harness, nested

pytestmark = pytest.mark.asyncio(loop_scope="module")

QUERY, ATTRIBUTION, COHORTS = ("/db-mgmt/api/query", "/db-mgmt/api/query-attribution",
                               "/db-mgmt/api/query-cohort-analysis")
ROUTES = {QUERY: {"measures": ["core.revenue"]}, ATTRIBUTION: {}, COHORTS: {}}
RANGE = {"start": "2026-10-01", "end": "2026-10-31"}
GQL = {
    QUERY: "query Q($input: AnalyticsQueryInput!) { analytics(input: $input) { timezone } }",
    ATTRIBUTION: "query Q($input: AttributionQueryInput!) { attribution(input: $input) "
                 "{ timezone } }",
    COHORTS: "query Q($input: CohortQueryInput!) { cohortAnalysis(input: $input) { timezone } }",
}
AND10 = "".join(".and.0" for _ in range(10))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def h(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    async with module_harness(Path(tmp_path_factory.mktemp("bounds"))) as found:
        yield found


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def key(h: Harness) -> str:
    return await h.mint("analytics:read", "alerts:write", "audit:read", "dashboards:write",
                        "keys:admin")


async def _post(h: Harness, key: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return await h.client.post(path, content=dumps(body), headers={
        **h.headers(key, h.pixel_id), "content-type": "application/json"})


def _body(path: str, **extra: Any) -> dict[str, Any]:
    return {**ROUTES[path], "dateRange": RANGE, **extra}


def _error(response: httpx.Response) -> dict[str, Any]:
    assert_upstack_error(response, 400)
    errors = response.json()["errors"]
    assert len(errors) == 1, errors
    return errors[0]  # type: ignore[no-any-return]  # response JSON is Any


def _in(n: int, start: int = 0) -> dict[str, Any]:
    return {"field": "country", "op": "in", "value": [f"C{i}" for i in range(start, start + n)]}


# key, filter, message fragment
REFUSED: list[tuple[str, Any, str]] = [
    ("filters.and", {"and": [leaf(i) for i in range(1000)]}, "at most 100 conditions"),
    ("filters.or", {"or": [leaf(i) for i in range(101)]}, "at most 100 conditions"),
    ("filters.and.1.or", {"and": [{"or": [leaf(i) for i in range(60)]},
                                  {"or": [leaf(i) for i in range(60)]}]}, "100 conditions"),
    ("filters.and", {"and": [{"and": []} for _ in range(101)]}, "100 conditions"),
    ("filters", [leaf(i) for i in range(101)], "100 conditions"),  # a list is an and
    ("filters" + AND10, nested(500), "at most 10 levels"),
    ("filters" + AND10, nested(11), "at most 10 levels"),
    ("filters" + ".not" * 10, Raw('{"not":' * 11 + dumps(leaf()) + "}" * 11), "10 levels"),
    ("filters" + ".0" * 10, Raw("[" * 11 + dumps(leaf()) + "]" * 11), "10 levels"),
    ("filters.value", _in(1001), "at most 1000 values"),
    ("filters.and.5.value", {"and": [_in(1000, 1000 * i) for i in range(5)] + [leaf()]},
     "at most 5000 values in all"),
    ("filters.value", leaf(0, value="x" * 1001), "at most 1000 characters"),
    ("filters.field", {"field": "f" * 5000, "op": "equals", "value": "x"}, "1000 characters"),
    ("filters.op", {"field": "country", "op": "o" * 5000, "value": "x"}, "1000 characters"),
    ("filters.value", {"field": "revenue", "op": "gt", "value": 2**63}, "64 bits"),
    ("filters.value", {"field": "properties.n", "op": "gt", "value": 2**64 - 1}, "64 bits"),
    ("filters.value.1", {"field": "revenue", "op": "in", "value": [1, 2**63]}, "64 bits"),
    ("filters.value.0", {"field": "country", "op": "in", "value": [["DE"]]}, "list values"),
    ("filters.value", {"field": "country", "op": "equals", "value": nested(300)},
     "a filter value is"),
]


@pytest.mark.parametrize("path", list(ROUTES))
@pytest.mark.parametrize(("where", "filters", "message"), REFUSED,
                         ids=[f"{k}:{m[:12]}" for k, _, m in REFUSED])
async def test_filter_past_a_bound_is_a_field_400(h: Harness, key: str, path: str, where: str,
                                                  filters: Any, message: str) -> None:
    """Every filter bound answers INVALID_INPUT naming the bound and the path (issue #10)."""
    error = _error(await _post(h, key, path, _body(path, filters=filters)))
    assert error["key"] == where and message in error["message"], error


# Within every bound: each must compile (SQLite's expression-depth limit is 1,000).
ACCEPTED: list[Any] = [
    {"and": [leaf(i) for i in range(100)]},
    {"or": [{"field": "country", "op": "not_in", "value": [f"C{i}", "x"]} for i in range(100)]},
    {"or": [{"field": "properties.plan", "op": "contains", "value": f"p{i}"}
            for i in range(100)]},
    nested(8, {"or": [{"not": leaf(i)} for i in range(100)]}),  # 10 levels, 100 conditions
    Raw('{"not":' * 10 + dumps(leaf()) + "}" * 10),
    {"and": [_in(1000, 1000 * i) for i in range(5)]},  # 5,000 values
    {"and": [leaf(0, value="x" * 1000), {"field": "revenue", "op": "gt", "value": 2**63 - 1},
             {"field": "revenue", "op": "gte", "value": -(2**63)},
             {"field": "spend", "op": "lt", "value": 1e308}]},
]


@pytest.mark.parametrize("path", list(ROUTES))
@pytest.mark.parametrize("filters", ACCEPTED)
async def test_filter_at_the_bounds_runs(h: Harness, key: str, path: str, filters: Any) -> None:
    """A filter at each bound is served: the bounds are below what the engine can run."""
    response = await _post(h, key, path, _body(path, filters=filters))
    assert response.status_code == 200, response.text[:500]


async def test_wide_filter_is_refused_without_the_work(h: Harness, key: str) -> None:
    """`and` x 40,000 (a 2.3 MB body) is refused before any per-condition work: it held the
    event loop 10 s and 336 MB (issue #10)."""
    body = _body(QUERY, filters={"and": [leaf(i) for i in range(40_000)]})
    started = time.perf_counter()
    error = _error(await _post(h, key, QUERY, body))
    assert error["key"] == "filters.and"
    assert time.perf_counter() - started < 3  # was 10 s; ~0.1 s here, slack for a busy CI
    gql = await h.client.post("/graphql", content=dumps({"query": GQL[QUERY], "variables": {
        "input": {**body, "filters": body["filters"]}}}), headers={
        **h.headers(key, h.pixel_id), "content-type": "application/json"})
    assert_graphql_error(gql.json(), "INVALID_INPUT")


async def test_extra_filter_lists_are_bounded(h: Harness, key: str) -> None:
    """orderSettings.exclusionFilters and viewFilters take the same bounds (issue #10)."""
    many = {"orderSettings": {"exclusionFilters": [leaf(i) for i in range(101)]}}
    for path in ROUTES:
        error = _error(await _post(h, key, path, _body(path, **many)))
        assert error["key"] == "orderSettings.exclusionFilters", error
    error = _error(await _post(h, key, COHORTS, _body(COHORTS, viewFilters=nested(500))))
    assert error["key"] == "viewFilters" + AND10, error
    both = _body(QUERY, filters={"and": [leaf(i) for i in range(50)]}, orderSettings={
        "exclusionFilters": [leaf(i) for i in range(50)]})
    assert (await _post(h, key, QUERY, both)).status_code == 200


async def _graphql(h: Harness, key: str, query: str, variables: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
    response = await h.client.post("/graphql", content=dumps(
        {"query": query, "variables": variables or {}}), headers={
        **h.headers(key, h.pixel_id), "content-type": "application/json"})
    assert response.status_code == 200, response.text[:500]
    body: dict[str, Any] = response.json()
    return body


def _details(body: dict[str, Any]) -> dict[str, Any]:
    assert_graphql_error(body, "INVALID_INPUT")
    [detail] = body["errors"][0]["extensions"]["details"]
    return detail  # type: ignore[no-any-return]  # response JSON is Any


@pytest.mark.parametrize("path", list(ROUTES))
@pytest.mark.parametrize(("where", "filters", "message"), [
    ("input.filters.and", {"and": [leaf(i) for i in range(1000)]}, "100 conditions"),
    ("input.filters" + AND10, nested(500), "10 levels"),
    ("input.filters.value", {"field": "revenue", "op": "gt", "value": 2**63}, "64 bits"),
    ("input.filters.or.0.value", {"or": [_in(1001)]}, "1000 values"),
])
async def test_graphql_filter_variables_are_bounded_before_coercion(
        h: Harness, key: str, path: str, where: str, filters: Any, message: str) -> None:
    """FilterInput variables are checked before graphql-core coerces them, with the path
    from the variable's name (issue #10)."""
    body = await _graphql(h, key, GQL[path], {"input": _body(path, filters=filters)})
    detail = _details(body)
    assert detail["key"] == where and message in detail["message"], detail


async def test_graphql_filter_as_its_own_variable_and_inline(h: Harness, key: str) -> None:
    """A `FilterInput` variable anywhere, and a filter written inline, get the same bounds
    (issue #10)."""
    query = """query Q($f: FilterInput) { analytics(input: {measures: ["core.revenue"],
      dateRange: {start: "2026-10-01", end: "2026-10-31"}, filters: $f}) { timezone } }"""
    detail = _details(await _graphql(h, key, query, {"f": {"or": [leaf(i) for i in range(101)]}}))
    assert detail["key"] == "f.or"
    conditions = ", ".join(f'{{field: "country", op: "equals", value: "C{i}"}}'
                           for i in range(101))
    inline = (f'{{ analytics(input: {{measures: ["core.revenue"], dateRange: {{start: '
              f'"2026-10-01", end: "2026-10-31"}}, filters: {{and: [{conditions}]}}}}) '
              "{ timezone } }")
    assert _details(await _graphql(h, key, inline))["key"] == "filters.and"
    deep = "{and: [" * 11 + '{field: "country", op: "is_set"}' + "]}" * 11
    inline = inline.replace(f"{{and: [{conditions}]}}", deep)
    assert _details(await _graphql(h, key, inline))["key"] == "filters" + AND10
    ok = await _graphql(h, key, query, {"f": {"and": [leaf(i) for i in range(100)]}})
    assert "errors" not in ok, ok


@pytest.mark.parametrize("zone", [
    "A" * 300, "Europe/" + "x" * 250, "../../../../etc/passwd", "/etc/localtime",
    "Europe/../Europe/Berlin", "America", "Europe/Berlin\u0000", "\uff25urope/Berlin", "",
    "zone.tab", "leapseconds", "Europe/Berlin/",
])
async def test_bad_time_zone_is_a_field_400(h: Harness, key: str, zone: str) -> None:
    """One zone check (length, IANA spelling, then ZoneInfo with all its errors) on every
    route and GraphQL: a 300-character name was `OSError: File name too long` (issue #10)."""
    for path in ROUTES:
        error = _error(await _post(h, key, path, _body(path, timezone=zone)))
        assert error["key"] == "timezone", error
    body = await _graphql(h, key, GQL[QUERY], {"input": _body(QUERY, timezone=zone)})
    assert _details(body)["key"] == "timezone"


async def test_pixel_time_zone_takes_the_same_check(h: Harness) -> None:
    """Creating a pixel validates its zone with the same function (issue #10)."""
    for zone in ("A" * 300, "../etc/passwd", "America"):
        with pytest.raises(InvalidInput) as caught:
            await h.create_pixel(timezone=zone)
        assert [d.key for d in caught.value.details] == ["timezone"]


FAR_ZONES = ("Pacific/Kiritimati", "Etc/GMT+12", "Pacific/Pago_Pago", "Etc/GMT-14")


@pytest.mark.parametrize("zone", FAR_ZONES)
@pytest.mark.parametrize(("dates", "where"), [
    (("0001-01-01", "0001-01-02"), "start"), (("9999-12-30", "9999-12-31"), "start"),
    (("1999-12-31", "2000-01-01"), "start"), (("2100-12-31", "2101-01-01"), "end"),
])
async def test_dates_outside_the_window_are_400(h: Harness, key: str, zone: str,
                                                dates: tuple[str, str], where: str) -> None:
    """Dates at year 1 or 9999 in far zones were OverflowError 500s; the accepted window is
    2000-01-01..2100-12-31 (issue #10)."""
    date_range = {"start": dates[0], "end": dates[1]}
    for path in ROUTES:
        response = await _post(h, key, path, _body(path, timezone=zone, dateRange=date_range))
        assert_upstack_error(response, 400)
        keys = [e["key"] for e in response.json()["errors"]]
        assert f"dateRange.{where}" in keys and "2000-01-01" in response.text, keys
    compare = _body(QUERY, timezone=zone, compareDateRange=date_range)
    assert f"compareDateRange.{where}" in [
        e["key"] for e in (await _post(h, key, QUERY, compare)).json()["errors"]]
    gql = await _graphql(h, key, GQL[QUERY], {"input": _body(QUERY, timezone=zone,
                                                             dateRange=date_range)})
    assert_graphql_error(gql, "INVALID_INPUT")


@pytest.mark.parametrize("zone", FAR_ZONES)
async def test_dates_at_the_ends_of_the_window_are_served(h: Harness, key: str,
                                                          zone: str) -> None:
    """The window's ends bucket without overflow in any zone, coarse granularities and the
    default compare period (ten years before 2000) included (issue #10)."""
    for start, end, granularity in (("2000-01-01", "2000-01-31", "week"),
                                    ("2091-01-02", "2100-12-31", "year"),
                                    ("2100-10-01", "2100-12-31", "quarter")):
        date_range = {"start": start, "end": end}
        for path in ROUTES:
            extra = {"granularity": granularity} if path == QUERY else {}
            response = await _post(h, key, path, _body(path, timezone=zone,
                                                       dateRange=date_range, **extra))
            assert response.status_code == 200, (path, start, response.text[:300])


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("params", [
    {"offset": "9999999999999999999"}, {"offset": "-1"}, {"offset": "1000000001"},
    {"offset": "²"}, {"offset": "\u0661"}, {"offset": "1e3"}, {"offset": ""}, {"offset": " 1"},
    {"offset": "0x10"}, {"limit": "²"}, {"limit": "0"}, {"limit": "1001"}, {"limit": "-5"},
    {"limit": "9" * 5000},
])
async def test_clickstack_paging_is_strict(h: Harness, key: str, params: dict[str, str]) -> None:
    """ClickStack limit/offset: ASCII digits, offset 0..10^9, limit 1..1000; the 20-digit
    offset was an OverflowError 500 (issue #10)."""
    for path in ("/api/v2/alerts", "/api/v2/webhooks"):
        response = await h.client.get(path, params=params, headers=_bearer(key))
        assert response.status_code == 400, (path, params, response.text)
        [name] = params
        assert response.json()["message"].startswith(f"Body validation failed: {name}: must")


async def test_clickstack_largest_offset_is_served(h: Harness, key: str) -> None:
    for path in ("/api/v2/alerts", "/api/v2/webhooks"):
        response = await h.client.get(path, params={"offset": str(10**9)}, headers=_bearer(key))
        assert response.status_code == 200, response.text
        assert response.json()["meta"]["offset"] == 10**9


@pytest.mark.parametrize("query", [
    "{ alerts(offset: -1) { id } }", "{ alerts(limit: 0) { id } }",
    "{ alerts(limit: 1001) { id } }", "{ alerts(offset: 1000000001) { id } }",
    '{ auditLog(after: "²") { nextCursor } }', '{ auditLog(after: "-1") { nextCursor } }',
    '{ auditLog(after: "99999999999999999999") { nextCursor } }',
    "{ auditLog(first: 0) { nextCursor } }",
    '{ auditLog(since: "9999-12-31T23:59:59-23:59") { nextCursor } }',
    '{ auditLog(until: "0001-01-01T00:00:00+23:59") { nextCursor } }',
])
async def test_graphql_paging_is_refused_not_clamped(h: Harness, key: str, query: str) -> None:
    """GraphQL paging arguments take the services' bounds: a negative offset was silently
    accepted (issue #10)."""
    assert_graphql_error(await _graphql(h, key, query), "INVALID_INPUT")


async def test_alert_history_limit_is_refused_when_negative(h: Harness, key: str) -> None:
    """history(limit: -1) was clamped to 0 (issue #10)."""
    hook = await h.client.post("/api/v2/webhooks", json={
        "name": "ops", "url": "https://example.test/hook"}, headers=_bearer(key))
    assert hook.status_code == 200, hook.text
    alert = await h.client.post("/api/v2/alerts", json={
        "source": "measure", "measure": "core.revenue", "threshold": 1, "thresholdType": "above",
        "interval": "1h", "channel": {"type": "webhook", "webhookId": hook.json()["data"]["id"]},
    }, headers=_bearer(key))
    assert alert.status_code == 200, alert.text
    for limit in (-1, 1001):
        body = await _graphql(h, key, f"{{ alerts {{ history(limit: {limit}) {{ state }} }} }}")
        assert_graphql_error(body, "INVALID_INPUT")
    ok = await _graphql(h, key, "{ alerts { history(limit: 0) { state } } }")
    assert "errors" not in ok, ok


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": "²"}, "limit"), ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"),
    ({"limit": "-1"}, "limit"), ({"limit": "9" * 30}, "limit"), ({"limit": ""}, "limit"),
    ({"cursor": "²"}, "after"), ({"cursor": "-1"}, "after"), ({"cursor": "9" * 30}, "after"),
    ({"since": "9999-12-31T23:59:59-23:59"}, "since"),
    ({"until": "0001-01-01T00:00:00+23:59"}, "until"),
])
async def test_audit_log_paging_is_strict(h: Harness, key: str, params: dict[str, str],
                                          field: str) -> None:
    """`limit=²` passed str.isdigit and was a ValueError 500 (issue #10)."""
    response = await h.client.get("/accounts/api/audit-log", params=params,
                                  headers=h.headers(key))
    assert_upstack_error(response, 400, fields=[field])


EXTREME = ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59")


@pytest.mark.parametrize("expires", EXTREME)
async def test_key_expiry_with_an_extreme_offset_is_400(h: Harness, key: str,
                                                        expires: str) -> None:
    """An expiresAt whose offset leaves datetime's range was an OverflowError 500, on create
    and update, REST and GraphQL (issue #10)."""
    base = "/accounts/api/api-keys"
    create = await h.client.post(base, json={"name": "k", "scopes": ["analytics:read"],
                                             "pixelIds": [h.pixel_id], "expiresAt": expires},
                                 headers=h.headers(key))
    assert_upstack_error(create, 400, fields=["expiresAt"])
    key_id = (await h.client.get(base, headers=h.headers(key))).json()["apiKeys"][0]["id"]
    update = await h.client.patch(f"{base}/{key_id}", json={"expiresAt": expires},
                                  headers=h.headers(key))
    assert_upstack_error(update, 400, fields=["expiresAt"])
    body = await _graphql(h, key, """mutation($e: DateTime, $p: ID!) { createApiKey(input: {
        name: "k", scopes: ["analytics:read"], pixelIds: [$p], expiresAt: $e}) { secret } }""",
                          {"e": expires, "p": h.pixel_id})
    assert _details(body)["key"] == "expiresAt"


async def test_dashboard_dates_and_filters_take_the_same_bounds(h: Harness, key: str) -> None:
    """A view's dateRange and filters, and a widget's data range, are bounded like a query's
    (issue #10)."""
    views = "/accounts/api/dashboard/views"
    headers = h.headers(key, h.pixel_id)
    far = await h.client.post(views, json={"name": "v", "configuration": {
        "widgets": [{"measure": "core.revenue"}],
        "dateRange": {"start": "9999-12-30", "end": "9999-12-31"}}}, headers=headers)
    assert_upstack_error(far, 400, fields=["configuration.dateRange.start",
                                           "configuration.dateRange.end"])
    wide = await h.client.post(views, json={"name": "v", "configuration": {
        "widgets": [{"measure": "core.revenue"}],
        "filters": {"and": [leaf(i) for i in range(1000)]}}}, headers=headers)
    assert_upstack_error(wide, 400, fields=["configuration.filters.and"])
    made = await h.client.post(views, json={"name": "v", "configuration": {
        "widgets": [{"measure": "core.revenue"}]}}, headers=headers)
    assert made.status_code == 200, made.text
    query = """query($id: ID!, $r: WidgetDateRangeInput) { dashboardView(id: $id) {
        widgets { data(dateRange: $r) { total } } } }"""
    for start, end in (("9999-12-30", "9999-12-31"), ("0001-01-01", "0001-01-02")):
        body = await _graphql(h, key, query, {"id": made.json()["id"],
                                              "r": {"start": start, "end": end}})
        assert_graphql_error(body, "INVALID_INPUT")


@pytest.mark.parametrize(("extra", "where"), [
    ({"measures": [f"m{i}" for i in range(100_000)]}, "measures"),
    ({"dimensions": [f"d{i}" for i in range(100_000)]}, "dimensions"),
    ({"measures": ["revenue" * 150_000]}, "measures.0"),
    ({"dimensions": ["channel" * 150_000]}, "dimensions.0"),
    ({"dateRange": {"preset": "last_" * 200_000}}, "dateRange.preset"),
])
async def test_name_lists_are_refused_before_the_suggestions(h: Harness, key: str,
                                                             extra: dict[str, Any],
                                                             where: str) -> None:
    """100,000 unknown measures took 61 s (a difflib suggestion each) and answered 8.7 MB;
    past the count or the name length nothing is looked up or echoed (issue #10)."""
    started = time.perf_counter()
    response = await _post(h, key, QUERY, {**_body(QUERY), **extra})
    assert time.perf_counter() - started < 3
    assert_upstack_error(response, 400, fields=[where])
    assert len(response.content) < 2000
