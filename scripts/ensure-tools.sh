#!/usr/bin/env bash
# Build (once) the external binaries Fleetplane's tests and dev setup use, and
# print their absolute paths on stdout, one per requested tool, in order.
#
#   scripts/ensure-tools.sh [nats-server|grpcurl|ferretdb|opamp-go-agent|opampsupervisor|otelcol-fleetplane|helm|opamp-go-server|all]...
#
# Binaries live in ${FLEETPLANE_TOOLS_DIR:-$HOME/.cache/fleetplane/tools}/bin as
# <tool>-<key>, where <key> is the pinned version (go install tools) or the
# upstream version plus a hash of our wrapper module's go.mod/go.sum/*.go
# (tools/go/<tool>), so editing a wrapper or bumping a pin rebuilds it. A
# symlink bin/<tool> points at the most recently ensured build. Progress goes
# to stderr. Safe to run concurrently: builds of one tool are serialised with
# flock, and every binary is moved into place atomically.
#
# Environment: FLEETPLANE_TOOLS_DIR (cache root), GO (go command, default "go").
set -euo pipefail

# Pinned versions (checked against proxy.golang.org with `go list -m -versions`).
NATS_SERVER_VERSION=v2.15.2
GRPCURL_VERSION=v1.9.4
# The collector builder must match the component versions in
# tools/go/otelcol-fleetplane/builder-config.yaml.
COLLECTOR_BUILDER_VERSION=v0.149.0
HELM_VERSION=v3.22.0
# FerretDB and opamp-go versions are pinned in tools/go/*/go.mod.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${FLEETPLANE_TOOLS_DIR:-$HOME/.cache/fleetplane/tools}
BIN_DIR=$TOOLS_DIR/bin
GO=${GO:-go}
ALL_TOOLS=(nats-server grpcurl ferretdb opamp-go-agent opampsupervisor otelcol-fleetplane helm)

log() { printf 'ensure-tools: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  cat >&2 <<EOF
usage: scripts/ensure-tools.sh [nats-server|grpcurl|ferretdb|opamp-go-agent|opampsupervisor|otelcol-fleetplane|helm|opamp-go-server|all]...
("all" is what the tests need; opamp-go-server is the benchmarks' Go peer.)
Builds each tool once into $BIN_DIR and prints the binary paths on stdout.
EOF
}

# Version of a module required by one of our wrapper modules.
required_version() { # <wrapper dir> <module path>
  awk -v m="$2" '$1 == m { print $2 } $1 == "require" && $2 == m { print $3 }' "$1/go.mod" | head -n1
}

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum; else shasum -a 256; fi
}

# Hash of everything that determines a wrapper module's build.
wrapper_hash() { # <wrapper dir>
  (
    cd "$1"
    LC_ALL=C # stable glob order
    shopt -s nullglob
    sources=(*.go *.yaml)
    cat go.mod go.sum "${sources[@]}" 2>/dev/null || cat "${sources[@]}"
  ) | sha256 | cut -c1-12
}

# Unless <target> exists, runs the build command (which must write
# $OUT_TMP/<tool>) under the tool's lock and moves the result to <target>.
build_locked() { # <tool> <label> <target> <command...>
  local tool=$1 label=$2 target=$3
  shift 3
  [[ -x $target ]] && return 0

  mkdir -p "$BIN_DIR" "$TOOLS_DIR/locks" "$TOOLS_DIR/tmp"
  local lock=$TOOLS_DIR/locks/$tool.lock
  if command -v flock >/dev/null; then
    exec {lock_fd}>"$lock"
    if ! flock -n "$lock_fd"; then
      log "waiting for another ensure-tools.sh building $tool…"
      flock "$lock_fd"
    fi
    rm -rf "$TOOLS_DIR/tmp/$tool."* # leftovers of an interrupted build
  else
    # Still correct without a lock (the final mv is atomic), only wasteful.
    log "warning: flock not found; concurrent runs may build $tool twice"
  fi

  if [[ ! -x $target ]]; then # someone else may have built it while we waited
    log "building $label (first time, takes a few minutes)…"
    local start=$SECONDS
    OUT_TMP=$(mktemp -d "$TOOLS_DIR/tmp/$tool.XXXXXX")
    if ! "$@"; then
      rm -rf "$OUT_TMP"
      [[ -n ${lock_fd:-} ]] && exec {lock_fd}>&-
      die "building $label failed"
    fi
    mv -f "$OUT_TMP/$tool" "$target"
    rm -rf "$OUT_TMP"
    log "built $label in $((SECONDS - start))s: $target"
  fi
  [[ -n ${lock_fd:-} ]] && exec {lock_fd}>&-
  unset lock_fd
  return 0
}

