"""schemathesis against the gateway's own `GET /openapi.json` (issue #17): every operation of
the document, requests generated from its request schemas, sent to a live gateway with a
key holding every scope (so guarded routes run their logic, not just their 401), and every
answer checked: no 5xx, the body matches the documented schema of its status, the status
and the content type are documented ones.

Bounded: `EXAMPLES` generated requests per operation (~35 operations), no shrinking past
the first failure, so the whole run takes a few seconds. Each operation's failure is
collected and all of them are reported together.
"""

from __future__ import annotations

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.auth.scopes import SCOPES
from gateway.settings import Settings
from tests.support import Clock
from tests.support_live import live_gateway

EXAMPLES = 8
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance,
          content_type_conformance]


@pytest.mark.slow
def test_openapi_document_passes_schemathesis(settings: Settings, clock: Clock) -> None:
    """0 server errors and 0 response-schema violations over the whole document."""
    with live_gateway(settings, clock) as live:
        live.arrange_tenant()
        key = live.mint(*SCOPES)
        headers = {"x-api-key": key, "x-pixel-id": live.pixel_id}
        schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
        failures: list[str] = []
        operations = 0
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1

            @given(case=operation.as_strategy())
            @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None,
                                 phases=[Phase.explicit, Phase.generate],
                                 suppress_health_check=list(HealthCheck))
            def check(case: schemathesis.Case) -> None:
                response = case.call(base_url=live.url, headers=headers, timeout=10)
                case.validate_response(response, checks=CHECKS)

            try:
                check()
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001  # collected: each operation is reported
                failures.append(f"{operation.label}: {exc}")
        assert operations >= 30, operations
        assert not failures, "\n\n".join(failures)
        # The run exercised authenticated routes to the end: the key was never revoked.
        still = httpx.get(f"{live.url}/db-mgmt/api/measures", headers=headers)
        assert still.status_code == 200, still.text
