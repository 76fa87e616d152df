"""Attribution models against a brute-force oracle (issue #5)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.engine import MODELS, AttributionQuery, Predicate, TimeRange, run_attribution
from gateway.storage.events import insert_events
from tests.support import Harness
from tests.support_query import close, field_value, generate, matches

START = datetime(2026, 10, 12, tzinfo=UTC)
END = datetime(2026, 11, 2, tzinfo=UTC)
DAY = 86_400_000


def _credit(model: str, touches: list[tuple[int, str]], at: int, half_life: float
            ) -> dict[str, float]:
    """Independent restatement of the six models."""
    n = len(touches)
    out: dict[str, float] = {}

    def add(v: str, w: float) -> None:
        out[v] = out.get(v, 0.0) + w

    if model == "first_click":
        add(touches[0][1], 1)
    elif model == "last_click":
        add(touches[-1][1], 1)
    elif model == "any_click":
        out = {v: 1.0 for _, v in touches}
    elif model == "linear":
        for _, v in touches:
            add(v, 1 / n)
    elif model == "position_based":
        for i, (_, v) in enumerate(touches):
            if n == 1:
                w = 1.0
            elif n == 2:
                w = 0.5
            else:
                w = 0.4 if i in (0, n - 1) else 0.2 / (n - 2)
            add(v, w)
    else:
        ws = [0.5 ** ((at - ts) / half_life) for ts, _ in touches]
        for (_, v), w in zip(touches, ws, strict=True):
            add(v, w / sum(ws))
    return out


def _oracle(events: list[dict[str, Any]], dim: str, model: str, window: int,
            span: TimeRange, flt: Any = None) -> dict[Any, tuple[float, float]]:
    lo, hi = span.start_ms, span.end_ms
    sessions: dict[tuple[Any, ...], int] = {}
    for x in events:
        v = field_value(x, dim)
        if (x["name"] != "purchase" and v is not None and x["anonymous_id"] is not None
                and lo - window * DAY <= x["ts"] < hi):
            k = (x["anonymous_id"], x["session_id"], v)
            sessions[k] = min(sessions.get(k, x["ts"]), x["ts"])
    result: dict[Any, list[float]] = {}
    for e in events:
        if e["name"] != "purchase" or not lo <= e["ts"] < hi or not matches(e, flt):
            continue
        touches = sorted((ts, v) for (a, _, v), ts in sessions.items()
                         if a == e["anonymous_id"] and e["ts"] - window * DAY <= ts <= e["ts"])
        credit = _credit(model, touches, e["ts"], 7 * DAY) if touches else {None: 1.0}
        for v, w in credit.items():
            r = result.setdefault(v, [0.0, 0.0])
            r[0] += w
            r[1] += w * (e["revenue"] or 0.0)
    return {k: (a, b) for k, (a, b) in result.items()}


@pytest.mark.parametrize("model", MODELS)
async def test_models_match_oracle(harness: Harness, model: str) -> None:
    events = generate(harness.pixel_id, seed=11, start=START, days=21, n=1200)
    async with harness.state.db.session() as s:
        await insert_events(s, events)
        await s.commit()
    span = TimeRange(START, END)
    compare = TimeRange(datetime(2026, 9, 21, tzinfo=UTC), START)
    for dim, window in (("utm_source", 7), ("channel", 30)):
        q = AttributionQuery(harness.pixel_id, span, dimension=dim, model=model,
                             window_days=window, compare_range=compare)
        result = await run_attribution(harness.state.db, q)
        for rows, period in ((result.primary, span), (result.compare, compare)):
            want = _oracle(events, dim, model, window, period)
            got = {r.value: (r.conversions, r.revenue) for r in rows}
            assert set(got) == set(want)
            for k, (c, rev) in want.items():
                assert close(got[k][0], c) and close(got[k][1], rev), (k, got[k], c, rev)
        n = sum(1 for e in events if e["name"] == "purchase"
                and span.start_ms <= e["ts"] < span.end_ms)
        assert result.totals["conversions"] == n
        if model != "any_click":
            assert close(sum(r.share for r in result.primary), 100.0)


async def test_filter_narrows_conversions(harness: Harness) -> None:
    events = generate(harness.pixel_id, seed=12, start=START, days=21, n=800)
    async with harness.state.db.session() as s:
        await insert_events(s, events)
        await s.commit()
    span = TimeRange(START, END)
    flt = Predicate("new_customer", "equals", True)
    result = await run_attribution(harness.state.db, AttributionQuery(
        harness.pixel_id, span, model="linear", filters=flt))
    want = _oracle(events, "utm_source", "linear", 30, span,
                   {"field": "new_customer", "op": "equals", "value": True})
    assert {r.value: round(r.conversions, 9) for r in result.primary} == {
        k: round(v[0], 9) for k, v in want.items()}
