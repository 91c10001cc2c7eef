#!/usr/bin/env bash
# Makes sure Debian's chromium is installed for the web console's browser test
# (test/console.spec.ts drives it with playwright-core; Playwright's own
# browser download does not work offline). Idempotent: does nothing when
# /usr/bin/chromium exists. Installs only as root (CI runs as root); anyone
# else gets a warning and the console test skips, saying why.
set -euo pipefail

CHROMIUM=${FLEETPLANE_CHROMIUM:-/usr/bin/chromium}
log() { printf 'ensure-chromium: %s\n' "$*" >&2; }

if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  log "warning: $CHROMIUM is missing and we are not root; install it with 'sudo apt-get install chromium' or the console browser test will be skipped."
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  log "warning: $CHROMIUM is missing and there is no apt-get here; install Chromium and set FLEETPLANE_CHROMIUM to its binary, or the console browser test will be skipped."
  exit 0
fi
log "installing Debian's chromium (once) for the web console test…"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium >&2
log "installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
