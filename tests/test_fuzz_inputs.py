"""Property: no query body, filter or paging parameter makes a 500 (issue #10).

Hypothesis generates query bodies (measures, dimensions, date ranges, time zones,
granularities, limits) with filters of random shapes and sizes: wide groups, deep chains,
lists, huge and non-finite numbers, Unicode digits, long strings, values that are not
scalars. Each goes through the real app on REST (the three Upstack query routes) and GraphQL
(variables); paging parameters go to ClickStack, the audit log and GraphQL. The property: the
status is below 500, and a 4xx has the surface's error shape (GraphQL: coded or GraphQL's own
errors, never a masked one). One app per module, seeded once; the requests only read.

Derandomized, so the suite is repeatable; explore further with e.g.
`pytest tests/test_fuzz_inputs.py --hypothesis-seed=$RANDOM` after raising EXAMPLES.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.engine import FIELDS, OPERATORS
from gateway.periods import GRANULARITIES, PRESETS
from gateway.storage.events import insert_events
from tests.support import Harness
from tests.support_inputs import (
    Raw,
    assert_clickstack_4xx,
    assert_graphql_4xx,
    assert_upstack_4xx,
    dumps,
    module_harness,
)
from tests.support_query import generate

pytestmark = pytest.mark.asyncio(loop_scope="module")

EXAMPLES = 50
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

QUERY, ATTRIBUTION, COHORTS = ("/db-mgmt/api/query", "/db-mgmt/api/query-attribution",
                               "/db-mgmt/api/query-cohort-analysis")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def h(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    async with module_harness(Path(tmp_path_factory.mktemp("fuzz"))) as found:
        events = generate(found.pixel_id, seed=10, start=datetime(2026, 9, 1, tzinfo=UTC),
                          days=60, n=300)
        async with found.state.db.session() as session:
            await insert_events(session, events)
            await session.commit()
        yield found


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def key(h: Harness) -> str:
    return await h.mint("analytics:read", "alerts:read", "audit:read")


# Scalars ----------------------------------------------------------------------------------

DIGITS = "0123456789-+ .e²³¹١٢٣٠０１２۳"  # noqa: RUF001  # look-alikes int() takes; bounds must not
text = st.text(max_size=40)
digit_text = st.text(alphabet=DIGITS, max_size=25)
long_text = st.builds(lambda n, c: c * n, st.integers(0, 3000), st.sampled_from("xé€\x00"))
integers = st.one_of(st.integers(-1000, 1000), st.integers(-(2**70), 2**70),
                     st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64]))
scalars = st.one_of(st.none(), st.booleans(), integers, st.floats(), text, digit_text,
                    long_text)

# Filters ----------------------------------------------------------------------------------

field_names = st.one_of(st.sampled_from([*FIELDS, "properties.plan", "properties.n",
                                         "orders.customer_type", "events.name"]),
                        text, long_text)
operators = st.one_of(st.sampled_from(OPERATORS), text)
values = st.one_of(scalars, st.lists(scalars, max_size=12),
                   st.builds(lambda n, v: [v] * n, st.integers(0, 1500), scalars),
                   st.dictionaries(text, scalars, max_size=3))
leaves = st.one_of(
    st.fixed_dictionaries({"field": field_names, "op": operators},
                          optional={"value": values, "operator": operators}),
    scalars, st.dictionaries(text, scalars, max_size=3))


def _groups(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    items = st.lists(children, max_size=6)
    return st.one_of(items, st.builds(lambda i: {"and": i}, items),
                     st.builds(lambda i: {"or": i}, items),
                     st.builds(lambda c: {"not": c}, children),
                     st.builds(lambda c: {"and": c}, scalars))


trees = st.recursive(leaves, _groups, max_leaves=40)
wide = st.builds(lambda n, k, leaf: {k: [leaf] * n}, st.integers(0, 3000),
                 st.sampled_from(["and", "or"]), leaves)
deep = st.builds(lambda n, k, inner: Raw(f'{{"{k}":[' * n + dumps(inner) + "]}" * n),
                 st.integers(0, 520), st.sampled_from(["and", "or"]), trees)
deep_not = st.builds(lambda n, inner: Raw('{"not":' * n + dumps(inner) + "}" * n),
                     st.integers(0, 1100), leaves)
filters = st.one_of(st.none(), trees, wide, deep, deep_not)

# Bodies -----------------------------------------------------------------------------------

days = st.one_of(st.dates(date(2026, 6, 1), date(2026, 12, 31)), st.dates(),
                 st.sampled_from([date(2000, 1, 1), date(2100, 12, 31), date(1999, 12, 31),
                                  date(1, 1, 1), date(9999, 12, 31)]))
day_text = st.one_of(days.map(date.isoformat), digit_text, text)
date_ranges = st.one_of(
    st.sampled_from(PRESETS), text,
    st.fixed_dictionaries({}, optional={"start": day_text, "end": day_text,
                                        "preset": st.one_of(st.sampled_from(PRESETS), text)}))
zones = st.one_of(st.sampled_from(["UTC", "Europe/Berlin", "Pacific/Kiritimati", "Etc/GMT+12",
                                   "America/Argentina/ComodRivadavia", "../etc/passwd",
                                   "America", "Europe/Berlin/"]), text, long_text)
many = st.builds(lambda n, name: [name] * n, st.integers(0, 3000), st.one_of(text, long_text))
measures = st.one_of(st.lists(st.one_of(st.sampled_from(
    ["core.revenue", "web.sessions", "core.roas", "core.aov", "Revenue"]), text, long_text),
    max_size=4), many)
dimensions = st.one_of(st.lists(st.one_of(st.sampled_from(
    ["utm_source", "channel", "country", "properties.plan", "revenue"]), text, long_text),
    max_size=6), many)
numbers = st.one_of(integers, st.floats(), text)
common = {"compareDateRange": date_ranges, "timezone": zones,
          "filters": filters, "compare": st.one_of(st.booleans(), integers)}
bodies = {
    QUERY: st.fixed_dictionaries({"measures": measures, "dateRange": date_ranges}, optional={
        **common, "dimensions": dimensions, "limit": numbers, "descending": st.booleans(),
        "granularity": st.one_of(st.sampled_from(GRANULARITIES), text),
        "orderBy": st.one_of(st.sampled_from(["core.revenue", "web.sessions"]), text)}),
    ATTRIBUTION: st.fixed_dictionaries({"dateRange": date_ranges}, optional={
        **common, "dimension": st.one_of(st.sampled_from(["utm_source", "channel"]), text),
        "attributionModel": st.one_of(st.sampled_from(["first_click", "linear", "time_decay"]),
                                      text),
        "attributionWindow": numbers, "halfLifeDays": numbers,
        "conversionEvent": st.one_of(st.just("purchase"), text, long_text),
        "orderSettings": st.fixed_dictionaries({}, optional={
            "exclusionFilters": st.one_of(st.lists(trees, max_size=4), wide)})}),
    COHORTS: st.fixed_dictionaries({"dateRange": date_ranges}, optional={
        "timezone": zones, "filters": filters, "viewFilters": filters,
        "granularity": st.one_of(st.sampled_from(["week", "month", "year"]), text),
        "measures": st.one_of(many, st.lists(st.one_of(
            st.sampled_from(["orders.customers_cohort"]), text), max_size=3))}),
}
GQL = {
    QUERY: "query Q($input: AnalyticsQueryInput!) { analytics(input: $input) { timezone "
           "primary { dt } totals { value } } }",
    ATTRIBUTION: "query Q($input: AttributionQueryInput!) { attribution(input: $input) "
                 "{ timezone primary { value } } }",
    COHORTS: "query Q($input: CohortQueryInput!) { cohortAnalysis(input: $input) "
             "{ timezone rows { cohort } } }",
}
_ENUMS = {"granularity", "attributionModel"}
_REST_ONLY = {"orderSettings", "viewFilters", "orderBy"}


def _variables(body: dict[str, Any]) -> dict[str, Any]:
    """The GraphQL input for a REST body: enum values upper-cased, REST-only keys dropped."""
    out = {k: v for k, v in body.items() if k not in _REST_ONLY}
    for name in _ENUMS & set(out):
        if isinstance(out[name], str):
            out[name] = out[name].upper()
    return out


async def _send(h: Harness, key: str, path: str, body: Any) -> None:
    headers = {**h.headers(key, h.pixel_id), "content-type": "application/json"}
    assert_upstack_4xx(await h.client.post(path, content=dumps(body), headers=headers))
    gql = dumps({"query": GQL[path], "variables": {"input": _variables(body)}})
    assert_graphql_4xx(await h.client.post("/graphql", content=gql, headers=headers))


@FUZZ
@given(body=bodies[QUERY])
async def test_query_bodies_never_500(h: Harness, key: str, body: dict[str, Any]) -> None:
    """Any /db-mgmt/api/query body or analytics input: < 500, the surface's 4xx shape."""
    await _send(h, key, QUERY, body)


