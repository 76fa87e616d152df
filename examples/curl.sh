#!/usr/bin/env bash
# A curl walk-through against a running gateway:
#
#   export GATEWAY_URL=http://127.0.0.1:8000 KEY=upstack_... PIXEL=...   # from the banner
#   bash examples/curl.sh
set -Eeuo pipefail
# GATEWAY_URL, KEY and PIXEL checked, a curl that fails loudly (examples/_env.sh).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
auth=(-H "x-api-key: $KEY" -H "x-pixel-id: $PIXEL")

echo "== health (no auth)"
curl "$GATEWAY_URL/health"; echo

echo "== the measures catalog, Upstack REST shape (first 2)"
curl "$GATEWAY_URL/db-mgmt/api/measures" "${auth[@]}" \
  | python3 -c 'import json,sys; m=json.load(sys.stdin)["measures"]; print(len(m), "measures"); print(json.dumps(m[:2], indent=2))'

echo "== search the catalog"
curl "$GATEWAY_URL/db-mgmt/api/measures?search=roas" "${auth[@]}" \
  | python3 -c 'import json,sys; print([m["key"] for m in json.load(sys.stdin)["measures"]])'

echo "== the same through GraphQL, with a measure looked up by title"
curl "$GATEWAY_URL/graphql" "${auth[@]}" -H 'content-type: application/json' \
  -d '{"query":"{ viewer { scopes pixel { name timezone } } measure(key: \"NC ROAS\") { key title formula } }"}'
echo

echo "== errors carry stable codes: no key"
command curl -s "$GATEWAY_URL/db-mgmt/api/measures" -w ' (HTTP %{http_code})\n'

echo "== send events (scope events:write): a batch; the retry is reported as duplicates"
batch='{"events":[
  {"name":"page_view","event_id":"ex-pv-1","anonymous_id":"anon-1","url":"https://demo-store.example/products/tee","utm_source":"google"},
  {"name":"purchase","event_id":"ex-order-9001","user_id":"cust_9001","order_id":"#9001","revenue":49.5,"currency":"USD","new_customer":true},
  {"name":"purchase","anonymous_id":"anon-1","revenue":10}]}'
curl "$GATEWAY_URL/tr/api/events" "${auth[@]}" -H 'content-type: application/json' -d "$batch"; echo
curl "$GATEWAY_URL/tr/api/events" "${auth[@]}" -H 'content-type: application/json' -d "$batch"; echo
