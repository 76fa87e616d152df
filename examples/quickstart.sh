#!/usr/bin/env bash
# The Upstack Data API quickstart, verbatim, with only the base URL changed:
# list measures -> build a dashboard from three of them -> open it.
#
#   GATEWAY_URL=http://127.0.0.1:8000 UPSTACK_API_KEY=upstack_... UPSTACK_PIXEL_ID=... \
#     bash examples/quickstart.sh
set -euo pipefail
: "${GATEWAY_URL:=http://127.0.0.1:8000}"
: "${UPSTACK_API_KEY:?set UPSTACK_API_KEY (printed by gateway serve --demo)}"
: "${UPSTACK_PIXEL_ID:?set UPSTACK_PIXEL_ID (printed by gateway serve --demo)}"

echo "== 1. List measures"
curl -sf "$GATEWAY_URL/db-mgmt/api/measures" \
  -H "x-api-key: $UPSTACK_API_KEY" \
  -H "x-pixel-id: $UPSTACK_PIXEL_ID" \
  | python3 -c 'import json,sys; keys=[m["key"] for m in json.load(sys.stdin)["measures"]]; print(len(keys), "measures;", [k for k in keys if k in ("core.new_customer_roas","core.new_customer_mer","meta.cpm")])'

echo "== 2. Build a dashboard from those measures"
view=$(curl -sf -X POST "$GATEWAY_URL/accounts/api/dashboard/views/from-preset" \
  -H "x-api-key: $UPSTACK_API_KEY" \
  -H "x-pixel-id: $UPSTACK_PIXEL_ID" \
  -H "Content-Type: application/json" \
  -d '{
    "name": "NC + Meta Pulse",
    "widgets": [
      { "measure": "core.new_customer_roas", "title": "NC ROAS" },
      { "measure": "core.new_customer_mer", "title": "NC MER" },
      { "measure": "meta.cpm", "title": "Meta CPM" }
    ]
  }')
echo "$view" | python3 -c 'import json,sys; v=json.load(sys.stdin); print(v["id"], v["name"]); [print(" ", w["title"], w["chartType"], w["layout"]) for w in v["configuration"]["widgets"]]'
id=$(echo "$view" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

echo "== 3. Open it"
curl -sf "$GATEWAY_URL/accounts/api/dashboard/views/$id" \
  -H "x-api-key: $UPSTACK_API_KEY" \
  -H "x-pixel-id: $UPSTACK_PIXEL_ID" \
  | python3 -c 'import json,sys; v=json.load(sys.stdin); print("opened", v["name"], "version", v["version"], "with", len(v["configuration"]["widgets"]), "widgets")'

echo "== and its widgets' data through GraphQL (the view's default range: last 30 days)"
curl -sf "$GATEWAY_URL/graphql" \
  -H "x-api-key: $UPSTACK_API_KEY" \
  -H "x-pixel-id: $UPSTACK_PIXEL_ID" \
  -H 'content-type: application/json' \
  -d "{\"query\":\"{ dashboardView(id: \\\"$id\\\") { widgets { title data { total } } } }\"}"
echo
