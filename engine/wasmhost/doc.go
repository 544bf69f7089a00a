// Package wasmhost runs wmr modules: it is the only package that imports
// wazero. It compiles a module (with an on-disk compilation cache keyed by
// content), checks its exports and imports against ABI v1 before anything
// runs, instantiates it in a sandbox (no filesystem, network, environment,
// real clock or real randomness; memory capped in pages), provides the wmr
// host functions, and moves record batches and reduce chunks across the
// boundary a batch at a time.
//
// Errors a module causes are returned as *ModuleError, which wraps one of
// the sentinel errors below (ErrTrap, ErrModuleFailed, ...) and carries a
// message written for the person who owns the module. After any error from
// a call the Instance is broken and must be discarded: a trapped guest's
// memory is in an unknown state, and Go guests exit on out-of-memory.
//
// wazero cannot interrupt a running guest without
// WithCloseOnContextDone, which slows loop-heavy guests several fold (see
// RATIONALE.md); the engine therefore runs guests in worker processes and
// enforces time limits by killing the process. Config.CloseOnContextDone
// exists for in-process runs (tests, benchmarks, the comparison in make
// bench).
package wasmhost
