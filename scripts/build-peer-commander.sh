#!/usr/bin/env bash
# Builds OpAMP Commander's API server (a benchmark peer, `pnpm bench peers`)
# from a checkout of its repository, and prints the binary's path on stdout.
#
#   git clone https://github.com/minuk-dev/opampcommander /tmp/opampcommander
#   scripts/build-peer-commander.sh /tmp/opampcommander
#
# The Go module proxy here does not serve github.com/minuk-dev/opampcommander
# itself, but serves all of its dependencies, so a checkout builds offline
# (GOFLAGS=-mod=mod; ~6 minutes cold). Nothing of its source is copied into
# this repository. The binary goes to
# ${FLEETPLANE_TOOLS_DIR:-~/.cache/fleetplane/tools}/bin/opampcommander-apiserver-<commit>
# (symlink bin/opampcommander-apiserver); the bench runs it with the checkout's
# own configs/apiserver/standalone.yaml (in-memory database, events off),
# rewritten to loopback addresses and log level warn (bench/commander-peer.ts).
set -euo pipefail
CHECKOUT=${1:?usage: scripts/build-peer-commander.sh <opampcommander checkout>}
CHECKOUT=$(cd "$CHECKOUT" && pwd)
[[ -f $CHECKOUT/cmd/apiserver/main.go && -f $CHECKOUT/configs/apiserver/standalone.yaml ]] || { echo "build-peer-commander: $CHECKOUT has no cmd/apiserver or configs/apiserver/standalone.yaml" >&2; exit 1; }
TOOLS_DIR=${FLEETPLANE_TOOLS_DIR:-$HOME/.cache/fleetplane/tools}
mkdir -p "$TOOLS_DIR/bin"
REV=$(git -C "$CHECKOUT" describe --tags --always 2>/dev/null || echo unknown)
TARGET=$TOOLS_DIR/bin/opampcommander-apiserver-$REV
if [[ ! -x $TARGET ]]; then
  echo "build-peer-commander: building $REV (first time, ~6 min)…" >&2
  (cd "$CHECKOUT" && GOWORK=off GOFLAGS=-mod=mod go build -trimpath -o "$TARGET.tmp" ./cmd/apiserver)
  mv -f "$TARGET.tmp" "$TARGET"
fi
ln -sfn "$(basename "$TARGET")" "$TOOLS_DIR/bin/opampcommander-apiserver"
# The bench needs the configuration directory next to the binary's name.
printf '%s\n' "$CHECKOUT" >"$TOOLS_DIR/bin/opampcommander-apiserver.checkout"
echo "$TARGET"
