//go:build !wasip1

package abi

import "embed"

// Sources are this module's own files (the package's Go sources, ABI.md,
// KV.md, the kv package and the test vectors), so a tool can copy the ABI
// into a job project offline, as `wmr new` does. Not in WebAssembly builds:
// a module has no use for them.
//
//go:embed go.mod *.go *.md kv/*.go testdata/partition_vectors.json
var Sources embed.FS
