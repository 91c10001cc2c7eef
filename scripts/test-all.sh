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
tsc -p services/console/tsconfig.json # the web console's browser code (DOM, JSX)

echo "==> real parts: nats-server, FerretDB, grpcurl, the opamp-go client, the Collector's OpAMP supervisor and a collector (built once, cached)"
if ! command -v go >/dev/null 2>&1; then
  echo "error: Go is needed to build nats-server, FerretDB, grpcurl and the OpAMP clients the tests run against." >&2
  echo "Install Go (https://go.dev/dl/) and run the tests again; builds are cached under ~/.cache/fleetplane/tools." >&2
  exit 1
fi
tools=$(bash scripts/ensure-tools.sh nats-server ferretdb opamp-go-agent grpcurl opampsupervisor otelcol-fleetplane helm)
{
  read -r FLEETPLANE_NATS_SERVER
  read -r FLEETPLANE_FERRETDB
  read -r FLEETPLANE_OPAMP_GO_AGENT
  read -r FLEETPLANE_GRPCURL
  read -r FLEETPLANE_OPAMPSUPERVISOR
  read -r FLEETPLANE_OTELCOL
  read -r FLEETPLANE_HELM
} <<<"$tools"
export FLEETPLANE_NATS_SERVER FLEETPLANE_FERRETDB FLEETPLANE_OPAMP_GO_AGENT FLEETPLANE_GRPCURL FLEETPLANE_OPAMPSUPERVISOR FLEETPLANE_OTELCOL FLEETPLANE_HELM

echo "==> Chromium for the web console test (Debian's chromium; installed once when root)"
bash scripts/ensure-chromium.sh

echo "==> vitest"
vitest run "$@"
