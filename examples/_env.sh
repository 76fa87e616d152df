# Sourced by the example scripts: the gateway's address and the demo credentials, checked,
# and a curl that fails loudly. Not meant to be run alone.
set -Eeuo pipefail  # -E: the ERR trap below also fires inside functions
# The `export GATEWAY_URL=… KEY=… PIXEL=…` line `gateway serve --demo` prints sets these
# (UPSTACK_API_KEY and UPSTACK_PIXEL_ID are accepted too).
KEY="${KEY:-${UPSTACK_API_KEY:-}}"
PIXEL="${PIXEL:-${UPSTACK_PIXEL_ID:-}}"
: "${GATEWAY_URL:?set GATEWAY_URL, KEY and PIXEL: paste the export line gateway serve --demo prints (see README, Try it)}"
: "${KEY:?set KEY (and PIXEL): paste the export line gateway serve --demo prints (see README, Try it)}"
: "${PIXEL:?set PIXEL: paste the export line gateway serve --demo prints (see README, Try it)}"
# Any failing command stops the script with a message, not just curl's exit status.
trap 'echo "failed (exit $?) at line $LINENO: is the gateway running at $GATEWAY_URL, and are KEY and PIXEL its demo key and pixel?" >&2' ERR
curl() { command curl -sS --fail-with-body "$@"; }
