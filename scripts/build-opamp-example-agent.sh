#!/usr/bin/env bash
# Builds the stock opamp-go example agent (internal/examples/agent of
# github.com/open-telemetry/opamp-go) from a checkout of opamp-go at v0.23.0,
# outside this repository, and prints the binary's path on stdout. Point
# FLEETPLANE_OPAMP_EXAMPLE_AGENT at it to run test/opamp-example-agent.spec.ts.
#
#   git clone --branch v0.23.0 --depth 1 https://github.com/open-telemetry/opamp-go /tmp/opamp-go
#   export FLEETPLANE_OPAMP_EXAMPLE_AGENT=$(bash scripts/build-opamp-example-agent.sh /tmp/opamp-go)
#
# Why a script and not ensure-tools.sh: the example lives in a module of its
# own with `replace github.com/open-telemetry/opamp-go => ../../`, which the
# Go module proxy does not serve (and `go install …@version` refuses replace
# directives), so its source can only come from a checkout. At v0.23.0 its
# dependencies all come from the proxy; at HEAD it needs a module the proxy
# refuses. Nothing of its source is copied into this repository.
#
# Environment: FLEETPLANE_TOOLS_DIR (where the binary goes, default
# ~/.cache/fleetplane/tools), GO (go command, default "go").
set -euo pipefail

log() { printf 'build-opamp-example-agent: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ $# -eq 1 ] || die "usage: scripts/build-opamp-example-agent.sh <opamp-go checkout at v0.23.0>"
CHECKOUT=$(cd "$1" 2>/dev/null && pwd) || die "$1 is not a directory"
EXAMPLES=$CHECKOUT/internal/examples
[ -f "$EXAMPLES/go.mod" ] && [ -f "$EXAMPLES/agent/main.go" ] || die "$CHECKOUT has no internal/examples/agent: is it an opamp-go checkout?"
if git -C "$CHECKOUT" rev-parse --git-dir >/dev/null 2>&1; then
  tag=$(git -C "$CHECKOUT" describe --tags --exact-match 2>/dev/null || true)
  [ "$tag" = "v0.23.0" ] || log "warning: $CHECKOUT is at ${tag:-an untagged commit}, not v0.23.0 (later versions need modules the Go proxy refuses)"
fi

GO=${GO:-go}
TOOLS_DIR=${FLEETPLANE_TOOLS_DIR:-$HOME/.cache/fleetplane/tools}
mkdir -p "$TOOLS_DIR/bin"
OUT=$TOOLS_DIR/bin/opamp-example-agent-v0.23.0
if [ ! -x "$OUT" ]; then
  log "building the example agent from $EXAMPLES (a minute or two the first time)…"
  # -mod=mod: the example's go.sum may lack entries for the exact Go toolchain in use.
  (cd "$EXAMPLES" && GOFLAGS=-mod=mod "$GO" build -o "$OUT.tmp" ./agent) || die "go build failed"
  mv "$OUT.tmp" "$OUT"
fi
log "built: $OUT"
echo "$OUT"
