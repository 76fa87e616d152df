"""`gateway import events|spend`: formats, bad-row report, idempotent re-runs (issue #4)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from gateway.app import create_app
from gateway.storage import Database
from tests.support_db import add_poison_trigger, gateway_settings
from tests.test_cli import gateway_cli

# Slow (the fast subset skips it: -m "not slow"): every command is a fresh `python -m gateway`
# process, about a second each.
pytestmark = pytest.mark.slow

JSONL = """\
{"name":"page_view","anonymous_id":"a","path":"/","timestamp":"2026-11-20T10:00:00Z"}
{"name":"purchase","user_id":"u","order_id":"1","revenue":10,"timestamp":1795000000000}

{"name":"purchase","user_id":"u","revenue":10}
not json
{"name":"page_view","anonymous_id":"b","url":"https://s.example/x","event_id":"pv-9"}
"""
CSV = """\
name,anonymous_id,revenue,order_id,timestamp,properties,new_customer
purchase,a,9.5,77,2026-11-20T10:00:00Z,"{""coupon"":""X""}",yes
purchase,a,lots,78,,,
signup,a,,,1795000000000,,
"""
SPEND = """\
date,platform,campaign,spend,impressions,clicks
2026-11-19,Meta,spring,12.5,1000,30
2026-11-19,google,brand,abc,10,1
2026-11-19,google,brand,7,10,1
2026-11-20,google,brand,8,12,
"""


def run_import(url: str, *args: str) -> dict[str, object]:
    result = gateway_cli(url, "import", *args, "--json")
    assert result.returncode in (0, 1), result.stderr
    report: dict[str, object] = json.loads(result.stdout)
    assert (result.returncode == 1) == bool(report["bad_rows"])
    return report


async def test_import_events_and_spend_then_rerun_is_idempotent(
        tmp_path: Path, new_database: Callable[..., str]) -> None:
    url = new_database("imp.sqlite3")
    pixel = json.loads(gateway_cli(url, "pixels", "create", "--name", "shop", "--json").stdout)
    (tmp_path / "e.jsonl").write_text(JSONL)
    (tmp_path / "e.csv").write_text(CSV)
    (tmp_path / "s.csv").write_text(SPEND)

    first = run_import(url, "events", str(tmp_path / "e.jsonl"), "--pixel", pixel["id"])
    assert (first["rows"], first["accepted"], first["duplicates"]) == (5, 3, 0)
    bad = first["bad_rows"]
    assert isinstance(bad, list) and [b["line"] for b in bad] == [4, 5]
    assert bad[0]["reason"] == "purchase needs order_id"
    assert bad[1]["reason"].startswith("malformed JSON")
    again = run_import(url, "events", str(tmp_path / "e.jsonl"))  # the only pixel: no --pixel
    assert (again["accepted"], again["duplicates"]) == (0, 3)

    csv_report = run_import(url, "events", str(tmp_path / "e.csv"))
    assert (csv_report["accepted"], csv_report["bad_rows"]) == (
        2, [{"line": 3, "reason": "revenue: not a number: 'lots'"}])

    spend = run_import(url, "spend", str(tmp_path / "s.csv"))
    assert (spend["accepted"], spend["bad_rows"]) == (
        3, [{"line": 3, "reason": "spend: not a number: 'abc'"}])
    assert run_import(url, "spend", str(tmp_path / "s.csv"))["duplicates"] == 3

    # What was imported is what the API reads.
    key = json.loads(gateway_cli(url, "keys", "create", "--name", "r", "--scope",
                                 "analytics:read", "--json").stdout)["key"]
    app = create_app(gateway_settings(url))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.post(
            "/graphql", json={"query": "{ eventStats { total byName { name count } } }"},
            headers={"x-api-key": key, "x-pixel-id": pixel["id"]})
    stats = response.json()["data"]["eventStats"]
    assert stats["total"] == 8
    if not url.startswith("sqlite"):  # issue #16: the import analyzed what it loaded
        db = Database(url)
        try:
            async with db.engine.connect() as conn:
                estimated = (await conn.execute(text(
                    "SELECT reltuples FROM pg_class WHERE relname = 'event'"))).scalar_one()
        finally:
            await db.dispose()
        assert estimated == 8
    assert {r["name"]: r["count"] for r in stats["byName"]} == {
        "purchase": 2, "page_view": 2, "ad_spend": 3, "signup": 1}


def test_import_reports_unknown_columns_and_missing_pixel(
        tmp_path: Path, new_database: Callable[..., str]) -> None:
    url = new_database("imp.sqlite3")
    (tmp_path / "bad.csv").write_text("name,utm_soruce\nx,y\n")
    no_pixel = gateway_cli(url, "import", "events", str(tmp_path / "bad.csv"))
    assert no_pixel.returncode == 2 and "no pixel yet" in no_pixel.stderr
    gateway_cli(url, "pixels", "create", "--name", "a")
    gateway_cli(url, "pixels", "create", "--name", "b")
    several = gateway_cli(url, "import", "events", str(tmp_path / "bad.csv"))
    assert several.returncode == 2 and "--pixel" in several.stderr
    pixel = json.loads(gateway_cli(url, "pixels", "list", "--json").stdout)[0]["id"]
    unknown = gateway_cli(url, "import", "events", str(tmp_path / "bad.csv"), "--pixel", pixel)
    assert unknown.returncode == 2 and "utm_soruce" in unknown.stderr


async def test_a_row_the_database_refuses_is_one_bad_row(
        tmp_path: Path, new_database: Callable[..., str]) -> None:
    """Rule (issue #10): through `gateway import` too, a row the database refuses (a trigger
    made in the database, the outside edge) is reported by its line; the other rows are stored
    instead of the whole batch failing."""
    url = new_database("poison.sqlite3")
    gateway_cli(url, "pixels", "create", "--name", "shop", "--json")
    db = Database(url)
    try:
        await add_poison_trigger(db)
    finally:
        await db.dispose()
    lines = [json.dumps({"name": "signup", "anonymous_id": f"a{i}", "event_id": f"s{i}",
                         **({"campaign": "poison"} if i == 2 else {})}) for i in range(5)]
    (tmp_path / "p.jsonl").write_text("\n".join(lines) + "\n")
    first = run_import(url, "events", str(tmp_path / "p.jsonl"))
    assert (first["rows"], first["accepted"]) == (5, 4)
    assert first["bad_rows"] == [
        {"line": 3, "reason": "the database refused this event; it was not stored"}]
