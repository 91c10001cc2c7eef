#!/usr/bin/env bash
# Every test Fleetplane has, in the order that fails fastest.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

echo "==> buf lint"
buf lint

echo "==> gen/ is up to date with proto/"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
buf generate --template '{"version":"v2","plugins":[{"local":"protoc-gen-es","out":"'"$tmp"'","include_imports":true,"opt":["target=ts","import_extension=js"]}]}'
if ! diff -r "$tmp" gen/src >/dev/null; then
  diff -r "$tmp" gen/src | head -20
  echo "gen/ is stale: run 'pnpm gen' and commit the result." >&2
  exit 1
fi

echo "==> typecheck"
tsc -p tsconfig.json

echo "==> real OpAMP client (opamp-go), built once and cached"
if command -v go >/dev/null 2>&1; then
  FLEETPLANE_OPAMP_GO_AGENT=$(bash scripts/ensure-tools.sh opamp-go-agent)
  export FLEETPLANE_OPAMP_GO_AGENT
else
  echo "!!! Go is not installed: the opamp-go interoperability tests will be SKIPPED !!!" >&2
fi

echo "==> vitest"
vitest run "$@"
