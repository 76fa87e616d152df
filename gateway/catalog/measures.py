"""The built-in measures. Data only: add a measure by adding one entry.

Revenue measures aggregate `purchase` events (`revenue`), refunds aggregate `refund` events
(their `revenue` column holds the refunded amount), ad measures aggregate `ad_spend` events,
web measures aggregate `page_view` events. Channel revenue is purchases whose `utm_source`
names the channel (last touch); attribution models live in the query engine. Percentages are
in percent units (2.5 means 2.5 %).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal

from gateway.catalog.definitions import Aggregate, Condition, Format, Formula, MeasureDefinition
from gateway.catalog.formula import formula_references, parse_formula
from gateway.lru import LRU

__all__ = ["CATALOG", "Catalog"]

_PURCHASE = ("purchase",)
_NEW = Condition("new_customer", "equals", True)

# utm_source values that count as each ad platform's traffic.
_PLATFORM_SOURCES = {
    "meta": ("facebook", "instagram", "meta", "fb", "ig"),
    "google": ("google", "youtube", "adwords"),
    "tiktok": ("tiktok",),
}
_PLATFORM_TITLES = {"meta": "Meta", "google": "Google", "tiktok": "TikTok"}


def _m(key: str, title: str, description: str, fmt: Format, definition: Aggregate | Formula,
       *, unit: str | None = None, trend: Literal["up", "down"] = "up", average: bool = False,
       pacing: bool = False, synonyms: tuple[str, ...] = ()) -> MeasureDefinition:
    units = {"currency": "currency", "percentage": "percent", "multiplier": "ratio"}
    return MeasureDefinition(
        key=key, title=title, description=description, format=fmt,
        unit=unit or units.get(fmt, "count"), definition=definition,
        preferred_trend=trend, is_average=average, has_pacing=pacing,
        synonyms=synonyms,
    )


def _platform_measures(platform: str) -> list[MeasureDefinition]:
    name = _PLATFORM_TITLES[platform]
    on_platform = (Condition("platform", "equals", platform),)
    spend = Aggregate("sum", ("ad_spend",), "spend", on_platform)
    p = platform
    return [
        _m(f"{p}.spend", f"{name} Spend", f"Ad spend reported for {name}.", "currency", spend,
           trend="down", pacing=True),
        _m(f"{p}.impressions", f"{name} Impressions", f"Ad impressions on {name}.", "number",
           Aggregate("sum", ("ad_spend",), "impressions", on_platform)),
        _m(f"{p}.clicks", f"{name} Clicks", f"Ad clicks on {name}.", "number",
           Aggregate("sum", ("ad_spend",), "clicks", on_platform)),
        _m(f"{p}.cpm", f"{name} CPM", f"Cost per thousand {name} impressions.", "currency",
           Formula(f"{p}.spend / {p}.impressions * 1000"), trend="down", average=True),
        _m(f"{p}.cpc", f"{name} CPC", f"Cost per {name} click.", "currency",
           Formula(f"{p}.spend / {p}.clicks"), trend="down", average=True),
        _m(f"{p}.ctr", f"{name} CTR", f"Clicks per 100 {name} impressions.", "percentage",
           Formula(f"{p}.clicks / {p}.impressions * 100"), average=True),
        _m(f"{p}.revenue", f"{name} Revenue",
           f"Revenue of purchases whose utm_source is a {name} source (last touch).",
           "currency",
           Aggregate("sum", _PURCHASE, "revenue",
                     (Condition("utm_source", "in", _PLATFORM_SOURCES[p]),))),
        _m(f"{p}.roas", f"{name} ROAS", f"{name} revenue per unit of {name} spend.",
           "multiplier", Formula(f"{p}.revenue / {p}.spend"), average=True),
    ]


_DEFINITIONS: list[MeasureDefinition] = [
    # core: the business
    _m("core.revenue", "Revenue", "Gross revenue of all purchases.", "currency",
       Aggregate("sum", _PURCHASE, "revenue"), pacing=True, synonyms=("Gross Revenue", "Sales")),
    _m("core.orders", "Orders", "Number of purchases.", "number",
       Aggregate("count", _PURCHASE), pacing=True),
    _m("core.aov", "Average Order Value", "Revenue per order.", "currency",
       Formula("core.revenue / core.orders"), average=True, synonyms=("AOV",)),
    _m("core.refunds", "Refunds", "Amount refunded.", "currency",
       Aggregate("sum", ("refund",), "revenue"), trend="down"),
    _m("core.net_revenue", "Net Revenue", "Revenue minus refunds.", "currency",
       Formula("core.revenue - core.refunds"), pacing=True),
    _m("core.customers", "Customers", "Distinct customers who purchased.", "number",
       Aggregate("count_distinct", _PURCHASE, "user_id")),
    _m("core.new_customers", "New Customers", "Distinct first-time customers.", "number",
       Aggregate("count_distinct", _PURCHASE, "user_id", (_NEW,))),
    _m("core.new_customer_orders", "New Customer Orders", "Orders by first-time customers.",
       "number", Aggregate("count", _PURCHASE, None, (_NEW,))),
    _m("core.new_customer_revenue", "New Customer Revenue", "Revenue from first-time customers.",
       "currency", Aggregate("sum", _PURCHASE, "revenue", (_NEW,)), synonyms=("NC Revenue",)),
    _m("core.returning_customer_revenue", "Returning Customer Revenue",
       "Revenue from customers who bought before.", "currency",
       Formula("core.revenue - core.new_customer_revenue")),
    _m("core.new_customer_aov", "New Customer AOV", "Revenue per first-time order.", "currency",
       Formula("core.new_customer_revenue / core.new_customer_orders"), average=True),
    _m("core.ad_spend", "Ad Spend", "Spend across every ad platform.", "currency",
       Aggregate("sum", ("ad_spend",), "spend"), trend="down", pacing=True,
       synonyms=("Total Spend", "Blended Spend")),
    _m("core.roas", "ROAS", "Blended return on ad spend: revenue per unit of total spend.",
       "multiplier", Formula("core.revenue / core.ad_spend"), average=True,
       synonyms=("Blended ROAS",)),
    _m("core.mer", "MER", "Marketing efficiency ratio: total spend as a percentage of revenue.",
       "percentage", Formula("core.ad_spend / core.revenue * 100"), trend="down", average=True),
    _m("core.new_customer_roas", "NC ROAS",
       "New-customer ROAS: first-time customer revenue per unit of total spend.",
       "multiplier", Formula("core.new_customer_revenue / core.ad_spend"), average=True,
       synonyms=("New Customer ROAS",)),
    _m("core.new_customer_mer", "NC MER",
       "New-customer MER: total spend as a percentage of first-time customer revenue.",
       "percentage", Formula("core.ad_spend / core.new_customer_revenue * 100"), trend="down",
       average=True, synonyms=("New Customer MER",)),
    _m("core.cac", "CAC", "Customer acquisition cost: total spend per new customer.",
       "currency", Formula("core.ad_spend / core.new_customers"), trend="down", average=True,
       synonyms=("Customer Acquisition Cost",)),
    # orders: order-level detail
    _m("orders.total_revenue", "Total Order Revenue", "Gross revenue of all orders.",
       "currency", Aggregate("sum", _PURCHASE, "revenue")),
    _m("orders.refund_count", "Refunded Orders", "Number of refunds.", "number",
       Aggregate("count", ("refund",)), trend="down"),
    _m("orders.refund_rate", "Refund Rate", "Refunds per 100 orders.", "percentage",
       Formula("orders.refund_count / core.orders * 100"), trend="down", average=True),
    _m("orders.median_order_value", "Median Order Value", "The middle order value.",
       "currency", Aggregate("p50", _PURCHASE, "revenue"), average=True),
    _m("orders.p90_order_value", "90th Percentile Order Value",
       "Order value that 90 % of orders stay under.", "currency",
       Aggregate("p90", _PURCHASE, "revenue"), average=True),
    _m("orders.largest_order", "Largest Order", "Highest single order value.", "currency",
       Aggregate("max", _PURCHASE, "revenue")),
    _m("orders.revenue_per_customer", "Revenue per Customer",
       "Gross revenue per distinct purchasing customer.", "currency",
       Formula("core.revenue / core.customers"), average=True),
    # web: traffic and conversion
    _m("web.page_views", "Page Views", "Number of page views.", "number",
       Aggregate("count", ("page_view",))),
    _m("web.sessions", "Sessions", "Distinct sessions with at least one page view.", "number",
       Aggregate("count_distinct", ("page_view",), "session_id"), pacing=True),
    _m("web.visitors", "Visitors", "Distinct anonymous visitors.", "number",
       Aggregate("count_distinct", ("page_view",), "anonymous_id"), synonyms=("Users",)),
    _m("web.pages_per_session", "Pages per Session", "Page views per session.", "number",
       Formula("web.page_views / web.sessions"), average=True),
    _m("web.conversion_rate", "Conversion Rate", "Orders per 100 sessions.", "percentage",
       Formula("core.orders / web.sessions * 100"), average=True, synonyms=("CVR",)),
    _m("web.revenue_per_session", "Revenue per Session", "Revenue divided by sessions.",
       "currency", Formula("core.revenue / web.sessions"), average=True, synonyms=("RPS",)),
    _m("web.paid_sessions", "Paid Sessions", "Sessions that arrived with utm_medium cpc/paid.",
       "number", Aggregate("count_distinct", ("page_view",), "session_id",
                           (Condition("utm_medium", "in", ("cpc", "paid", "paid_social")),))),
    *_platform_measures("meta"),
    *_platform_measures("google"),
    *_platform_measures("tiktok"),
]


class Catalog:
    """An immutable, validated set of measures with look-ups by key and by title.

    Immutable, so its identity is its version: whatever is derived from a catalog (its
    listings here, the GraphQL objects and encoded REST bodies built from them) is cached by
    the identity of what it was derived from, and a changed catalog (a pixel's custom
    measures, one day) is a new `Catalog` with new listings, so nothing needs invalidating.
    """

    def __init__(self, definitions: Iterable[MeasureDefinition]) -> None:
        self._by_key: dict[str, MeasureDefinition] = {}
        for d in definitions:
            if d.key in self._by_key:
                raise ValueError(f"duplicate measure key {d.key}")
            self._by_key[d.key] = d
        self._by_title: dict[str, MeasureDefinition] = {}
        for d in self._by_key.values():
            for name in (d.title, *d.synonyms):
                self._by_title.setdefault(name.casefold(), d)
        self._validate()
        # (category, search) -> the listing; bounded, since searches are caller-chosen.
        self._listings: LRU[tuple[str | None, str | None], tuple[MeasureDefinition, ...]] = (
            LRU(64))

    def _validate(self) -> None:
        for d in self._by_key.values():
            if isinstance(d.definition, Formula):
                for ref in formula_references(parse_formula(d.definition.expression)):
                    if ref not in self._by_key:
                        raise ValueError(f"{d.key}: formula uses unknown measure {ref}")

    def __iter__(self) -> Iterator[MeasureDefinition]:
        return iter(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)

    def find(self, key: str) -> MeasureDefinition | None:
        return self._by_key.get(key)

    def get(self, key: str) -> MeasureDefinition:
        """The measure of a key already resolved against this catalog; KeyError otherwise."""
        return self._by_key[key]

    def find_by_title(self, title: str) -> MeasureDefinition | None:
        """Case-insensitive title (or synonym) look-up, for clients that speak titles."""
        return self._by_title.get(title.casefold())

    def resolve(self, key_or_title: str) -> MeasureDefinition | None:
        """A key first, then a title: what a friendly client means by a measure name."""
        return self.find(key_or_title) or self.find_by_title(key_or_title)

    def listing(self, category: str | None = None, search: str | None = None
                ) -> tuple[MeasureDefinition, ...]:
        """Measures in catalog order, optionally of one category and/or matching `search`
        (case-insensitive, in key, title, synonyms or description). The same arguments
        return the same tuple object (recent ones are kept), so what callers derive from a
        listing can be cached by its identity."""
        key = (category, search)
        found = self._listings.get(key)
        if found is None:
            found = tuple(self._select(category, search))
            self._listings.put(key, found)
        return found

    def _select(self, category: str | None, search: str | None) -> Iterator[MeasureDefinition]:
        needle = search.casefold().strip() if search else None
        for m in self._by_key.values():
            if category is not None and m.category != category:
                continue
            if needle and not any(needle in text.casefold()
                                  for text in (m.key, m.title, m.description, *m.synonyms)):
                continue
            yield m


CATALOG = Catalog(_DEFINITIONS)