# Commands run by build_locked; they write $OUT_TMP/<tool>.
go_install() { # <package@version> [go install flags...]
  # Outside any module, so neither our repo nor a go.work can influence it.
  (cd "$OUT_TMP" && GOWORK=off GOBIN=$OUT_TMP "$GO" install -trimpath "${@:2}" "$1")
}
go_build_wrapper() { # <tool>
  (cd "$ROOT/tools/go/$1" && GOWORK=off "$GO" build -trimpath -o "$OUT_TMP/$1" .)
}
go_build_tool() { # <tool> <package path of a `tool` of the wrapper module>
  (cd "$ROOT/tools/go/$1" && GOWORK=off "$GO" build -trimpath -o "$OUT_TMP/$1" "$2")
}
build_collector() { # <tool>: the collector builder (pinned), then our builder config
  (cd "$OUT_TMP" && GOWORK=off GOBIN=$OUT_TMP/bin "$GO" install -trimpath "go.opentelemetry.io/collector/cmd/builder@$COLLECTOR_BUILDER_VERSION")
  sed "s#OUTPUT_PATH#$OUT_TMP/dist#" "$ROOT/tools/go/$1/builder-config.yaml" >"$OUT_TMP/builder-config.yaml"
  (cd "$OUT_TMP" && GOWORK=off "$OUT_TMP/bin/builder" --config "$OUT_TMP/builder-config.yaml" >&2)
  mv "$OUT_TMP/dist/$1" "$OUT_TMP/$1"
}

# Point bin/<tool> at the build we just ensured (atomic rename).
link_latest() { # <tool> <target>
  local tmp_link=$BIN_DIR/.$1.link.$$
  ln -sf "$(basename "$2")" "$tmp_link"
  mv -f "$tmp_link" "$BIN_DIR/$1"
}

ensure() { # <tool>; prints the binary path
  local tool=$1 version key target dir
  case $tool in
    nats-server)
      version=$NATS_SERVER_VERSION key=$version
      target=$BIN_DIR/$tool-$key
      build_locked "$tool" "nats-server ${version#v}" "$target" \
        go_install "github.com/nats-io/nats-server/v2@$version"
      ;;
    helm)
      version=$HELM_VERSION key=$version
      target=$BIN_DIR/$tool-$key
      build_locked "$tool" "helm ${version#v}" "$target" go_install "helm.sh/helm/v3/cmd/helm@$version"
      ;;
    grpcurl)
      version=$GRPCURL_VERSION key=$version
      target=$BIN_DIR/$tool-$key
      build_locked "$tool" "grpcurl ${version#v}" "$target" \
        go_install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$version" \
        -ldflags "-X main.version=$version" # else `grpcurl --version` says "dev build"
      ;;
    ferretdb | opamp-go-agent | opamp-go-server)
      dir=$ROOT/tools/go/$tool
      [[ -f $dir/go.mod ]] || die "missing wrapper module $dir"
      if [[ $tool == ferretdb ]]; then
        version=$(required_version "$dir" github.com/FerretDB/FerretDB)
      else
        version=$(required_version "$dir" github.com/open-telemetry/opamp-go)
      fi
      key=$version-$(wrapper_hash "$dir")
      target=$BIN_DIR/$tool-$key
      build_locked "$tool" "$tool ${version#v}" "$target" go_build_wrapper "$tool"
      ;;
    opampsupervisor)
      dir=$ROOT/tools/go/$tool
      version=$(required_version "$dir" github.com/open-telemetry/opentelemetry-collector-contrib/cmd/opampsupervisor)
      key=$version-$(wrapper_hash "$dir")
      target=$BIN_DIR/$tool-$key
      build_locked "$tool" "opampsupervisor ${version#v}" "$target" \
        go_build_tool "$tool" github.com/open-telemetry/opentelemetry-collector-contrib/cmd/opampsupervisor
      ;;
    otelcol-fleetplane)
      dir=$ROOT/tools/go/$tool
      key=$COLLECTOR_BUILDER_VERSION-$(sha256 <"$dir/builder-config.yaml" | cut -c1-12)
      target=$BIN_DIR/$tool-$key
      build_locked "$tool" "collector (builder ${COLLECTOR_BUILDER_VERSION#v})" "$target" build_collector "$tool"
      ;;
  esac
  link_latest "$tool" "$target"
  printf '%s\n' "$target"
}

main() {
  if [[ $# -eq 0 ]]; then
    usage
    exit 2
  fi
  local tools=() arg
  for arg in "$@"; do
    case $arg in
      -h | --help) usage; exit 0 ;;
      all) tools+=("${ALL_TOOLS[@]}") ;;
      nats-server | grpcurl | ferretdb | opamp-go-agent | opampsupervisor | otelcol-fleetplane | helm | opamp-go-server) tools+=("$arg") ;;
      *) usage; die "unknown tool '$arg'" ;;
    esac
  done
  command -v "$GO" >/dev/null ||
    die "'$GO' not found on PATH: install Go (https://go.dev/dl/, ≥ 1.25) or set GO=/path/to/go"

  local tool
  for tool in "${tools[@]}"; do
    ensure "$tool"
  done
}

main "$@"
