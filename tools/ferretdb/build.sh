#!/usr/bin/env bash
# Build the FerretDB test server once into .cache/bin/ferretdb (git-ignored); later runs reuse it.
exec "$(dirname "$0")/../go-build.sh" ferretdb ferretdb "building FerretDB v1.24.2 test server (first run only, about two minutes)"
