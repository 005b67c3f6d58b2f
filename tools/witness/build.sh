#!/usr/bin/env bash
# Build the independent witness the tests run, litewitness and witnessctl (filippo.io/torchwood, pinned in go.mod),
# and pm-tileread (tileread/: torchwood's tile reader over the service log), once into .cache/bin/ (git-ignored);
# later runs reuse them until go.sum or a Go file here changes. Without Go it says so and
# succeeds: the tests that need a witness skip then (and fail under CI=true).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$here/../../.cache/bin"
if [ -x "$bin/litewitness" ] && [ -x "$bin/witnessctl" ] && [ -x "$bin/pm-tileread" ] \
  && [ "$bin/litewitness" -nt "$here/go.sum" ] && [ -z "$(find "$here" -name '*.go' -newer "$bin/pm-tileread")" ]; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "tools/witness: Go is not installed; the tests that need a witness will skip (and fail under CI=true)" >&2
  exit 0
fi
mkdir -p "$bin"
echo "building litewitness, witnessctl and pm-tileread (filippo.io/torchwood; first run only)" >&2
cd "$here"
for command in witnessctl litewitness; do
  GOFLAGS=-buildvcs=false go build -trimpath -o "$bin/$command.tmp" "filippo.io/torchwood/cmd/$command"
  mv "$bin/$command.tmp" "$bin/$command"
done
GOFLAGS=-buildvcs=false go build -trimpath -o "$bin/pm-tileread.tmp" ./tileread
mv "$bin/pm-tileread.tmp" "$bin/pm-tileread"
