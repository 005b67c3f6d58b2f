#!/usr/bin/env bash
# Build the FerretDB test server once into .cache/bin/ferretdb (git-ignored); later runs reuse it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../../.cache/bin/ferretdb"
if [ -x "$out" ] && [ "$out" -nt "$here/main.go" ] && [ "$out" -nt "$here/go.sum" ]; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "tools/ferretdb: Go is not installed; the FerretDB tests will skip (and fail under CI=true)" >&2
  exit 0
fi
mkdir -p "$(dirname "$out")"
echo "building FerretDB v1.24.2 test server (first run only, about two minutes)" >&2
cd "$here" && GOFLAGS=-buildvcs=false go build -trimpath -o "$out.tmp" . && mv "$out.tmp" "$out"
