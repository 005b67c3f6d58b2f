#!/usr/bin/env bash
# Build a Go tool of tools/<name> once into .cache/bin/<binary> (git-ignored); later runs reuse it until its
# Go files or go.sum change. Without Go it says so and succeeds: the tests that need the tool skip then
# (and fail under CI=true).
# Usage: tools/go-build.sh <name> <binary> [message shown before a build]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)/$1"
out="$here/../../.cache/bin/$2"
if [ -x "$out" ] && [ "$out" -nt "$here/go.sum" ] && [ -z "$(find "$here" -name '*.go' -newer "$out")" ]; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "tools/$1: Go is not installed; the tests that need $2 will skip (and fail under CI=true)" >&2
  exit 0
fi
mkdir -p "$(dirname "$out")"
[ -n "${3:-}" ] && echo "$3" >&2
cd "$here" && GOFLAGS=-buildvcs=false go build -trimpath -o "$out.tmp" . && mv "$out.tmp" "$out"
