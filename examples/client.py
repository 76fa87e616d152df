"""A small Python client for the gateway: the catalog over REST and GraphQL.

    export GATEWAY_URL=http://127.0.0.1:8000 KEY=upstack_... PIXEL=...  # from the banner
    python examples/client.py [search]

(UPSTACK_API_KEY and UPSTACK_PIXEL_ID are accepted for KEY and PIXEL.)

Needs only httpx (installed with the gateway).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import httpx


class GatewayClient:
    def __init__(self, base_url: str, api_key: str, pixel_id: str | None = None) -> None:
        headers = {"x-api-key": api_key}
        if pixel_id:
            headers["x-pixel-id"] = pixel_id
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=30)

    def measures(self, search: str | None = None) -> list[dict[str, Any]]:
        """The Upstack-compatible REST route."""
        params = {"search": search} if search else {}
        response = self._http.get("/db-mgmt/api/measures", params=params)
        response.raise_for_status()
        return list(response.json()["measures"])

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = self._http.post("/graphql", json={"query": query, "variables": variables})
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            codes = [e.get("extensions", {}).get("code") for e in body["errors"]]
            raise RuntimeError(f"GraphQL errors {codes}: {body['errors'][0]['message']}")
        return dict(body["data"])


def main() -> int:
    url = os.environ.get("GATEWAY_URL")
    key = os.environ.get("KEY") or os.environ.get("UPSTACK_API_KEY")
    pixel = os.environ.get("PIXEL") or os.environ.get("UPSTACK_PIXEL_ID")
    if not url or not key:
        print("set GATEWAY_URL, KEY and PIXEL: paste the export line `gateway serve --demo` "
              "prints (README, Try it)", file=sys.stderr)
        return 2
    client = GatewayClient(url, key, pixel)
    search = sys.argv[1] if len(sys.argv) > 1 else None
    try:
        rest = client.measures(search)
    except httpx.HTTPError as exc:
        print(f"cannot read the catalog at {url}: {exc}", file=sys.stderr)
        return 1
    print(f"REST: {len(rest)} measures" + (f" matching {search!r}" if search else ""))
    for m in rest[:10]:
        print(f"  {m['key']:<32} {m['title']:<28} {m['format']}")
    data = client.graphql("query($s: String) { measures(search: $s) { key } viewer { scopes } }",
                          s=search)
    assert [m["key"] for m in data["measures"]] == [m["key"] for m in rest]
    print(f"GraphQL agrees; this key's scopes: {', '.join(data['viewer']['scopes'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
