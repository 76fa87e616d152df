"""Demo data: an organization, a pixel and 90 days of realistic events and ad spend.

Deterministic for a given seed. Traffic has a weekly rhythm and slow growth; purchases come
from sessions (about 2.5 %), a third of them from first-time customers; some orders are
refunded; Meta, Google and TikTok each report spend, impressions and clicks per campaign and
day, and sessions arrive with the matching utm_source so channel measures have data.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.auth.principal import system_principal
from gateway.services.keys import create_key
from gateway.services.tenancy import create_organization, create_pixel
from gateway.settings import Settings
from gateway.storage import Database
from gateway.storage.events import insert_events
from gateway.storage.tenancy import list_organizations, list_pixels

__all__ = ["DemoResult", "generate_events", "seed_demo"]

DEMO_ORG = "Demo Store"
DEMO_PIXEL = "demo-store.example"
DEMO_SCOPES = ["analytics:read", "dashboards:write", "events:write", "keys:admin", "users:admin",
               "alerts:write"]

_SOURCES = [  # utm_source, utm_medium, share of sessions
    (None, None, 0.30), ("google", "cpc", 0.22), ("facebook", "paid_social", 0.18),
    ("instagram", "paid_social", 0.07), ("tiktok", "paid_social", 0.06),
    ("newsletter", "email", 0.09), ("google", "organic", 0.08),
]
_CAMPAIGNS = {"meta": ["prospecting", "retargeting"], "google": ["brand", "shopping"],
              "tiktok": ["spark"]}
_PLATFORM_OF = {"google": "google", "facebook": "meta", "instagram": "meta", "tiktok": "tiktok"}
_PATHS = ["/", "/collections/all", "/products/tee", "/products/hoodie", "/products/cap",
          "/cart", "/blog/fit-guide"]
_COUNTRIES = ["US", "US", "US", "GB", "DE", "CA", "AU", "FR"]
_DEVICES = ["mobile", "mobile", "desktop", "tablet"]


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def generate_events(pixel_id: str, *, days: int = 90, end: datetime, seed: int = 7,
                    sessions_per_day: int = 400,
                    timezone: str = "UTC") -> Iterator[dict[str, Any]]:
    """Yield event rows (column dicts) for `days` local days ending the day before `end`."""
    rng = random.Random(seed)  # noqa: S311  # seeded on purpose: the same demo every run
    # Days are the pixel's local days, as ingestion reads an ad_spend `date` (local midnight)
    # and the engine buckets: spend stamped at UTC midnight would land on the previous
    # local day west of Greenwich. Aware arithmetic keeps midnight across DST changes.
    local_end = end.astimezone(ZoneInfo(timezone))
    start_day = (local_end - timedelta(days=days)).replace(hour=0, minute=0, second=0,
                                                          microsecond=0)
    customers: list[str] = []
    order_no = 1000
    for d in range(days):
        day = start_day + timedelta(days=d)
        weekly = 1.0 + 0.18 * math.sin(2 * math.pi * (day.weekday() - 1) / 7)
        growth = 1.0 + 0.35 * d / days
        n_sessions = max(1, int(rng.gauss(sessions_per_day * weekly * growth, 25)))
        received = _ms(day + timedelta(days=1))
        paid_clicks: dict[tuple[str, str], int] = {}
        for _ in range(n_sessions):
            source, medium, _w = rng.choices(_SOURCES, weights=[s[2] for s in _SOURCES])[0]
            platform = _PLATFORM_OF.get(source or "") if medium != "organic" else None
            campaign = rng.choice(_CAMPAIGNS[platform]) if platform else None
            if platform and campaign:
                paid_clicks[(platform, campaign)] = paid_clicks.get((platform, campaign), 0) + 1
            anon = uuid.UUID(int=rng.getrandbits(128)).hex
            session = uuid.UUID(int=rng.getrandbits(128)).hex
            t = day + timedelta(seconds=rng.randrange(86_400 - 900))
            country, device = rng.choice(_COUNTRIES), rng.choice(_DEVICES)
            common = {"pixel_id": pixel_id, "anonymous_id": anon, "session_id": session,
                      "utm_source": source, "utm_medium": medium, "utm_campaign": campaign,
                      "country": country, "device": device, "received_at": received}
            for i in range(1 + min(int(rng.expovariate(0.45)), 9)):
                path = rng.choice(_PATHS)
                yield {**common, "name": "page_view", "ts": _ms(t + timedelta(seconds=40 * i)),
                       "path": path, "url": f"https://{DEMO_PIXEL}{path}",
                       "referrer": None if source is None else f"https://{source}.com/"}
            if rng.random() < 0.025 * (1.3 if platform else 1.0):
                new = not customers or rng.random() < 0.35
                user = f"cust_{len(customers) + 1:05d}" if new else rng.choice(customers)
                if new:
                    customers.append(user)
                order_no += 1
                revenue = round(max(9.0, rng.lognormvariate(4.1, 0.45)), 2)
                bought = t + timedelta(minutes=rng.randrange(3, 14))
                yield {**common, "name": "purchase", "ts": _ms(bought), "user_id": user,
                       "order_id": f"#{order_no}", "revenue": revenue, "currency": "USD",
                       "new_customer": new, "path": "/checkout/thank-you"}
                if rng.random() < 0.06:
                    yield {**common, "name": "refund", "user_id": user,
                           "ts": _ms(bought + timedelta(days=rng.randrange(1, 10))),
                           "order_id": f"#{order_no}",
                           "revenue": round(revenue * rng.choice([1.0, 1.0, 0.5]), 2),
                           "currency": "USD"}
        for platform, campaigns in _CAMPAIGNS.items():
            for campaign in campaigns:
                clicks = paid_clicks.get((platform, campaign), 0) + rng.randrange(5, 40)
                ctr = {"meta": 0.011, "google": 0.035, "tiktok": 0.008}[platform]
                cpc = {"meta": 0.95, "google": 1.25, "tiktok": 0.55}[platform]
                yield {"pixel_id": pixel_id, "name": "ad_spend", "ts": _ms(day),
                       "received_at": received, "platform": platform, "campaign": campaign,
                       "clicks": clicks, "impressions": int(clicks / ctr * rng.uniform(0.8, 1.2)),
                       "spend": round(clicks * cpc * rng.uniform(0.85, 1.15), 2),
                       "currency": "USD",
                       "event_id": f"ad_spend:{platform}:{campaign}:{day.date().isoformat()}"}


@dataclass(frozen=True)
class DemoResult:
    organization_id: str
    pixel_id: str
    key: str
    created: bool  # False when the demo data already existed
    events: int


async def seed_demo(db: Database, settings: Settings, *, now: datetime | None = None,
                    days: int = 90, sessions_per_day: int = 400,
                    progress: Callable[[int, int], None] | None = None) -> DemoResult:
    """Create the demo organization, pixel and events once; mint a fresh demo key every call.

    The key secret is never stored, so a restart cannot print the old one: it mints another.
    `progress(done_days, total_days)` is called as days are written.
    """
    now = now or datetime.now(UTC)
    async with db.session() as session:
        orgs = [o for o in await list_organizations(session) if o.name == DEMO_ORG]
        pixels = await list_pixels(session, orgs[0].id) if orgs else []
    created = not pixels
    written = 0
    if created:
        org = orgs[0] if orgs else await create_organization(db, DEMO_ORG, now)
        pixel = await create_pixel(db, org.id, DEMO_PIXEL, now, timezone="America/New_York")
        batch: list[dict[str, Any]] = []
        day_of_batch = -1
        start_day = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0,
                                                          microsecond=0)
        for row in generate_events(pixel.id, days=days, end=now, timezone=pixel.timezone,
                                   sessions_per_day=sessions_per_day):
            batch.append(row)
            if len(batch) >= 5000:
                written += await _flush(db, batch)
                day = int((row["ts"] - _ms(start_day)) // 86_400_000)
                if progress and day != day_of_batch:
                    progress(min(day, days), days)
                    day_of_batch = day
        written += await _flush(db, batch)
        await db.analyze()  # the planner's statistics include the demo's events
        if progress:
            progress(days, days)
        org_id, pixel_id = org.id, pixel.id
    else:
        org_id, pixel_id = orgs[0].id, pixels[0].id
    key = await create_key(db, settings, system_principal(org_id), name="demo",
                           scopes=DEMO_SCOPES, pixel_ids=[pixel_id], now=now)
    return DemoResult(org_id, pixel_id, key.secret, created, written)


async def _flush(db: Database, batch: list[dict[str, Any]]) -> int:
    n = len(batch)
    async with db.session() as session:
        await insert_events(session, batch)
        await session.commit()
    batch.clear()
    return n
