// Package sdk holds the wmr SDKs' own files, so a tool can copy an SDK into
// a job project offline (`wmr new` does, from the wmr binary). The SDKs
// themselves are the directories beside this file: the Go SDK is the
// package github.com/wmr-dev/wmr/sdk/go of this module, which depends only
// on the abi module; the Rust crate, the C header and source and the
// AssemblyScript package are files for their own toolchains.
//
// This module (github.com/wmr-dev/wmr/sdk) depends on nothing but
// github.com/wmr-dev/wmr/abi, never on the host module: a job builds
// against these two modules alone.
package sdk
