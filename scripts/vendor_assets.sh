#!/usr/bin/env bash
# Vendor the browser assets of GraphiQL (/graphql) and the API docs page (/docs) into
# gateway/static/, so both pages work on a machine without internet access (issue #17).
#
# The files are the packages' own released bundles (UMD builds and CSS), taken unchanged
# from the npm registry with `npm pack` (which checks each tarball's integrity), each with
# its licence. Run it to upgrade: change a version below, run, commit gateway/static/.
#
#   bash scripts/vendor_assets.sh
set -euo pipefail
cd "$(dirname "$0")/.."

REACT=18.3.1
GRAPHIQL=3.8.3
EXPLORER=3.2.5           # @graphiql/plugin-explorer: its UMD build reads window.GraphiQL.React
SWAGGER_UI=5.32.0        # swagger-ui-dist

out=gateway/static
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

unpack() {  # unpack NAME@VERSION DIR
  (cd "$work" && npm pack --silent "$1" >/dev/null)
  mkdir -p "$work/$2"
  tar xzf "$work"/$(cd "$work" && ls -t ./*.tgz | head -1) -C "$work/$2" --strip-components=1
  rm "$work"/*.tgz
}

unpack "react@$REACT" react
unpack "react-dom@$REACT" react-dom
unpack "graphiql@$GRAPHIQL" graphiql
unpack "@graphiql/plugin-explorer@$EXPLORER" explorer
unpack "swagger-ui-dist@$SWAGGER_UI" swagger-ui

rm -rf "$out"
mkdir -p "$out/licenses"
cp "$work/react/umd/react.production.min.js" "$out/react.production.min.js"
cp "$work/react-dom/umd/react-dom.production.min.js" "$out/react-dom.production.min.js"
cp "$work/graphiql/graphiql.min.js" "$out/graphiql.min.js"
cp "$work/graphiql/graphiql.min.css" "$out/graphiql.min.css"
cp "$work/explorer/dist/index.umd.js" "$out/plugin-explorer.umd.js"
cp "$work/explorer/dist/style.css" "$out/plugin-explorer.css"
cp "$work/swagger-ui/swagger-ui-bundle.js" "$out/swagger-ui-bundle.js"
cp "$work/swagger-ui/swagger-ui.css" "$out/swagger-ui.css"
# The bundles end with a sourceMappingURL comment; the maps are not shipped, and a browser's
# developer tools asking for one would only get a 404.
sed -i '/^\/\/# sourceMappingURL=/d; s|/\*# sourceMappingURL=[^*]*\*/||' "$out"/*.js "$out"/*.css

cp "$work/react/LICENSE" "$out/licenses/react.LICENSE"
cp "$work/react-dom/LICENSE" "$out/licenses/react-dom.LICENSE"
cp "$work/graphiql/LICENSE" "$out/licenses/graphiql.LICENSE"
# @graphiql/plugin-explorer ships no LICENSE file; its package.json says MIT, and it lives
# in the graphiql repository, whose LICENSE (the one above) covers it.
cp "$work/graphiql/LICENSE" "$out/licenses/graphiql-plugin-explorer.LICENSE"
cp "$work/swagger-ui/LICENSE" "$out/licenses/swagger-ui-dist.LICENSE"
cp "$work/swagger-ui/NOTICE" "$out/licenses/swagger-ui-dist.NOTICE"
cp "$work/swagger-ui/swagger-ui-bundle.js.LICENSE.txt" \
  "$out/licenses/swagger-ui-bundle.js.LICENSE.txt"

cat > "$out/VERSIONS" <<VERSIONS
# Written by scripts/vendor_assets.sh: the npm packages these files come from, unchanged
# but for the sourceMappingURL comment. Licences in licenses/.
react@$REACT              react.production.min.js
react-dom@$REACT          react-dom.production.min.js
graphiql@$GRAPHIQL            graphiql.min.js graphiql.min.css
@graphiql/plugin-explorer@$EXPLORER plugin-explorer.umd.js plugin-explorer.css
swagger-ui-dist@$SWAGGER_UI     swagger-ui-bundle.js swagger-ui.css
VERSIONS
ls -l "$out"
