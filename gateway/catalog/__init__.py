"""The measures catalog: definitions as data, plus look-ups.

Each measure is either an `Aggregate` over events (what to aggregate, over which event names,
under which conditions) or a `Formula` over other measures. The query engine compiles both;
nothing here runs SQL.
"""

from gateway.catalog.definitions import (
    Aggregate,
    Condition,
    Formula,
    MeasureDefinition,
)
from gateway.catalog.formula import formula_references, parse_formula
from gateway.catalog.measures import CATALOG, Catalog

__all__ = [
    "CATALOG",
    "Aggregate",
    "Catalog",
    "Condition",
    "Formula",
    "MeasureDefinition",
    "formula_references",
    "parse_formula",
]
