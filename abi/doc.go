// Package abi is the contract between the wmr host and a guest module: the
// names and signatures of exports and imports, the ABI version, the msgpack
// wire format of record batches, reduce chunks and control messages, and the
// default partition hash.
//
// It is a leaf and a module of its own (github.com/wmr-dev/wmr/abi): it
// imports only the standard library, so the host (engine) and the Go guest
// SDK (sdk/go) share one codec and cannot drift apart, and a job built with
// the SDK needs no other module. The Init message is encoded by hand too;
// the host's tests hold every encoder to what a msgpack library writes. ABI.md in this directory is the specification; this package
// is its Go rendering and is tested against it (round trips, fuzzing of every
// decoder of guest output, and the partition hash vectors in testdata/).
//
// The batch codec is hand-written rather than reflective because it sits on
// the hot path of every job on both sides of the boundary: encoding and
// decoding a record costs a few header bytes and no allocation. Decoders
// return sub-slices of their input; callers that keep bytes past the
// lifetime of the buffer must copy them.
package abi