@FUZZ
@given(path=st.sampled_from([ATTRIBUTION, COHORTS]), data=st.data())
async def test_attribution_and_cohort_bodies_never_500(h: Harness, key: str, path: str,
                                                       data: st.DataObject) -> None:
    """Attribution and cohort bodies, filters and viewFilters included: never a 500."""
    await _send(h, key, path, data.draw(bodies[path]))


@FUZZ
@given(filters=filters)
async def test_filters_alone_never_500(h: Harness, key: str, filters: Any) -> None:
    """Filters of every shape and size on a valid query (the rest of the body passes)."""
    await _send(h, key, QUERY, {"measures": ["core.revenue", "web.sessions"],
                                "dimensions": ["utm_source"], "granularity": "week",
                                "dateRange": {"start": "2026-09-01", "end": "2026-10-31"},
                                "filters": filters})


param_values = st.one_of(text.filter(lambda s: "\x00" not in s), digit_text,
                         integers.map(str), st.sampled_from(["", "-0", "+1", "1_000", "٣"]))
paging = st.dictionaries(st.sampled_from(["limit", "offset", "cursor", "since", "until"]),
                         param_values, max_size=3)


@settings(max_examples=EXAMPLES * 2, deadline=None, derandomize=True, database=None)
@given(path=st.sampled_from(["/api/v2/alerts", "/api/v2/webhooks", "/accounts/api/audit-log"]),
       params=paging)
