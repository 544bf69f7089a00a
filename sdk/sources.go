package sdk

import "embed"

// Sources are the SDKs' files, by their paths below this directory
// (go.mod is this module's, for a copy of the Go SDK).
//
//go:embed go.mod go/*.go go/*.s go/kv/*.go
//go:embed rust/Cargo.toml rust/src/*.rs c/wmr.h c/wmr.c c/wmr_letters.c
//go:embed assemblyscript/package.json assemblyscript/assembly/*.ts
var Sources embed.FS
