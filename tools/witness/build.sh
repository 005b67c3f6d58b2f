#!/usr/bin/env bash
# Build the independent witness the tests run, litewitness and witnessctl (filippo.io/torchwood, pinned in go.mod),
# once into .cache/bin/ (git-ignored); later runs reuse them until go.sum changes. Without Go it says so and
# succeeds: the tests that need a witness skip then (and fail under CI=true).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$here/../../.cache/bin"
if [ -x "$bin/litewitness" ] && [ -x "$bin/witnessctl" ] && [ "$bin/litewitness" -nt "$here/go.sum" ]; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "tools/witness: Go is not installed; the tests that need a witness will skip (and fail under CI=true)" >&2
  exit 0
fi
mkdir -p "$bin"
echo "building litewitness and witnessctl (filippo.io/torchwood; first run only)" >&2
cd "$here"
for command in witnessctl litewitness; do
  GOFLAGS=-buildvcs=false go build -trimpath -o "$bin/$command.tmp" "filippo.io/torchwood/cmd/$command"
  mv "$bin/$command.tmp" "$bin/$command"
done
