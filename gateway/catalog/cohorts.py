"""The cohort measures: what each one is and how a client should read it.

The engine computes them (`gateway.engine.cohorts`, which takes its list of keys from here);
every surface describes them from here (Upstack's `measureDetails[]` of a cohort answer), so
a new cohort measure is added once. They are not in the measures catalog: they exist only
per cohort and period offset, not over an arbitrary range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["COHORT_CATALOG", "COHORT_MEASURES", "CohortMeasure", "find_cohort_measure"]


@dataclass(frozen=True)
class CohortMeasure:
    """`is_average`: the cells are not to be summed across cohorts or offsets (a rate, a
    per-customer or per-order figure, or a cumulative total); only the cohort size is."""

    key: str
    description: str
    is_average: bool = True
    is_percentage: bool = False
    preferred_trend: Literal["up", "down"] = "up"
    has_pacing: bool = False


COHORT_CATALOG: tuple[CohortMeasure, ...] = (
    CohortMeasure("orders.customers_cohort", "Customers whose first order falls in the "
                  "cohort's period", is_average=False),
    CohortMeasure("orders.cohort_retention_percent", "Customers of the cohort ordering in "
                  "the period, % of the cohort", is_percentage=True),
    CohortMeasure("orders.ltv_cohort_gross_revenue", "Revenue through the period, per "
                  "customer of the cohort"),
    CohortMeasure("orders.ltv_cohort_net_revenue", "Revenue minus refunds through the "
                  "period, per customer of the cohort"),
    CohortMeasure("orders.avg_order_value_cohort", "Revenue per order of the cohort within "
                  "the period"),
    CohortMeasure("orders.cohort_cm1", "Contribution margin 1: the cohort's cumulative net "
                  "revenue"),
    CohortMeasure("orders.cohort_cm2", "Contribution margin 2: cm1 minus the ad spend of "
                  "the cohort's first period"),
)
COHORT_MEASURES: tuple[str, ...] = tuple(m.key for m in COHORT_CATALOG)
_BY_KEY = {m.key: m for m in COHORT_CATALOG}


def find_cohort_measure(key: str) -> CohortMeasure | None:
    return _BY_KEY.get(key)


def get_cohort_measure(key: str) -> CohortMeasure:
    """A cohort measure by a key known to be one (KeyError otherwise)."""
    return _BY_KEY[key]
