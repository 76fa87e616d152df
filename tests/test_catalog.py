"""The catalog is data the engine can compile (issue #2)."""

from __future__ import annotations

import re

import pytest

from gateway.catalog import CATALOG, Aggregate, Catalog, Formula, MeasureDefinition
from gateway.catalog.definitions import AGGREGATIONS, FORMATS
from gateway.catalog.formula import FormulaError, parse_formula


def test_at_least_thirty_measures_with_required_fields() -> None:
    assert len(CATALOG) >= 30
    for m in CATALOG:
        assert re.fullmatch(r"[a-z]+\.[a-z0-9_]+", m.key), m.key
        assert m.title and m.description and m.unit
        assert m.format in FORMATS
        if isinstance(m.definition, Aggregate):
            assert m.definition.fn in AGGREGATIONS
            assert (m.definition.column is None) == (m.definition.fn == "count")


def test_expected_measures_present() -> None:
    for key in ["core.new_customer_roas", "core.new_customer_mer", "core.revenue", "core.orders",
                "core.aov", "web.sessions", "web.conversion_rate", "meta.spend", "meta.cpm",
                "meta.ctr", "google.spend", "google.cpc"]:
        assert CATALOG.find(key) is not None, key


def test_titles_resolve_case_insensitively() -> None:
    found = CATALOG.resolve("nC rOaS")
    assert found is not None and found.key == "core.new_customer_roas"


def test_formula_must_reference_known_measures() -> None:
    bad = MeasureDefinition("x.y", "Y", "d", "count", "number", Formula("core.nope / 2"))
    with pytest.raises(ValueError, match=r"unknown measure core\.nope"):
        Catalog([bad])


@pytest.mark.parametrize("text", ["__import__('os')", "a.b ** 2", "core.revenue(", "x"])
def test_formula_grammar_is_closed(text: str) -> None:
    with pytest.raises(FormulaError):
        parse_formula(text)
