#!/usr/bin/env bash
# The Upstack Data API quickstart, verbatim, with only the base URL changed:
# list measures -> build a dashboard from three of them -> open it.
# (`gateway client views create` does the same in one command: README, "Client CLI".)
#
#   export GATEWAY_URL=http://127.0.0.1:8000 KEY=upstack_... PIXEL=...   # from the banner
#   bash examples/quickstart.sh
set -Eeuo pipefail
# GATEWAY_URL, KEY and PIXEL checked, a curl that fails loudly (examples/_env.sh).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
UPSTACK_API_KEY="$KEY"
UPSTACK_PIXEL_ID="$PIXEL"

echo "== 1. List measures"
curl "$GATEWAY_URL/db-mgmt/api/measures" \
  -H "x-api-key: $UPSTACK_API_KEY" \
  -H "x-pixel-id: $UPSTACK_PIXEL_ID" \
  | python3 -c 'import json,sys; keys=[m["key"] for m in json.load(sys.stdin)["measures"]]; print(len(keys), "measures;", [k for k in keys if k in ("core.new_customer_roas","core.new_customer_mer","meta.cpm")])'

echo "== 2. Build a dashboard from those measures"
view=$(curl -X POST "$GATEWAY_URL/accounts/api/dashboard/views/from-preset" \
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
curl "$GATEWAY_URL/accounts/api/dashboard/views/$id" \
  -H "x-api-key: $UPSTACK_API_KEY" \
  -H "x-pixel-id: $UPSTACK_PIXEL_ID" \
  | python3 -c 'import json,sys; v=json.load(sys.stdin); print("opened", v["name"], "version", v["version"], "with", len(v["configuration"]["widgets"]), "widgets")'

echo "== and its widgets' data through GraphQL (the view's default range: last 30 days)"
curl "$GATEWAY_URL/graphql" \
  -H "x-api-key: $UPSTACK_API_KEY" \
  -H "x-pixel-id: $UPSTACK_PIXEL_ID" \
  -H 'content-type: application/json' \
  -d "{\"query\":\"{ dashboardView(id: \\\"$id\\\") { widgets { title data { total } } } }\"}"
echo
