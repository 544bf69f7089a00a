// Package engine runs a MapReduce job on one machine: the embedded default
// behind `wmr run`, and the building block the cluster (nodes/) drives.
//
// A job's module is validated and compiled once (the compiled form is
// cached on disk by content hash), its inputs are expanded and cut into
// splits (one map task each), map tasks run in worker processes
// (engine/worker) a few at a time, then one reduce task per partition merges
// that partition of every map output. Each attempt writes files of its own;
// the engine commits the successful one by renaming, so a retried or
// crashed attempt never leaves partial or duplicate output. The output
// directory gets part-r-NNNNN files (key<TAB>value lines in bytewise key
// order) and, last, a _SUCCESS marker.
//
// Subpackages: wasmhost (the only importer of wazero), input (splits and
// line records), runs (sort buffer, run files, merge), task (one attempt),
// worker (processes).
package engine
