"""The marketing channel of an event, GA-style default channel grouping.

One rule, two forms: `channel_of` in Python (rollups computed at ingestion) and
`gateway.engine.fields` builds the same rule as a SQL CASE from these tables (raw scans).
tests/engine/test_rollups.py checks the two agree on every combination that matters.
"""

from __future__ import annotations

__all__ = ["CHANNELS", "PAID_SEARCH", "PAID_SOCIAL", "SOCIAL", "channel_of"]

PAID_SEARCH = ("cpc", "ppc", "paid", "paid_search", "sem")
PAID_SOCIAL = ("paid_social", "paidsocial", "social_paid")
SOCIAL = ("social", "social_organic")
CHANNELS = ("paid_search", "paid_social", "email", "organic_search", "organic_social",
            "referral", "direct")


def channel_of(utm_medium: str | None, utm_source: str | None, referrer: str | None) -> str:
    """First match wins, in this order (the SQL CASE has the same order)."""
    if utm_medium in PAID_SEARCH:
        return "paid_search"
    if utm_medium in PAID_SOCIAL:
        return "paid_social"
    if utm_medium == "email":
        return "email"
    if utm_medium == "organic":
        return "organic_search"
    if utm_medium in SOCIAL:
        return "organic_social"
    if utm_source is not None or referrer is not None:
        return "referral"
    return "direct"
