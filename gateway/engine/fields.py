"""Fields a query may filter or group by, their operators, and their SQL expressions.

One table (`FIELDS`) answers filter discovery (`GET /db-mgmt/api/filters`), validation and
compilation, so a field cannot be listed without being queryable or the reverse.
`properties.<key>` reaches the JSON `properties` column; keys must match `PROPERTY_KEY`
(the key is still bound as a parameter, never spliced into SQL).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, and_, case, cast, false, func, literal, not_, or_
from sqlalchemy.sql.elements import ColumnElement

from gateway.channels import CHANNELS, PAID_SEARCH, PAID_SOCIAL, SOCIAL
from gateway.engine.query import And, Filter, Not, Or, Predicate
from gateway.filter_ops import OPERATORS
from gateway.storage.models import EventRow

__all__ = [
    "FIELDS",
    "OPERATORS",
    "PROPERTY_KEY",
    "FieldSpec",
    "compile_filter",
    "field_expression",
    "filter_fields",
    "find_field",
    "stored_column",
    "validate_filter",
]

T = EventRow.__table__.c  # type: ignore[attr-defined]  # SQLModel sets it at class creation

_STRING_OPS = ("equals", "not_equals", "in", "not_in", "contains", "is_set", "is_not_set")
_NUMBER_OPS = ("equals", "not_equals", "in", "not_in", "gt", "gte", "lt", "lte", "is_set",
               "is_not_set")
_BOOL_OPS = ("equals", "not_equals", "is_set", "is_not_set")
PROPERTY_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")



def _channel() -> ColumnElement[Any]:
    return case(
        (T.utm_medium.in_(PAID_SEARCH), literal("paid_search")),
        (T.utm_medium.in_(PAID_SOCIAL), literal("paid_social")),
        (T.utm_medium == "email", literal("email")),
        (T.utm_medium == "organic", literal("organic_search")),
        (T.utm_medium.in_(SOCIAL), literal("organic_social")),
        (or_(T.utm_source.is_not(None), T.referrer.is_not(None)), literal("referral")),
        else_=literal("direct"),
    )


def _customer_type() -> ColumnElement[Any]:
    return case((T.new_customer.is_(True), literal("new_customer")),
                (T.new_customer.is_(False), literal("returning_customer")), else_=None)


@dataclass(frozen=True)
class FieldSpec:
    """A filterable/groupable field: `type` is string, number or boolean."""

    name: str
    type: str
    description: str
    expression: Callable[[], ColumnElement[Any]]
    groupable: bool = True
    values: tuple[str, ...] = ()  # known values, for discovery

    @property
    def operators(self) -> tuple[str, ...]:
        return {"string": _STRING_OPS, "number": _NUMBER_OPS, "boolean": _BOOL_OPS}[self.type]


def _col(name: str) -> Callable[[], ColumnElement[Any]]:
    return lambda: T[name]


def _s(name: str, description: str, **kw: Any) -> FieldSpec:
    return FieldSpec(name, "string", description, _col(name), **kw)


def _n(name: str, description: str) -> FieldSpec:
    return FieldSpec(name, "number", description, _col(name), groupable=False)


FIELDS: dict[str, FieldSpec] = {f.name: f for f in (
    FieldSpec("event", "string", "Event name (page_view, purchase, refund, ad_spend, …).",
              _col("name")),
    _s("utm_source", "utm_source of the event's session."),
    _s("utm_medium", "utm_medium of the event's session."),
    _s("utm_campaign", "utm_campaign of the event's session."),
    _s("utm_content", "utm_content of the event's session."),
    _s("utm_term", "utm_term of the event's session."),
    FieldSpec("channel", "string", "Marketing channel derived from utm_medium, utm_source "
              "and referrer.", _channel,
              values=CHANNELS),
    _s("country", "ISO 3166-1 alpha-2 country code."),
    _s("device", "mobile, desktop or tablet."),
    _s("path", "URL path."),
    _s("referrer", "Referrer URL."),
    _s("platform", "Ad platform of ad_spend events (meta, google, tiktok).",
       values=("meta", "google", "tiktok")),
    _s("campaign", "Ad campaign of ad_spend events."),
    _s("currency", "ISO 4217 currency code."),
    _s("order_id", "Order id of purchase and refund events."),
    FieldSpec("customer_type", "string", "new_customer or returning_customer (purchases).",
              _customer_type, values=("new_customer", "returning_customer")),
    FieldSpec("new_customer", "boolean", "True for a first-time customer's purchase.",
              _col("new_customer")),
    _n("revenue", "Order (or refund) amount."),
    _n("spend", "Ad spend of ad_spend events."),
    _n("impressions", "Ad impressions of ad_spend events."),
    _n("clicks", "Ad clicks of ad_spend events."),
)}
# Upstack spells some fields with a namespace: orders.customer_type, events.name, …
_ALIASES = {"orders.customer_type": "customer_type", "events.name": "event", "name": "event"}


def find_field(name: str) -> FieldSpec | None:
    """The spec for `name` (aliases and `properties.<key>` included); None when unknown."""
    name = _ALIASES.get(name, name)
    found = FIELDS.get(name)
    if found is not None:
        return found
    if name.startswith("properties."):
        key = name.removeprefix("properties.")
        if PROPERTY_KEY.match(key):
            return FieldSpec(name, "property", f"Custom property {key}.",
                             T.properties[key].as_string)
    return None


def field_expression(name: str) -> ColumnElement[Any]:
    """The SQL expression of a groupable field; raises KeyError when unknown."""
    spec = find_field(name)
    if spec is None:
        raise KeyError(name)
    return spec.expression()


def _ops_of(spec: FieldSpec) -> tuple[str, ...]:
    return OPERATORS if spec.type == "property" else spec.operators


def validate_filter(node: Filter, path: tuple[str | int, ...] = ("filters",)
                    ) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems as (path, message); empty when the tree compiles."""
    if isinstance(node, And | Or):
        found = []
        for i, item in enumerate(node.items):
            found += validate_filter(item, (*path, "and" if isinstance(node, And) else "or", i))
        return found
    if isinstance(node, Not):
        return validate_filter(node.item, (*path, "not"))
    spec = find_field(node.field)
    if spec is None:
        return [((*path, "field"), f"unknown field {node.field!r}")]
    if node.op not in _ops_of(spec):
        ops = ", ".join(_ops_of(spec))
        return [((*path, "op"),
                 f"operator {node.op!r} is not valid for {node.field!r}; use one of {ops}")]
    if node.op in ("is_set", "is_not_set"):
        return []
    if node.op in ("in", "not_in"):
        if not isinstance(node.value, list | tuple) or not node.value:
            return [((*path, "value"), f"{node.op} needs a non-empty list")]
        values = list(node.value)
    else:
        values = [node.value]
    for v in values:
        problem = _value_problem(spec, node.op, v)
        if problem:
            return [((*path, "value"), problem)]
    return []


