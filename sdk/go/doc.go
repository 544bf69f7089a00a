// Package wmr is the Go SDK for writing wmr jobs: a Map and a Reduce (and
// optionally a Combine) over byte slices, compiled to WebAssembly with the
// standard Go toolchain:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o job.wasm .
//
// A job registers its functions from an init function of package main:
//
//	func init() {
//		wmr.Register(wmr.Job{Map: mapWords, Reduce: sumCounts, Combine: sumCounts})
//	}
//
//	func main() {}
//
// The SDK implements ABI v1 (abi/ABI.md): it exports the wmr_* functions,
// decodes the host's record batches and reduce chunks without allocating,
// buffers emitted pairs and hands them to the host in batches, streams a
// key's values from the host when they do not fit one chunk, aggregates
// counters, and turns errors and panics into the host's fail call with the
// index of the failing record.
//
// Byte slices passed to Map, Reduce and Combine (keys, values) point into
// SDK buffers and are valid only until the function returns (a value from
// Values.Value only until the next call to Next); copy what you keep.
// Emit copies its arguments, so they may be reused at once.
//
// The package builds on any platform so jobs can be unit-tested natively:
// see the Test helpers (MapAll, ReduceAll).
package wmr
