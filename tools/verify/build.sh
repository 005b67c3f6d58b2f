#!/usr/bin/env bash
# Build the offline verifier once into .cache/bin/pm-verify (git-ignored); later runs reuse it.
exec "$(dirname "$0")/../go-build.sh" verify pm-verify
