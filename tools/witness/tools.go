//go:build tools

// Package tools pins the independent witness the tests run: litewitness and witnessctl, from
// filippo.io/torchwood (C2SP tlog-witness), built by build.sh from the Go module proxy.
package tools

import (
	_ "filippo.io/torchwood/cmd/litewitness"
	_ "filippo.io/torchwood/cmd/witnessctl"
)
