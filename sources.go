// Package wmr holds the sources `wmr new` writes into a job project, so a
// project builds offline from the wmr binary alone: the Go SDK with the
// abi package it builds on (and the module sums of their one dependency),
// the Rust crate, the C header and source, and the AssemblyScript
// package.
package wmr

import "embed"

// Sources are the SDKs' files, by their paths in this repository.
//
//go:embed go.sum abi/*.go abi/kv/*.go abi/ABI.md abi/KV.md abi/testdata/partition_vectors.json sdk/go/*.go sdk/go/kv/*.go
//go:embed sdk/rust/Cargo.toml sdk/rust/src/*.rs sdk/c/wmr.h sdk/c/wmr.c sdk/c/wmr_letters.c
//go:embed sdk/assemblyscript/package.json sdk/assemblyscript/assembly/*.ts
var Sources embed.FS
