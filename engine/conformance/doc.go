// Package conformance checks a wmr module against ABI v1 (abi/ABI.md):
// the checks behind `wmr check --wasm FILE`, for SDK and module authors.
// It loads the module as the host does, then feeds it the inputs an SDK
// must handle (empty batches, binary and 1 MiB keys and values, one key
// with many values streamed through next_values, malformed and oversized
// input) and reports one pass/fail result per check. The checks judge the
// shape of what a module does (well-formed, deterministic output; errors
// reported through wmr.fail; clean stops at the memory cap), never the
// job's answers, so they apply to any module.
package conformance
