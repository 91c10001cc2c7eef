#!/usr/bin/env bash
# Builds opamp-go's example OpAMP server (a benchmark peer, `pnpm bench peers`)
# from a checkout of opamp-go at tag v0.23.0, and prints the binary's path.
#
#   git clone --branch v0.23.0 https://github.com/open-telemetry/opamp-go /tmp/opamp-go
#   scripts/build-peer-opamp-example-server.sh /tmp/opamp-go
#
# internal/examples is its own module with a replace directive, so `go install`
# refuses it and the proxy does not serve it; at v0.23.0 it builds against the
# proxy's opamp-go v0.23.0 (at HEAD it needs a module the proxy refuses). The
# example server hard-codes 0.0.0.0:4320 (OpAMP) and 0.0.0.0:4321 (its web UI):
# this script builds a copy of internal/examples in a temporary directory with
# the UI on a free loopback port and OpAMP to OPAMP_EXAMPLE_LISTEN
# (default 127.0.0.1:24320: below the ephemeral port range, so no client socket holds it, and away from OpAMP's 4320) — the checkout itself is not modified, and nothing
# of its source is copied into this repository. Run it with --no-tls.
set -euo pipefail
CHECKOUT=${1:?usage: scripts/build-peer-opamp-example-server.sh <opamp-go checkout at v0.23.0>}
CHECKOUT=$(cd "$CHECKOUT" && pwd)
SRC=$CHECKOUT/internal/examples
[[ -f $SRC/server/opampsrv/opampsrv.go ]] || { echo "build-peer-opamp-example-server: $CHECKOUT has no internal/examples/server" >&2; exit 1; }
LISTEN=${OPAMP_EXAMPLE_LISTEN:-127.0.0.1:24320}
TOOLS_DIR=${FLEETPLANE_TOOLS_DIR:-$HOME/.cache/fleetplane/tools}
mkdir -p "$TOOLS_DIR/bin"
REV=$(git -C "$CHECKOUT" describe --tags --always 2>/dev/null || echo unknown)
TARGET=$TOOLS_DIR/bin/opamp-example-server-$REV-${LISTEN//[:.]/_}
if [[ ! -x $TARGET ]]; then
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
  cp -r "$SRC" "$WORK/examples"
  grep -q '"0.0.0.0:4320"' "$WORK/examples/server/opampsrv/opampsrv.go" || { echo "build-peer-opamp-example-server: the listen address 0.0.0.0:4320 is not where this script expects it (opampsrv.go)" >&2; exit 1; }
  sed -i "s/\"0.0.0.0:4320\"/\"$LISTEN\"/" "$WORK/examples/server/opampsrv/opampsrv.go"
  sed -i 's/"0.0.0.0:4321"/"127.0.0.1:0"/' "$WORK/examples/server/uisrv/ui.go"
  # --no-tls arrived after v0.23.0 (opamp-go #596); at the tag the server
  # always serves TLS with its embedded test certificates, which our plain
  # ws:// simulator cannot use. Same effect as --no-tls: no TLS config.
  if ! grep -q 'no-tls' "$WORK/examples/server/main.go"; then
    grep -q 'settings.TLSConfig = tlsConfig' "$WORK/examples/server/opampsrv/opampsrv.go" || { echo "build-peer-opamp-example-server: cannot find where opampsrv.go sets TLS" >&2; exit 1; }
    sed -i 's/settings.TLSConfig = tlsConfig/settings.TLSConfig = nil; _ = tlsConfig/' "$WORK/examples/server/opampsrv/opampsrv.go"
  fi
  echo "build-peer-opamp-example-server: building $REV listening on $LISTEN…" >&2
  # The replace directive points at ../../ (opamp-go itself): drop it so the
  # proxy's opamp-go at the same tag is used, as outside the repository.
  (cd "$WORK/examples" && go mod edit -dropreplace=github.com/open-telemetry/opamp-go && go mod edit -require="github.com/open-telemetry/opamp-go@${REV%%-*}" \
    && GOWORK=off GOFLAGS=-mod=mod go build -trimpath -o "$TARGET.tmp" ./server)
  mv -f "$TARGET.tmp" "$TARGET"
fi
echo "$TARGET"