def _value_problem(spec: FieldSpec, op: str, v: Any) -> str | None:
    if v is None:
        return "value is required"
    if spec.type == "number" or (spec.type == "property" and op in ("gt", "gte", "lt", "lte")):
        if isinstance(v, bool) or not isinstance(v, int | float):
            return "value must be a number"
    elif spec.type == "boolean":
        if not isinstance(v, bool):
            return "value must be true or false"
    elif not isinstance(v, str | int | float) or isinstance(v, bool):
        return "value must be a string"
    return None


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def compile_predicate(p: Predicate, source: Any = None) -> ColumnElement[bool]:
    """SQL for one predicate; every value is a bound parameter.

    Two-valued on purpose (never SQL NULL), so `not` negates exactly: `not_equals`/`not_in`
    match events where the field is unset, the positive operators never do. `contains` is
    case-insensitive on every backend (lower() on both sides).

    `source`: the columns of a rollup table (`gateway.storage.rollups`), which store each
    field under its name; None: the event table.
    """
    spec = find_field(p.field)
    if spec is None:
        raise KeyError(p.field)
    if source is not None:
        col: ColumnElement[Any] = source[stored_column(spec.name)]
    elif spec.type == "property":
        key = spec.name.removeprefix("properties.")
        col = (T.properties[key].as_float()
                                   if p.op in ("gt", "gte", "lt", "lte")
                                   else T.properties[key].as_string())
    else:
        col = spec.expression()
    op, v = p.op, p.value
    if spec.type == "property" and op not in ("gt", "gte", "lt", "lte") and v is not None:
        v = [str(x) for x in v] if isinstance(v, list | tuple) else str(v)
    if op == "is_set":
        return col.is_not(None)
    if op == "is_not_set":
        return col.is_(None)
    if op == "not_equals":
        return or_(col.is_(None), col != v)
    if op == "not_in":
        return or_(col.is_(None), col.not_in(list(v)))
    if op == "equals":
        test = col == v
    elif op == "in":
        test = col.in_(list(v))
    elif op == "contains":
        test = func.lower(cast(col, String)).like(_like_pattern(str(v)), escape="\\")
    elif op == "gt":
        test = col > v
    elif op == "gte":
        test = col >= v
    elif op == "lt":
        test = col < v
    elif op == "lte":
        test = col <= v
    else:
        raise KeyError(op)
    return and_(col.is_not(None), test)


def compile_filter(node: Filter, source: Any = None) -> ColumnElement[bool]:
    if isinstance(node, Predicate):
        return compile_predicate(node, source)
    if isinstance(node, And):
        return (and_(*(compile_filter(i, source) for i in node.items)) if node.items
                else literal(True))
    if isinstance(node, Or):
        return or_(*(compile_filter(i, source) for i in node.items)) if node.items else false()
    return not_(compile_filter(node.item, source))


def stored_column(field: str) -> str:
    """The column a (canonical) field is stored under in event and rollup tables."""
    return "name" if field == "event" else field


def filter_fields(node: Filter | None) -> set[str]:
    """The canonical names of the fields a filter reads (aliases resolved)."""
    if node is None:
        return set()
    if isinstance(node, And | Or):
        return set().union(*(filter_fields(i) for i in node.items))
    if isinstance(node, Not):
        return filter_fields(node.item)
    spec = find_field(node.field)
    return {node.field if spec is None else spec.name}

