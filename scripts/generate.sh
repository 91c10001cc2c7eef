#!/usr/bin/env bash
# Regenerates gen/src from proto/ with the locally installed protoc-gen-es.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
buf lint
buf generate
