"""Property: no event body, however wild, makes ingestion answer 5xx or lose its valid part.

Issue #10, items 5 and 7: ten valid events plus one with `impressions: 2**63` answered 503
and stored none of the ten; an event `timestamp` of 400 digits was a 500. Hypothesis builds
batches of events whose fields take hostile values (integers past 64 bits, huge floats,
unicode digits, long strings, nested containers, wrong types, unknown field names) and mixes
in events that are valid; every answer must be 200/400/413 in the Upstack dialect, and every
valid event must be accepted, never reported as an error or a duplicate.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.services.event_rules import EVENT_FIELDS
from tests.support_events import TRACK, count_events
from tests.support_fuzz import live_harness

_NAMES = st.sampled_from(["page_view", "purchase", "refund", "ad_spend", "signup", ""])
_HUGE_INTS = st.sampled_from([2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64,
                              10**30, -(10**30), int("9" * 400)])
_WILD = st.recursive(
    st.none() | st.booleans() | st.integers() | _HUGE_INTS
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "²", "١٢٣", "1e309", "NaN", "9" * 400, "2026-02-30",
                       "2026-11-20T11:00:00+99:00", "x" * 3000, "\x00", "\ud7ff"])
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=6,
)
_FIELD = st.sampled_from(sorted(EVENT_FIELDS)) | st.sampled_from(["utm_soruce", "", "id"])
_HOSTILE = st.builds(lambda name, fields: {"name": name, **fields}, _NAMES,
                     st.dictionaries(_FIELD, _WILD, max_size=6))
_ids = itertools.count()


def _valid() -> dict[str, Any]:
    n = next(_ids)
    return {"name": "page_view", "event_id": f"keep-{n}", "anonymous_id": "a",
            "url": f"https://shop.example/p/{n}", "timestamp": 1_795_172_400_000}


def test_no_event_body_answers_5xx_or_loses_valid_events(tmp_path: Path) -> None:
    with live_harness(tmp_path) as live:
        h = live.h
        key = live.run(h.mint("events:write"))
        headers = {**h.headers(key, h.pixel_id), "content-type": "application/json"}
        kept = 0

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(hostile=st.lists(_HOSTILE, min_size=1, max_size=4), at=st.integers(0, 4),
               valid=st.integers(1, 3))
        def check(hostile: list[dict[str, Any]], at: int, valid: int) -> None:
            nonlocal kept
            good = [_valid() for _ in range(valid)]
            events = hostile[:at] + good + hostile[at:]
            positions = {i for i, e in enumerate(events) if e in good}
            raw = json.dumps({"events": events}).encode()
            response = live.run(h.client.post(TRACK, content=raw, headers=headers))
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["received"] == len(events)
            assert body["accepted"] + body["duplicates"] + body["rejected"] == len(events)
            assert not positions & {e["index"] for e in body["errors"]}, body
            assert not positions & {d["index"] for d in body["duplicate_events"]}, body
            kept += valid

        check()
        assert live.run(count_events(h))["page_view"] >= kept


def test_no_lone_hostile_event_answers_5xx(tmp_path: Path) -> None:
    """Alone, a hostile event is stored or refused with 400 in the Upstack error body."""
    with live_harness(tmp_path) as live:
        h = live.h
        key = live.run(h.mint("events:write"))
        headers = {**h.headers(key, h.pixel_id), "content-type": "application/json"}

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(event=_HOSTILE)
        def check(event: dict[str, Any]) -> None:
            raw = json.dumps(event).encode()
            response = live.run(h.client.post(TRACK, content=raw, headers=headers))
            assert response.status_code in (200, 400), response.text
            body = response.json()
            if response.status_code == 400:
                assert isinstance(body["message"], str) and body["message"]
                assert all(set(e) == {"message", "key", "path"} for e in body["errors"])
            else:
                assert body["accepted"] + body["duplicates"] + body["rejected"] == 1

        check()
