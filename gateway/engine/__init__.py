"""The analytics query engine: pure computation over the event table (no auth; services
check scopes and validate input first).

    result = await run_query(db, EngineQuery(pixel_id, ("core.revenue",), TimeRange(a, b)))

The contract shared with the dashboards issue is `EngineQuery` -> `run_query` ->
`EngineResult`; the number of SQL statements does not grow with the number of measures.
"""

from gateway.engine.attribution import (
    MODELS,
    AttributionQuery,
    AttributionResult,
    AttributionRow,
    run_attribution,
)
from gateway.engine.cohorts import (
    COHORT_MEASURES,
    CohortCell,
    CohortQuery,
    CohortResult,
    run_cohorts,
)
from gateway.engine.fields import FIELDS, OPERATORS, FieldSpec, find_field, validate_filter
from gateway.engine.query import (
    And,
    Bucket,
    EngineQuery,
    EngineResult,
    Filter,
    Not,
    Or,
    Predicate,
    TimeRange,
)
from gateway.engine.run import Limits, run_query

__all__ = [
    "COHORT_MEASURES",
    "FIELDS",
    "MODELS",
    "OPERATORS",
    "And",
    "AttributionQuery",
    "AttributionResult",
    "AttributionRow",
    "Bucket",
    "CohortCell",
    "CohortQuery",
    "CohortResult",
    "EngineQuery",
    "EngineResult",
    "FieldSpec",
    "Filter",
    "Limits",
    "Not",
    "Or",
    "Predicate",
    "TimeRange",
    "find_field",
    "run_attribution",
    "run_cohorts",
    "run_query",
    "validate_filter",
]