async def test_rest_paging_never_500(h: Harness, key: str, path: str,
                                     params: dict[str, str]) -> None:
    """Any limit/offset/cursor/since/until text on ClickStack and the audit log: < 500."""
    clean = {k: v.encode("utf-8", "replace").decode() for k, v in params.items()}
    if path.startswith("/api/v2"):
        response = await h.client.get(path, params=clean,
                                      headers={"Authorization": f"Bearer {key}"})
        assert_clickstack_4xx(response)
    else:
        assert_upstack_4xx(await h.client.get(path, params=clean, headers=h.headers(key)))


AUDIT = ("query($f: Int!, $a: String, $s: DateTime) { auditLog(first: $f, after: $a, "
         "since: $s) { nextCursor } }")
graphql_ints = st.one_of(st.integers(-(2**31), 2**31 - 1), integers, st.none())


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None)
@given(limit=graphql_ints, offset=graphql_ints, first=graphql_ints,
       after=st.one_of(st.none(), param_values),
       since=st.one_of(st.none(), param_values, days.map(lambda d: f"{d}T23:59:59-23:59")))
async def test_graphql_paging_never_500(h: Harness, key: str, limit: int | None,
                                        offset: int | None, first: int | None,
                                        after: str | None, since: str | None) -> None:
    """alerts(limit, offset) and auditLog(first, after, since) with any values: < 500."""
    headers = {**h.headers(key, h.pixel_id), "content-type": "application/json"}
    for query, variables in (
            ("query($l: Int!, $o: Int!) { alerts(limit: $l, offset: $o) { id } }",
             {"l": limit, "o": offset}),
            (AUDIT, {"f": first, "a": after, "s": since})):
        response = await h.client.post("/graphql", headers=headers, content=dumps(
            {"query": query, "variables": variables}))
        assert_graphql_4xx(response)
