#!/usr/bin/env bash
# A curl walk-through against a running gateway (`gateway serve --demo` prints the values).
#
#   GATEWAY_URL=http://127.0.0.1:8000 UPSTACK_API_KEY=upstack_... UPSTACK_PIXEL_ID=... \
#     bash examples/curl.sh
set -euo pipefail
: "${GATEWAY_URL:=http://127.0.0.1:8000}"
: "${UPSTACK_API_KEY:?set UPSTACK_API_KEY (printed by gateway serve --demo)}"
: "${UPSTACK_PIXEL_ID:?set UPSTACK_PIXEL_ID (printed by gateway serve --demo)}"
auth=(-H "x-api-key: $UPSTACK_API_KEY" -H "x-pixel-id: $UPSTACK_PIXEL_ID")

echo "== health (no auth)"
curl -sf "$GATEWAY_URL/health"; echo

echo "== the measures catalog, Upstack REST shape (first 2)"
curl -sf "$GATEWAY_URL/db-mgmt/api/measures" "${auth[@]}" \
  | python3 -c 'import json,sys; m=json.load(sys.stdin)["measures"]; print(len(m), "measures"); print(json.dumps(m[:2], indent=2))'

echo "== search the catalog"
curl -sf "$GATEWAY_URL/db-mgmt/api/measures?search=roas" "${auth[@]}" \
  | python3 -c 'import json,sys; print([m["key"] for m in json.load(sys.stdin)["measures"]])'

echo "== the same through GraphQL, with a measure looked up by title"
curl -sf "$GATEWAY_URL/graphql" "${auth[@]}" -H 'content-type: application/json' \
  -d '{"query":"{ viewer { scopes pixel { name timezone } } measure(key: \"NC ROAS\") { key title formula } }"}'
echo

echo "== errors carry stable codes: no key"
curl -s "$GATEWAY_URL/db-mgmt/api/measures" -w ' (HTTP %{http_code})\n'

echo "== send events (scope events:write): a batch; the retry is reported as duplicates"
batch='{"events":[
  {"name":"page_view","event_id":"ex-pv-1","anonymous_id":"anon-1","url":"https://demo-store.example/products/tee","utm_source":"google"},
  {"name":"purchase","event_id":"ex-order-9001","user_id":"cust_9001","order_id":"#9001","revenue":49.5,"currency":"USD","new_customer":true},
  {"name":"purchase","anonymous_id":"anon-1","revenue":10}]}'
curl -sf "$GATEWAY_URL/tr/api/events" "${auth[@]}" -H 'content-type: application/json' -d "$batch"; echo
curl -sf "$GATEWAY_URL/tr/api/events" "${auth[@]}" -H 'content-type: application/json' -d "$batch"; echo
